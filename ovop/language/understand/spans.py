"""A message read in typed parts: every span has a type, its place in the text and what it says.

`read(text, catalogue, coop)` splits a message before anything is decided:

    "bjr yaourt 25-30 pots a 500f"  ->  Filler(bjr) Product(yaourt) Range(25, 30, pot) Money(500)

Places are character offsets in the prepared text (lowercase ASCII, see `text._prepare`), which keeps the
order of the producer's words. Figures that are not a plain count (money, a date, a range, a sum, an
approximation, a look-alike, an amount sold...) are spans of their own type, never a `Quantity`: the
decision policy (policy.py) chooses what to do with each type, in one table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from .catalogue import Catalogue, _Mention, _scan_run
from .numbers import _elements, _Qty, _tokens
from .text import _clean, _prepare, normalise
from .words import (CONTAINER_LINKS, DAY_WORDS, MAX_TOKENS, UNITS, _APPROX, _APPROX_AFTER, _CORRECT_KEEP_FIRST,
                    _CORRECT_KEEP_LAST, _FUTURE, _FUTURE_AFTER, _PRICE_AFTER, _RANGE_JOIN, _RANGE_START, _SALE, _UNITS)


# --- span types -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class ProductMention(Span):
    """Words naming a product: clear (code), which-of-these, maybe-this, or unknown; with the match score."""
    status: str
    code: str | None
    candidates: tuple[str, ...]
    text: str
    score: float
    weak: bool = False


@dataclass(frozen=True)
class Quantity(Span):
    """A plain count, in digits or words, with its unit."""
    qty: _Qty

    @property
    def value(self) -> float:
        return self.qty.value


@dataclass(frozen=True)
class Container(Span):
    """'3 cartons de 20': count x size; the figure is computed, so it is confirmed before it is written."""
    count: float
    container: str
    size: float | None
    unit: str | None

    @property
    def value(self) -> float | None:
        return self.count * self.size if self.size is not None else None


@dataclass(frozen=True)
class Arithmetic(Span):
    """'10 + 5', '2x12': a figure the producer computed in words; confirmed before it is written."""
    operator: str
    terms: tuple[float, ...]
    unit: str | None = None

    @property
    def value(self) -> float:
        if self.operator == "+":
            return sum(self.terms)
        result = 1.0
        for term in self.terms:
            result *= term
        return result


@dataclass(frozen=True)
class Range(Span):
    """'25-30', 'entre 25 et 30', '25 ou 30', '25 walla 30': alternatives to choose from."""
    options: tuple[float, ...]
    unit: str | None = None


@dataclass(frozen=True)
class Approximation(Span):
    """'une vingtaine', '30aine', 'environ 40', 'about 40': the figure shown is confirmed."""
    value: float
    unit: str | None = None


@dataclass(frozen=True)
class Correction(Span):
    """'35 pas 53', '30 non 20': the producer said which figure is right."""
    value: float
    wrong: float
    unit: str | None = None


@dataclass(frozen=True)
class LookAlike(Span):
    """'4O' (letter O), 'l5' (letter l), superscripts: probably a number, read with a guess."""
    value: float
    typed: str


@dataclass(frozen=True)
class Sale(Span):
    """'j'ai vendu 8', 'sold 8', 'jaay nanu 8': an amount sold, not the stock."""
    value: float


@dataclass(frozen=True)
class Future(Span):
    """'on aura 50 demain', 'dinanu am 30': an amount to come, not the stock."""
    value: float


@dataclass(frozen=True)
class Money(Span):
    """'750f', '750 fcfa', 'a 750' after a count, 'prix 750': a price, never a stock."""
    value: float
    typed: str


@dataclass(frozen=True)
class DateMention(Span):
    """'12/03', 'le 9', '9 mars': a date."""
    typed: str


