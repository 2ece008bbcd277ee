"""Orders from the boutique to a cooperative: create, alert its producers, take answers, cancel, deliver.

    pending ──first yes──> accepted | partial ──staff──> delivered
    pending ──every alerted producer said no──> declined
    pending ──due date passed──> expired
    pending | accepted | partial ──staff──> cancelled

`Order.revision` goes up by one whenever what a producer would answer changes: every change of status (taken,
declined by everyone, cancelled, expired, delivered) and every change of quantity, due date or note (`change`).
A WhatsApp quick-reply button carries the revision its alert was sent with (`button_payload`): a tap answers the
order only while that revision is current (`answer_button`), so a stale button changes nothing.

Functions take the caller's Session and never commit, so an answer, its outbox rows and the conversation state
commit together. Answers to one order are serialised by a row lock on the order (PostgreSQL; SQLite serialises
every write transaction), and the acceptance itself is a conditional UPDATE … WHERE status = 'pending' that
must change exactly one row: two yeses at the same moment make exactly one acceptance.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ovop.core import clock, keyset
from ovop.messaging.channels import UNDELIVERABLE
from ovop.messaging.notify import notify as notify_producer, notify_staff
from ovop.domain import stock
from ovop.language import understand
from ovop.core.errors import Invalid
from ovop.domain import schemas
from ovop.domain.directory import cooperative_by_id, has_real_producers, product_by_code
from ovop.language.formats import quantity_text
from ovop.language.i18n import DEFAULT_LANGUAGE, format_date, mark
from ovop.models import Cooperative, Order, OrderNotification, Producer, Product

PENDING, ACCEPTED, PARTIAL, DECLINED = "pending", "accepted", "partial", "declined"
DELIVERED, CANCELLED, EXPIRED = "delivered", "cancelled", "expired"
STATUSES = (PENDING, ACCEPTED, PARTIAL, DECLINED, DELIVERED, CANCELLED, EXPIRED)
CANCELLABLE = (PENDING, ACCEPTED, PARTIAL)
DELIVERABLE = (ACCEPTED, PARTIAL)
TOO_LATE = "too_late"  # an answer to an order someone else had already taken
REMIND_AFTER = timedelta(hours=24)
RECENT = timedelta(days=7)  # a closed order is still worth explaining to a late answer for this long


class WrongStatus(Exception):
    """A staff action the order's status does not allow (HTTP 409)."""

    def __init__(self, order: Order, action: str):
        super().__init__(f"order {order.reference} is {order.status}: it cannot be {action}")
        self.order, self.action = order, action


@dataclass(frozen=True)
class Answer:
    """What became of a producer's answer: `outcome` is accepted | partial | declined | taken | already_yours
    | cancelled | expired | closed, or for a tapped button also stale (the order changed since the button was
    sent: nothing was written) | not_yours (no such order alerted to this producer; `order` may be None); `stock`
    is the cooperative's current level (ovop.domain.stock.level) when one exists."""

    outcome: str
    order: Order | None
    quantity: float | None = None
    stock: float | None = None

    @property
    def over_stock(self) -> bool:
        return self.stock is not None and self.quantity is not None and self.quantity > self.stock


# --- references, dates, words --------------------------------------------------------------------------

def reference_for(order_id: int) -> str:
    """CMD-0001 for id 1; more digits once there are more orders. Producers' messages are read with the
    same format (ovop.language.understand reads "cmd 12", "commande 12", "CMD-0012")."""
    return understand.ORDER_FORMAT.format(order_id)


def local_today(config: dict, now: datetime | None = None) -> date:
    """Today's date where the producers and the boutique are (BOT_TIMEZONE)."""
    return (now or clock.now()).astimezone(ZoneInfo(config["BOT_TIMEZONE"])).date()


def is_overdue(order: Order, today: date) -> bool:
    """True when the due date has passed and the goods are not delivered (nor the order closed)."""
    return order.status in (PENDING, ACCEPTED, PARTIAL) and order.due_date < today


def due_text(order: Order, lang: str, config: dict) -> str:
    """The due date in the producer's language, e.g. "lun. 7 déc" (no final dot: a sentence may end on it)."""
    tz = config["BOT_TIMEZONE"]
    noon = datetime(order.due_date.year, order.due_date.month, order.due_date.day, 12, tzinfo=ZoneInfo(tz))
    return format_date(noon, lang, tz).rstrip(".")


