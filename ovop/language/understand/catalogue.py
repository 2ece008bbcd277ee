"""The product catalogue and matching words to products (exact names and aliases, then fuzzy)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from rapidfuzz import fuzz, process

from .text import _words, normalise
from .words import (ACCEPT_SCORE, CANDIDATE_SCORE, MARGIN, MAX_CANDIDATES, MAX_FUZZY_RUN, MIN_FUZZY_LEN, _LINK,
                    _NOT_PRODUCT, _UNITS)


@dataclass(frozen=True)
class CatalogueProduct:
    """One product as the parser sees it: a code, its unit and every word that names it."""

    code: str                  # stable slug e.g. "huile_arachide"
    unit: str                  # "pot", "pièce", "litre", "sachet"...
    names: Mapping[str, str]   # {"fr":..., "wo":..., "en":...}
    aliases: tuple[str, ...] = ()




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
    score: float = 100.0  # 100 for an exact name or alias, else the fuzzy ratio of the best candidate


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
        if len(catalogue._fuzzy_keys[index]) < MIN_FUZZY_LEN:
            continue  # "thies" is not "the" (thé): short names match exactly or not at all
        code = catalogue._fuzzy_codes[index]
        scores[code] = max(score, scores.get(code, 0.0))
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0] not in preferred))
    if ranked and ranked[0][1] >= ACCEPT_SCORE:
        best = ranked[0][1]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if best - runner_up >= MARGIN:
            return _Mention("clear", ranked[0][0], (ranked[0][0],), text, score=best)
        close = [code for code, score in ranked if score >= ACCEPT_SCORE and best - score < MARGIN]
        ours = [code for code in close if code in preferred]
        if len(ours) == 1:
            return _Mention("clear", ours[0], (ours[0],), text, score=scores[ours[0]])
    if len(words) == 1 and catalogue._partial_keys:
        hit = process.extractOne(text, catalogue._partial_keys, scorer=fuzz.ratio, processor=None,
                                 score_cutoff=ACCEPT_SCORE)
        if hit:
            return _from_partial(catalogue._partial[hit[0]], text, preferred)
    if ranked:
        return _Mention("maybe", None, tuple(code for code, _ in ranked[:MAX_CANDIDATES]), text,
                        score=ranked[0][1])
    return _Mention("unknown", None, (), text, score=0.0)


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
