"""The durable outgoing queue: enqueued inside the caller's transaction, drained by a sender.

Every message the service starts (order alerts, reminders, tips, broadcasts) is a row here with a unique
dedupe key, so whoever enqueues the same thing twice (a retried request, a second scheduler) adds nothing.
Senders claim rows before sending, so two senders never send the same row. A claim is a short lease, renewed
while the sender holds the row; a claim that was not renewed belongs to a sender that stopped mid-call, so
the next sender takes the row back within seconds and asks Twilio whether it already has the message before
sending it again.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.core.config import Settings
from ovop.core.db import Database
from ovop.models import Message, OutboxAttempt, OutboxItem, Producer, StockReport
from ovop.language.i18n import fold_gsm7
from ovop.messaging import costs
from ovop.messaging.channels import AT_ANY_HOUR, UNDELIVERABLE, in_window
from ovop.messaging.transport import OPTED_OUT_CODE, ConsoleTransport, Transport, TransportError
from ovop.messaging.status import RANK

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
CANCELLED = "cancelled"
RELEASED = "released"  # an outcome, not a status: claimed, then handed back unsent because the sender is stopping
# A claim is a lease: renewed every LEASE / 3 while its sender holds the row, so a claim older than LEASE
# belongs to a sender that stopped (kill -9, a lost machine) and the row goes back to the queue, possibly sent.
LEASE = timedelta(seconds=30)
# About 3 minutes of waiting for the database to record a send Twilio accepted. Past the lease another sender
# may take the row back: it finds the message at Twilio and records it, and this sender's late record then
# changes nothing (it only writes to a row it still holds).
RECORD_ATTEMPTS = 12


def outbox_key(item: OutboxItem) -> str:
    """A key that names one outbox item for good (its id, dedupe key and creation time, so a database started
    afresh never repeats one): a provider that takes a client-chosen message id derives it from this."""
    created = item.created_at
    if created is not None:  # in UTC whatever the session's time zone, so every process derives the same key
        created = (created if created.tzinfo else created.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return f"outbox:{item.id}:{item.dedupe_key}:{created.strftime('%Y-%m-%dT%H:%M:%S.%f') if created else ''}"


def enqueue(session: Session, *, dedupe_key: str, kind: str, recipient: str, channel: str,
            body: str | None = None, content_sid: str | None = None,
            content_variables: dict[str, Any] | None = None, producer_id: int | None = None,
            not_before: datetime | None = None) -> int | None:
    """Add a message to the outbox in the caller's transaction: the new row's id, or None when that dedupe key
    is already there."""
    if not body and not content_sid:
        raise ValueError("an outbox item needs a body or a template")
    values = dict(dedupe_key=dedupe_key, kind=kind, recipient=recipient, channel=channel, body=body,
                  content_sid=content_sid, content_variables=content_variables, producer_id=producer_id,
                  not_before=not_before or clock.now(), status=PENDING, attempts=0, created_at=clock.now())
    dialect = session.get_bind().dialect.name
    # The unique constraint decides, not a check in Python: ON CONFLICT DO NOTHING is atomic, and
    # RETURNING says whether this call added the row (rowcount is not reliable across drivers).
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (make_insert(OutboxItem).values(**values)
                 .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(OutboxItem.id))
    return session.execute(statement).scalar()


def enqueue_many(session: Session, rows: list[dict[str, Any]], chunk: int = 5000) -> set[str]:
    """Add many messages (a weekly fan-out) with one INSERT per chunk; returns the dedupe keys added.

    Each row has the keyword arguments of `enqueue`, plus optionally `status` and `last_error` (an item
    the policy already knows it cannot send). Same guarantee: a dedupe key already queued adds nothing.
    """
    now = clock.now()
    make_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # One statement given many parameter sets: SQLAlchemy batches it ("insertmanyvalues") and compiles it once.
    statement = (make_insert(OutboxItem).on_conflict_do_nothing(index_elements=["dedupe_key"])
                 .returning(OutboxItem.dedupe_key))
    added: set[str] = set()
    for start in range(0, len(rows), chunk):
        values = [{"body": None, "content_sid": None, "content_variables": None, "producer_id": None,
                   "status": PENDING, "last_error": None, **row, "not_before": row.get("not_before") or now,
                   "attempts": 0, "created_at": now} for row in rows[start:start + chunk]]
        added.update(session.scalars(statement, values))
    return added


def withdraw(session: Session, which, reason: str) -> int:
    """Cancel the rows matching the SQL condition `which` that are still waiting; how many were."""
    return session.execute(update(OutboxItem)
                           .where(OutboxItem.status == PENDING, which)
                           .values(status=CANCELLED, last_error=reason)
                           .execution_options(synchronize_session=False)).rowcount


def backoff(attempt: int, base: float = 15.0, cap: float = 3600.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before try `attempt + 1`: exponential with full jitter, so retries do not stampede."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


class RateLimiter:
    """A token bucket per sender channel, keeping to Twilio's pace (about 10 SMS/s, 80 WhatsApp/s)."""

    def __init__(self, rates: dict[str, float], sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic):
        self.rates, self.sleep, self.monotonic = rates, sleep, monotonic
        self.next_free: dict[str, float] = {}
        self.lock = threading.Lock()

    def wait(self, channel: str) -> None:
        """Block until one more message may leave on `channel`."""
        rate = self.rates.get(channel) or 0
        if rate <= 0:
            return
        with self.lock:
            now = self.monotonic()
            slot = max(now, self.next_free.get(channel, now))
            self.next_free[channel] = slot + 1.0 / rate
        if slot > now:
            self.sleep(slot - now)


