"""Workshops: staff create them, producers sign up by message, a full one keeps a waitlist, seats are reminded.

Capacity holds under concurrent sign-ups because every change to a workshop's seats first locks the workshop
row (SELECT … FOR UPDATE on PostgreSQL; on SQLite every write transaction is already serialised by BEGIN
IMMEDIATE, see ovop/core/db.py), then counts. Functions take the caller's Session and never commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ovop.core import keyset

from ovop.core.errors import Invalid
from ovop.domain import schemas
from ovop.language.i18n import LANGUAGES, format_datetime, mark
from ovop.domain.prices import DEFAULT_MARKET
from ovop.models import PriceObservation, Producer, Product, Registration, Workshop
from ovop.core.localtime import parse_hhmm, timezone_of
from ovop.messaging.notify import notify, withdraw

REGISTERED, WAITLISTED, CANCELLED, ATTENDED = "registered", "waitlisted", "cancelled", "attended"
HOLDING_SEAT = (REGISTERED, ATTENDED)
ACTIVE = (REGISTERED, WAITLISTED)
MAX_DAYS_BEFORE = schemas.MAX_DAYS_BEFORE


@dataclass(frozen=True)
class SignUp:
    """What a sign-up gave: registered, waitlisted (with a position), already_registered, already_waitlisted
    or closed."""

    outcome: str
    workshop: Workshop
    registration: Registration | None = None
    position: int | None = None


# --- reading ---------------------------------------------------------------------------------------------

def workshop(session: Session, workshop_id: Any) -> Workshop | None:
    """The workshop with that id, or None."""
    return session.get(Workshop, workshop_id) if isinstance(workshop_id, int) and workshop_id > 0 else None


WORKSHOP_KEYS = keyset.Order(keyset.asc(Workshop.starts_at, datetime), keyset.asc(Workshop.id, int))
REGISTRATION_KEYS = keyset.Order(keyset.asc(Registration.created_at, datetime), keyset.asc(Registration.id, int))


def workshops(session: Session, *, upcoming_after: datetime | None = None,
              window: keyset.Window | None = None) -> list[Workshop]:
    """Workshops by start time; only those not started yet when `upcoming_after` is given; one page of them
    with a `window`."""
    query = select(Workshop)
    if upcoming_after is not None:
        query = query.where(Workshop.starts_at > upcoming_after)
    return keyset.fetch(session, query, WORKSHOP_KEYS, window)


def is_open(item: Workshop, now: datetime) -> bool:
    """Sign-up is possible until the registration deadline and never after the start."""
    closes = min(item.starts_at, item.registration_deadline or item.starts_at)
    return now < closes


def counts(session: Session, workshop_ids: list[int], *, sandbox: bool = False) -> dict[int, dict[str, int]]:
    """{workshop id: {status: number of registrations}} for several workshops in one query.

    Sandbox producers' registrations are a world apart: they never take a real seat nor a place in the real
    waitlist; `sandbox=True` counts theirs (the seats and waitlist the phone simulator shows them).
    """
    found: dict[int, dict[str, int]] = {workshop_id: {} for workshop_id in workshop_ids}
    if workshop_ids:
        rows = session.execute(select(Registration.workshop_id, Registration.status, func.count())
                               .join(Producer, Producer.id == Registration.producer_id)
                               .where(Registration.workshop_id.in_(workshop_ids), Producer.sandbox.is_(sandbox))
                               .group_by(Registration.workshop_id, Registration.status))
        for workshop_id, status, number in rows:
            found[workshop_id][status] = number
    return found


def seats_left(item: Workshop, status_counts: dict[str, int]) -> int:
    """Free seats given the workshop's registrations counted by status."""
    return max(0, item.capacity - sum(status_counts.get(status, 0) for status in HOLDING_SEAT))


def waitlist(session: Session, workshop_id: int, *, sandbox: bool | None = None) -> list[Registration]:
    """The waitlist in the order it is served: first come, first registered (erased producers are passed over).

    `sandbox` False: the real waitlist; True: the sandbox producers' own; None: both, as staff see them.
    """
    query = (select(Registration).join(Producer)
             .where(Registration.workshop_id == workshop_id, Registration.status == WAITLISTED,
                    Producer.deleted_at.is_(None)))
    if sandbox is not None:
        query = query.where(Producer.sandbox.is_(sandbox))
    return list(session.scalars(query
                                .order_by(Registration.queued_at, Registration.id)))


