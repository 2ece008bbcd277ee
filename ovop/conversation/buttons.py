"""A tapped WhatsApp button or list item, routed on its payload (ButtonPayload), never on its label.

The label (ButtonText, and the Body Twilio fills with it) changes with the template's language; the payload is
what we put in the template, so only the payload is read:

| payload                                   | what it does                                                    |
|-------------------------------------------|-----------------------------------------------------------------|
| order:<id>:r<revision>:accept / :decline  | answers exactly that order as the typed OUI / NON would, if it  |
|                                           | was alerted to this producer and is still pending at that       |
|                                           | revision; otherwise says why and writes nothing (flows.orders)  |
| menu:stock, menu:orders, menu:workshops,  | the menu entry, as typing 1 … 5 does                            |
| menu:prices, menu:language                |                                                                 |
| workshop:<id>                             | signs up for that workshop, as typing its number in the list    |
| anything else                             | "no longer valid", nothing written, the open question stays open |

The engine calls `handle` before the global words when a message carries a payload: a tap carries no typed
word, and a STOP typed while buttons are out comes without a payload, so it still reaches the global words.
"""
from __future__ import annotations

import re

from ovop.conversation import routing
from ovop.conversation.flows import menu, orders, workshops
from ovop.conversation.steps import Next
from ovop.domain.orders import read_button

_WORKSHOP = re.compile(r"workshop:([1-9][0-9]{0,8})")  # an id that fits an INTEGER column


def handle(turn) -> Next:
    """Answer the tap whose payload the turn carries; returns where the conversation goes next."""
    payload = (turn.payload or "").strip()
    button = read_button(payload)
    if button is not None:
        return orders.tap(turn, *button)
    if payload in menu.PAYLOADS:
        return routing.MENU_ENTRIES[menu.PAYLOADS[payload]](turn)
    workshop = _WORKSHOP.fullmatch(payload)
    if workshop is not None:
        return workshops.tap(turn, int(workshop[1]))
    if payload.startswith("order:"):  # an order button we cannot read: malformed or forged
        turn.say("button.unknown")
    else:
        turn.say("button.unknown_item")
    return turn.state.flow, turn.state.step
