"""Normalisation: lowercase ASCII, accents stripped, French spelling folds."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Characters NFKD does not decompose, and typographic marks producers' phones insert.
_SPECIAL = str.maketrans({
    "ŋ": "ng", "Ŋ": "ng", "œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o", "Ø": "o",
    "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "×": "x", "＋": "+", "’": "'", "‘": "'", "ʼ": "'", "−": "-", "–": "-", "—": "-",
})
_COMBINING = re.compile(r"[\u0300-\u036f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WORD_SPLIT = re.compile(r"[a-z0-9]+")
_DOUBLE = re.compile(r"([a-z])\1+")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_KEYCAP = re.compile(r"(\d)\ufe0f?\u20e3")  # "4️⃣" is the digit 4 on a key


def _clean(text: str) -> str:
    """Control characters out, emoji keycap digits to digits (before anything else reads the text)."""
    return _KEYCAP.sub(r"\1", _CONTROL.sub(" ", text or ""))


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