@dataclass(frozen=True)
class DayWord(Span):
    """'demain', 'hier', 'lundi', 'tey', 'ellëg': a day; yesterday and tomorrow put figures in doubt."""
    typed: str
    when: str  # "past" | "today" | "future" | "weekday"


@dataclass(frozen=True)
class TimeMention(Span):
    """'10h', '10h30', '14:00'."""
    typed: str


@dataclass(frozen=True)
class Phone(Span):
    """'77 123 45 67', '+221 77 123 45 67'."""
    typed: str


@dataclass(frozen=True)
class Percent(Span):
    """'20%', '20 pour cent'."""
    value: float


@dataclass(frozen=True)
class OrderRef(Span):
    """'CMD-0012', 'commande 12'."""
    reference: str


@dataclass(frozen=True)
class Filler(Span):
    """Greetings, thanks, names, politeness, little words: read and set aside."""
    word: str


NOT_A_COUNT = (Money, DateMention, TimeMention, Phone, Percent)  # set aside when a count is also given
TO_CONFIRM = (Container, Arithmetic, Approximation, LookAlike)   # a figure shown and confirmed first
FIGURES = (Quantity, Correction, Range, Sale, Future) + TO_CONFIRM + NOT_A_COUNT


@dataclass
class Reading:
    """A message in typed parts, in the order the producer wrote them."""
    text: str
    spans: list[Span] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # every folded word, for intents
    too_long: bool = False

    def of(self, *types) -> list:
        return [s for s in self.spans if isinstance(s, types)]


# --- patterns on the prepared text ----------------------------------------------------------------------

_N = r"\d{1,6}(?:[.,]\d{1,2})?"
_UNIT_RE = r"(?:" + "|".join(sorted({re.escape(w) for ws in UNITS.values() for w in
                                     (_prepare(x) for x in ws)} | {"pots", "litres", "l"}, key=len, reverse=True)) + r")s?"
_CONTAINERS = ("carton", "cartons", "seau", "seaux", "bidon", "bidons", "caisse", "caisses", "casier", "casiers",
               "sac", "sacs", "paquet", "paquets", "boite", "boites", "pack", "packs", "bassine", "bassines",
               "box", "boxes", "bucket", "buckets", "jerrican", "jerricans", "jerrycan", "jerrycans", "bidong",
               "plateau", "plateaux", "fardeau", "fardeaux", "crate", "crates", "bottes", "botte", "lot", "lots",
               "bundle", "bundles", "fagot", "fagots")
_MONTHS = ("janvier", "janv", "fevrier", "fev", "mars", "avril", "avr", "mai", "juin", "juillet", "juil", "aout",
           "septembre", "sept", "octobre", "oct", "novembre", "nov", "decembre", "dec", "january", "february",
           "march", "april", "may", "june", "july", "august", "september", "october", "november", "december")
_APPROX_SUFFIX = {"dizaine": 10, "douzaine": 12, "quinzaine": 15, "vingtaine": 20, "trentaine": 30,
                  "quarantaine": 40, "cinquantaine": 50, "soixantaine": 60, "centaine": 100}

