"""The main menu: everything can be done by typing its number.

| step   | question                                             | answers                         |
|--------|------------------------------------------------------|---------------------------------|
| CHOOSE | 1 Stock 2 Commandes 3 Ateliers 4 Prix 5 Langue        | a digit → that flow; else route |
"""
from __future__ import annotations

from ovop.conversation.steps import REROUTE, Flow


def show(turn) -> tuple[str, str]:
    """Send the menu and wait for a number."""
    turn.say("menu.main")
    return "menu", "CHOOSE"


def choose(turn) -> tuple[str | None, str | None]:
    """The number typed, like any other text, is understood as if no menu were open (the router reads digits)."""
    return REROUTE


FLOW = Flow("menu", {"CHOOSE": choose})
