"""Reporting stock, in one message ("yaourt 40") or step by step from the menu.

| step            | question                                   | answers                                       |
|-----------------|--------------------------------------------|-----------------------------------------------|
| (route)         | —                                          | a clear report → recorded at once, END        |
| ASK_PRODUCT     | Which product? 1) yaourt 2) savon          | a number or a name → ASK_QUANTITY or recorded |
| CONFIRM_PRODUCT | Did you mean 1) … 2) …?                     | a number → the word is learnt as an alias     |
| ASK_QUANTITY    | How many pots of yaourt?                   | a quantity → recorded, END                    |
| CHOOSE_FIGURE   | Yaourt : 25 ou 30 pots ? 1) 25 2) 30       | a number of the list, or the figure → recorded |
| CONFIRM_FIGURE  | 3 cartons de 20 = 60 pots ? 1) Oui 2) Non  | yes → the figure shown; no → ASK_QUANTITY     |

Nothing is written until every item of a report is clear: the clear ones wait in the flow's memory and
are shown with the question. An answer records only what its question showed (ovop.language.understand.policy).
A wrong record is worse than a question.
"""
from __future__ import annotations

from sqlalchemy import select

from ovop.messaging.notify import notify_staff
from ovop.language import understand
from ovop.domain import stock as ledger
from ovop.language.i18n import mark, t
from ovop.models import Product, ProductAlias
from ovop.conversation import handoff
from ovop.conversation.steps import END, REROUTE, Flow
from ovop.conversation.flows.common import choice, numbered, product, product_name
from ovop.language.formats import quantity_text

MAX_QUANTITY = 100_000
# What a figure that is not a stock count was read as: "750 F, c'est un prix ?"
NOT_A_COUNT = {"money": mark("stock.not_count.money"), "date": mark("stock.not_count.date"),
               "time": mark("stock.not_count.time"), "phone": mark("stock.not_count.phone"),
               "percent": mark("stock.not_count.percent"), "sale": mark("stock.sale"),
               "future": mark("stock.future")}


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
        if not lines:
            handoff.attach_photos(turn, done.report.id)  # photos sent while this report was asked about
        item = dict(name=found.name(turn.lang), quantity=quantity_text(quantity), unit=found.unit)
        if done.previous is None:
            lines.append(t("stock.item_first", turn.lang, **item))
        else:
            lines.append(t("stock.item", turn.lang, previous=quantity_text(done.previous), **item))
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
    """Ask about the unclear part of a report, showing what was understood; the clear part waits."""
    turn.data = {"items": dict(meaning.partial or {}), "quantity": meaning.quantity}
    codes = turn.product_codes()
    if meaning.partial:
        turn.say("stock.understood", items=_items_text(turn, meaning.partial))
    reason, code = meaning.reason, meaning.product
    if reason == "did_you_mean" and meaning.candidates:
        turn.data.update(candidates=list(meaning.candidates), word=meaning.value)
        names = [product_name(turn.session, c, turn.lang) for c in meaning.candidates]
        if meaning.quantity is not None:
            turn.say("stock.did_you_mean_for", word=meaning.value or "", quantity=quantity_text(meaning.quantity),
                     choices=numbered(names))
        else:
            turn.say("stock.did_you_mean", choices=numbered(names))
        return "stock", "CONFIRM_PRODUCT"
    if code and reason == "choose" and meaning.options:
        return _ask_choice(turn, code, list(meaning.options))
    if code and reason == "confirm" and meaning.quantity is not None:
        return _ask_confirm(turn, code, meaning.quantity, meaning.shown)
    if reason in ("not_count", "sale", "future"):
        key = NOT_A_COUNT[meaning.value] if reason == "not_count" else NOT_A_COUNT[reason]
        turn.say(key, shown=meaning.shown or "", figure=quantity_text(meaning.quantity or 0))
        turn.data["quantity"] = None
        if code:
            return _ask_quantity(turn, code)
        return _ask_product(turn, codes)
    if reason in ("how_many", "bad_quantity") and code:
        if reason == "bad_quantity":
            turn.say("stock.bad_quantity")
        turn.data["quantity"] = None
        return _ask_quantity(turn, code)
    if reason == "not_made":
        name = product_name(turn.session, code, turn.lang) if code else (meaning.value or "")
        turn.say("stock.not_made", name=name)
        turn.data = {}
        return END
    if reason == "unknown_product":  # "bissap 30": nothing written, and the producer is told why
        names = ", ".join(product_name(turn.session, c, turn.lang) for c in codes)
        turn.say("stock.unknown_product", word=meaning.value or "", names=names)
        turn.data = {}
        return END
    candidates = [c for c in meaning.candidates if c in codes] or codes
    if len(candidates) == 1:  # a cooperative that makes one product is never asked which product
        if meaning.quantity is None:
            return _ask_quantity(turn, candidates[0])
        return _ask_confirm(turn, candidates[0], meaning.quantity, None)
    return _ask_product(turn, candidates)