_PATTERNS: list[tuple[str, re.Pattern]] = [(name, re.compile(pattern, re.X)) for name, pattern in [
    ("lookalike", r"(?<![a-z0-9])(?:\d[\d\x02]*[o][\do]*|[li]\d+|\d*\x02[\d\x02]*)(?![a-z0-9])"),
    ("phone", r"(?<![\d+])(?:\+?\s?221[\s.-]?)?(?:7[05678]|3[03])[\s.-]?\d{3}[\s.-]?\d{2}[\s.-]?\d{2}(?!\d)"),
    ("percent", rf"(?<![\d.,])({_N})\s?(?:%|pour\s?cent|pourcent|percent)"),
    ("date", r"(?<![\d/])\d{1,2}\s?/\s?\d{1,2}(?:\s?/\s?\d{2,4})?(?![\d/])"),
    ("date", rf"(?<![\d.,])\d{{1,2}}\s+(?:{'|'.join(_MONTHS)})\b"),
    ("time", r"(?<![\d.,])\d{1,2}\s?(?:h|heures?)\s?(?:\d{2})?(?![a-z\d])|(?<![\d.,])\d{1,2}:\d{2}(?!\d)"),
    ("money", r"(?<![\d.,])(\d{1,3}(?:[ .]\d{3})+|\d+)\s?(?:f\s?cfa|fcfa|cfa|francs?|frs?|f|xof)(?![a-z])"),
    ("container", rf"(?<![\d.,])(?P<count>{_N})\s+(?P<box>{'|'.join(_CONTAINERS)})\b\s*(?:(?:{'|'.join(CONTAINER_LINKS)})\b)?\s*"
                  rf"(?:(?P<size>{_N})\s*(?P<unit>{_UNIT_RE})?\b)?"),
    ("arithmetic", rf"(?<![\d.,]){_N}(?:\s*\+\s*{_N})+(?![\d.,])"),
    ("arithmetic", rf"(?<![\d.,]){_N}\s*(?:x|\*|fois|times)\s*{_N}(?![\d.,])"),
    ("range", rf"\b(?:entre|between|de|from|diggante)\s+({_N})\s*(?:{_UNIT_RE}\s+)?(?:et|and|a|to|ak|-)\s+({_N})"),
    ("range", rf"(?<![\d.,-])({_N})\s*(?:-|/|a|to|ou|or|walla|wala|wal|ou\s+bien|voire)\s*({_N})(?![\d.,])"),
    ("money", r"\b(?:prix|price|tarif|njeg|cout|coute|vendu\s+a|vend\s+a|jaay\s+ko|at|@)\s*(?:de\s+|:\s*|est\s+)?"
              r"(\d{1,3}(?:[ .]\d{3})+|\d+)(?![\d.,]|\s*" + _UNIT_RE + r"\b)"),
    ("money", r"(?<=[a-z]\s)a\s+(\d{3,}|\d{1,3}(?:[ .]\d{3})+)(?![\d.,]|\s*" + _UNIT_RE + r"\b)"),
    ("money", r"(?<![\d.,])(\d{2,}|\d{1,3}(?:[ .]\d{3})+)\s+(?:(?:le|la|l|par|per|a|the|pour\s+un|pour\s+une)\s*"
              r"(?:pot|piece|litre|sachet|unite|kilo|kg|bouteille|chapeau|savon|sac)|chacun|chacune|each|"
              r"l\s?unite|piece|a\s+l\s?unite)\b"),
    ("approx", r"(?<![\d.,])(\d{1,4})\s?(?:aine|ene)s?\b"),
    ("approx", r"\b(?:une?\s+)?(?P<word>" + "|".join(_APPROX_SUFFIX) + r")s?\b"),
]]
_SUPERSCRIPT = re.compile(r"[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]")
_DIGIT = re.compile(r"[\d\x02]")
_PLACEHOLDER = 0xE000  # spans are masked with one private-use character each, padded to the same length


def _value(raw: str) -> float:
    raw = raw.replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", raw):
        raw = raw.replace(".", "")
    return float(raw.replace(",", "."))


def _unit(raw: str | None) -> str | None:
    if not raw:
        return None
    key = raw.rstrip("s") if raw not in _UNITS else raw
    return str(_UNITS.get(key) or _UNITS.get(raw) or key)