def position(session: Session, registration: Registration) -> int | None:
    """1 for the first on the waitlist; None for a registration that is not waiting."""
    if registration.status != WAITLISTED:
        return None
    sandbox = bool(session.scalar(select(Producer.sandbox).where(Producer.id == registration.producer_id)))
    ahead = session.scalar(select(func.count()).select_from(Registration).join(Producer).where(
        Registration.workshop_id == registration.workshop_id, Registration.status == WAITLISTED,
        Producer.deleted_at.is_(None), Producer.sandbox.is_(sandbox),
        (Registration.queued_at < registration.queued_at)
        | ((Registration.queued_at == registration.queued_at) & (Registration.id < registration.id))))
    return ahead + 1


def registrations_of(session: Session, producer: Producer, now: datetime) -> list[Registration]:
    """The producer's registered or waitlisted places at workshops not started yet, soonest first."""
    return list(session.scalars(select(Registration).join(Workshop)
                                .where(Registration.producer_id == producer.id, Registration.status.in_(ACTIVE),
                                       Workshop.starts_at > now)
                                .order_by(Workshop.starts_at, Workshop.id)))


def registrations(session: Session, item: Workshop, window: keyset.Window | None = None,
                  options: tuple = ()) -> list[Registration]:
    """Every registration of a workshop, in the order they were made; one page of them with a `window`
    (`options`: loader options)."""
    return keyset.fetch(session, select(Registration).where(Registration.workshop_id == item.id).options(*options),
                        REGISTRATION_KEYS, window)


# --- changing seats ---------------------------------------------------------------------------------------

def lock(session: Session, workshop_id: int) -> Workshop | None:
    """The workshop, its row locked until the transaction ends, read afresh from the database."""
    return session.scalar(select(Workshop).where(Workshop.id == workshop_id)
                          .with_for_update().execution_options(populate_existing=True))


def register(session: Session, workshop_id: int, producer: Producer, now: datetime,
             message_id: int | None = None) -> SignUp:
    """Give the producer a seat, or a place on the waitlist when the workshop is full."""
    item = lock(session, workshop_id)
    if item is None:
        raise LookupError(f"no workshop {workshop_id}")
    existing = session.scalar(select(Registration).where(Registration.workshop_id == item.id,
                                                         Registration.producer_id == producer.id))
    if existing is not None and existing.status in HOLDING_SEAT:
        return SignUp("already_registered", item, existing)
    if existing is not None and existing.status == WAITLISTED:
        return SignUp("already_waitlisted", item, existing, position(session, existing))
    if not is_open(item, now):
        return SignUp("closed", item, existing)
    sandbox = bool(producer.sandbox)
    full = seats_left(item, counts(session, [item.id], sandbox=sandbox)[item.id]) == 0
    registration = existing or Registration(workshop_id=item.id, producer_id=producer.id, created_at=now)
    registration.status = WAITLISTED if full else REGISTERED
    registration.queued_at, registration.updated_at = now, now
    registration.registered_at = None if full else now
    registration.cancelled_at = None
    registration.message_id = message_id
    if existing is None:
        session.add(registration)
    session.flush()
    if full:
        return SignUp("waitlisted", item, registration, position(session, registration))
    return SignUp("registered", item, registration)


def cancel(session: Session, registration: Registration, now: datetime, config: dict) -> Registration | None:
    """Cancel a registration; a seat it freed goes to the first on the waitlist, who is told. Returns them."""
    item = lock(session, registration.workshop_id)
    session.refresh(registration)
    if registration.status not in ACTIVE:
        return None
    freed = registration.status == REGISTERED
    registration.status, registration.cancelled_at, registration.updated_at = CANCELLED, now, now
    registration.registered_at = None
    # A reminder already queued but not yet sent must not reach someone who gave up their seat.
    withdraw(session, f"reminder:workshop={item.id}:producer={registration.producer_id}:",
                    "registration cancelled")
    session.flush()
    if not freed or now >= item.starts_at:
        return None
    # A sandbox producer's seat was never a real one: it goes to the next sandbox producer waiting.
    return promote(session, item, now, config, sandbox=bool(registration.producer.sandbox))


