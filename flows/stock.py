"""Reporting stock, in one message ("yaourt 40") or step by step from the menu.

| step            | question                                   | answers                                       |
|-----------------|--------------------------------------------|-----------------------------------------------|
| (route)         | —                                          | a clear report → recorded at once, END        |
| ASK_PRODUCT     | Which product? 1) yaourt 2) savon          | a number or a name → ASK_QUANTITY or recorded |
| CONFIRM_PRODUCT | Did you mean 1) … 2) …?                     | a number → the word is learnt as an alias     |
| ASK_QUANTITY    | How many pots of yaourt?                   | a quantity → recorded, END                    |

Nothing is written until every item of a report is clear: the clear ones wait in the flow's memory.
A wrong record is worse than a question.
"""
from __future__ import annotations

from sqlalchemy import select

from bot import stock as ledger
from bot import understand
from bot.i18n import for_channel, t
from bot.outbox import enqueue
from bot.models import Product, ProductAlias
from flows import END, Flow
from flows.common import choice, format_quantity, numbered, product, product_name

MAX_QUANTITY = 100_000


def start_guided(turn):
    """Menu 1: ask which product (not asked when the cooperative makes only one)."""
    codes = turn.product_codes()
    turn.data = {"items": {}}
    if len(codes) == 1:
        return _ask_quantity(turn, codes[0])
    return _ask_product(turn, codes)


def record(turn, items: dict[str, float]):
    """Write every item of a clear report and answer with what was recorded and the level before."""
    lines, low = [], []
    for code, quantity in items.items():
        found = product(turn.session, code)
        done = ledger.record(turn.session, turn.producer, found, float(quantity), turn.now, turn.message_id)
        item = dict(name=found.name(turn.lang), quantity=format_quantity(quantity), unit=found.unit)
        if done.previous is None:
            lines.append(t("stock.item_first", turn.lang, **item))
        else:
            lines.append(t("stock.item", turn.lang, previous=format_quantity(done.previous), **item))
        if done.low:
            low.append(found.name(turn.lang))
            _alert_staff(turn, done)
    # One message, in the order a producer reads it: what was written, any warning, how to undo.
    parts = [t("stock.recorded", turn.lang, items="; ".join(lines))]
    if low:
        parts.append(t("stock.low", turn.lang, names=", ".join(low)))
    parts.append(t("stock.undo_hint", turn.lang))
    turn.replies.append(" ".join(parts))
    turn.data = {}
    return END


def clarify(turn, meaning: understand.Meaning):
    """Ask about the unclear part of a report, keeping the clear part until everything is clear."""
    turn.data = {"items": dict(meaning.partial or {}), "quantity": meaning.quantity}
    codes = turn.product_codes()
    if meaning.reason == "did_you_mean" and meaning.candidates:
        turn.data.update(candidates=list(meaning.candidates), word=meaning.value)
        names = [product_name(turn.session, code, turn.lang) for code in meaning.candidates]
        turn.say("stock.did_you_mean", choices=numbered(names))
        return "stock", "CONFIRM_PRODUCT"
    if meaning.reason in ("how_many", "bad_quantity") and meaning.product:
        if meaning.reason == "bad_quantity":
            turn.say("stock.bad_quantity")
        return _ask_quantity(turn, meaning.product)
    if meaning.reason == "not_made" and meaning.product:
        turn.say("stock.not_made", name=product_name(turn.session, meaning.product, turn.lang))
    candidates = [code for code in meaning.candidates if code in codes] or codes
    return _ask_product(turn, candidates)


def ask_product(turn):
    """Read a number from the list, a product's name, or a whole report."""
    candidates = turn.data.get("candidates") or turn.product_codes()
    picked = choice(turn.text, len(candidates))
    if picked is not None:
        return _product_known(turn, candidates[picked])
    meaning = understand.understand(turn.text, turn.catalogue(), turn.product_codes())
    if meaning.kind == "stock":
        return record(turn, {**turn.data.get("items", {}), **meaning.items})
    code, _ = understand.match_product(turn.text, turn.catalogue(), turn.product_codes())
    if code in turn.product_codes():
        return _product_known(turn, code)
    return _ask_product(turn, candidates)