def params(order: Order, lang: str, config: dict) -> dict[str, str]:
    """An order's words for a message in `lang`. This order is also the WhatsApp templates' variables:
    {{1}} reference, {{2}} product, {{3}} quantity, {{4}} unit, {{5}} due date."""
    return {"reference": order.reference, "product": order.product.name(lang),
            "quantity": quantity_text(order.quantity), "unit": order.unit, "due_date": due_text(order, lang, config)}


# --- creating and alerting ------------------------------------------------------------------------------

def create_order(session: Session, config: dict, data: dict, *, now: datetime | None = None) -> Order:
    """A new pending order (schemas.NewOrder), with its reference; its producers are alerted at once."""
    now = now or clock.now()
    fields = schemas.parse(schemas.NewOrder, data)
    cooperative = cooperative_by_id(session, fields.cooperative_id)
    product = _product(session, cooperative, fields.product)
    order = Order(cooperative=cooperative, product=product, unit=product.unit, status=PENDING,
                  quantity=fields.quantity, due_date=_due_date(fields.due_date, config, now), note=fields.note,
                  created_at=now, updated_at=now)
    session.add(order)
    session.flush()
    # From the id the database gave: two orders created at the same moment cannot get the same reference.
    order.reference = reference_for(order.id)
    session.flush()
    alert(session, config, order, now=now)
    return order


def _product(session: Session, cooperative: Cooperative, code: str) -> Product:
    """The product named by `code`, which the cooperative must make."""
    product = product_by_code(session, "product", code)
    if product not in cooperative.products:
        raise Invalid("product", "not_made_here", cooperative=cooperative.name, product=product.code)
    return product


def _due_date(due: date | datetime, config: dict, now: datetime) -> date:
    """The order's day: a date-time with an offset counts by the service's local day."""
    if isinstance(due, datetime):
        due = local_today(config, due) if due.tzinfo else due.date()
    if due < local_today(config, now):
        raise Invalid("due_date", "in_the_past")
    return due


def alert(session: Session, config: dict, order: Order, *, now: datetime | None = None) -> list[OrderNotification]:
    """Alert every producer of the order's cooperative who has not opted out; once each, whatever happens.

    A cooperative with real producers alerts them only; one whose producers are all sandbox producers (the demo
    cooperatives) alerts those, so an order can be tried in the phone simulator.
    """
    now = now or clock.now()
    sandbox = not has_real_producers(session, order.cooperative_id)
    producers = session.scalars(
        select(Producer).where(Producer.cooperative_id == order.cooperative_id, Producer.reachable,
                               Producer.sandbox.is_(sandbox)).order_by(Producer.id))
    told = []
    for producer in producers:
        note = _notification(session, order, producer)
        if note.notified_at is not None:
            continue
        lang = producer.language or DEFAULT_LANGUAGE
        several = len(pending_refs(session, producer)) > 1
        notice = notify_producer(session, config, producer, "order_alert",
                                 dedupe_key=f"order-alert:order={order.id}:producer={producer.id}",
                                 key=mark("order.alert_ref") if several else mark("order.alert"),
                                 params={**params(order, lang, config), **button_payloads(order)}, now=now)
        if notice is None:
            continue
        note.notified_at, note.sent_via = now, notice.via
        told.append(note)
    session.flush()
    return told


def _notification(session: Session, order: Order, producer: Producer) -> OrderNotification:
    """The (order, producer) row, created if missing; the unique constraint decides under concurrency."""
    make_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(make_insert(OrderNotification).values(order_id=order.id, producer_id=producer.id)
                    .on_conflict_do_nothing(index_elements=["order_id", "producer_id"]))
    return session.scalars(select(OrderNotification).where(OrderNotification.order_id == order.id,
                                                           OrderNotification.producer_id == producer.id)
                           .execution_options(populate_existing=True)).one()


# --- what a producer may answer -------------------------------------------------------------------------

def _unanswered_by(producer: Producer):
    return ~exists().where(OrderNotification.order_id == Order.id, OrderNotification.producer_id == producer.id,
                           OrderNotification.answer.is_not(None))


def may_answer(session: Session, producer: Producer) -> bool:
    """False for a sandbox producer of a cooperative with real producers: its real orders are not theirs."""
    if producer.cooperative_id is None:
        return False
    return not producer.sandbox or not has_real_producers(session, producer.cooperative_id)


