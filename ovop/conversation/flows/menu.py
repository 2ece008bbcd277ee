"""The main menu: everything can be done by typing its number, or on WhatsApp by picking it from a list.

| step   | question                                             | answers                         |
|--------|------------------------------------------------------|---------------------------------|
| CHOOSE | 1 Stock 2 Commandes 3 Ateliers 4 Prix 5 Langue        | a digit → that flow; else route |
| (list) | the same menu as a WhatsApp list picker               | menu:stock … → that entry       |

On WhatsApp the menu may leave as the list-picker template of kind "menu" (ovop.conversation.pickers); its
items' ids are the payloads `menu:<entry>` below, in the menu's order.
"""
from __future__ import annotations

from ovop.conversation.pickers import ListPicker
from ovop.conversation.steps import REROUTE, Flow
from ovop.language.i18n import t

# The menu's entries in order: `menu:stock` picks what typing 1 picks, `menu:orders` what 2 picks, and so on.
ENTRIES = ("stock", "orders", "workshops", "prices", "language")
PAYLOADS = {f"menu:{name}": str(number) for number, name in enumerate(ENTRIES, start=1)}


def show(turn) -> tuple[str, str]:
    """Send the menu and wait for a number (or, on WhatsApp, a tap on its list)."""
    turn.replies.append(ListPicker(t("menu.main", turn.lang), "menu"))
    return "menu", "CHOOSE"


def choose(turn) -> tuple[str | None, str | None]:
    """The number typed, like any other text, is understood as if no menu were open (the router reads digits)."""
    return REROUTE


FLOW = Flow("menu", {"CHOOSE": choose})
