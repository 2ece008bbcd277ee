"""Understanding producers: what a short, typo-ridden French / Wolof / English message means.

Pure Python (stdlib + rapidfuzz): no Flask, no database, no Twilio. The flows call:

* ``keyword(text)`` — the global words that work from any step (help, menu, stop, start, language, cancel);
* ``understand(text, catalogue, cooperative_products, pending_orders)`` — the meaning of a message read on
  its own: a stock report, an answer to an order, a workshop or price request, a menu choice, or a question
  to ask back (``kind="clarify"``) when anything is unclear;
* ``parse_quantity`` / ``parse_price`` / ``match_product`` for flows that asked a precise question.

The one rule everything follows: **a wrong record is worse than a question.** A stock report comes back as
``kind="stock"`` only when every product and every quantity in it is clear; otherwise it is ``"clarify"``
with the reason, the candidates to offer, and ``partial`` (the items that were clear, recorded by nobody yet).

How a message is read (``understand``):
1. ``keyword`` — a whole message that is a global word (greetings are the menu);
2. tokens — order references (CMD-0012), numbers (1 200, 1,5, -5, 10L), words folded by ``normalise``;
   French and Wolof number words become quantities, unit words stick to the number before them;
3. yes / no / "je peux 20" / "20 seulement" → accept / decline an order;
4. atelier → workshops, prix → price;
5. the rest is a stock report: runs of words are matched to products (exact name or alias first, then a
   fuzzy match that must be a clear winner), then paired with the quantities around them.

Every word list is module-level data below, so glossary fixes (see shared/data/glossary.md, many Wolof words
are still marked *check*) are one-line changes. Product words are not here: they come from the catalogue
(names in three languages + aliases that staff can add without a release).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from rapidfuzz import fuzz, process

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------------
# Word lists. Written as people type them; they are folded with `normalise` once, at import.
# --------------------------------------------------------------------------------------------------------

HELP_WORDS = ("aide", "help", "ndimbal", "aidez moi", "aide moi", "help me")
MENU_WORDS = ("menu", "accueil")
GREETINGS = (
    "bonjour", "bonsoir", "salut", "salam", "salam aleykoum", "salam alaykoum", "salam aleikoum",
    "salaam aleekum", "salamalekum", "salamalekoum", "salamaleykoum", "assalamou alaykoum",
    "assalamu alaikum", "as salam aleykoum", "na nga def", "nanga def", "nangadef", "hello", "hi", "hey",
    "coucou", "bjr", "slt", "good morning", "good afternoon", "good evening",
)
OPTOUT_WORDS = ("stop", "arret", "arrêt", "unsubscribe", "stopall", "stop all", "desabonner", "se desabonner")
OPTIN_WORDS = ("start", "demarrer", "démarrer", "unstop")
LANGUAGE_WORDS = ("langue", "language", "lang", "làkk", "lakk")
LANGUAGE_VALUES = {
    "fr": ("français", "francais", "french", "fr", "farañse", "faranse"),
    "wo": ("wolof", "wo", "olof"),
    "en": ("english", "anglais", "en", "angale", "angalé"),
}
CANCEL_WORDS = ("annuler", "annule", "annulé", "cancel", "undo")
# Politeness around a keyword ("STOP svp", "aide merci") does not change it.
POLITE_WORDS = ("svp", "stp", "s'il vous plaît", "s'il te plaît", "merci", "beaucoup", "please", "pls", "plz",
                "thanks", "thank you", "jërëjëf", "jerejef", "dieuredieuf")
THANKS_WORDS = ("merci", "thanks", "thank", "jërëjëf", "jerejef", "dieuredieuf")

YES_WORDS = ("oui", "ouais", "waaw", "wao", "waw", "yes", "yep", "ok", "okay", "oké", "d'accord", "daccord",
             "dac", "dacc")
NO_WORDS = ("non", "nan", "déedéet", "deedeet", "dedet", "dédét", "no", "nope")
# "je peux 20", "20 seulement", "ñaar fukk rekk": a smaller quantity offered for an order.
CAN_PHRASES = ("je peux", "je peut", "on peut", "nous pouvons", "je pourrai", "i can", "we can", "mën naa",
               "mën nanu")
ONLY_WORDS = ("seulement", "only", "rekk", "juste")
# Words before a yes/no that do not change it ("ben oui", "bon ok").
DISCOURSE_WORDS = ("ben", "bon", "alors", "euh", "eh", "ah", "bah", "hmm", "well")

WORKSHOP_WORDS = ("atelier", "workshop", "njàng", "njang", "formation", "training")
PRICE_WORDS = ("prix", "price", "njëg", "tarif", "coût", "cout", "coute")

# Words that say "this is a stock report" when no product is named ("stock 40", "am na 40", "I have 40").
STOCK_WORDS = ("stock", "stok", "reste", "restant", "restent", "left", "dispo", "disponible", "am", "have",
               "got", "ai", "avons")
# Next to a product they mean 0 ("yaourt fini", "rupture savon").
ZERO_WORDS = ("rupture", "fini", "finie", "épuisé", "épuisée", "zéro", "tus", "dara", "rien", "none",
              "nothing", "out")
# Words ignored inside a stock report (they separate products but never name one).
FILLER_WORDS = (
    # French
    "je", "j'ai", "jai", "g", "nous", "on", "il", "y", "a", "en", "est", "c'est", "ça", "ca", "voici", "voila", "pour",
    "mon", "ma", "mes", "notre", "nos", "et", "ou", "aujourd'hui", "maintenant", "encore", "total",
    "quantité", "qte", "qté", "qty", "nb", "nombre", "environ", "exactement", "plus", "il y a", "me", "moi",
    "frais", "bien", "ici", "reçu",
    # Wolof
    "na", "nanu", "naa", "ngi", "mu", "dama", "dañu", "ci", "bi", "yi", "gi", "li", "ak", "te", "la", "nga",
    "sama", "suma", "sunu", "lii", "yii", "nii",
    # English
    "i", "we", "has", "there", "is", "are", "an", "and", "in", "my", "our", "today", "now", "the", "some",
)
# Little words inside product names: dropped on both sides so "huile de palme" = "huile palme".
LINK_WORDS = ("de", "d", "du", "des", "l", "la", "le", "les", "of")

# Units a quantity may carry ("25 pots", "10L"). Keys are canonical; a product's unit is compared canonically.
UNITS = {
    "pot": ("pot",),
    "kg": ("kg", "kilo", "kilogramme"),
    "g": ("g", "gr", "gramme"),
    "litre": ("litre", "liter", "l", "lt", "ltr"),
    "sachet": ("sachet",),
    "bouteille": ("bouteille", "btl"),
    "carton": ("carton",),
    "piece": ("pièce", "piece", "pc", "pcs", "pce", "unité", "unit"),
    "bidon": ("bidon",),
    "paquet": ("paquet",),
    "sac": ("sac",),
}

# French number words. "un", "une" and "neuf" (also "new") are weak: see WEAK_NUMBER_WORDS.
FRENCH_SMALL = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
                "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15,
                "seize": 16}
FRENCH_TENS = {"vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60}
FRENCH_HUNDRED = ("cent",)
FRENCH_THOUSAND = ("mille", "mil")
HALF_WORDS = ("demi", "demie")

# Wolof numbers with the spellings of the glossary. ñ folds to n, so "ñaar" is "naar" (then "nar").
WOLOF_SMALL = {
    1: ("benn",),
    2: ("ñaar", "niaar", "niar", "nyaar", "gnaar", "naar"),
    3: ("ñett", "niett", "nyett", "gnett", "nett"),
    4: ("ñeent", "nient", "nyeent", "gneent", "neent"),
    5: ("juróom", "juroom", "jurom", "djouroum", "diouroum"),
}
WOLOF_MULTIPLIERS = {10: ("fukk", "fuk", "fouk"), 100: ("téeméer", "teemeer", "temeer"), 1000: ("junni",)}
WOLOF_FIXED = {30: ("fanweer",)}  # glossary: likely
WOLOF_AND = ("ak",)  # "fukk ak ñaar" = 10 + 2
# Read as a number only next to a product or a unit ("benn" is also French "ben"; "neuf" is also "new").
WEAK_NUMBER_WORDS = ("benn", "un", "une", "neuf")

# Thresholds of the fuzzy product match (rapidfuzz ratio on token-sorted, normalised strings, 0-100).
ACCEPT_SCORE = 85      # a fuzzy match below this is never recorded
MARGIN = 10            # ... and it must beat the next *different* product by this much
CANDIDATE_SCORE = 70   # matches above this are offered as "did you mean ...?"
MIN_FUZZY_LEN = 4      # shorter words match exactly or not at all
MAX_CANDIDATES = 3
MAX_QUANTITY = 100_000  # above this a stock figure is a typo, not a stock
MAX_TOKENS = 60         # longer texts are letters, not reports: only keywords are looked for
MAX_FUZZY_RUN = 6       # longest run of unknown words we try to split into products

ORDER_FORMAT = "CMD-{:04d}"

# --------------------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueProduct:
    """One product as the parser sees it: a code, its unit and every word that names it."""

    code: str                  # stable slug e.g. "huile_arachide"
    unit: str                  # "pot", "pièce", "litre", "sachet"...
    names: Mapping[str, str]   # {"fr":..., "wo":..., "en":...}
    aliases: tuple[str, ...] = ()


@dataclass
class Meaning:
    """What a message means. See the module docstring; unused fields stay empty."""

    kind: str  # … or "thanks" (politeness alone: "merci", "jërëjëf")
    items: dict[str, float] = field(default_factory=dict)
    product: str | None = None
    value: str | None = None
    order: str | None = None
    quantity: float | None = None
    reason: str | None = None
    candidates: tuple[str, ...] = ()
    partial: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------------

# Characters NFKD does not decompose, and typographic marks producers' phones insert.
_SPECIAL = str.maketrans({
    "ŋ": "ng", "Ŋ": "ng", "œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o", "Ø": "o",
    "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "’": "'", "‘": "'", "ʼ": "'", "−": "-", "–": "-", "—": "-",
})
_COMBINING = re.compile(r"[\u0300-\u036f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WORD_SPLIT = re.compile(r"[a-z0-9]+")
_DOUBLE = re.compile(r"([a-z])\1+")


def _prepare(text: str) -> str:
    """Lowercase ASCII with accents stripped; punctuation kept (numbers like 1,5 and -5 need it)."""
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return _NON_ASCII.sub(" ", _COMBINING.sub("", text)).lower()


@lru_cache(maxsize=8192)
def _fold(word: str) -> str:
    """French spelling folds on one ASCII word: eau/au -> o, doubled letters, plural s/x."""
    if not word.isalpha():
        return word  # "10l", "0012": digits are never folded
    previous = None
    while previous != word:  # folds can create new doubles ("oau" -> "oo"): repeat until stable
        previous = word
        word = _DOUBLE.sub(r"\1", word.replace("eau", "o").replace("au", "o"))
    stem = word.rstrip("sx")
    # Only strip when a real stem is left: "yes", "six", "dix", "tus" stay whole.
    return stem if stem != word and len(stem) >= 3 else word


def normalise(text: str) -> str:
    """Lowercase, accents stripped (ŋ->ng, ñ->n), French folds, punctuation -> spaces, single spaces."""
    return " ".join(_fold(word) for word in _WORD_SPLIT.findall(_prepare(text)))


def _words(text: str) -> list[str]:
    """The normalised words of a text."""
    return normalise(text).split()


def _fold_all(words: Iterable[str]) -> frozenset[str]:
    """A word list as the parser compares it (normalised)."""
    return frozenset(normalise(word) for word in words if normalise(word))


def _fold_map(table: Mapping[object, Iterable[str]]) -> dict[str, object]:
    """{key: spellings} -> {normalised spelling: key}."""
    return {normalise(word): key for key, words in table.items() for word in words}


_HELP = _fold_all(HELP_WORDS)
_MENU = _fold_all(MENU_WORDS)
_GREETINGS = sorted((tuple(_words(g)) for g in GREETINGS), key=len, reverse=True)  # longest first
_OPTOUT = _fold_all(OPTOUT_WORDS)
_OPTIN = _fold_all(OPTIN_WORDS)
_LANGUAGE = _fold_all(LANGUAGE_WORDS)
_LANGUAGE_VALUES = _fold_map(LANGUAGE_VALUES)
_CANCEL = _fold_all(CANCEL_WORDS)
_POLITE = frozenset(w for phrase in POLITE_WORDS for w in _words(phrase))
_THANKS = _fold_all(THANKS_WORDS)
_YES = _fold_all(YES_WORDS)
_NO = _fold_all(NO_WORDS)
_CAN = frozenset(tuple(_words(p)) for p in CAN_PHRASES)
_ONLY = _fold_all(ONLY_WORDS)
_DISCOURSE = _fold_all(DISCOURSE_WORDS)
_WORKSHOP = _fold_all(WORKSHOP_WORDS)
_PRICE = _fold_all(PRICE_WORDS)
_STOCK = _fold_all(STOCK_WORDS)
_ZERO = _fold_all(ZERO_WORDS)
_LINK = _fold_all(LINK_WORDS)
_UNITS = _fold_map(UNITS)
_FR_SMALL = {normalise(w): v for w, v in FRENCH_SMALL.items()}
_FR_TENS = {normalise(w): v for w, v in FRENCH_TENS.items()}
_FR_HUNDRED = _fold_all(FRENCH_HUNDRED)
_FR_THOUSAND = _fold_all(FRENCH_THOUSAND)
_HALF = _fold_all(HALF_WORDS)
_ET = "et"
# Wolof: each word also with the "-i" a number takes before a noun ("ñaari pot", "fukki kilo").
_WO_SMALL = {normalise(w + suffix): v for v, ws in WOLOF_SMALL.items() for w in ws for suffix in ("", "i")}
_WO_MULT = {normalise(w + suffix): v for v, ws in WOLOF_MULTIPLIERS.items() for w in ws for suffix in ("", "i")}
_WO_FIXED = {normalise(w): v for v, ws in WOLOF_FIXED.items() for w in ws}
_WO_AND = _fold_all(WOLOF_AND)
_WEAK = _fold_all(WEAK_NUMBER_WORDS)
_YES_NO_ALL = _YES | _NO | {"acord"}  # "d'accord" is two words: "d acord"
# Words that can never be (part of) a product in a stock report.
_NOT_PRODUCT = (_fold_all(FILLER_WORDS) | _STOCK | _POLITE | _YES_NO_ALL | _DISCOURSE | _ONLY | _PRICE
                | _WORKSHOP | frozenset(w for g in _GREETINGS for w in g) | frozenset(w for p in _CAN for w in p))


# --------------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)  # catalogues are rebuilt per message from the same names: keep them cheap
def _form_key(text: str) -> str:
    """A product name or alias as matched: normalised, link words dropped ('huile de palme' -> 'huile palme')."""
    words = _words(text)
    kept = [w for w in words if w not in _LINK]
    return " ".join(kept or words)


class Catalogue:
    """The products with a normalised index of every name and alias, built once per catalogue."""

    def __init__(self, products: Iterable[CatalogueProduct]):
        self.products: tuple[CatalogueProduct, ...] = tuple(products)
        self._by_code = {p.code: p for p in self.products}
        exact: dict[str, list[str]] = {}      # whole form -> codes
        partial: dict[str, list[str]] = {}    # one word of a multi-word form -> codes
        fuzzy_keys: list[str] = []            # token-sorted forms, for rapidfuzz
        fuzzy_codes: list[str] = []
        self._units: dict[str, str] = {}
        for product in self.products:
            self._units[product.code] = _canonical_unit(product.unit)
            texts = [*product.names.values(), *product.aliases, product.code.replace("_", " ")]
            for key in dict.fromkeys(_form_key(t) for t in texts if t):  # deduplicated, in order
                if not key:
                    continue
                _add(exact, key, product.code)
                words = key.split()
                fuzzy_keys.append(" ".join(sorted(words)))
                fuzzy_codes.append(product.code)
                if len(words) > 1:
                    for word in words:
                        _add(partial, word, product.code)
        self._exact = {k: tuple(v) for k, v in exact.items()}
        # A word that is itself a full form matches exactly; the partial index is for the rest.
        self._partial = {k: tuple(v) for k, v in partial.items() if k not in exact}
        self._partial_keys = list(self._partial)
        self._fuzzy_keys = fuzzy_keys
        self._fuzzy_codes = fuzzy_codes
        self._max_words = max((len(k.split()) for k in self._exact), default=1)
        self._vocabulary = frozenset(w for k in self._exact for w in k.split())

    def get(self, code) -> CatalogueProduct | None:
        """The product with this code, or None."""
        return self._by_code.get(code)

    def __iter__(self):
        """The products, in the order given."""
        return iter(self.products)

    def __len__(self) -> int:
        return len(self.products)

    @property
    def codes(self) -> tuple[str, ...]:
        """Every product code, in the order given."""
        return tuple(self._by_code)

    def is_form(self, word: str) -> bool:
        """True when a normalised word alone names a product (an alias may collide with a filler word)."""
        return word in self._exact


def _add(index: dict[str, list[str]], key: str, code: str) -> None:
    """Append code to index[key] once."""
    codes = index.setdefault(key, [])
    if code not in codes:
        codes.append(code)


@lru_cache(maxsize=256)
def _canonical_unit(unit: str) -> str:
    """'pièces' -> 'piece', 'L' -> 'litre'; an unknown unit stays itself."""
    key = normalise(unit or "")
    return str(_UNITS.get(key, key))


# --------------------------------------------------------------------------------------------------------
# Product matching
# --------------------------------------------------------------------------------------------------------

@dataclass
class _Mention:
    """A run of words read as one product: clear, which-of-these, maybe-this, or unknown."""

    status: str  # "clear" | "which" (category, ask which) | "maybe" (did you mean) | "unknown"
    code: str | None
    candidates: tuple[str, ...]
    text: str
    weak: bool = False  # a single word that is also a filler ("the" = thé): dropped when others are named


def _from_codes(codes: Sequence[str], text: str, preferred: Sequence[str]) -> _Mention:
    """Several products share a word: the cooperative's own product wins when it makes exactly one."""
    if len(codes) == 1:
        return _Mention("clear", codes[0], (codes[0],), text)
    ours = [c for c in preferred if c in codes]
    if len(ours) == 1:
        return _Mention("clear", ours[0], (ours[0],), text)
    return _Mention("which", None, tuple(ours if ours else codes), text)


