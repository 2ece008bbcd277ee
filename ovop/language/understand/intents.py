"""What a message asks for, in a bare keyword or a short sentence: stop, start, language, help, menu, price,
workshops, and the answer to an order.

Sentences are read as words that combine (glossary: "Wolof building blocks"), not as fixed phrases: a stop
verb, or "I don't want" next to "messages", is an opt-out wherever it stands in a short message.
"""
from __future__ import annotations

import logging
from typing import Iterable, Sequence

from .meaning import Meaning
from .numbers import _tokens
from .text import _prepare, _words, normalise
from .words import (ACCEPT_PHRASES, DECLINE_PHRASES, DOUBT_ALONE, DOUBT_STEMS, HELP_PHRASES, MENU_PHRASES,
                    MESSAGE_WORDS, NEGATION_WORDS, NO_MORE_PHRASES, OPTIN_PHRASES, ORDER_WORDS, PERSON_OPENERS,
                    PERSON_PHRASES, PRICE_PHRASES, STOP_DOUBTS, WHO_ASKS,
                    STOP_PHRASES, STOP_VERBS, _BLESSING, _CAN, _CANCEL, _DISCOURSE, _GREETINGS, _HELP, _LANGUAGE,
                    _LANGUAGE_VALUES, _MENU, _NO, _ONLY, _OPTIN, _OPTOUT, _POLITE, _PRICE, _THANKS, _WORKSHOP, _YES,
                    _fold_all)

log = logging.getLogger(__name__)

MAX_INTENT_WORDS = 16  # a longer text is a letter: only a clear stop verb is looked for in it
# A letter of questions the bot cannot answer ("who pays the transport? can we change the price? ...") goes to a
# person: at least this many words and this many question marks.
LETTER_WORDS, LETTER_QUESTIONS = 25, 2


def keyword(text: str, optout_words: Iterable[str] = ()) -> Meaning | None:
    """The global words (help, menu, greetings, stop, start, language, cancel), or None.

    Empty text, emoji or punctuation only (a picture, "?") is help. Digits are not keywords here: a flow
    asking "how many?" must be able to read "0"; ``understand`` reads a lone "0" as the menu. Sentences
    asking to stop ("arrêtez svp", "please stop texting") are keywords too: a STOP is never missed."""
    try:
        extra = frozenset(filter(None, (normalise(w) for w in optout_words or ())))
        words = _words(text or "")
        return (_keyword(words, extra, text or "") or _stop_sentence(words, extra)
                or asks_for_person(words, text or ""))
    except Exception:
        log.exception("keyword failed on %r", text)
        return None


def _keyword(words: list[str], extra_optout: frozenset[str], raw: str) -> Meaning | None:
    if not words:
        return Meaning("help")
    core = [w for w in words if w not in _POLITE]
    core = [w for k, w in enumerate(core) if k == 0 or w != core[k - 1]]  # "stop stop"
    if not core or (any(w in _THANKS for w in words) and all(w in _BLESSING for w in core)):
        # "merci", "jërëjëf", "thank you", "mci bcp que Dieu vous bénisse": thanks alone ("s'il" alone is nothing).
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


def _has(words: Sequence[str], phrases: "Phrases") -> bool:
    """True when one of the (folded, multi-word) phrases occurs in words."""
    return phrases.found_in(words)


class Phrases:
    """Phrases of folded words, indexed by their first word so a message is scanned once."""

    def __init__(self, phrases: Iterable[tuple[str, ...]]):
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in phrases:
            self.by_first.setdefault(phrase[0], []).append(phrase)

    def found_in(self, words: Sequence[str]) -> bool:
        for k, word in enumerate(words):
            for phrase in self.by_first.get(word, ()):
                if tuple(words[k:k + len(phrase)]) == phrase:
                    return True
        return False