def pending_orders(session: Session, producer: Producer) -> list[Order]:
    """Orders of the producer's cooperative still waiting for a yes that this producer has not answered."""
    if not may_answer(session, producer):
        return []
    return list(session.scalars(select(Order).where(Order.cooperative_id == producer.cooperative_id,
                                                    Order.status == PENDING, _unanswered_by(producer))
                                .order_by(Order.id)))


def pending_refs(session: Session, producer: Producer) -> list[str]:
    """The references of `pending_orders`, oldest first (what the understanding layer matches answers to)."""
    return [order.reference for order in pending_orders(session, producer)]


def by_reference(session: Session, producer: Producer, reference: str) -> Order | None:
    """The order with that reference if it belongs to the producer's cooperative."""
    if not may_answer(session, producer):
        return None
    return session.scalar(select(Order).where(Order.reference == reference,
                                              Order.cooperative_id == producer.cooperative_id))


def recently_closed(session: Session, producer: Producer, now: datetime) -> Order | None:
    """The latest order of the producer's cooperative that closed lately without an answer from them (or that
    they took): a yes or no with nothing pending most likely meant that one (taken, cancelled, expired)."""
    if not may_answer(session, producer):
        return None
    return session.scalar(select(Order).where(Order.cooperative_id == producer.cooperative_id,
                                              Order.status != PENDING, Order.updated_at >= now - RECENT,
                                              or_(_unanswered_by(producer), Order.accepted_by_id == producer.id))
                          .order_by(Order.updated_at.desc(), Order.id.desc()).limit(1))


# --- answers --------------------------------------------------------------------------------------------

def _locked(session: Session, order: Order) -> Order:
    """The order re-read under a row lock, so answers to one order are taken one at a time."""
    return session.scalars(select(Order).where(Order.id == order.id).with_for_update()
                           .execution_options(populate_existing=True)).one()


def accept(session: Session, config: dict, order: Order, producer: Producer, quantity: float | None = None,
           *, now: datetime | None = None) -> Answer:
    """A yes (for `quantity`, or the whole order): the first one takes the order, later ones hear it is taken."""
    now = now or clock.now()
    if quantity is not None and quantity <= 0:
        return decline(session, config, order, producer, now=now)
    if producer.sandbox and has_real_producers(session, order.cooperative_id):
        return Answer("closed", order)  # a sandbox producer never answers a real cooperative's order
    order = _locked(session, order)
    note = _notification(session, order, producer)
    if order.status == PENDING and order.due_date < local_today(config, now):
        _move(session, order, PENDING, EXPIRED, now)
    if order.status != PENDING:
        return _closed(order, producer, note, now)
    amount = order.quantity if quantity is None or quantity >= order.quantity else float(quantity)
    status = ACCEPTED if amount >= order.quantity else PARTIAL
    if not _move(session, order, PENDING, status, now, accepted_by_id=producer.id, accepted_quantity=amount,
                 accepted_at=now):
        return _closed(order, producer, note, now)
    note.answer, note.quantity, note.answered_at = status, amount, now
    _tell_staff(session, config, order, status, producer)
    level = stock.level(session, order.cooperative_id, order.product_id)
    return Answer(status, order, amount, level.quantity if level else None)


def decline(session: Session, config: dict, order: Order, producer: Producer, *,
            now: datetime | None = None) -> Answer:
    """A no: recorded; once every alerted producer has said no, the order is declined and the staff told."""
    now = now or clock.now()
    if producer.sandbox and has_real_producers(session, order.cooperative_id):
        return Answer("closed", order)  # a sandbox producer never answers a real cooperative's order
    order = _locked(session, order)
    note = _notification(session, order, producer)
    if order.status in (CANCELLED, EXPIRED) or (order.status != PENDING and order.accepted_by_id == producer.id):
        return _closed(order, producer, note, now)
    if note.answer is None:
        note.answer, note.answered_at = DECLINED, now
        session.flush()
    if order.status == PENDING and _everyone_declined(session, order):
        if _move(session, order, PENDING, DECLINED, now):
            _tell_staff(session, config, order, DECLINED, producer)
    return Answer(DECLINED, order)