def _from_partial(codes: Sequence[str], text: str, preferred: Sequence[str]) -> _Mention:
    """One word of a longer name. A word shared by several products ("huile") names a category, which
    the cooperative's products can settle; a word of one product only ("lait" of "lait caillé") may well
    be another product we do not list, so it is only ever a question."""
    if len(codes) > 1:
        return _from_codes(codes, text, preferred)
    return _Mention("maybe", None, tuple(codes), text)


def _match_words(words: tuple[str, ...], catalogue: Catalogue, preferred: Sequence[str]) -> _Mention:
    """Match normalised words as ONE product: exact form, exact partial word, then fuzzy."""
    text = " ".join(words)
    codes = catalogue._exact.get(text)
    if codes:
        return _from_codes(codes, text, preferred)
    if len(words) == 1 and text in catalogue._partial:
        return _from_partial(catalogue._partial[text], text, preferred)
    if not any(len(w) >= MIN_FUZZY_LEN for w in words):
        return _Mention("unknown", None, (), text)

    scores: dict[str, float] = {}
    query = " ".join(sorted(words))  # token-sorted like the keys: "arachide huile" = "huile arachide"
    for _key, score, index in process.extract(query, catalogue._fuzzy_keys, scorer=fuzz.ratio, processor=None,
                                              limit=None, score_cutoff=CANDIDATE_SCORE):
        code = catalogue._fuzzy_codes[index]
        scores[code] = max(score, scores.get(code, 0.0))
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0] not in preferred))
    if ranked and ranked[0][1] >= ACCEPT_SCORE:
        best = ranked[0][1]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if best - runner_up >= MARGIN:
            return _Mention("clear", ranked[0][0], (ranked[0][0],), text)
        close = [code for code, score in ranked if score >= ACCEPT_SCORE and best - score < MARGIN]
        ours = [code for code in close if code in preferred]
        if len(ours) == 1:
            return _Mention("clear", ours[0], (ours[0],), text)
    if len(words) == 1 and catalogue._partial_keys:
        hit = process.extractOne(text, catalogue._partial_keys, scorer=fuzz.ratio, processor=None,
                                 score_cutoff=ACCEPT_SCORE)
        if hit:
            return _from_partial(catalogue._partial[hit[0]], text, preferred)
    if ranked:
        return _Mention("maybe", None, tuple(code for code, _ in ranked[:MAX_CANDIDATES]), text)
    return _Mention("unknown", None, (), text)