def _stop_sentence(words: list[str], extra_optout: frozenset[str]) -> Meaning | None:
    """'arrêtez svp', 'je veux plus vos messages', 'bayil ma', 'please stop texting' -> optout;
    'trop de messages', 'pourquoi vous m'écrivez' -> optout_ask (asked, never ignored)."""
    if not words:
        return None
    if _has(words, _OPTIN_PHRASES) and not _has(words, _NO_MORE):
        return None  # "j'ai fait stop par erreur, remettez-moi": coming back, not stopping
    verb = any(w in _STOP_VERBS or w in extra_optout for w in words) or _has(words, _STOP_PHRASES)
    refusal = _has(words, _NO_MORE) and (any(w in _MESSAGE_WORDS for w in words) or len(words) <= 4)
    if verb or refusal:
        if _negated(words, extra_optout) and not refusal and not _has(words, _STOP_PHRASES):
            return Meaning("optout_ask")  # "n'arrêtez pas", "ne stoppez pas"
        if any(w.isdigit() for w in words) or len(words) > MAX_INTENT_WORDS:
            return Meaning("optout_ask")  # "yaourt 40 stop": a report, or a stop? Ask.
        if any(w in _ORDER_WORDS for w in words) and not refusal and not any(w in _MESSAGE_WORDS for w in words):
            return Meaning("optout_ask")  # "bayil commande bi": drop that order, or stop everything? Ask.
        return Meaning("optout")
    who = _has(words, _WHO_ASKS) and (len(words) <= 4 or _writes(words))
    if len(words) <= 2 * MAX_INTENT_WORDS and (_has(words, _STOP_DOUBTS) or who or _complains(words)) \
            and not _has(words, _PERSON):  # "kan mooy responsable bi? dama koy woo" asks for a person
        return Meaning("optout_ask")
    return None


def _negated(words: list[str], extra_optout: frozenset[str]) -> bool:
    """A negation before the stop verb or right after it ("n'arrêtez pas", "ne stoppez pas"); one further on
    belongs to another sentence ("STOP. je veux parler à quelqu'un, pas à un robot")."""
    verbs = [k for k, w in enumerate(words) if w in _STOP_VERBS or w in extra_optout]
    if not verbs:
        return any(w in _NEGATIONS for w in words)
    return any(w in _NEGATIONS for w in words[:verbs[0] + 3])


def asks_for_person(words: list[str], raw: str) -> Meaning | None:
    """'je veux parler à quelqu'un', 'appelez-moi', 'woolu ma', 'dama bëgg wax ak nit', 'call me' -> human;
    a long letter of questions too (value "questions"). Read after the stop words: a STOP always wins."""
    if not words:
        return None
    if _has(words, _PERSON) or any(tuple(words[:len(opener)]) == opener for opener in _PERSON_OPENERS):
        return Meaning("human")
    if len(words) >= LETTER_WORDS and raw.count("?") >= LETTER_QUESTIONS:
        return Meaning("human", value="questions")
    return None


def _writes(words: list[str]) -> bool:
    """The message speaks of our messages or of writing."""
    return any(w in _MESSAGE_WORDS for w in words) or any(w.startswith(("ecri", "text", "envo", "bind")) for w in words)


def _complains(words: list[str]) -> bool:
    """A complaint about our messages, or 'I never asked for this'."""
    joined = " " + " ".join(words) + " "
    if any(" " + stem in joined for stem in _DOUBT_ALONE):
        return True
    return _writes(words) and any(" " + stem in joined for stem in _DOUBT_STEMS) and not any(w.isdigit() for w in words)


def sentence(words: list[str], has_figures: bool) -> Meaning | None:
    """Short sentences asking to come back, for another language, for help or for the menu."""
    if not words or len(words) > MAX_INTENT_WORDS:
        return None
    if _has(words, _OPTIN_PHRASES):
        return Meaning("optin")
    if has_figures:
        return None
    language = _language(words)
    if language is not None:
        return language
    if asks_price(words) or asks_workshops(words):
        return None  # "c koi njeg soow bi" asks a price, "atelier ... naka" a workshop: not for help
    if _has(words, _HELP_PHRASES) or any(w in _HELP for w in words):
        return Meaning("help")
    if _has(words, _MENU_PHRASES):
        return Meaning("menu")
    return None


def _language(words: list[str]) -> Meaning | None:
    """The first language named and not refused: 'parle moi en wolof', 'pas francais, wolof' -> wo,
    'I prefer French, my english is small' -> fr."""
    for k, word in enumerate(words):
        value = _LANGUAGE_VALUES.get(word)
        if value is None or word in ("en", "fr", "wo"):
            continue
        if k and words[k - 1] in _NEGATIONS:
            continue
        return Meaning("language", value=str(value))
    return None


