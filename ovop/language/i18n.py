"""Message catalogues (fr, wo, en), money and date formatting, and GSM-7 folding for SMS.

Code never holds user-facing text: it holds MESSAGE KEYS ("menu.main") and asks for the text in the
producer's language with ``t(key, lang)``. The text lives in ``locales/<lang>/LC_MESSAGES/messages.po``.

How to add or change a message (the only process):
  1. In code, call ``t("area.what", lang, name=...)`` or ``tn("area.what", n, lang)`` with a literal key.
     A key kept in a data table is wrapped in ``mark("...")`` (alias ``N_``), or ``mark_plural("...")``
     for a plural key, so extraction still finds it. A ``# TRANSLATORS: ...`` comment just above the
     call is copied into the catalogues for the translators.
  2. Run ``make translations`` (scripts/translations.sh): it extracts keys into locales/messages.pot,
     updates the three catalogues and compiles .mo files for tooling.
  3. Write the French msgstr (the reference: every other language falls back to it) and the English one.
     Write the Wolof one if you can, short and simple; mark a guess with the translator comment
     ``# check with producers`` (a ``# `` comment survives updates, a ``#.`` comment is regenerated).
     An empty Wolof msgstr is served in French, never as the key.
  4. ``pytest tests/test_i18n.py`` checks that the catalogues match the code and that SMS-critical
     messages fit one segment.

Plural keys: ``tn(key, n, lang)`` uses msgid ``key`` and msgid_plural ``key + ".plural"``; the forms
and the rule that picks one come from each catalogue's Plural-Forms header (Wolof has one form).

Catalogues are read straight from the .po files on first use and cached per process, so an outdated
.mo can never be served.
"""
from __future__ import annotations

import gettext
import logging
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from ovop.core.paths import LOCALES

log = logging.getLogger(__name__)

LANGUAGES = ("fr", "wo", "en")
DEFAULT_LANGUAGE = "fr"
LOCALES_DIR = LOCALES
DOMAIN = "messages"
PLURAL_SUFFIX = ".plural"

# Keyword specs for extraction, as `pybabel extract -k` takes them (scripts/translations.sh repeats
# them; a test keeps the two in step). tn and mark_plural receive one key; the extractor below adds
# the ".plural" msgid, so (1, 2) names the key and its plural.
EXTRACTION_KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "t": None,
    "tn": (1, 2),
    "N_": None,
    "mark": None,
    "mark_plural": (1, 2),
    "say": None,  # Turn.say(key, **params) in flows
    "say_n": (1, 2),  # Turn.say_n(key, n, **params)
}
PLURAL_KEYWORDS = frozenset(name for name, spec in EXTRACTION_KEYWORDS.items() if spec == (1, 2))

# Babel locales for dates and numbers: Senegal's variants; English as written in The Gambia
# (day before month, 24-hour clock) rather than the US default.
BABEL_LOCALES = {"fr": "fr_SN", "wo": "wo_SN", "en": "en_GM"}
# The currency is XOF, but producers write "F CFA" whatever the language (never "dërëm", see glossary).
CURRENCY_SYMBOL = "F\u202fCFA"


def mark(key: str) -> str:
    """Mark a message key kept in a data table so extraction finds it; returns the key unchanged."""
    return key


N_ = mark


def mark_plural(key: str) -> str:
    """Mark a plural message key (see tn) kept in a data table; returns the key unchanged."""
    return key


# Messages the service relies on from the very first contact. Marked here so extraction keeps them
# even before a flow calls them; each must fit ONE GSM-7 SMS segment in every language (tested).
ONE_SEGMENT_KEYS = (
    # TRANSLATORS: to an unregistered number whose language is unknown: French AND Wolof, one SMS.
    mark("join.info"),
    mark("menu.main"),
    mark("help.main"),
    mark("language.choose"),
    mark("language.set"),
    mark("not_understood"),
    mark("optout.confirmed"),
    mark("optin.confirmed"),
    mark("error.try_later"),
)
# Plural keys the tests exercise before the stock flow uses them.
PLURAL_KEYS = (mark_plural("stock.items_recorded"),)


# --- catalogues -------------------------------------------------------------------------------