def _split_glued_articles(words: list[str], catalogue: Catalogue) -> list[str]:
    """'darachide' -> 'arachide', 'lhuile' -> 'huile' (an apostrophe left out)."""
    out = []
    for word in words:
        if (len(word) > MIN_FUZZY_LEN and word[0] in "dl" and word not in catalogue._vocabulary
                and word[1:] in catalogue._vocabulary):
            word = word[1:]
        out.append(word)
    return out


def _scan_run(words: list[str], catalogue: Catalogue, preferred: Sequence[str]) -> list[_Mention]:
    """Find the products named in a run of words: longest exact forms first, fuzzy for what is left."""
    words = _split_glued_articles(words, catalogue)
    mentions: list[_Mention] = []
    leftover: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(catalogue._max_words, len(words) - i), 0, -1):
            key = " ".join(words[i:i + n])
            codes = catalogue._exact.get(key)
            if codes:
                mentions.extend(_resolve_leftover(leftover, catalogue, preferred))
                leftover = []
                mention = _from_codes(codes, key, preferred)
                mention.weak = n == 1 and key in _NOT_PRODUCT
                mentions.append(mention)
                i += n
                break
        else:
            leftover.append(words[i])
            i += 1
    mentions.extend(_resolve_leftover(leftover, catalogue, preferred))
    return mentions