def _build(kind: str, m: re.Match) -> Span | None:
    s, e, typed = m.start(), m.end(), m.group(0)
    if kind == "lookalike":
        digits = typed.replace("\x02", "").replace("o", "0").replace("l", "1").replace("i", "1")
        return LookAlike(s, e, float(digits), typed.replace("\x02", "")) if digits.isdigit() else None
    if kind == "phone":
        return Phone(s, e, typed)
    if kind == "percent":
        return Percent(s, e, _value(m.group(1)))
    if kind == "date":
        return DateMention(s, e, typed)
    if kind == "time":
        return TimeMention(s, e, typed)
    if kind == "money":
        return Money(s, e, _value(m.group(1)), typed.strip())
    if kind == "container":
        size = _value(m.group("size")) if m.group("size") else None
        if size is None:
            e = m.start("box") + len(m.group("box"))
        return Container(s, e, _value(m.group("count")), m.group("box").rstrip("sx"), size, _unit(m.group("unit")))
    if kind == "arithmetic":
        operator = "+" if "+" in typed else "x"
        terms = tuple(_value(t) for t in re.findall(_N, typed))
        return Arithmetic(s, e, operator, terms)
    if kind == "range":
        low, high = _value(m.group(1)), _value(m.group(2))
        if low == high:
            return None
        if re.search(r"\d\s*(?:-|/|a|to)\s*\d", typed) and not re.search(r"\b(?:entre|between|de|from)\b", typed):
            if low > high:
                return None  # "30-25" is no range; "12/03" is a date (read before)
        return Range(s, e, (low, high))
    if kind == "approx":
        if m.groupdict().get("word"):
            return Approximation(s, e, float(_APPROX_SUFFIX[m.group("word")]))
        return Approximation(s, e, _value(m.group(1)))
    return None


def _day_words() -> dict[str, str]:
    table = {}
    for when, words in DAY_WORDS.items():
        for word in words:
            folded = normalise(word)
            if folded and " " not in folded:
                table[folded] = when
    return table


_DAYS = _day_words()


def read(text: str, catalogue: Catalogue, coop: Sequence[str] = (), limit: int = MAX_TOKENS) -> Reading:
    """Split `text` into typed spans (see the module docstring)."""
    raw = _clean(text)
    raw = _SUPERSCRIPT.sub(lambda m: "\x02" + m.group(0), raw)
    prepared = _prepare(raw)
    reading = Reading(prepared)
    typed: list[Span] = []
    masked = list(prepared)
    has_digits = _DIGIT.search(prepared) is not None
    for kind, pattern in _PATTERNS:
        if not has_digits and kind != "approx":
            continue  # every other pattern starts from a digit
        for m in pattern.finditer(prepared):
            if any(c != prepared[i] for i, c in enumerate(masked[m.start():m.end()], m.start())):
                continue  # part of a span already read
            span = _build(kind, m)
            if span is None:
                continue
            masked[span.start] = chr(_PLACEHOLDER + len(typed))
            for i in range(span.start + 1, span.end):
                masked[i] = " "
            typed.append(span)
    tokens = _tokens("".join(masked).replace("\x02", " "), limit)
    reading.words = [t[1] for t in tokens if t[0] == "word"]
    if len(tokens) > limit:
        reading.too_long = True
        return reading
    elements = _elements(tokens, catalogue)
    reading.spans = _spans(elements, typed, catalogue, coop)
    return reading


def _spans(elements: list[tuple], typed: list[Span], catalogue: Catalogue, coop: Sequence[str]) -> list[Span]:
    """Elements -> spans: runs of words become product mentions, quantities stay, typed spans come back."""
    spans: list[Span] = []
    run: list[tuple] = []

    def flush():
        if not run:
            return
        mentions = _scan_run([w for _, w, _, _ in run], catalogue, tuple(coop))
        k = 0
        for mention in mentions:
            n = max(1, len(mention.text.split()))
            part = run[k:k + n] or run[-1:]
            spans.append(_product(mention, part[0][2], part[-1][3]))
            k += n
        run.clear()

    for kind, item, start, end in elements:
        if kind == "W":
            run.append((kind, item, start, end))
            continue
        flush()
        if kind == "Q":
            spans.append(Quantity(start, end, item))
        elif kind == "S":
            spans.append(typed[item])
        elif kind == "O":
            spans.append(OrderRef(start, end, item))
        elif item in _DAYS:
            spans.append(DayWord(start, end, item, _DAYS[item]))
        else:
            spans.append(Filler(start, end, item))
    flush()
    return _markers(spans)


