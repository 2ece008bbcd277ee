"""Prices on demand: "prix" (the producer's products), "prix yaourt" (one product), or menu 4.

No question is asked: the answer comes at once and the conversation ends.
"""
from __future__ import annotations

from ovop.domain import prices
from ovop.conversation.steps import END
from ovop.conversation.flows.common import product


def show(turn, product_code: str | None):
    """Answer with the boutique price of one product, or of every product the producer makes."""
    market = prices.market_of(turn.config)
    if product_code:
        found = product(turn.session, product_code)
        quote = prices.quote(turn.session, found, market) if found else None
        if quote is None:
            turn.say("price.none", product=found.name(turn.lang) if found else product_code)
        else:
            turn.say("price.tip", lines=quote.line(turn.lang))
        return END
    lines = prices.tip_lines(turn.session, turn.producer, market)
    if lines:
        turn.say("price.tip", lines=lines)
    else:
        turn.say("price.none_yet")
    return END
