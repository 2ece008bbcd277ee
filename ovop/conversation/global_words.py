"""Words that work from any step: help, menu, stop, start, language, cancel.

| word                               | effect                                                     |
|------------------------------------|------------------------------------------------------------|
| AIDE / HELP / NDIMBAL / ?          | the help text; the current question stays open             |
| MENU / 0 / bonjour / salam …       | leave the flow, show the menu                              |
| STOP / ARRET / UNSUBSCRIBE / bayi… | opted out, confirmed once; only replies are sent after it  |
| "arrêtez svp", "bayil ma" …        | the same (a clear opt-out sentence)                        |
| "trop de messages" …               | asked: 1) Oui, STOP 2) Non (flows/optout.py)               |
| START / DEMARRER                   | opted in again                                             |
| LANGUE / wolof / english …         | change language (asks which when none is named)            |
| ANNULER / CANCEL                   | leave the flow; outside a flow, undo the last stock report |
| merci / jërëjëf / thank you        | no answer (it would only cost an SMS)                      |
| "appelez-moi", "woolu ma" …        | a staff conversation opens (ovop.conversation.handoff)     |
"""
from __future__ import annotations

from ovop.language.understand import Meaning
from ovop.conversation import handoff
from ovop.conversation.flows import language, menu, optout, stock, workshops

KINDS = {"help", "menu", "optout", "optout_ask", "optin", "language", "cancel", "thanks", "human"}


def handles(word: Meaning, turn) -> bool:
    """True when `word` is a global word to answer here rather than the open step's input.

    A bare "0" never reaches here as a keyword (ovop.language.understand.keyword leaves digits to the open step, where
    "0" may mean "no stock left"); with no step open, routing reads it as the menu.
    """
    return word.kind in KINDS


def handle(turn, word: Meaning) -> tuple[str | None, str | None]:
    """Answer a global word; returns the (flow, step) the conversation moves to."""
    if word.kind == "thanks":
        # A thank-you needs no answer, and an answer would cost an SMS; any open question stays open.
        turn.silent = True
        return turn.state.flow, turn.state.step
    if word.kind == "help":
        if turn.state.handoff_id:  # a person has the conversation: say so, and how to come back to the bot
            turn.say("handoff.help")
        else:
            turn.say("help.main")
        return turn.state.flow, turn.state.step  # the open question stays open
    if word.kind == "menu":
        return menu.show(turn)
    if word.kind == "optout":
        return optout.opt_out(turn)
    if word.kind == "optout_ask":
        return optout.ask(turn)
    if word.kind == "optin":
        turn.producer.opted_out, turn.producer.opted_out_at = False, None
        turn.say("optin.confirmed")
        return None, None
    if word.kind == "language":
        return language.start(turn, word.value)
    if word.kind == "human":
        return handoff.open_for(turn, "asked")
    return _cancel(turn, word)


def _cancel(turn, word: Meaning) -> tuple[str | None, str | None]:
    """Leave the current flow, or undo the last stock report when no flow is open."""
    if word.value == "workshop":
        return workshops.cancel(turn)
    if turn.state.flow:
        turn.say("flow.cancelled")
        return None, None
    return stock.undo_last(turn)