@dataclass
class Sender:
    """Drains due outbox items through a transport, at a bounded rate, retrying what may succeed later."""

    db: Database
    transport: Transport
    status_callback_base: str | None = None
    rates: dict[str, float] = field(default_factory=lambda: {"sms": Settings.outbox_rate_sms,
                                                             "whatsapp": Settings.outbox_rate_whatsapp})
    max_attempts: int = Settings.outbox_max_attempts
    batch_size: int = 50
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    rng: random.Random = field(default_factory=random.Random)
    in_flight: int = 4  # provider calls at once
    # When set, (moment) -> end of the quiet hours `moment` falls in, or None: nothing leaves at night.
    quiet_until: Callable[[datetime], datetime | None] | None = None
    lease: timedelta = LEASE
    renew_every: float | None = None  # wall-clock seconds between renewals; default a third of the lease
    # Set it to stop: nothing more is claimed, claimed items not yet started are handed back, calls in flight
    # finish and are recorded. run_forever(stop) uses the event it is given.
    stop: threading.Event = field(default_factory=threading.Event)
    # A provider's cap of messages a local day ({"smsgate": 300}), and (moment) -> (start of that local day, when
    # sending may resume once the cap is reached). Past the cap, items wait for that moment; they do not fail.
    daily_caps: dict[str, int] = field(default_factory=dict)
    cap_window: Callable[[datetime], tuple[datetime, datetime]] | None = None
    # The rate limiter's sleep (tests hand in one that counts); by default a wait that `stop` cuts short, since a
    # gateway's pace can hold a call back for minutes.
    sleep: Callable[[float], None] | None = None
    pace_clock: Callable[[], float] = time.monotonic
    prices: dict = field(default_factory=dict)  # MESSAGE_PRICES: each sent message's estimated cost

    def __post_init__(self):
        self.limiter = RateLimiter(self.rates, sleep=self.sleep or (lambda seconds: self.stop.wait(seconds)),
                                   monotonic=self.pace_clock)
        self._reserved: dict[int, str] = {}  # item id -> provider, for sends under a daily cap not yet recorded
        self._reserved_lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # outcomes so far: sent, found (already at Twilio), pending...
        self._counts_lock = threading.Lock()
        self._held: set[int] = set()  # claimed by this sender and not finished: the rows whose lease it renews
        self._held_lock = threading.Lock()
        self._confirmed = time.monotonic()  # when the database last confirmed this sender's claims

    def _mine(self):
        """Conditions for a row this sender still holds (its claim did not lapse to another sender)."""
        return OutboxItem.status == SENDING, OutboxItem.claimed_by == self.worker_id

    def claim(self, limit: int | None = None) -> list[OutboxItem]:
        """Take up to `limit` due items for this sender, so no other sender can take them.

        A row still `sending` under a claim that was not renewed for a lease is taken back: its sender stopped
        without recording how its call ended, so the row is marked as possibly sent and looked up first.
        """
        if self.stop.is_set():
            return []
        now = clock.now()
        claimable = or_(OutboxItem.status == PENDING,
                        (OutboxItem.status == SENDING) & (OutboxItem.claimed_at < now - self.lease))
        if self.quiet_until is not None and self.quiet_until(now) is not None:
            # At night only what may leave at any hour: answers to the producer, news of their own order.
            claimable = claimable & OutboxItem.kind.in_(AT_ANY_HOUR)
        with self.db.transaction() as session:
            due = (select(OutboxItem.id, OutboxItem.status, OutboxItem.claimed_by)
                   .where(claimable)
                   .where(OutboxItem.not_before <= now)
                   .order_by(OutboxItem.not_before, OutboxItem.id)
                   .limit(limit or self.batch_size))
            if self.db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            claimed = []
            for item_id, status, holder in session.execute(due).all():
                values: dict[str, Any] = dict(status=SENDING, claimed_by=self.worker_id, claimed_at=now,
                                              attempts=OutboxItem.attempts + 1)
                if status == SENDING:
                    # No error code and an error text: send() asks Twilio before sending (see _may_have_gone).
                    values.update(error_code=None,
                                  last_error=f"the claim of {holder} lapsed mid-send; Twilio may have it")
                # Conditional update: the claim counts only if this very row was still claimable.
                result = session.execute(update(OutboxItem).where(OutboxItem.id == item_id).where(claimable)
                                         .values(**values))
                if result.rowcount == 1:
                    claimed.append(item_id)
                    if status == SENDING:
                        log.warning("outbox item %s: taken back from %s, whose claim lapsed; looked up first",
                                    item_id, holder)
            if not claimed:
                return []
            items = list(session.scalars(select(OutboxItem).where(OutboxItem.id.in_(claimed))
                                         .order_by(OutboxItem.not_before, OutboxItem.id)))
        with self._held_lock:
            self._held.update(claimed)
        self._confirmed = time.monotonic()
        return items

    def renew(self) -> int:
        """Renew the lease on the rows this sender holds; returns how many it still holds."""
        with self._held_lock:
            held = list(self._held)
        if not held:
            return 0
        with self.db.transaction() as session:
            renewed = session.execute(update(OutboxItem).where(OutboxItem.id.in_(held), *self._mine())
                                      .values(claimed_at=clock.now())
                                      .execution_options(synchronize_session=False)).rowcount
        self._confirmed = time.monotonic()
        return renewed

    def _renew_until(self, done: threading.Event) -> None:
        every = self.renew_every or self.lease.total_seconds() / 3
        while not done.wait(every):
            try:
                self.renew()
            except Exception:  # the database is away: calls in flight go on, no new call starts (_lease_is_safe)
                log.warning("outbox sender: could not renew its claims; trying again", exc_info=True)

    def _lease_is_safe(self) -> bool:
        """True when a call started now ends well before this sender's claims could lapse.

        The claims were confirmed at most half a lease ago, and a call lasts at most TWILIO_TIMEOUT (10 s by
        default, a third of the lease); past that, what is left is handed back rather than started.
        """
        return time.monotonic() - self._confirmed < self.lease.total_seconds() / 2

    def _let_go(self, item: OutboxItem) -> None:
        with self._held_lock:
            self._held.discard(item.id)

    def status_callback(self, item: OutboxItem) -> str | None:
        """Where Twilio reports delivery; the item id rides along so a report can be traced to its row."""
        if not self.status_callback_base:
            return None
        return f"{self.status_callback_base}/twilio/status?outbox={item.id}"

    def send(self, item: OutboxItem) -> str:
        """Hand one claimed item to the transport and record what happened; returns the new status.

        `released` when the item was handed back unsent because the sender is stopping.
        """
        try:
            outcome = self._send(item)
        finally:
            self._let_go(item)
            with self._reserved_lock:
                self._reserved.pop(item.id, None)
        with self._counts_lock:
            self.counts[outcome] += 1
        return outcome

    def _send(self, item: OutboxItem) -> str:
        if self.stop.is_set():
            return self._release(item, "the sender is stopping")
        if not self._lease_is_safe():
            return self._release(item, "its claim could not be renewed")
        refused = self._recheck(item)
        if refused is not None:
            return refused
        if self._sandbox(item):
            # Never through a provider, whatever the backend: written to the message table as the console does.
            result = ConsoleTransport().send(item.recipient, item.channel, body=item.body,
                                             content_sid=item.content_sid, content_variables=item.content_variables)
            self._record_success(item, result.sid, result.status)
            with self._counts_lock:
                self.counts["sandbox"] += 1
            return SENT
        if self._may_have_gone(item):
            try:
                earlier = self._unclaimed_sid(self.transport.find_sent(
                    item.recipient, item.channel, item.body, item.created_at, template=bool(item.content_sid),
                    content_variables=item.content_variables, key=outbox_key(item)))
            except TransportError as error:
                # Still unknown: the next try must ask again, so the item keeps "may have gone".
                return self._record_failure(item, error, looking_up=True)
            if earlier:
                log.info("outbox item %s: Twilio already had it as %s; not sent again", item.id, earlier)
                self._record_success(item, earlier, "sent", provider=self._carrier(item.channel))
                with self._counts_lock:
                    self.counts["found"] += 1
                return SENT
        resume = self._reserve(item)
        if resume is not None:
            return self._release(item, f"{self._carrier(item.channel)} reached its daily cap", not_before=resume)
        self.limiter.wait(item.channel)
        if self.stop.is_set():  # stopped while waiting for its turn: handed back, not sent
            return self._release(item, "the sender is stopping")
        try:
            result = self.transport.send(item.recipient, item.channel, body=item.body,
                                         content_sid=item.content_sid, content_variables=item.content_variables,
                                         status_callback=self.status_callback(item), key=outbox_key(item))
        except TransportError as error:
            return self._record_failure(item, error)
        except Exception as error:  # a bug or an unforeseen client error must not kill the sender loop
            log.exception("unexpected error sending outbox item %s", item.id)
            return self._record_failure(item, TransportError(repr(error), permanent=False))
        self._record_success(item, result.sid, result.status, provider=self._carrier(item.channel))
        return SENT

    def _carrier(self, channel: str) -> str:
        """Who carries `channel` through this sender's transport (twilio | smsgate | console)."""
        carrier = getattr(self.transport, "carrier", None)
        return (carrier(channel) if carrier else None) or self.transport.name

    def _reserve(self, item: OutboxItem) -> datetime | None:
        """Count this send against its carrier's daily cap: None when it may go (a slot is held until it is
        recorded), else when the cap allows the next one (the next local morning)."""
        provider = self._carrier(item.channel)
        cap = self.daily_caps.get(provider)
        if not cap or self.cap_window is None:
            return None
        start, resume = self.cap_window(clock.now())
        with self._reserved_lock:  # in-flight sends count too, so threads sending at once cannot pass the cap
            with self.db.transaction() as session:
                sent = session.scalar(
                    select(func.count(Message.id)).join(OutboxItem, Message.outbox_item_id == OutboxItem.id)
                    .where(Message.direction == "out", Message.provider == provider, OutboxItem.sent_at >= start))
            if sent + sum(1 for held in self._reserved.values() if held == provider) >= cap:
                return resume
            self._reserved[item.id] = provider
        return None

    def _sandbox(self, item: OutboxItem) -> bool:
        """True for a message to a sandbox producer, or a staff alert one of them caused."""
        if item.sandbox:
            return True
        with self.db.transaction() as session:
            if item.producer_id is not None:
                return bool(session.scalar(select(Producer.sandbox).where(Producer.id == item.producer_id)))
            # The low-stock alert is queued with the report in its key, not through ovop.messaging.notify.notify_staff.
            if item.dedupe_key.startswith("low-stock:report="):
                report_id = item.dedupe_key.split("=", 1)[1].split(":", 1)[0]
                if report_id.isdigit():
                    return bool(session.scalar(select(Producer.sandbox).join(
                        StockReport, StockReport.producer_id == Producer.id).where(StockReport.id == int(report_id))))
        return False

    def _unclaimed_sid(self, sids: list[str]) -> str | None:
        """The first of `sids` that no message of ours owns yet: the same text may have gone out before."""
        if not sids:
            return None
        with self.db.transaction() as session:
            known = set(session.scalars(select(Message.provider_sid).where(Message.provider_sid.in_(sids))))
        return next((sid for sid in sids if sid not in known), None)

    def _release(self, item: OutboxItem, why: str, not_before: datetime | None = None) -> str:
        """Hand a claimed item back to the queue unsent, as if it had not been claimed (the attempt is undone),
        due again at once or at `not_before`.

        An item that may already have gone keeps its error text, so whoever claims it next still looks it up.
        """
        later = {"not_before": not_before} if not_before is not None else {}
        try:
            with self.db.transaction() as session:
                session.execute(update(OutboxItem).where(OutboxItem.id == item.id, *self._mine())
                                .values(status=PENDING, claimed_by=None, claimed_at=None,
                                        attempts=OutboxItem.attempts - 1, **later))
        except OperationalError:
            log.warning("outbox item %s: not handed back (database away); its claim lapses instead", item.id)
        log.info("outbox item %s handed back unsent: %s", item.id, why)
        return RELEASED

    def _may_have_gone(self, item: OutboxItem) -> bool:
        """True when the last try ended without an answer (timeout, dropped connection, a sender stopped
        mid-call, a lookup that failed): Twilio may have it."""
        return (item.attempts > 1 and item.error_code is None and bool(item.last_error)
                and hasattr(self.transport, "find_sent"))

    def _recheck(self, item: OutboxItem) -> str | None:
        """What changed since the item was queued: a STOP, an erasure, a closed WhatsApp window.

        Returns the item's final status when it must not leave as it is; may move it to SMS instead.
        """
        if item.producer_id is None:
            return None
        now = clock.now()
        with self.db.transaction() as session:
            producer = session.get(Producer, item.producer_id)
            reason = None
            erased = producer is None or producer.deleted_at is not None or not producer.phone
            # The answer to a producer's own message leaves even after an opt-out: "you are unsubscribed" is one.
            if erased or (not producer.reachable and item.kind != "reply"):
                reason, status = ("recipient erased" if erased else "recipient opted out"), CANCELLED
            elif item.channel == "whatsapp" and not item.content_sid and not in_window(producer, now):
                # Free WhatsApp text outside the 24 h window would fail with 63016 (and may cost money).
                if getattr(self.transport, "can_send", lambda channel: True)("sms"):
                    item.channel, item.body = "sms", fold_gsm7(item.body or "")
                    session.execute(update(OutboxItem).where(OutboxItem.id == item.id, *self._mine())
                                    .values(channel="sms", body=item.body))
                else:
                    reason, status = "WhatsApp window closed and no SMS sender", UNDELIVERABLE
            if reason is None:
                if item.channel == "sms" and item.body and not item.content_sid \
                        and not costs.fits_one_segment(item.body):
                    self._cut(session, item)
                return None
            if not session.execute(update(OutboxItem).where(OutboxItem.id == item.id, *self._mine())
                                   .values(status=status, last_error=reason, claimed_by=None)).rowcount:
                return status  # taken over by another sender meanwhile: it judges the item itself
            session.add(OutboxAttempt(outbox_item_id=item.id, attempted_at=now, outcome=status, error=reason))
        log.info("outbox item %s not sent: %s", item.id, reason)
        return status

    def _cut(self, session: Session, item: OutboxItem) -> None:
        """A text that became SMS after it was queued (the WhatsApp window closed, or WhatsApp refused it) and is
        longer than one segment: this row sends the first numbered part, and the others are queued behind it
        under `…:part=N`, as ovop.messaging.notify queues the parts of a long SMS."""
        first, *rest = costs.sms_parts(item.body)
        item.body = first
        session.execute(update(OutboxItem).where(OutboxItem.id == item.id, *self._mine()).values(body=first))
        for number, part in enumerate(rest, start=2):
            enqueue(session, dedupe_key=f"{item.dedupe_key}:part={number}", kind=item.kind,
                    recipient=item.recipient, channel="sms", body=part, producer_id=item.producer_id)

    def _record_success(self, item: OutboxItem, sid: str, status: str, provider: str | None = None) -> None:
        """Record a send Twilio accepted; a database outage is waited out, never turned into a second send.

        If the record were lost the row would stay claimed and, once the claim lapsed, be looked up at Twilio
        by the next sender (found there, not sent again).
        """
        for attempt in range(RECORD_ATTEMPTS):
            try:
                return self._write_success(item, sid, status, provider)
            except OperationalError:
                if attempt == RECORD_ATTEMPTS - 1:
                    raise
                log.warning("outbox item %s sent as %s but not recorded yet (database away); retrying", item.id, sid)
                time.sleep(min(30.0, 0.5 * 2 ** attempt))

    def _write_success(self, item: OutboxItem, sid: str, status: str, provider: str | None = None) -> None:
        now = clock.now()
        with self.db.transaction() as session:
            taken = session.execute(update(OutboxItem).where(OutboxItem.id == item.id, *self._mine()).values(
                status=SENT, provider_sid=sid, sent_at=now, last_error=None, error_code=None)).rowcount
            if not taken:  # the claim lapsed and another sender holds the row: it finds `sid` at Twilio
                log.warning("outbox item %s sent as %s after its claim lapsed; left to the sender holding it",
                            item.id, sid)
                return
            session.add(OutboxAttempt(outbox_item_id=item.id, attempted_at=now, outcome=SENT, provider_sid=sid))
            sent = dict(channel=item.channel, provider_sid=sid, status=status, status_rank=RANK.get(status, 0),
                        updated_at=now)
            # Who carried it (no provider named: the console, as for a sandbox producer; the gateway's daily cap
            # counts its own), its SMS segments and encoding, and its estimated cost (ovop.messaging.costs).
            sent.update(costs.estimate(self.prices, provider=provider or costs.CONSOLE, channel=item.channel,
                                       kind=item.kind, body=item.body, template=bool(item.content_sid)).columns())
            # A reply queued with its message row (ovop.conversation.inbound) has that row filled in; anything
            # else gets its row now.
            if not session.execute(update(Message).where(Message.outbox_item_id == item.id)
                                   .values(**sent)).rowcount:
                session.add(Message(direction="out", phone=item.recipient, producer_id=item.producer_id,
                                    body=item.body or f"[template {item.content_sid}]", kind=item.kind,
                                    outbox_item_id=item.id, created_at=now, **sent))

    def _record_failure(self, item: OutboxItem, error: TransportError, *, looking_up: bool = False) -> str:
        """Record a try that failed; `looking_up`: the lookup failed, so whether Twilio has it is still unknown."""
        now = clock.now()
        retry = (looking_up or not error.permanent) and item.attempts < self.max_attempts
        status = PENDING if retry else FAILED
        text = f"looking it up at Twilio failed: {error}" if looking_up else str(error)
        values: dict[str, Any] = dict(status=status, last_error=text[:2000],
                                      error_code=None if looking_up else error.code, claimed_by=None)
        if retry:
            later = now + timedelta(seconds=backoff(item.attempts, rng=self.rng))
            at_night = self.quiet_until and item.kind not in AT_ANY_HOUR
            values["not_before"] = (self.quiet_until(later) if at_night else None) or later
        log.warning("outbox item %s attempt %s: %s (%s)", item.id, item.attempts, error,
                    "will retry" if retry else "given up")
        with self.db.transaction() as session:
            if not session.execute(update(OutboxItem).where(OutboxItem.id == item.id, *self._mine())
                                   .values(**values)).rowcount:
                return status  # the claim lapsed and another sender holds the row now
            session.add(OutboxAttempt(outbox_item_id=item.id, attempted_at=now, outcome="retry" if retry else FAILED,
                                      error_code=error.code, error=text[:2000]))
            if error.code == OPTED_OUT_CODE and item.producer_id:
                session.execute(update(Producer).where(Producer.id == item.producer_id)
                                .values(opted_out=True, opted_out_at=now))
        return status

    def run_once(self) -> int:
        """Claim and send one batch; returns how many items were handled.

        Twilio takes 100–300 ms to answer a call, so one call at a time could not keep 10 SMS a second:
        up to `in_flight` calls run at once, still paced by the same rate limiter. The batch's claims are
        renewed while it is being sent.
        """
        items = self.claim()
        if not items:
            return 0
        # One recipient's messages leave in the order they were queued (an alert before its cancellation).
        by_recipient: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_recipient.setdefault(item.recipient, []).append(item)
        queues = list(by_recipient.values())
        done = threading.Event()
        renewing = threading.Thread(target=self._renew_until, args=(done,), name="outbox-lease", daemon=True)
        renewing.start()
        try:
            if self.in_flight <= 1 or len(queues) <= 1:
                for queue in queues:
                    self._send_in_order(queue)
            else:
                with ThreadPoolExecutor(max_workers=min(self.in_flight, len(queues))) as pool:
                    list(pool.map(self._send_in_order, queues))
        finally:
            done.set()
            renewing.join()
            with self._held_lock:
                self._held.difference_update(item.id for item in items)
        return len(items)

    def _send_in_order(self, queue: list[OutboxItem]) -> None:
        for item in queue:
            self.send(item)

    def drain(self) -> Counter[str]:
        """Send what is due now, batch after batch, until nothing is left to claim or `stop` is set.

        Returns the outcomes of this drain: `sent` (of which `found`: already at Twilio, recorded, not sent
        again), `pending` (to retry later), `failed`, `cancelled`, `undeliverable`, `released` (handed back).
        """
        with self._counts_lock:
            before = Counter(self.counts)
        while not self.stop.is_set() and self.run_once():
            pass
        with self._counts_lock:
            return self.counts - before

    def run_forever(self, stop: threading.Event | None = None, idle_seconds: float = 1.0) -> None:
        """Drain the outbox until `stop` is set; a database outage pauses the loop instead of ending it.

        Once `stop` is set nothing more is claimed, what was claimed but not started is handed back, and
        the calls in flight finish and are recorded before this returns. `stop` defaults to `self.stop`;
        another event stands in for it while this runs.
        """
        previous, self.stop = self.stop, stop or self.stop
        try:
            self._loop(self.stop, idle_seconds)
        finally:
            self.stop = previous

    def _loop(self, stop: threading.Event, idle_seconds: float) -> None:
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception("outbox sender: batch failed; trying again shortly")
                handled = 0
                stop.wait(5)
            if not handled:
                stop.wait(idle_seconds)
