"""Numbers as producers type them: digits, decimals, French and Wolof number words, units."""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from .catalogue import Catalogue
from .text import _clean, _fold, _prepare
from .words import (MAX_QUANTITY, ORDER_FORMAT, _EN_SMALL, _EN_TENS, _ET, _FR_HUNDRED, _FR_SMALL, _FR_TENS,
                    _FR_THOUSAND, _HALF, _LINK, _NOT_PRODUCT, _UNITS, _WEAK, _WO_AND, _WO_FIXED, _WO_MULT, _WO_SMALL,
                    _ZERO)
from ovop.language.formats import quantity_text

log = logging.getLogger(__name__)


_TOKEN = re.compile(r"""
    (?P<order>\b(?:cmd|commande|order)\s*[-_#:.]?\s*(?:no?\s*[.:]?\s*)?(?P<ordnum>\d{1,6})(?!\d))
  | (?P<neg>(?<![a-z0-9])-(?=\d))?
    (?P<num>[1-9]\d{0,2}(?:\ \d{3})+(?![\d])(?![.,]\d) | \d{1,3}(?:\.\d{3}){2,}(?![\d]) | \d+(?:[.,]\d+)?)
    (?P<glued>[a-z]+)?
  | (?P<word>[a-z]+)
  | (?P<qmark>\?)
  | (?P<span>[\ue000-\uf8ff])
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
    grouped: bool = False     # "1 200": one number, or 1 and 200? Read as one, confirmed in a report.

    def bad(self) -> bool:
        """Negative, ambiguous or absurd: never recorded."""
        return self.negative or self.ambiguous or not (0 <= self.value <= MAX_QUANTITY)



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
    return value, quantity_text(value), ambiguous


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
    """(kind, value, start, end) from prepared text (at most limit+1): kind is 'order' (a reference),
    'num' (_Qty), 'word' (folded), 'qmark', or 'span' (the index of a typed span masked in the text)."""
    out: list[tuple] = []
    for m in _TOKEN.finditer(prepared):
        if limit is not None and len(out) > limit:
            break
        start, end = m.start(), m.end()
        if m.group("order"):
            out.append(("order", ORDER_FORMAT.format(int(m.group("ordnum"))), start, end))
        elif m.group("num"):
            value, text, ambiguous = _digits_value(m.group("num"))
            if m.group("neg"):
                value, text = -value, "-" + text
            out.append(("num", _Qty(value, text, negative=bool(m.group("neg")), digits=True,
                                    ambiguous=ambiguous, grouped=" " in m.group("num")), start, m.end("num")))
            if m.group("glued"):
                out.append(("word", _fold(m.group("glued")), m.start("glued"), end))
        elif m.group("word"):
            out.append(("word", _fold(m.group("word")), start, end))
        elif m.group("span"):
            out.append(("span", ord(m.group("span")) - 0xE000, start, end))
        else:
            out.append(("qmark", "?", start, end))
    return out


def _elements(tokens: list[tuple], catalogue: Catalogue | None) -> list[tuple]:
    """Tokens -> (kind, item, start, end): 'Q' _Qty / 'W' word / 'F' word / 'S' span index / 'O' reference;
    number words merged, units stuck to numbers."""
    elements: list[tuple] = []
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
        kind, _, start, end = tokens[i]
        if kind == "num":
            qty = tokens[i][1]
            i += 1
            run = word_run(i)
            if len(run) >= 2 and run[0] == _ET and run[1] in _HALF:  # "1 et demi"
                qty.value += -0.5 if qty.negative else 0.5
                qty.text = quantity_text(qty.value)
                i += 2
                end = tokens[i - 1][3]
                run = word_run(i)
            if run and run[0] in _UNITS:
                qty.unit = str(_UNITS[run[0]])
                end = tokens[i][3]
                i += 1
                run = word_run(i)
                if len(run) >= 2 and run[0] == _ET and run[1] in _HALF:  # "7 litres et demi"
                    qty.value += 0.5
                    qty.text = quantity_text(qty.value)
                    end = tokens[i + 1][3]
                    i += 2
            elements.append(("Q", qty, start, end))
            continue
        if kind in ("span", "order"):
            elements.append(("S" if kind == "span" else "O", tokens[i][1], start, end))
            i += 1
            continue
        if kind != "word":
            i += 1
            continue
        run = word_run(i)
        parsed = max((p for p in (_parse_french(run, 0), _parse_wolof(run, 0), _parse_english(run, 0)) if p),
                     key=lambda p: p[1], default=None)
        if parsed:
            value, used = parsed
            weak = run[0] if used == 1 and run[0] in _WEAK else None
            qty = _Qty(value, quantity_text(value), weak=weak)
            i += used
            end = tokens[i - 1][3]
            rest = word_run(i)
            if rest and rest[0] in _UNITS and rest[0] not in _LINK:
                qty.unit = str(_UNITS[rest[0]])
                end = tokens[i][3]
                i += 1
                rest = word_run(i)
                if len(rest) >= 2 and rest[0] == _ET and rest[1] in _HALF and qty.value == int(qty.value):
                    qty.value += 0.5  # "un litre et demi"
                    qty.text = quantity_text(qty.value)
                    end = tokens[i + 1][3]
                    i += 2
            elements.append(("Q", qty, start, end))
            continue
        word = run[0]
        i += 1
        if word in _ZERO:
            elements.append(("Q", _Qty(0.0, "0", zero=True), start, end))
        elif word in _LINK:
            continue  # never separates: "chapeau de paille" is one run
        elif catalogue is not None and catalogue.is_form(word):
            elements.append(("W", word, start, end))
        elif word in _NOT_PRODUCT or word in _UNITS or len(word) < 3:
            elements.append(("F", word, start, end))
        else:
            elements.append(("W", word, start, end))
    return elements


def _parse_english(words: Sequence[str], i: int) -> tuple[float, int] | None:
    """English number words from words[i]: 'forty five', 'twenty-one', 'a hundred', 'two hundred and ten'."""
    total, current, j = 0.0, 0.0, i
    last = None
    while j < len(words):
        word = words[j]
        if word in _EN_SMALL and last not in ("unit", "teen"):
            current += _EN_SMALL[word]
            last = "unit" if _EN_SMALL[word] < 10 else "teen"
        elif word in _EN_TENS and last in (None, "hundred", "and"):
            current += _EN_TENS[word]
            last = "tens"
        elif word in _EN_SMALL and last == "tens" and _EN_SMALL[word] < 10:
            current += _EN_SMALL[word]
            last = "unit"
        elif word == "hundred" and last in ("unit", "teen", None) and current < 100:
            current = (current or 1) * 100
            last = "hundred"
        elif word == "thousand" and last is not None and not total:
            total, current = (current or 1) * 1000, 0.0
            last = "hundred"
        elif word == "and" and last == "hundred" and j + 1 < len(words) and (
                words[j + 1] in _EN_SMALL or words[j + 1] in _EN_TENS):
            last = "and"
        else:
            break
        j += 1
    if j == i or last == "and":
        return None
    return total + current, j


def parse_quantity(text: str) -> float | None:
    """A quantity alone ('25', '1,5', '1 200', 'vingt-cinq', 'ñaar fukk', '10 pots'), else None.

    Negative or absurd (> MAX_QUANTITY) figures are not clean quantities either: None."""
    try:
        elements = _elements(_tokens(_prepare(_clean(text))), None)
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


# Words around the number of an entry picked from a numbered list: "le 2", "numéro 1", "n°3", "choix 2", "bi 2".
_PICK_FILLERS = frozenset({"le", "la", "l", "numero", "num", "no", "n", "nr", "choix", "option", "c", "est", "cest",
                           "bi", "wi", "ma", "mon", "je", "prend", "veux", "ok"})
# Ordinals, folded: "le premier", "2e", "deuxième", "the second", "bu njëkk" (the first).
_PICK_ORDINALS = {"premier": 1, "premiere": 1, "1er": 1, "1ere": 1, "first": 1, "1st": 1, "njek": 1,
                  "deuxieme": 2, "second": 2, "seconde": 2, "2e": 2, "2eme": 2, "2nd": 2,
                  "troisieme": 3, "third": 3, "3e": 3, "3eme": 3, "3rd": 3,
                  "quatrieme": 4, "fourth": 4, "4e": 4, "4eme": 4, "4th": 4,
                  "cinquieme": 5, "fifth": 5, "5e": 5, "5eme": 5, "5th": 5}
# Number words read as numbers only beside a product elsewhere ("benn" folds to "ben"); alone, as a pick, they count.
_PICK_WEAK = {"ben": 1, "un": 1, "une": 1, "neuf": 9}
_PICK_WORD = re.compile(r"[a-z0-9]+")


def parse_pick(text: str) -> int | None:
    """The number of the entry a producer picked from a numbered list ("2", "deux", "ñaar", "le 2", "numéro 1",
    "n°3", "2e", "le premier"), else None. A number with anything else beside it ("2 pots") is not a pick."""
    prepared = _prepare(_clean(text))
    if re.search(r"-\s*\d", prepared):  # "-1" is not an entry of a list
        return None
    words = [_fold(word) for word in _PICK_WORD.findall(prepared)]
    words = [word for word in words if word not in _PICK_FILLERS and word != "bu"]
    if len(words) != 1:
        return None
    word = words[0]
    if word in _PICK_ORDINALS or word in _PICK_WEAK:
        return _PICK_ORDINALS.get(word) or _PICK_WEAK[word]
    if word.isdigit():
        return int(word)
    value = parse_quantity(word)
    return int(value) if value is not None and float(value).is_integer() and value >= 1 else None