def normalize_language(lang: str | None) -> str:
    """Return one of LANGUAGES for a code like "wo", "fr_SN" or "EN"; unknown or empty means French."""
    code = (lang or "").replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@cache
def _catalog(lang: str) -> Catalog:
    """Read one language's .po file (once per process)."""
    path = LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as fileobj:
        return read_po(fileobj, locale=lang, domain=DOMAIN)


@cache
def _plural_rule(lang: str) -> Callable[[int], int]:
    """Compile the catalogue's Plural-Forms expression into a function n -> form index."""
    # gettext.c2py is what the standard library's GNUTranslations uses for the same header.
    return gettext.c2py(_catalog(lang).plural_expr)


def reload_catalogs() -> None:
    """Forget the cached catalogues so the next lookup reads the .po files again."""
    _catalog.cache_clear()
    _plural_rule.cache_clear()


def _fallback_chain(lang: str) -> tuple[str, ...]:
    """The languages to try in order: the producer's, then French, the reference catalogue."""
    lang = normalize_language(lang)
    return (lang,) if lang == DEFAULT_LANGUAGE else (lang, DEFAULT_LANGUAGE)


def _translated(lang: str, key: str) -> Message | None:
    """The catalogue entry for key if it is translated and not fuzzy (gettext ignores fuzzy too)."""
    message = _catalog(lang).get(key)
    if message is None or message.fuzzy:
        return None
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return message if all(forms) else None


def _candidates(key: str, lang: str, n: int | None) -> Iterator[tuple[str, str]]:
    """Yield (language, text) for key along the fallback chain, picking the plural form for n."""
    for candidate in _fallback_chain(lang):
        message = _translated(candidate, key)
        if message is None:
            continue
        if isinstance(message.string, tuple):
            index = 0 if n is None else _plural_rule(candidate)(n)
            yield candidate, message.string[min(index, len(message.string) - 1)]
        else:
            yield candidate, message.string


def _render(key: str, lang: str, n: int | None, params: dict) -> str:
    """Format the first usable translation; a translator's broken placeholder falls back to French."""
    error: Exception | None = None
    for candidate, text in _candidates(key, lang, n):
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError) as exc:
            log.warning("message %r in %r does not format: %s", key, candidate, exc)
            error = error or exc
    if error is not None:
        raise error
    raise KeyError(f"message key {key!r} has no French text; add it and run `make translations`")


def t(key: str, lang: str, **params) -> str:
    """Return the text for key in lang (falling back to French), formatted with str.format(**params)."""
    return _render(key, lang, None, params)


def tn(key: str, n: int, lang: str, **params) -> str:
    """Return the plural-aware text for key and count n (msgid_plural is key + ".plural"); {n} is n."""
    return _render(key, lang, n, {**params, "n": n})