# "ñaata waxtu" (what time), "combien de temps", "how many days": a question of time, not of price.
_TIME_WORDS = frozenset({"waxtu", "wakhtou", "waxtou", "heure", "heures", "temps", "jours", "time", "days",
                         "hours", "minutes", "fan", "bis"})


def asks_price(words: list[str]) -> bool:
    """'prix', 'c'est combien', 'how much', 'ñaata la jar', 'njëg soow'."""
    if any(w in _TIME_WORDS for w in words) and not any(w in ("prix", "price", "njeg", "jar", "tarif") for w in words):
        return False
    return any(w in _PRICE for w in words) or _has(words, _PRICE_PHRASES)


def says_remaining(words: list[str]) -> bool:
    """Wolof 'des na 30', 'li des 40': what is left, i.e. the stock."""
    return _has(words, _REMAINING)


def asks_workshops(words: list[str]) -> bool:
    return any(w in _WORKSHOP for w in words)


def order_answer(words: list[str]) -> str | None:
    """'accept', 'decline' or None, for a message written to answer an order."""
    content = list(words)
    while content and content[0] in _DISCOURSE:
        content = content[1:]
    if _has(content, _DECLINE_PHRASES):
        return "decline"
    if _has(content, _ACCEPT_PHRASES):
        return "accept"
    first = content[0] if content else ""
    if first in _YES or content[:2] == ["d", "acord"]:
        return "accept"
    if first in _NO:
        return "decline"
    return None


def yes_no(text: str) -> str | None:
    """The answer to a yes/no question: '1', 'oui', 'waaw', 'ok' -> 'yes'; '2', 'non', 'déedéet' -> 'no'.
    A figure with it ('non 20') is no plain answer: None, and the figure is read instead."""
    words = [w for w in _words(text or "") if w not in _POLITE]
    if not words or any(w.isdigit() for w in words[1:]):
        return None
    first = words[0]
    if first == "1" or first in _YES or _has(words, _ACCEPT_PHRASES) and not _has(words, _DECLINE_PHRASES):
        return "yes" if len(words) <= 4 else None
    if first == "2" or first in _NO or _has(words, _DECLINE_PHRASES):
        return "no" if len(words) <= 4 else None
    return None


def strip_no(text: str) -> str:
    """'non 20', 'non, 25 pots', 'deedeet 20' -> the figure part."""
    words = (text or "").split()
    while words and normalise(words[0]) in _NO | {"pardon", "plutot", "sorry"}:
        words = words[1:]
    return " ".join(words)


def offers_quantity(words: list[str]) -> bool:
    """'je peux 20', '20 seulement', 'ñaar fukk rekk', 'je peux livrer 20'."""
    return _has(words, _CAN_PHRASES) or any(w in _ONLY for w in words)


def _phrases(*texts: str) -> Phrases:
    return Phrases(tuple(_words(t)) for t in texts if _words(t))


_STOP_VERBS = _fold_all(STOP_VERBS)
_STOP_PHRASES = _phrases(*STOP_PHRASES)
_NO_MORE = _phrases(*NO_MORE_PHRASES)
_MESSAGE_WORDS = _fold_all(MESSAGE_WORDS)
_ORDER_WORDS = _fold_all(ORDER_WORDS)
_STOP_DOUBTS = _phrases(*STOP_DOUBTS)
_WHO_ASKS = _phrases(*WHO_ASKS)
_NEGATIONS = _fold_all(NEGATION_WORDS)
_DOUBT_STEMS = tuple(" ".join(_words(s)) for s in DOUBT_STEMS)
_DOUBT_ALONE = tuple(" ".join(_words(s)) for s in DOUBT_ALONE)
_OPTIN_PHRASES = _phrases(*OPTIN_PHRASES)
_HELP_PHRASES = _phrases(*HELP_PHRASES)
_MENU_PHRASES = _phrases(*MENU_PHRASES)
_PRICE_PHRASES = _phrases(*PRICE_PHRASES)
_ACCEPT_PHRASES = _phrases(*ACCEPT_PHRASES)
_DECLINE_PHRASES = _phrases(*DECLINE_PHRASES)
_CAN_PHRASES = Phrases(_CAN)
_PERSON = _phrases(*PERSON_PHRASES)
_PERSON_OPENERS = tuple(tuple(_words(p)) for p in PERSON_OPENERS)
_REMAINING = _phrases("des na", "li des", "li ci des", "it remains")