def promote(session: Session, item: Workshop, now: datetime, config: dict, *,
            sandbox: bool | None = None) -> Registration | None:
    """Move the first waiting producer into a free seat and tell them (through the outbox).

    `sandbox` None: the real waitlist first, then the sandbox producers' (each against its own seat count).
    """
    if sandbox is None:
        return promote(session, item, now, config, sandbox=False) or promote(session, item, now, config,
                                                                             sandbox=True)
    if seats_left(item, counts(session, [item.id], sandbox=sandbox)[item.id]) == 0:
        return None
    waiting = waitlist(session, item.id, sandbox=sandbox)
    if not waiting:
        return None
    first = waiting[0]
    first.status, first.registered_at, first.updated_at = REGISTERED, now, now
    session.flush()
    producer = first.producer
    notify(session, config, producer, "workshop_promoted", key=mark("workshop.promoted"),
           dedupe_key=f"workshop-promoted:workshop={item.id}:producer={producer.id}:{now:%Y%m%dT%H%M%S%f}",
           params=details(item, producer.language or "fr", config), now=now)
    return first


def mark_attendance(session: Session, item: Workshop, producer_id: int, attended: bool,
                    now: datetime) -> Registration:
    """Record that a registered producer came (or, correcting a mistake, did not)."""
    registration = session.scalar(select(Registration).where(Registration.workshop_id == item.id,
                                                             Registration.producer_id == producer_id))
    if registration is None:
        raise LookupError(f"producer {producer_id} has no registration for workshop {item.id}")
    if attended:
        if registration.status != ATTENDED:
            registration.registered_at = registration.registered_at or now
        registration.status = ATTENDED
    elif registration.status == ATTENDED:
        registration.status = REGISTERED
    registration.updated_at = now
    session.flush()
    return registration


def details(item: Workshop, lang: str, config: dict) -> dict[str, str]:
    """A workshop's title, local date and time, and place in `lang` (in this order: template variables)."""
    return {"title": item.title(lang), "when": format_datetime(item.starts_at, lang, timezone_of(config).key),
            "location": item.location}


# --- reminders --------------------------------------------------------------------------------------------

def reminder_label(offset: dict[str, Any]) -> str:
    """The stable name of a reminder in dedupe keys: d-2, d-0."""
    return f"d-{offset['days_before']}"


def reminder_time(item: Workshop, offset: dict[str, Any], config: dict) -> datetime:
    """When a reminder falls due: `days_before` the start's local date, at its local `time`, in UTC."""
    tz = timezone_of(config)
    day = item.starts_at.astimezone(tz).date() - timedelta(days=offset["days_before"])
    return datetime.combine(day, parse_hhmm(offset["time"]), tzinfo=tz).astimezone(timezone.utc)


def due_reminders(session: Session, now: datetime, config: dict) -> Iterator[tuple[Workshop, str, datetime]]:
    """(workshop, label, due time) of the latest reminder due for each workshop not started yet.

    Only the latest: after an outage, a producer gets the reminder that is current, not a burst of stale ones.
    """
    horizon = now + timedelta(days=MAX_DAYS_BEFORE + 2)
    for item in session.scalars(select(Workshop).where(Workshop.starts_at > now, Workshop.starts_at <= horizon)
                                .order_by(Workshop.starts_at, Workshop.id)):
        due = [(reminder_time(item, offset, config), reminder_label(offset)) for offset in item.reminder_offsets()]
        due = [(moment, label) for moment, label in due if moment <= now and moment < item.starts_at]
        if due:
            moment, label = max(due)
            yield item, label, moment


def holding_seat_at(session: Session, item: Workshop, moment: datetime) -> list[Registration]:
    """Registrations holding a seat now that already held it at `moment` (a reminder's due time)."""
    return list(session.scalars(select(Registration)
                                .where(Registration.workshop_id == item.id, Registration.status == REGISTERED,
                                       Registration.registered_at <= moment)
                                .options(selectinload(Registration.producer)).order_by(Registration.id)))


# --- staff input ------------------------------------------------------------------------------------------