def extract_message_keys(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:
    """Babel extractor: Python extraction where tn()/mark_plural() keys also yield key + ".plural"."""
    for lineno, funcname, messages, comments in extract_python(fileobj, keywords, comment_tags, options):
        args = list(messages) if isinstance(messages, (list, tuple)) else [messages]
        if funcname in PLURAL_KEYWORDS and args and isinstance(args[0], str):
            messages = (args[0], args[0] + PLURAL_SUFFIX)
        yield lineno, funcname, messages, comments


# --- money and dates --------------------------------------------------------------------------

@cache
def _babel_locale(lang: str) -> Locale:
    """The Babel locale used for numbers and dates in lang."""
    return Locale.parse(BABEL_LOCALES[normalize_language(lang)])


def format_money(amount: int, lang: str) -> str:
    """Format whole F CFA, e.g. "1 500 F CFA" in French (Babel's no-break spaces kept; SMS folds them)."""
    number = format_decimal(amount, format="#,##0", locale=_babel_locale(lang))
    return f"{number}\u00a0{CURRENCY_SYMBOL}"


def _local(dt: datetime, tz: str) -> datetime:
    """Convert dt to the time zone tz; a naive datetime is taken as UTC, like ovop.core.clock.now()."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(ZoneInfo(tz))


def _skeleton(skeleton: str, dt: datetime, lang: str) -> str:
    """Format dt with a CLDR skeleton in lang, or in French when that locale lacks the skeleton."""
    try:
        return format_skeleton(skeleton, dt, locale=_babel_locale(lang))
    except KeyError:
        return format_skeleton(skeleton, dt, locale=_babel_locale(DEFAULT_LANGUAGE))


def format_date(dt: datetime, lang: str, tz: str) -> str:
    """Short weekday and date for SMS, e.g. fr "lun. 7 déc.", wo "Alt, 7 Des", en "Mon, 7 Dec"."""
    return _skeleton("MMMEd", _local(dt, tz), lang)


def format_datetime(dt: datetime, lang: str, tz: str) -> str:
    """Short date and 24-hour time, e.g. fr "lun. 7 déc. 10:00", en "Mon, 7 Dec, 10:00"."""
    local = _local(dt, tz)
    # Join the two parts the locale's own way ("{1} {0}" in French, "{1} - {0}" in Wolof).
    pattern = str(_babel_locale(lang).datetime_formats.get("short") or "{1} {0}")
    return pattern.replace("{1}", _skeleton("MMMEd", local, lang)).replace("{0}", _skeleton("Hm", local, lang))


# --- SMS: GSM-7 -------------------------------------------------------------------------------

# GSM 03.38 basic character set (without ESC), and the extension table whose characters cost two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7 = GSM7_BASIC | GSM7_EXTENSION

# Characters producers' text and Babel output really contain, folded by hand because Unicode
# decomposition cannot (ç is not GSM-7 though Ç is; ŋ and œ do not decompose; punctuation).
_FOLD = {
    "ç": "c", "œ": "oe", "Œ": "OE", "ŋ": "ng", "Ŋ": "NG",
    "’": "'", "‘": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'", "‹": "'", "›": "'",
    "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "″": '"',
    "…": "...", "–": "-", "—": "-", "‐": "-", "‑": "-", "‒": "-", "―": "-", "−": "-",
    "•": "-", "·": ".", "×": "x", "÷": "/", "⁄": "/", "°": "o",
}
SMS_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}  # (single message, each part of a long one)


@cache
def _fold_char(char: str) -> str:
    """GSM-7 text standing for one character; "" when nothing sensible exists (emoji, CJK...)."""
    if char in GSM7:
        return char
    if char in _FOLD:
        return _FOLD[char]
    category = unicodedata.category(char)
    if category == "Zs" or char in "\t\v":
        return " "  # no-break and thin spaces (Babel) become ordinary spaces
    if category in ("Zl", "Zp"):
        return "\n"
    # Accented letters: decompose (ê -> e + ^) and keep the base letter when it is GSM-7.
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(c in GSM7 for c in base):
        return base
    return ""  # removed rather than "?": a stray "?" reads like a question to the producer


def fold_gsm7(text: str) -> str:
    """Fold text to the GSM-7 alphabet (ë->e, ŋ->ng, ’->', NBSP->space); unrepresentable chars are removed."""
    return "".join(_fold_char(char) for char in text)


def is_gsm7(text: str) -> bool:
    """True when every character of text is in the GSM-7 basic set or its extension table."""
    return all(char in GSM7 for char in text)


def sms_encoding(text: str) -> str:
    """The encoding an SMS carrying text will use: "GSM-7" or "UCS-2"."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _units(text: str) -> list[int]:
    """Cost of each character: septets in GSM-7 (extension = 2), UTF-16 code units in UCS-2."""
    if is_gsm7(text):
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [len(char.encode("utf-16-le")) // 2 for char in text]


def sms_units(text: str) -> int:
    """What `text` counts against an SMS segment: septets in GSM-7 (extension = 2), UTF-16 code units in UCS-2."""
    return sum(_units(text))


def sms_segments(text: str) -> int:
    """Number of SMS segments text costs (an empty message still costs one)."""
    units = _units(text)
    single, part = SMS_LIMITS[sms_encoding(text)]
    if sum(units) <= single:
        return 1
    # Fill parts greedily: an escape pair or a surrogate pair is never split across two parts.
    segments, used = 1, 0
    for cost in units:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return segments


def for_channel(text: str, channel: str) -> str:
    """Prepare text for a channel: folded to GSM-7 for "sms", unchanged for "whatsapp"."""
    if channel == "sms":
        return fold_gsm7(text)
    if channel == "whatsapp":
        return text
    raise ValueError(f"unknown channel {channel!r}")