def confirm_product(turn):
    """A number confirms a guess: the producer's word becomes an alias of that product."""
    candidates = turn.data.get("candidates") or []
    picked = choice(turn.text, len(candidates))
    if picked is None:
        turn.data.pop("candidates", None)
        return ask_product(turn)
    code = candidates[picked]
    _learn_alias(turn, turn.data.get("word"), code)
    return _product_known(turn, code)


def ask_quantity(turn):
    """Read a quantity for the product asked about; a whole new report or request is understood as such."""
    quantity = understand.parse_quantity(turn.text)
    code = turn.data["product"]
    if quantity is not None and 0 <= quantity <= MAX_QUANTITY:
        return record(turn, {**turn.data.get("items", {}), code: quantity})
    meaning = understand.understand(turn.text, turn.catalogue(), turn.product_codes())
    if meaning.kind == "stock":
        return record(turn, {**turn.data.get("items", {}), **meaning.items})
    if meaning.kind in ("workshops", "price", "accept", "decline"):
        from flows import route
        return route.handle(turn)
    turn.say("stock.bad_quantity")
    return _ask_quantity(turn, code)


def undo_last(turn):
    """ANNULER after a report: revert it through new ledger lines (within 10 minutes)."""
    undone = ledger.undo_last(turn.session, turn.producer, turn.now)
    if not undone:
        turn.say("stock.nothing_to_undo")
        return END
    names = ", ".join(turn.session.get(Product, r.product_id).name(turn.lang) for r in undone)
    turn.say("stock.undone", names=names)
    return END


def _product_known(turn, code: str):
    quantity = turn.data.get("quantity")
    if quantity is not None and 0 <= quantity <= MAX_QUANTITY:
        return record(turn, {**turn.data.get("items", {}), code: quantity})
    return _ask_quantity(turn, code)


def _ask_product(turn, codes: list[str]):
    turn.data["candidates"] = list(codes)
    names = [product_name(turn.session, code, turn.lang) for code in codes]
    turn.say("stock.ask_product", choices=numbered(names))
    return "stock", "ASK_PRODUCT"


def _ask_quantity(turn, code: str):
    found = product(turn.session, code)
    turn.data["product"] = code
    turn.say("stock.ask_quantity", name=found.name(turn.lang), unit=found.unit)
    return "stock", "ASK_QUANTITY"


def _learn_alias(turn, word: str | None, code: str) -> None:
    """Keep the producer's confirmed word so the next report with it is understood at once."""
    if not word or len(word) > 80:
        return
    found = product(turn.session, code)
    known = turn.session.scalar(select(ProductAlias.id).where(ProductAlias.product_id == found.id,
                                                              ProductAlias.alias == word))
    if known is None:
        turn.session.add(ProductAlias(product_id=found.id, alias=word, source="learnt"))


def _alert_staff(turn, done: ledger.Recorded) -> None:
    """Low stock: one SMS per staff phone per report, through the outbox."""
    cooperative = turn.producer.cooperative
    body = for_channel(t("staff.low_stock", "fr", cooperative=cooperative.name if cooperative else "-",
                         name=done.product.name_fr, quantity=format_quantity(done.report.quantity),
                         unit=done.product.unit), "sms")
    for phone in turn.config.get("STAFF_PHONES", []):
        enqueue(turn.session, dedupe_key=f"low-stock:report={done.report.id}:staff={phone}", kind="staff_low_stock",
                recipient=phone, channel="sms", body=body)


FLOW = Flow("stock", {"ASK_PRODUCT": ask_product, "CONFIRM_PRODUCT": confirm_product,
                      "ASK_QUANTITY": ask_quantity})
