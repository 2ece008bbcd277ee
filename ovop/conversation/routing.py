"""Where a message goes when no flow is waiting for it: understood on its own, then routed by meaning.

| meaning                       | goes to                                     |
|-------------------------------|---------------------------------------------|
| a digit 1–5                   | the menu entry (stock, orders, workshops, prices, language) |
| a clear stock report          | recorded at once (ovop.conversation.flows.stock.record)       |
| an unclear report             | a question (ovop.conversation.flows.stock.clarify)            |
| yes / no / which order        | ovop.conversation.flows.orders.answer                         |
| atelier / prix                | ovop.conversation.flows.workshops.show / ovop.conversation.flows.prices.show    |
| anything else                 | "not understood", pointing to MENU and AIDE |
"""
from __future__ import annotations

from ovop.language import understand
from ovop.conversation import global_words
from ovop.conversation.flows import language, orders, prices, stock, workshops
from ovop.conversation.steps import END


MENU_ENTRIES = {
    "1": stock.start_guided,
    "2": orders.show_pending,
    "3": workshops.show,
    "4": lambda turn: prices.show(turn, None),
    "5": lambda turn: language.start(turn, None),
}


def answers_an_order(turn) -> bool:
    """True when the message answers an order waiting for this producer (yes, no, a quantity, which order)."""
    pending = orders.pending_refs(turn)
    if not pending:
        return False
    meaning = understand.understand(turn.text, turn.catalogue(), turn.product_codes(), pending,
                                    turn.config["OPTOUT_WORDS"])
    return meaning.kind in ("accept", "decline") or (
        meaning.kind == "clarify" and (meaning.reason == "which_order" or bool(meaning.order)))


def handle(turn):
    """Understand a message on its own and hand it to the flow of its meaning."""
    pending = orders.pending_refs(turn)
    meaning = understand.understand(turn.text, turn.catalogue(), turn.product_codes(), pending,
                                    turn.config["OPTOUT_WORDS"])
    kind = meaning.kind
    if kind == "choice":
        entry = MENU_ENTRIES.get(meaning.value or "")
        if entry is not None:
            return entry(turn)
    elif kind == "stock":
        return stock.record(turn, meaning.items)
    elif kind in ("accept", "decline") or (kind == "clarify" and (meaning.reason == "which_order" or meaning.order)):
        return orders.answer(turn, meaning)
    elif kind == "clarify":
        return stock.clarify(turn, meaning)
    elif kind == "workshops":
        return workshops.show(turn)
    elif kind == "price":
        return prices.show(turn, meaning.product)
    elif kind in global_words.KINDS:
        return global_words.handle(turn, meaning)
    turn.say("not_understood")
    return END