def _product(mention: _Mention, start: int, end: int) -> ProductMention:
    return ProductMention(start, end, mention.status, mention.code, mention.candidates, mention.text,
                          mention.score, mention.weak)


def _markers(spans: list[Span]) -> list[Span]:
    """Words around a count change its type: 'vendu 8' is a sale, 'environ 40' an approximation,
    '25 ou 30' a range, '35 pas 53' a correction, 'on aura 50' a future."""
    out: list[Span] = []
    i = 0
    while i < len(spans):
        span = spans[i]
        if not isinstance(span, Quantity) or span.qty.zero:
            out.append(span)
            i += 1
            continue
        before = _words_before(out, 3)
        after, after_at = _words_after(spans, i + 1, 6)
        nxt = spans[after_at] if after_at < len(spans) else None
        # Two counts joined by a word: a range, or a correction.
        # A negative, ambiguous or absurd figure joins nothing: it stays a count to refuse, never a kept figure.
        if isinstance(nxt, Quantity) and not nxt.qty.zero and after and not span.qty.bad() and not nxt.qty.bad():
            joined = " ".join(after)
            unit = span.qty.unit or nxt.qty.unit
            if joined in _RANGE_JOIN or (joined in ("et", "and", "ak") and before and before[-1] in _RANGE_START):
                if span.value != nxt.value:
                    if before and before[-1] in _RANGE_START:
                        out.pop()
                    out.append(Range(span.start, nxt.end, (span.value, nxt.value), unit))
                    i = after_at + 1
                    continue
            if joined in _SUM_JOIN:  # "20 plus 10": a sum to confirm
                out.append(Arithmetic(span.start, nxt.end, "+", (span.value, nxt.value), unit))
                i = after_at + 1
                continue
            if joined in _CORRECT_KEEP_FIRST or (after[-1] in ("pa", "pas", "not") and len(after) <= 2):
                out.append(Correction(span.start, nxt.end, span.value, nxt.value, unit))
                i = after_at + 1
                continue
            if joined in _CORRECT_KEEP_LAST or any(w in _CORRECT_KEEP_LAST for w in after):
                out.append(Correction(span.start, nxt.end, nxt.value, span.value, unit))
                i = after_at + 1
                continue
        if any(w in _PRICE_AFTER for w in after[:2]) and not span.qty.unit:  # "500 lay jar": a price
            out.append(Money(span.start, span.end, span.value, span.qty.text))
        elif any(w in _SALE for w in before) or (after and after[0] in _SALE):
            out.append(Sale(span.start, span.end, span.value))
        elif any(w in _FUTURE for w in before) or (after and after[0] in _FUTURE_AFTER):
            out.append(Future(span.start, span.end, span.value))
        elif any(w in _APPROX for w in before[-2:]) or any(tuple(after[:n]) in _APPROX_AFTER for n in (1, 2, 3)):
            out.append(Approximation(span.start, span.end, span.value, span.qty.unit))
        else:
            out.append(span)
        i += 1
    return out


_SUM_JOIN = frozenset({"plus", "and", "et", "ak", "with", "avec", "rajoute", "ajoute"})


def _words_before(spans: list[Span], n: int) -> list[str]:
    words: list[str] = []
    for span in reversed(spans):
        if not isinstance(span, (Filler, DayWord)) or len(words) >= n:
            break
        words.insert(0, span.word if isinstance(span, Filler) else span.typed)
    return words


def _words_after(spans: list[Span], i: int, n: int) -> tuple[list[str], int]:
    words: list[str] = []
    while i < len(spans) and isinstance(spans[i], (Filler, DayWord)) and len(words) < n:
        words.append(spans[i].word if isinstance(spans[i], Filler) else spans[i].typed)
        i += 1
    return words, i
