"""The main menu: everything can be done by typing its number.

| step   | question                                             | answers                         |
|--------|------------------------------------------------------|---------------------------------|
| CHOOSE | 1 Stock 2 Commandes 3 Ateliers 4 Prix 5 Langue        | a digit → that flow; else route |
"""
from __future__ import annotations

from ovop.conversation.flows import Flow


def show(turn) -> tuple[str, str]:
    """Send the menu and wait for a number."""
    turn.say("menu.main")
    return "menu", "CHOOSE"


def choose(turn) -> tuple[str | None, str | None]:
    """Open the flow of the number typed; any other text is understood as if no menu were open."""
    from ovop.conversation.flows import route
    return route.handle(turn)


FLOW = Flow("menu", {"CHOOSE": choose})