def _everyone_declined(session: Session, order: Order) -> bool:
    """True when every producer who was reached (or answered anyway) said no."""
    rows = select(OrderNotification).where(OrderNotification.order_id == order.id)
    said_no = session.scalar(select(func.count()).select_from(
        rows.where(OrderNotification.answer == DECLINED).subquery()))
    # Someone whose alert could not be delivered cannot be waited for; anyone else still may answer.
    waiting = session.scalar(select(func.count()).select_from(rows.where(or_(
        and_(OrderNotification.answer.is_(None),
             or_(OrderNotification.sent_via.is_(None), OrderNotification.sent_via != UNDELIVERABLE)),
        OrderNotification.answer.in_((ACCEPTED, PARTIAL)))).subquery()))
    return said_no > 0 and waiting == 0


def _closed(order: Order, producer: Producer, note: OrderNotification, now: datetime) -> Answer:
    """The answer to a yes or no for an order that no longer waits for one."""
    if order.status in (ACCEPTED, PARTIAL, DELIVERED) and order.accepted_by_id == producer.id:
        return Answer("already_yours", order, order.accepted_quantity)
    if order.status in (CANCELLED, EXPIRED):
        return Answer(order.status, order)
    if order.status in (ACCEPTED, PARTIAL, DELIVERED):
        if note.answer is None:
            note.answer, note.answered_at = TOO_LATE, now
        return Answer("taken", order)
    return Answer("closed", order)


def _move(session: Session, order: Order, from_status, to_status: str, now: datetime, **values) -> bool:
    """Change the status only if it still is `from_status` (one status or several); True when it did. A new
    status is a new revision: the buttons sent before it no longer answer the order."""
    allowed = (from_status,) if isinstance(from_status, str) else tuple(from_status)
    changed = session.execute(update(Order).where(Order.id == order.id, Order.status.in_(allowed))
                              .values(status=to_status, updated_at=now, revision=Order.revision + 1, **values)
                              .execution_options(synchronize_session=False)).rowcount == 1
    session.refresh(order)
    return changed


def _tell_staff(session: Session, config: dict, order: Order, outcome: str, producer: Producer) -> None:
    """A short SMS to STAFF_PHONES when an order is taken or refused by everyone."""
    key = {ACCEPTED: mark("staff.order_accepted"), PARTIAL: mark("staff.order_partial"),
           DECLINED: mark("staff.order_declined")}[outcome]
    words = {**params(order, DEFAULT_LANGUAGE, config), "producer": producer.name or producer.phone or "?",
             "phone": producer.phone or "", "accepted": quantity_text(order.accepted_quantity),
             "cooperative": order.cooperative.name}
    notify_staff(session, config, "staff_order", f"staff:order={order.id}:{outcome}", key, words,
                        about=producer)


# --- quick-reply buttons --------------------------------------------------------------------------------

# What a WhatsApp quick-reply button of an order alert carries (its ButtonPayload when tapped):
# order:<order id>:r<revision>:accept | order:<order id>:r<revision>:decline, e.g. order:12:r1:accept.
BUTTON_ANSWERS = ("accept", "decline")
BUTTON_FORMAT = "order:{order_id}:r{revision}:{answer}"
_BUTTON = re.compile(r"order:([1-9][0-9]{0,8}):r([1-9][0-9]{0,8}):(accept|decline)")  # ids fit an INTEGER


def button_payload(order: Order, answer: str) -> str:
    """The payload of the `answer` button (accept | decline) of this order at its current revision."""
    return BUTTON_FORMAT.format(order_id=order.id, revision=order.revision, answer=answer)


def button_payloads(order: Order) -> dict[str, str]:
    """The buttons' payloads, appended to `params` for the order alert: the template's {{6}} (accept) and
    {{7}} (decline) after the five words of `params`."""
    return {f"{answer}_button": button_payload(order, answer) for answer in BUTTON_ANSWERS}


def read_button(payload: str) -> tuple[int, int, str] | None:
    """(order id, revision, accept | decline) from a payload `button_payload` wrote; None for anything else."""
    match = _BUTTON.fullmatch(payload or "")
    if match is None:
        return None
    return int(match[1]), int(match[2]), match[3]