def _resolve_leftover(words: list[str], catalogue: Catalogue, preferred: Sequence[str]) -> list[_Mention]:
    """Words with no exact match: the whole run fuzzily, else the best sub-run, else word by word."""
    if not words:
        return []
    if len(words) > MAX_FUZZY_RUN:
        return [_Mention("unknown", None, (), " ".join(words))]
    whole = _match_words(tuple(words), catalogue, preferred)
    if whole.status in ("clear", "which") or len(words) == 1:
        return [whole]
    for size in range(len(words) - 1, 0, -1):
        for start in range(len(words) - size + 1):
            part = _match_words(tuple(words[start:start + size]), catalogue, preferred)
            if part.status in ("clear", "which"):
                return (_resolve_leftover(words[:start], catalogue, preferred) + [part]
                        + _resolve_leftover(words[start + size:], catalogue, preferred))
    return [whole]  # a "maybe" for the whole run, or one unknown run


def match_product(words: str, catalogue: Catalogue, preferred: Sequence[str] = ()
                  ) -> tuple[str | None, tuple[str, ...]]:
    """(clear winner code or None, candidates best-first) for a text naming one product."""
    run = [w for w in _words(words) if w not in _LINK and (w not in _NOT_PRODUCT or catalogue.is_form(w))]
    mentions = [m for m in _scan_run(run, catalogue, tuple(preferred)) if m.status != "unknown"]
    if any(not m.weak for m in mentions):
        mentions = [m for m in mentions if not m.weak]
    if not mentions:
        return None, ()
    if len(mentions) == 1:
        return mentions[0].code, mentions[0].candidates
    seen: list[str] = []
    for mention in mentions:
        for code in mention.candidates:
            if code not in seen:
                seen.append(code)
    return None, tuple(seen)


