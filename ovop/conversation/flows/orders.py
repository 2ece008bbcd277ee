"""Answering the boutique's orders: yes, a smaller quantity, no — and which order, when several are waiting.

| step         | question                        | answers                                                         |
|--------------|---------------------------------|-----------------------------------------------------------------|
| (route)      | an alert said: reply OUI or NON | OUI/WAAW [ref] [qty] → accept; NON/DÉEDÉET [ref] → decline; END |
| (menu 2)     | —                               | the pending orders and how to answer; END                       |
| CHOOSE_ORDER | Which order? 1) CMD-0012 … 2) … | 2, commande 2, CMD-0013 → that order, END; else routed          |
| (button)     | the alert's WhatsApp buttons    | payload order:12:r1:accept → that order, as typed; stale → said |

The first yes takes the order; a later one hears that it is taken. A yes with a quantity below the order's is a
partial acceptance. The domain rules live in ovop.domain.orders; this module only talks.
"""
from __future__ import annotations

from ovop.domain import orders
from ovop.language import understand
from ovop.language.i18n import mark, t
from ovop.models import Order
from ovop.language.understand.spans import OrderRef
from ovop.conversation.steps import END, REROUTE, Flow, Next
from ovop.conversation.flows.common import choice, numbered
from ovop.language.formats import quantity_text

# What each outcome of ovop.domain.orders.accept/decline is told.
OUTCOME_KEYS = {
    "accepted": mark("order.accepted"), "partial": mark("order.partial"), "declined": mark("order.declined"),
    "taken": mark("order.taken"), "already_yours": mark("order.already_yours"),
    "cancelled": mark("order.is_cancelled"), "expired": mark("order.is_expired"), "closed": mark("order.is_closed"),
}


def pending_refs(turn) -> list[str]:
    """References of the orders waiting for this producer's answer (what `understand` matches against)."""
    if "_pending_refs" not in turn.__dict__:
        turn.__dict__["_pending_refs"] = orders.pending_refs(turn.session, turn.producer)
    return turn.__dict__["_pending_refs"]


def answer(turn, meaning: understand.Meaning) -> Next:
    """A yes or no about an order (kinds accept/decline), or a bare one that needs to say which order."""
    if meaning.kind == "clarify" and meaning.reason == "which_order":
        refs = list(meaning.candidates) or pending_refs(turn)
        return _ask_which(turn, meaning.value or "accept", refs, _bare_quantity(turn, meaning.value, refs))
    if meaning.kind == "clarify":  # "oui -5": a figure that cannot be a quantity
        turn.say("order.quantity_unclear")
        return END
    reference = meaning.order
    if reference is None:
        refs = pending_refs(turn)
        if len(refs) > 1:
            return _ask_which(turn, meaning.kind, refs, meaning.quantity)
        reference = refs[0] if refs else None
    if reference is None:
        # Nothing is waiting: the answer most likely meant an order that has just closed (taken, cancelled).
        order = orders.recently_closed(turn.session, turn.producer, turn.now)
        if order is None:
            turn.say("order.none_pending")
            return END
    else:
        order = orders.by_reference(turn.session, turn.producer, reference)
        if order is None:
            turn.say("order.unknown", reference=reference)
            return END
    return _apply(turn, order, meaning.kind, meaning.quantity)


def show_pending(turn) -> Next:
    """Menu 2: the orders waiting for an answer and how to answer them, or that there are none."""
    waiting = orders.pending_orders(turn.session, turn.producer)
    if not waiting:
        turn.say("order.none_pending")
    elif len(waiting) == 1:
        turn.say("order.alert", **_words(turn, waiting[0]))
    else:
        lines = "\n".join(t("order.line", turn.lang, **_words(turn, order)) for order in waiting)
        turn.say_n("order.pending_list", len(waiting), orders=lines, reference=waiting[0].reference)
    return END


def choose_order(turn) -> Next:
    """Read the number or reference of the order meant; anything else is a new message, routed as such."""
    refs = turn.data.get("refs") or []
    picked = choice(turn.text, len(refs))
    reference, named = (refs[picked], True) if picked is not None else _named_order(turn, refs)
    if reference not in refs:
        if named or turn.text.strip().rstrip(".)").isdigit():  # not on the list, or unclear: ask again
            return _ask_which(turn, turn.data.get("answer", "accept"), refs, turn.data.get("quantity"))
        return REROUTE
    kind, quantity = turn.data.get("answer", "accept"), turn.data.get("quantity")
    meaning = understand.understand(turn.text, turn.catalogue(), turn.product_codes(), [reference])
    if meaning.kind in ("accept", "decline"):  # "non CMD-0013" says its own answer
        kind = meaning.kind
        quantity = meaning.quantity if kind == "accept" else None
    order = orders.by_reference(turn.session, turn.producer, reference)
    turn.data = {}
    if order is None:
        turn.say("order.unknown", reference=reference)
        return END
    return _apply(turn, order, kind, quantity)