def create(session: Session, data: dict, now: datetime) -> Workshop:
    """A new workshop (schemas.NewWorkshop); it starts in the future, at most one reminder per day before."""
    fields = schemas.parse(schemas.NewWorkshop, data)
    item = Workshop(created_at=now, capacity=fields.capacity,
                    reminders=_reminders(fields.reminders) if fields.reminders is not None else None)
    _set(item, fields, now)
    session.add(item)
    session.flush()
    return item


def update(session: Session, item: Workshop, data: dict, now: datetime, config: dict) -> Workshop:
    """Change a workshop's text, time, place and capacity (schemas.WorkshopChanges); never fewer seats than
    are given; a larger capacity seats the waitlist in order."""
    fields = schemas.parse(schemas.WorkshopChanges, data)
    held = item.capacity - seats_left(item, counts(session, [item.id])[item.id])
    if fields.capacity < held:
        raise Invalid("capacity", "below_seats_taken", taken=held)
    _set(item, fields, now)
    item.capacity = fields.capacity
    session.flush()
    while promote(session, item, now, config) is not None:
        pass
    return item


def _set(item: Workshop, fields: schemas.WorkshopChanges, now: datetime) -> None:
    """Texts, time and place; a start that moves must stay in the future, the deadline not after it."""
    if fields.starts_at != item.starts_at and fields.starts_at <= now:
        raise Invalid("starts_at", "not_in_the_future")
    if fields.registration_deadline is not None and fields.registration_deadline > fields.starts_at:
        raise Invalid("registration_deadline", "after_start")
    item.starts_at, item.registration_deadline = fields.starts_at, fields.registration_deadline
    item.location = fields.location
    for lang in LANGUAGES:
        setattr(item, f"title_{lang}", getattr(fields.title, lang))
    # No description clears it; one given changes the languages it names (a form may edit French only).
    descriptions = fields.description.given() if fields.description is not None else dict.fromkeys(LANGUAGES)
    for lang, description in descriptions.items():
        setattr(item, f"description_{lang}", description)


def _reminders(reminders: list[schemas.Reminder]) -> list[dict[str, Any]]:
    """[{"days_before": 2, "time": "09:00"}, …], furthest first: at most one reminder per day before."""
    seen: set[int] = set()
    for reminder in reminders:
        if reminder.days_before in seen:
            raise Invalid("reminders.days_before", "repeated_reminder", days=reminder.days_before)
        seen.add(reminder.days_before)
    return [{"days_before": reminder.days_before, "time": reminder.time}
            for reminder in sorted(reminders, key=lambda reminder: -reminder.days_before)]


# --- demo data ------------------------------------------------------------------------------------------

def load_demo_workshops_and_prices(session: Session, data: dict, now: datetime, config: dict) -> dict[str, int]:
    """Add the demo file's workshops (days from now, local time) and prices (observed today) when missing."""
    tz = timezone_of(config)
    added = {"workshops": 0, "prices": 0}
    today = now.astimezone(tz).date()
    for spec in data.get("workshops", []):
        titles = spec["title"] if isinstance(spec["title"], dict) else {"fr": spec["title"]}
        if session.scalar(select(Workshop.id).where(Workshop.title_fr == titles["fr"],
                                                    Workshop.starts_at > now)) is not None:
            continue
        day = today + timedelta(days=spec.get("days_from_now", 7))
        starts = datetime.combine(day, parse_hhmm(spec.get("time", "10:00")), tzinfo=tz).astimezone(timezone.utc)
        session.add(Workshop(title_fr=titles["fr"], title_wo=titles.get("wo"), title_en=titles.get("en"),
                             starts_at=starts, location=spec["location"], capacity=spec["capacity"],
                             created_at=now))
        added["workshops"] += 1
    for spec in data.get("prices", []):
        product = session.scalar(select(Product).where(Product.code == spec["product"]))
        if product is None or session.scalar(select(PriceObservation.id)
                                             .where(PriceObservation.product_id == product.id).limit(1)):
            continue
        session.add(PriceObservation(product_id=product.id, price=spec["price"], unit=spec.get("unit", product.unit),
                                     market=spec.get("market", DEFAULT_MARKET), observed_on=today, created_at=now))
        added["prices"] += 1
    session.flush()
    return added