# --------------------------------------------------------------------------------------------------------
# Tokens and quantities
# --------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<order>\b(?:cmd|commande|order)\s*[-_#:.]?\s*(?:no?\s*[.:]?\s*)?(?P<ordnum>\d{1,6})(?!\d))
  | (?P<neg>(?<![a-z0-9])-(?=\d))?
    (?P<num>\d{1,3}(?:\ \d{3})+(?![\d])(?![.,]\d) | \d{1,3}(?:\.\d{3}){2,}(?![\d]) | \d+(?:[.,]\d+)?)
    (?P<glued>[a-z]+)?
  | (?P<word>[a-z]+)
  | (?P<qmark>\?)
""", re.X)


@dataclass
class _Qty:
    """A quantity as typed: value, unit, and how much to trust it."""

    value: float
    text: str                 # canonical digits, e.g. "1200", "1.5"
    unit: str | None = None   # canonical unit
    weak: str | None = None   # the weak word it was read from ("benn", "un", "neuf")
    zero: bool = False        # from a word like "rupture"
    negative: bool = False
    digits: bool = False      # typed in digits
    ambiguous: bool = False   # "1.500" / "1,500": French thousands or a decimal? Ask.

    def bad(self) -> bool:
        """Negative, ambiguous or absurd: never recorded."""
        return self.negative or self.ambiguous or not (0 <= self.value <= MAX_QUANTITY)


def _number_text(value: float) -> str:
    """40.0 -> '40', 1.5 -> '1.5'."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


_THOUSANDS = re.compile(r"\d{1,3}(?:[ .]\d{3})+")
_AMBIGUOUS = re.compile(r"\d{1,3}[.,]\d{3}")  # 1.500 is 1500 in French, 1.5 elsewhere; 1,500 the reverse


def _digits_value(raw: str) -> tuple[float, str, bool]:
    """(value, canonical text, ambiguous): '1 200' -> 1200, '1.500.000' -> 1500000, '1,5' -> 1.5.

    '1.500' and '1,500' are read as 1500 but flagged ambiguous: the stock is asked, not guessed."""
    ambiguous = bool(_AMBIGUOUS.fullmatch(raw))
    if _THOUSANDS.fullmatch(raw) or ambiguous:
        raw = raw.replace(" ", "").replace(".", "").replace(",", "")
    raw = raw.replace(",", ".")
    if len(raw.split(".")[0]) > 15:  # a 5000-digit string is no quantity
        return float("inf"), raw, ambiguous
    value = float(raw)
    return value, _number_text(value), ambiguous


def _parse_french(words: Sequence[str], i: int) -> tuple[float, int] | None:
    """French number words from words[i]: (value, index after). 'quatre vingt dix', 'vingt et un'."""
    total, current, j, last = 0.0, 0.0, i, None
    while j < len(words):
        word = words[j]
        following = words[j + 1] if j + 1 < len(words) else ""
        if word == _ET and last and (following in _HALF or following in ("un", "une", "onze")):
            if following in _HALF:  # "deux et demi"
                current += 0.5
                j += 2
                break
            j += 1
            continue
        if word in _HALF and last is None:
            current, j = 0.5, j + 1  # "demi" alone
            break
        if word in _FR_SMALL:
            value = _FR_SMALL[word]
            allowed = current % 10 == 0 if value < 10 else current % 100 in (0, 60, 80)
            if not allowed or last == "unit":
                break
            current += value
            last = "unit" if value < 10 else "teen"
        elif word == "vingt":
            if last == "unit" and current % 100 == 4:
                current += 76  # quatre-vingt
            elif current % 100 == 0:
                current += 20
            else:
                break
            last = "tens"
        elif word in _FR_TENS:
            if current % 100:
                break
            current += _FR_TENS[word]
            last = "tens"
        elif word in _FR_HUNDRED:
            if current >= 10:
                break
            current = (current or 1) * 100
            last = "hundred"
        elif word in _FR_THOUSAND:
            if total:
                break
            total, current = (current or 1) * 1000, 0.0
            last = "thousand"
        else:
            break
        j += 1
    if j == i:
        return None
    return total + current, j


def _parse_wolof(words: Sequence[str], i: int) -> tuple[float, int] | None:
    """Wolof number words from words[i]: 'ñaar fukk' = 20, 'fukk ak ñaar' = 12, 'juróom-ñaar' = 7."""
    def term(j: int) -> tuple[float, int] | None:
        if j >= len(words):
            return None
        word = words[j]
        if word in _WO_FIXED:
            return float(_WO_FIXED[word]), j + 1
        small = None
        if word in _WO_SMALL:
            small = _WO_SMALL[word]
            j += 1
            if small == 5 and j < len(words) and _WO_SMALL.get(words[j], 9) <= 4:  # juróom-ñaar = 7
                small += _WO_SMALL[words[j]]
                j += 1
        if j < len(words) and words[j] in _WO_MULT:  # a smaller number before 10/100/1000 multiplies
            return float((small or 1) * _WO_MULT[words[j]]), j + 1
        return (float(small), j) if small is not None else None

    first = term(i)
    if first is None:
        return None
    value, j = first
    while j + 1 < len(words) and words[j] in _WO_AND:  # "ak" adds
        nxt = term(j + 1)
        if nxt is None:
            break
        value, j = value + nxt[0], nxt[1]
    return value, j


def _tokens(prepared: str, limit: int | None = None) -> list[tuple]:
    """('order', ref) / ('num', _Qty) / ('word', folded) / ('qmark',) from prepared text (at most limit+1)."""
    out: list[tuple] = []
    for m in _TOKEN.finditer(prepared):
        if limit is not None and len(out) > limit:
            break
        if m.group("order"):
            out.append(("order", ORDER_FORMAT.format(int(m.group("ordnum")))))
        elif m.group("num"):
            value, text, ambiguous = _digits_value(m.group("num"))
            if m.group("neg"):
                value, text = -value, "-" + text
            out.append(("num", _Qty(value, text, negative=bool(m.group("neg")), digits=True,
                                    ambiguous=ambiguous)))
            if m.group("glued"):
                out.append(("word", _fold(m.group("glued"))))
        elif m.group("word"):
            out.append(("word", _fold(m.group("word"))))
        else:
            out.append(("qmark",))
    return out