def answer_button(session: Session, config: dict, producer: Producer, order_id: int, revision: int, answer: str,
                  *, now: datetime | None = None) -> Answer:
    """A tapped button: the answer it names, taken exactly as the typed one (`accept` or `decline`) when the order
    was alerted to this producer and is still pending at the revision the button was sent with.

    Otherwise nothing is written: `not_yours` when no such order was alerted to this producer (another
    cooperative's, a forged id), `stale` when the order changed since (taken, cancelled, expired, quantity or
    date changed); the caller words a stale answer by the order's status. The revision is compared under the
    order's row lock, so a tap racing a change or another producer's yes cannot slip between check and answer.
    """
    now = now or clock.now()
    order = session.get(Order, order_id)
    if order is None or not may_answer(session, producer) or order.cooperative_id != producer.cooperative_id:
        return Answer("not_yours", None)
    alerted = session.scalar(select(OrderNotification.id).where(
        OrderNotification.order_id == order.id, OrderNotification.producer_id == producer.id,
        OrderNotification.notified_at.is_not(None)))
    if alerted is None:
        return Answer("not_yours", None)
    order = _locked(session, order)
    if revision > order.revision:  # never sent: a forged payload
        return Answer("not_yours", None)
    if order.revision != revision or order.status != PENDING or order.due_date < local_today(config, now):
        return Answer("stale", order)
    if answer == "accept":
        return accept(session, config, order, producer, now=now)
    return decline(session, config, order, producer, now=now)


# --- staff actions --------------------------------------------------------------------------------------

def change(session: Session, config: dict, order: Order, *, quantity: float | None = None,
           due_date: date | None = None, note: str | None = None, now: datetime | None = None) -> Order:
    """Change what a pending order asks for (quantity, due date, note): a new revision, so the buttons sent
    with its alert no longer answer it (a tap is told the order changed, and what it is now)."""
    now = now or clock.now()
    order = _locked(session, order)
    if order.status != PENDING:
        raise WrongStatus(order, "changed")
    values: dict = {}
    if quantity is not None and quantity != order.quantity:
        if quantity <= 0:
            raise Invalid("quantity", "not_above", min=0)
        values["quantity"] = float(quantity)
    if due_date is not None and due_date != order.due_date:
        values["due_date"] = _due_date(due_date, config, now)
    if note is not None and note != (order.note or ""):
        values["note"] = note
    if values and session.execute(update(Order).where(Order.id == order.id, Order.status == PENDING)
                                  .values(updated_at=now, revision=Order.revision + 1, **values)
                                  .execution_options(synchronize_session=False)).rowcount != 1:
        raise WrongStatus(order, "changed")
    session.refresh(order)
    return order


def cancel(session: Session, config: dict, order: Order, *, now: datetime | None = None) -> Order:
    """Cancel an open order and tell the producers who were alerted (except those who had said no)."""
    now = now or clock.now()
    order = _locked(session, order)
    if not _move(session, order, CANCELLABLE, CANCELLED, now, cancelled_at=now):
        raise WrongStatus(order, "cancelled")
    for note in order.notifications:
        if (note.notified_at is None and note.answer is None) or note.answer == DECLINED:
            continue
        producer = note.producer
        notify_producer(session, config, producer, "order_cancelled",
                        dedupe_key=f"order-cancelled:order={order.id}:producer={producer.id}",
                        key=mark("order.cancelled"),
                        params=params(order, producer.language or DEFAULT_LANGUAGE, config), now=now)
    return order


def deliver(session: Session, config: dict, order: Order, *, now: datetime | None = None) -> Order:
    """Mark an accepted order delivered and thank the producer who took it."""
    now = now or clock.now()
    order = _locked(session, order)
    if not _move(session, order, DELIVERABLE, DELIVERED, now, delivered_at=now):
        raise WrongStatus(order, "delivered")
    producer = order.accepted_by
    if producer is not None:
        notify_producer(session, config, producer, "order_thanks", dedupe_key=f"order-thanks:order={order.id}",
                        key=mark("order.thanks"),
                        params=params(order, producer.language or DEFAULT_LANGUAGE, config), now=now)
    return order


def expire(session: Session, order: Order, now: datetime) -> bool:
    """Close a pending order whose due date has passed; True when this call closed it."""
    return _move(session, order, PENDING, EXPIRED, now)


ORDER_KEYS = keyset.Order(keyset.desc(Order.id, int))


def orders(session: Session, *, status: str | None = None, cooperative_id: int | None = None,
           options: tuple = (), window: keyset.Window | None = None) -> list[Order]:
    """Orders, newest first, optionally of one status or cooperative (`options`: loader options); one page of
    them with a `window`."""
    query = select(Order).options(*options)
    if status is not None:
        query = query.where(Order.status == status)
    if cooperative_id is not None:
        query = query.where(Order.cooperative_id == cooperative_id)
    return keyset.fetch(session, query, ORDER_KEYS, window)
