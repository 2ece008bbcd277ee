"""Choosing the language the bot writes in.

| step         | question                        | answers                                  |
|--------------|---------------------------------|------------------------------------------|
| ASK_LANGUAGE | 1 Français 2 Wolof 3 English    | a digit or a language name → set, END    |
"""
from __future__ import annotations

from ovop.language import understand
from ovop.conversation.steps import END, Flow

BY_DIGIT = {"1": "fr", "2": "wo", "3": "en"}


def start(turn, value: str | None):
    """Set the language named, or ask which one."""
    if value in BY_DIGIT.values():
        return _set(turn, value)
    turn.say("language.choose")
    return "language", "ASK_LANGUAGE"


def ask_language(turn):
    """Read 1/2/3 or a language's name."""
    text = turn.text.strip()
    if text in BY_DIGIT:
        return _set(turn, BY_DIGIT[text])
    word = understand.keyword(text)
    if word is not None and word.kind == "language" and word.value:
        return _set(turn, word.value)
    turn.say("language.choose")
    return "language", "ASK_LANGUAGE"


def _set(turn, lang: str):
    turn.producer.language = lang
    turn.say("language.set")
    return END


FLOW = Flow("language", {"ASK_LANGUAGE": ask_language})