def _elements(tokens: list[tuple], catalogue: Catalogue | None) -> list[tuple[str, object]]:
    """Tokens -> ('Q', _Qty) / ('W', word) / ('F', word): number words merged, units stuck to numbers."""
    elements: list[tuple[str, object]] = []
    i = 0
    words_from: dict[int, list[str]] = {}

    def word_run(start: int) -> list[str]:
        """The consecutive words from tokens[start] (number words never span a digit)."""
        if start not in words_from:
            run = []
            for token in tokens[start:start + 12]:
                if token[0] != "word":
                    break
                run.append(token[1])
            words_from[start] = run
        return words_from[start]

    while i < len(tokens):
        kind = tokens[i][0]
        if kind == "num":
            qty = tokens[i][1]
            i += 1
            run = word_run(i)
            if len(run) >= 2 and run[0] == _ET and run[1] in _HALF:  # "1 et demi"
                qty.value += -0.5 if qty.negative else 0.5
                qty.text = _number_text(qty.value)
                i += 2
                run = word_run(i)
            if run and run[0] in _UNITS:
                qty.unit = str(_UNITS[run[0]])
                i += 1
            elements.append(("Q", qty))
            continue
        if kind != "word":
            i += 1
            continue
        run = word_run(i)
        parsed = max((p for p in (_parse_french(run, 0), _parse_wolof(run, 0)) if p), key=lambda p: p[1],
                     default=None)
        if parsed:
            value, used = parsed
            weak = run[0] if used == 1 and run[0] in _WEAK else None
            qty = _Qty(value, _number_text(value), weak=weak)
            i += used
            rest = word_run(i)
            if rest and rest[0] in _UNITS and rest[0] not in _LINK:
                qty.unit = str(_UNITS[rest[0]])
                i += 1
            elements.append(("Q", qty))
            continue
        word = run[0]
        i += 1
        if word in _ZERO:
            elements.append(("Q", _Qty(0.0, "0", zero=True)))
        elif word in _LINK:
            continue  # never separates: "chapeau de paille" is one run
        elif catalogue is not None and catalogue.is_form(word):
            elements.append(("W", word))
        elif word in _NOT_PRODUCT or word in _UNITS or len(word) < 3:
            elements.append(("F", word))
        else:
            elements.append(("W", word))
    return elements


def parse_quantity(text: str) -> float | None:
    """A quantity alone ('25', '1,5', '1 200', 'vingt-cinq', 'ñaar fukk', '10 pots'), else None.

    Negative or absurd (> MAX_QUANTITY) figures are not clean quantities either: None."""
    try:
        elements = _elements(_tokens(_prepare(text or "")), None)
    except Exception:  # never raise on producer text
        log.exception("parse_quantity failed on %r", text)
        return None
    if len(elements) != 1 or elements[0][0] != "Q":
        return None
    qty: _Qty = elements[0][1]  # type: ignore[assignment]
    if qty.bad() or (qty.weak == "ben" and not qty.unit):
        return None
    return qty.value


_PRICE_TEXT = re.compile(r"\s*(\d{1,3}(?:[ .,]\d{3})+|\d+)\s*(?:f\s*cfa|fcfa|cfa|francs?|frs?|f|xof)?\s*\.?\s*")
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2009\u2007\t"), " ")


def parse_price(text: str) -> int | None:
    """Whole F CFA typed in digits ('1500', '1 500', '1.500 f', '1500fcfa'); never from number words,
    because Wolof counts money in dërëm of 5 F ('junni' may mean 5 000 F)."""
    if not text:
        return None
    # Any decimal digit (fullwidth, Arabic-Indic...) counts as a digit; nothing else becomes one.
    chars = [str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text.translate(_SPACES)]
    match = _PRICE_TEXT.fullmatch("".join(chars).lower())
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(1))
    if len(digits) > 12:
        return None
    value = int(digits)
    return value or None


# --------------------------------------------------------------------------------------------------------
# Keywords
# --------------------------------------------------------------------------------------------------------

def keyword(text: str, optout_words: Iterable[str] = ()) -> Meaning | None:
    """The global words (help, menu, greetings, stop, start, language, cancel), or None.

    Empty text, emoji or punctuation only (a picture, "?") is help. Digits are not keywords here: a flow
    asking "how many?" must be able to read "0"; ``understand`` reads a lone "0" as the menu."""
    try:
        extra = frozenset(filter(None, (normalise(w) for w in optout_words or ())))
        return _keyword(_words(text or ""), extra, text or "")
    except Exception:
        log.exception("keyword failed on %r", text)
        return None


def _keyword(words: list[str], extra_optout: frozenset[str], raw: str) -> Meaning | None:
    if not words:
        return Meaning("help")
    core = [w for w in words if w not in _POLITE]
    core = [w for k, w in enumerate(core) if k == 0 or w != core[k - 1]]  # "stop stop"
    if not core:
        # "merci", "jërëjëf", "thank you": politeness alone (but "s'il" alone is nothing).
        return Meaning("thanks") if any(w in _THANKS for w in words) else None
    phrase = " ".join(core)
    if phrase in _OPTOUT or phrase in extra_optout:
        return Meaning("optout")
    if phrase in _OPTIN:
        return Meaning("optin")
    if phrase in _HELP:
        return Meaning("help")
    if phrase in _MENU:
        return Meaning("menu")
    if phrase in _LANGUAGE_VALUES:
        return Meaning("language", value=str(_LANGUAGE_VALUES[phrase]))
    if core[0] in _LANGUAGE:
        value = _LANGUAGE_VALUES.get(" ".join(core[1:])) if len(core) > 1 else None
        return Meaning("language", value=str(value) if value else None)
    if core[0] in _CANCEL:
        order = next((t[1] for t in _tokens(_prepare(raw)) if t[0] == "order"), None)
        return Meaning("cancel", value="workshop" if any(w in _WORKSHOP for w in core[1:]) else None,
                       order=order)
    for greeting in _GREETINGS:  # "bonjour" -> menu; "bonjour aide" -> help
        if tuple(core[:len(greeting)]) == greeting:
            rest = core[len(greeting):]
            if not rest:
                return Meaning("menu")
            return _keyword(rest, extra_optout, raw)
    return None