def choose_figure(turn):
    """A number of the list picks that figure; a figure typed again is recorded as typed."""
    options = turn.data.get("options") or []
    picked = choice(turn.text, len(options))
    if picked is not None:
        return record(turn, {**turn.data.get("items", {}), turn.data["product"]: options[picked]})
    return _read_figure(turn)


def confirm_figure(turn):
    """Yes records the figure the question showed; no asks for the number; a number is recorded as typed."""
    answer = understand.yes_no(turn.text)
    if answer == "yes":
        return record(turn, {**turn.data.get("items", {}), turn.data["product"]: turn.data["figure"]})
    if answer == "no":
        return _ask_quantity(turn, turn.data["product"])
    return _read_figure(turn)


def _read_figure(turn):
    """The producer typed a figure instead of picking one: record it when it is one clear count."""
    quantity = understand.parse_quantity(understand.strip_no(turn.text))
    if quantity is not None and 0 <= quantity <= MAX_QUANTITY:
        return record(turn, {**turn.data.get("items", {}), turn.data["product"]: quantity})
    meaning = understand.understand(turn.text, turn.catalogue(), turn.product_codes())
    if meaning.kind == "stock":
        return record(turn, {**turn.data.get("items", {}), **meaning.items})
    if meaning.kind in ("workshops", "price", "accept", "decline"):
        return REROUTE
    if meaning.kind == "clarify" and meaning.product:
        return clarify(turn, meaning)
    turn.say("stock.bad_quantity")
    return _ask_quantity(turn, turn.data["product"])


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
        return REROUTE
    if meaning.kind == "clarify" and meaning.reason in ("choose", "confirm", "not_count", "sale", "future"):
        return clarify(turn, _with_partial(meaning, turn))
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
    quantity = turn.data.get("quantity")
    if quantity is not None:  # the figure the answer will record is shown with the question
        turn.say("stock.ask_product_for", quantity=quantity_text(quantity), choices=numbered(names))
    else:
        turn.say("stock.ask_product", choices=numbered(names))
    return "stock", "ASK_PRODUCT"


def _ask_choice(turn, code: str, options: list[float]):
    found = product(turn.session, code)
    turn.data.update(product=code, options=options)
    turn.say("stock.choose", name=_capital(found.name(turn.lang)), unit=found.unit,
             options=t("stock.or", turn.lang).join(quantity_text(o) for o in options),
             choices=numbered([quantity_text(o) for o in options]))
    return "stock", "CHOOSE_FIGURE"


def _ask_confirm(turn, code: str, figure: float, shown: str | None):
    found = product(turn.session, code)
    turn.data.update(product=code, figure=figure)
    params = dict(name=found.name(turn.lang), unit=found.unit, figure=quantity_text(figure))
    plain = dict(params, name=_capital(params["name"]))
    if shown and shown != quantity_text(figure):
        turn.say("stock.confirm_shown", shown=shown, **params)
    else:
        turn.say("stock.confirm", **plain)
    return "stock", "CONFIRM_FIGURE"


def _capital(name: str) -> str:
    """A product name opening a question: 'yaourt' -> 'Yaourt'."""
    return name[:1].upper() + name[1:]


def _items_text(turn, items: dict[str, float]) -> str:
    parts = []
    for code, quantity in items.items():
        found = product(turn.session, code)
        parts.append(f"{found.name(turn.lang)} {quantity_text(quantity)} {found.unit}")
    return ", ".join(parts)


def _with_partial(meaning, turn):
    meaning.partial = {**turn.data.get("items", {}), **(meaning.partial or {})}
    return meaning


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
    """Low stock: the staff hear it the way they hear every alert (ovop.messaging.notify.notify_staff), once per report."""
    cooperative = turn.producer.cooperative
    words = {"cooperative": cooperative.name if cooperative else "-", "name": done.product.name_fr,
             "quantity": quantity_text(done.report.quantity), "unit": done.product.unit}
    notify_staff(turn.session, turn.config, "staff_low_stock", ledger.low_stock_key(done.report.id),
                 mark("staff.low_stock"), words, about=turn.producer)


FLOW = Flow("stock", {"ASK_PRODUCT": ask_product, "CONFIRM_PRODUCT": confirm_product,
                      "ASK_QUANTITY": ask_quantity, "CHOOSE_FIGURE": choose_figure,
                      "CONFIRM_FIGURE": confirm_figure})