FLOW = Flow("orders", {"CHOOSE_ORDER": choose_order})


def _named_order(turn, refs: list[str]) -> tuple[str | None, bool]:
    """(the listed order a message names, whether it names an order at all), read as the understanding layer
    reads order references everywhere ("CMD-0012", "cmd 12", "commande 2"). "commande 2" or "order 2" may also
    mean the 2nd line of the list: when the two readings point at different listed orders, none is chosen."""
    reading = understand.read(turn.text, turn.catalogue(), turn.product_codes())
    spans = [span for span in reading.spans if isinstance(span, OrderRef)]
    if not spans:
        return None, False
    span = spans[0]
    by_reference = span.reference if span.reference in refs else None
    number = int(span.reference.rsplit("-", 1)[-1])
    typed_reference = reading.text[span.start:span.end].startswith("cmd")
    by_line = refs[number - 1] if not typed_reference and 1 <= number <= len(refs) else None
    if by_reference and by_line and by_reference != by_line:
        return None, True
    return by_reference or by_line, True


def _bare_quantity(turn, kind: str | None, refs: list[str]) -> float | None:
    """The quantity of a yes that did not say which order ("oui 20"), read as if only one order were waiting."""
    if kind == "decline" or not refs:
        return None
    return understand.understand(turn.text, turn.catalogue(), turn.product_codes(), refs[:1]).quantity


def _ask_which(turn, kind: str, refs: list[str], quantity: float | None = None) -> Next:
    """Number the orders waiting and remember the answer given, until the producer says which."""
    found = {ref: orders.by_reference(turn.session, turn.producer, ref) for ref in refs}
    refs = [ref for ref in refs if found[ref] is not None]
    if not refs:
        turn.say("order.none_pending")
        return END
    labels = [t("order.choice", turn.lang, **_words(turn, found[ref])) for ref in refs]
    turn.data = {"refs": refs, "answer": kind, "quantity": quantity}
    turn.say("order.which", orders=numbered(labels))
    return "orders", "CHOOSE_ORDER"


def tap(turn, order_id: int, revision: int, answer: str) -> Next:
    """A tapped button of an order alert (ovop.conversation.buttons): exactly that order is answered, with the
    replies and records of the typed answer, while the button is current; a stale or foreign one is told so, and
    nothing is written and the open question (if any) stays open."""
    result = orders.answer_button(turn.session, turn.config, turn.producer, order_id, revision, answer, now=turn.now)
    if result.outcome in ("not_yours", "stale"):
        turn.replies.append(_stale_text(turn, result))
        return turn.state.flow, turn.state.step
    _tell(turn, result, None)
    return END


def _stale_text(turn, result: orders.Answer) -> str:
    """What a producer who tapped a button that no longer answers anything is told: nothing was recorded."""
    order = result.order
    if order is None:
        return t("button.unknown", turn.lang)
    words = _words(turn, order)
    if order.status in (orders.ACCEPTED, orders.PARTIAL, orders.DELIVERED):
        if order.accepted_by_id == turn.producer.id:
            return t("order.already_yours", turn.lang, **words, accepted=quantity_text(order.accepted_quantity))
        return t("button.taken", turn.lang, **words)
    if order.status == orders.CANCELLED:
        return t("button.cancelled", turn.lang, **words)
    if order.status == orders.EXPIRED or (order.status == orders.PENDING
                                          and order.due_date < orders.local_today(turn.config, turn.now)):
        return t("button.expired", turn.lang, **words)
    if order.status == orders.PENDING:
        return t("button.changed", turn.lang, **words)
    return t("button.closed", turn.lang, **words)


def _apply(turn, order: Order, kind: str, quantity: float | None) -> Next:
    """Record the answer and tell the producer what became of it."""
    if kind == "accept":
        result = orders.accept(turn.session, turn.config, order, turn.producer, quantity, now=turn.now)
    else:
        result = orders.decline(turn.session, turn.config, order, turn.producer, now=turn.now)
    _tell(turn, result, quantity)
    return END


def _tell(turn, result: orders.Answer, quantity: float | None) -> None:
    """The reply to an answer, by its outcome (with a warning when more was taken than the last stock)."""
    order = result.order
    words = _words(turn, result.order)
    words.update(accepted=quantity_text(result.quantity))
    text = t(OUTCOME_KEYS[result.outcome], turn.lang, **words)
    if result.outcome in ("accepted", "partial") and result.over_stock:
        text += " " + t("order.over_stock", turn.lang, stock=quantity_text(result.stock), unit=order.unit)
    turn.replies.append(text)


def _words(turn, order: Order) -> dict[str, str]:
    return orders.params(order, turn.lang, turn.config)