# --------------------------------------------------------------------------------------------------------
# understand()
# --------------------------------------------------------------------------------------------------------

def understand(text: str, catalogue: Catalogue, cooperative_products: Sequence[str],
               pending_orders: Sequence[str] = (), optout_words: Iterable[str] = ()) -> Meaning:
    """The meaning of one message read on its own. Never raises: a text that matches nothing is 'unknown'.

    Beyond the field comments of Meaning, a clarify also carries ``quantity`` (the figure typed for the
    unclear item) and ``value`` (the words asked about, to learn as an alias once confirmed); a
    ``which_order`` clarify has value "accept" or "decline"."""
    try:
        return _understand(text, catalogue, tuple(cooperative_products or ()), tuple(pending_orders or ()),
                           tuple(optout_words or ()))
    except Exception:  # a producer's text must never break the conversation
        log.exception("understand failed on %r", text)
        return Meaning("unknown")


def _understand(text: str, catalogue: Catalogue, coop: tuple[str, ...], pending: tuple[str, ...],
                optout_words: tuple[str, ...]) -> Meaning:
    text = text or ""
    word = keyword(text, optout_words)
    if word is not None:
        return word
    prepared = _prepare(text)
    if _WORD_SPLIT.findall(prepared) == ["0"]:  # outside a flow, 0 is the menu
        return Meaning("menu")
    tokens = _tokens(prepared, MAX_TOKENS)
    if len(tokens) > MAX_TOKENS:
        return Meaning("unknown")
    words = [t[1] for t in tokens if t[0] == "word"]
    refs = [t[1] for t in tokens if t[0] == "order"]
    elements = _elements(tokens, catalogue)
    segments = _segments(elements, catalogue, coop)

    reply = _order_reply(words, refs, segments, pending)
    if reply is not None:
        return reply
    if any(w in _WORKSHOP for w in words):
        number = next((e[1] for e in elements if e[0] == "Q" and e[1].digits), None)
        return Meaning("workshops", value=number.text if number else None)
    if any(w in _PRICE for w in words):
        return _price(segments)
    return _stock(segments, elements, catalogue, coop)


def _segments(elements: list[tuple[str, object]], catalogue: Catalogue, coop: Sequence[str]) -> list[tuple]:
    """Elements -> ('P', _Mention) / ('Q', _Qty) / ('F', word), with weak words settled."""
    segments: list[tuple] = []
    run: list[str] = []
    for kind, item in elements:
        if kind == "W":
            run.append(item)  # type: ignore[arg-type]
            continue
        if run:
            segments.extend(("P", m) for m in _scan_run(run, catalogue, coop))
            run = []
        segments.append((kind, item))
    if run:
        segments.extend(("P", m) for m in _scan_run(run, catalogue, coop))
    # A filler that is also an alias ("the" = thé) names a product only when nothing else is named.
    if any(k == "P" and m.status != "unknown" and not m.weak for k, m in segments):
        segments = [("F", m.text) if k == "P" and m.weak else (k, m) for k, m in segments]
    # Weak numbers: "benn"/"un" next to a product or with a unit; "neuf" before a product or with a unit.
    settled = []
    for index, (kind, item) in enumerate(segments):
        if kind == "Q" and item.weak and not item.unit:
            before = segments[index - 1] if index else _NOTHING
            after = segments[index + 1] if index + 1 < len(segments) else _NOTHING
            keep = _names(after) if item.weak == "neuf" else (_names(before) or _names(after))
            if not keep or _strong_quantity(before) or _strong_quantity(after):
                kind, item = "F", item.weak
        settled.append((kind, item))
    return settled


_NOTHING = ("F", "")


def _names(segment: tuple) -> bool:
    """True for a segment that names a product (clearly or not)."""
    return segment[0] == "P" and segment[1].status != "unknown"


def _strong_quantity(segment: tuple) -> bool:
    """True for a quantity that is not a weak word."""
    return segment[0] == "Q" and not segment[1].weak


def _pair(segments: list[tuple]) -> tuple[list[tuple[_Mention, _Qty | None]], list[_Qty]]:
    """Pair products with quantities: 'savon 12 huile 5' (product first) or '40 pot soow' (quantity first)."""
    core = [s for s in segments if s[0] in ("P", "Q")]
    items: list[list] = []
    orphans: list[_Qty] = []
    if not core:
        return [], []
    if core[0][0] == "P":
        for kind, item in core:
            if kind == "P":
                items.append([item, None])
            elif items and items[-1][1] is None:
                items[-1][1] = item
            else:
                orphans.append(item)
    else:
        waiting: _Qty | None = None
        for kind, item in core:
            if kind == "Q":
                if waiting is not None:
                    orphans.append(waiting)
                waiting = item
            else:
                items.append([item, waiting])
                waiting = None
        if waiting is not None:
            orphans.append(waiting)
    return [(m, q) for m, q in items], orphans


def _order_reply(words: list[str], refs: list[str], segments: list[tuple], pending: Sequence[str]
                 ) -> Meaning | None:
    """yes / no / 'je peux 20' / '20 seulement' about an order, or None."""
    content = words
    while content and content[0] in _DISCOURSE:
        content = content[1:]
    first = content[0] if content else ""
    kind = None
    if first in _YES or content[:2] == ["d", "acord"]:
        kind = "accept"
    elif first in _NO:
        kind = "decline"
    quantities = [s[1] for s in segments if s[0] == "Q"]
    named = any(s[0] == "P" and s[1].status != "unknown" for s in segments)
    if kind is None:
        offers = any(tuple(content[k:k + len(p)]) == p for p in _CAN for k in range(len(content)))
        offers = offers or any(w in _ONLY for w in words)
        if not (offers and (pending or refs) and len(quantities) == 1):
            return None
        kind = "accept"
    elif not pending and not refs and named:
        return None  # "ok yaourt 40" with no order waiting is a stock report
    if refs:
        order = refs[0]
    elif len(pending) == 1:
        order = pending[0]
    elif len(pending) > 1:
        return Meaning("clarify", reason="which_order", candidates=tuple(pending), value=kind)
    else:
        order = None
    if kind == "decline":
        return Meaning("decline", order=order)
    quantity = quantities[0] if quantities else None
    if quantity is not None and quantity.bad():
        return Meaning("clarify", reason="bad_quantity", order=order, quantity=quantity.value)
    return Meaning("accept", order=order, quantity=quantity.value if quantity else None)


def _price(segments: list[tuple]) -> Meaning:
    """'prix' -> price; 'prix yaourt' -> price of yaourt (no not-made check: any price may be asked)."""
    for kind, mention in segments:
        if kind == "P" and mention.status != "unknown":
            return Meaning("price", product=mention.code, candidates=mention.candidates)
    return Meaning("price")


def _unit_ok(catalogue: Catalogue, code: str, qty: _Qty) -> bool:
    """A quantity in another unit ('savon 3 cartons') is not a count of the product's unit: ask."""
    return qty.unit is None or catalogue._units.get(code) in (None, "", qty.unit)


def _stock(segments: list[tuple], elements: list[tuple], catalogue: Catalogue, coop: tuple[str, ...]
           ) -> Meaning:
    """A stock report: every item clear -> 'stock', else the first thing to ask."""
    items, orphans = _pair(segments)
    fillers = [s[1] for s in segments if s[0] == "F"]
    signal = any(w in _STOCK for w in fillers)
    named = [(m, q) for m, q in items if m.status != "unknown"]

    if not named:
        unknown = next(((m, q) for m, q in items if q is not None), None)
        if unknown is not None:
            mention, qty = unknown
            return Meaning("clarify", reason="unknown_product", value=mention.text, quantity=qty.value)
        return _bare_quantity(orphans, signal, elements, catalogue, coop)
    if orphans:
        return Meaning("clarify", reason="which_product", candidates=coop, quantity=orphans[0].value)

    clear: dict[str, float] = {}
    problem: Meaning | None = None
    for mention, qty in items:
        issue = _item_issue(mention, qty, catalogue, coop, clear)
        if issue is None:
            if mention.code is not None and qty is not None:
                clear[mention.code] = qty.value
        elif problem is None:
            problem = issue
    if problem is None:
        if not clear:
            return Meaning("unknown")
        return Meaning("stock", items=clear)
    problem.partial = {c: q for c, q in clear.items() if c != problem.product}
    return problem


def _item_issue(mention: _Mention, qty: _Qty | None, catalogue: Catalogue, coop: Sequence[str],
                clear: Mapping[str, float]) -> Meaning | None:
    """What to ask about one (product, quantity) pair, or None when it is clear."""
    quantity = qty.value if qty is not None else None
    if mention.status == "unknown":
        if qty is None:
            return None  # a stray word without a figure ("merci", a name): ignored
        return Meaning("clarify", reason="unknown_product", value=mention.text, quantity=quantity)
    if mention.status == "which":
        return Meaning("clarify", reason="which_product", candidates=mention.candidates, value=mention.text,
                       quantity=quantity)
    if mention.status == "maybe":
        return Meaning("clarify", reason="did_you_mean", candidates=mention.candidates, value=mention.text,
                       quantity=quantity)
    code = mention.code
    if qty is None:
        return Meaning("clarify", reason="how_many", product=code, value=mention.text)
    if qty.bad():
        return Meaning("clarify", reason="bad_quantity", product=code, value=mention.text, quantity=quantity)
    if not _unit_ok(catalogue, code, qty):
        return Meaning("clarify", reason="how_many", product=code, value=qty.unit, quantity=quantity)
    if coop and code not in coop:
        return Meaning("clarify", reason="not_made", product=code, candidates=tuple(coop), value=mention.text,
                       quantity=quantity)
    if code in clear and clear[code] != qty.value:  # "yaourt 40 ... yaourt 20": which one?
        return Meaning("clarify", reason="bad_quantity", product=code, value=mention.text, quantity=quantity)
    return None


def _bare_quantity(orphans: list[_Qty], signal: bool, elements: list[tuple], catalogue: Catalogue,
                   coop: tuple[str, ...]) -> Meaning:
    """No product named: a menu choice ('2'), or a report for the cooperative's only product ('stock 40')."""
    if not orphans:
        # A lone weak number the settling dropped ("un", "neuf"): where a number is expected, it is one.
        if len(elements) == 1 and elements[0][0] == "Q" and elements[0][1].weak in ("un", "une", "neuf"):
            return Meaning("choice", value=elements[0][1].text)
        if signal:  # "stock" alone
            if len(coop) == 1:
                return Meaning("clarify", reason="how_many", product=coop[0])
            return Meaning("clarify", reason="which_product", candidates=coop)
        return Meaning("unknown")
    if len(orphans) > 1:
        return Meaning("clarify", reason="which_product", candidates=coop)
    qty = orphans[0]
    only = len(coop) == 1
    if qty.bad():
        return Meaning("clarify", reason="bad_quantity", product=coop[0] if only else None, quantity=qty.value)
    if signal or qty.unit or qty.zero:
        if only and _unit_ok(catalogue, coop[0], qty):
            return Meaning("stock", items={coop[0]: qty.value})
        if only:
            return Meaning("clarify", reason="how_many", product=coop[0], value=qty.unit, quantity=qty.value)
        # Offer first the products counted in the unit typed ("7 litres" -> the oils).
        ranked = sorted(coop, key=lambda code: not (qty.unit and _unit_ok(catalogue, code, qty)))
        return Meaning("clarify", reason="which_product", candidates=tuple(ranked), quantity=qty.value)
    if qty.text == "0":  # "bonjour 0": outside a flow, 0 is the menu
        return Meaning("menu")
    return Meaning("choice", value=qty.text)
