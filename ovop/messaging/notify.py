"""The one way a message the service starts on its own is queued (alerts, reminders, tips, broadcasts, staff alerts).

`notify` applies every rule, in this order, in the caller's transaction:
1. nobody who opted out or was erased is written to;
2. nothing leaves during the quiet hours (ovop.core.localtime): it waits for the morning, except the kinds in
   AT_ANY_HOUR (ovop.messaging.channels, which the sender reads too), news of the producer's own order;
3. the channel policy (ovop.messaging.channels) picks free WhatsApp text, a template, SMS, or "undeliverable";
4. the text is rendered in the producer's language and folded for the channel;
5. the outbox gets one row per dedupe key; a text sent by SMS fits one segment, or is cut into numbered parts
   ("1/2 …", "2/2 …") that each fit one and leave in order, queued once as a whole (see _parts).
Replies to a producer's message never come through here: the engine answers them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.core.localtime import earliest_send
from ovop.language.i18n import DEFAULT_LANGUAGE, for_channel, t
from ovop.messaging.channels import (AT_ANY_HOUR, NO_CHANNEL, UNDELIVERABLE, Route, content_variables, route,
                                     sms_ready)
from ovop.messaging import outbox
from ovop.messaging.costs import sms_parts
from ovop.messaging.outbox import PENDING, enqueue
from ovop.models import OutboxItem, Producer

# The later parts of a message cut into SMS parts are queued under its dedupe key + ":part=2", ":part=3"…
PART = ":part="


@dataclass(frozen=True)
class Notice:
    """What `notify` queued: the outbox row's status (pending, undeliverable, or later ones), its route, and
    whether this call added it (False: that dedupe key was already queued)."""

    status: str
    via: str
    channel: str
    added: bool = True


def reachable(producer: Producer) -> bool:
    """Whether the service may start a conversation with this producer at all."""
    return producer.reachable


def notify(session: Session, config: dict, producer: Producer, kind: str, *, dedupe_key: str, key: str,
           params: dict, now: datetime | None = None) -> Notice | None:
    """Queue message `key` for `producer` by the rules above, once per dedupe key.

    `params` must already be in the producer's language; their order is the order of a WhatsApp template's
    variables ({{1}}, {{2}}, …) when the channel policy picks one for `kind`. `now` is the moment judged (a job
    run "as if the clock said" passes its time). Returns None when the producer may not be written to;
    otherwise the outbox row's Notice: for a key already queued, the row that was there. Never commits.
    """
    if not reachable(producer):
        return None
    not_before = _not_before(config, kind, now)
    chosen, row = _route_and_render(config, producer, kind, dedupe_key, key, params, not_before, now)
    return _queue_parts(session, chosen, dedupe_key=dedupe_key, kind=kind, recipient=producer.phone,
                        producer_id=producer.id, body=row["body"], variables=row["content_variables"],
                        not_before=not_before)


def added(notice: Notice | None) -> int:
    """1 when `notify` added a row, else 0: what the jobs count."""
    return int(notice is not None and notice.added)


def prepare(config: dict, producer: Producer, kind: str, *, dedupe_key: str, key: str, params: dict,
            now: datetime | None = None) -> list[dict]:
    """The rows `notify` would queue (one, or one per SMS part; none when the producer may not be written to),
    for a fan-out that queues many at once with `queue_prepared`."""
    if not reachable(producer):
        return []
    not_before = _not_before(config, kind, now)
    chosen, row = _route_and_render(config, producer, kind, dedupe_key, key, params, not_before, now)
    if chosen.via == UNDELIVERABLE:
        row.update(status=UNDELIVERABLE, last_error=NO_CHANNEL)
    return [{**row, "dedupe_key": part_key, "body": body} for part_key, body in _parts(chosen, dedupe_key, row["body"])]


def queue_prepared(session: Session, rows: list[dict]) -> set[str]:
    """Queue what `prepare` gave, a few statements for thousands; returns the dedupe keys of the messages added.

    First parts first: the later parts of a message are queued only when its first part was (a message queued
    whole before and split now, or the other way round, is still queued once).
    """
    first = [row for row in rows if PART not in row["dedupe_key"]]
    added = outbox.enqueue_many(session, first)
    later = [row for row in rows if PART in row["dedupe_key"] and row["dedupe_key"].split(PART)[0] in added]
    if later:
        outbox.enqueue_many(session, later)
    return added


def withdraw(session: Session, dedupe_key_prefix: str, reason: str) -> int:
    """Cancel what is still waiting under keys starting with the prefix (a reminder for a seat given up)."""
    return outbox.withdraw(session, OutboxItem.dedupe_key.startswith(dedupe_key_prefix), reason)


def withdraw_all_to(session: Session, producer_id: int, number: str | None, reason: str) -> int:
    """Cancel everything still waiting for a producer, by id or by number (an erasure)."""
    to_them = OutboxItem.producer_id == producer_id
    if number:
        to_them = or_(to_them, OutboxItem.recipient == number)
    return outbox.withdraw(session, to_them, reason)


def _not_before(config: dict, kind: str, now: datetime | None) -> datetime | None:
    """When the message may leave: None (at once), or the end of the quiet hours `now` falls in.

    Quiet hours are judged at `now`, which `jobs run --at` may set apart from the clock; the wait they impose is
    counted from the real clock, so the running sender never waits for a pretended time.
    """
    if kind in AT_ANY_HOUR:
        return None
    judged = now or clock.now()
    wait = earliest_send(judged, config) - judged
    return clock.now() + wait if wait > timedelta(0) else None


def _route_and_render(config, producer, kind, dedupe_key, key, params, not_before, now) -> tuple[Route, dict]:
    at = not_before or now or clock.now()
    chosen = route(config, producer, kind, at)
    text = t(key, producer.language or DEFAULT_LANGUAGE, **params)
    return chosen, {"dedupe_key": dedupe_key, "kind": kind, "recipient": producer.phone, "channel": chosen.channel,
                    "body": for_channel(text, chosen.channel), "content_sid": chosen.content_sid,
                    "content_variables": content_variables(params) if chosen.content_sid else None,
                    "producer_id": producer.id, "not_before": not_before}


def notify_staff(session: Session, config: dict, kind: str, dedupe_key: str, key: str, params: dict, *,
                 about: Producer | None = None) -> int:
    """Queue a short French SMS to each of STAFF_PHONES; returns how many rows this call added.

    `about`: the producer whose action the alert reports. Erasing them rewrites the alert, and when they are a
    sandbox producer the alert is written to the message table, never sent through a provider.
    """
    chosen = Route("sms", "sms") if sms_ready(config) else Route(UNDELIVERABLE, "sms")
    body = for_channel(t(key, DEFAULT_LANGUAGE, **params), "sms")
    added = 0
    for phone in config["STAFF_PHONES"]:
        row_key = f"{dedupe_key}:to={phone}"
        notice = _queue_parts(session, chosen, dedupe_key=row_key, kind=kind, recipient=phone,
                              producer_id=None, body=body, variables=None, not_before=None)
        if notice.added and about is not None:
            session.execute(update(OutboxItem)
                            .where(or_(OutboxItem.dedupe_key == row_key,
                                       OutboxItem.dedupe_key.startswith(row_key + PART)))
                            .values(about_producer_id=about.id, sandbox=bool(about.sandbox))
                            .execution_options(synchronize_session=False))
        added += notice.added
    return added


def _parts(chosen: Route, dedupe_key: str, body: str | None) -> list[tuple[str, str | None]]:
    """(dedupe key, text) of each outbox row for one message: a text the service sends by SMS fits one segment,
    or is cut into numbered parts that each fit one (ovop.messaging.costs.sms_parts). The first part keeps the
    message's own key, the others add ":part=2", ":part=3"…, so the unique key of the first decides for all."""
    if chosen.channel != "sms" or chosen.via == UNDELIVERABLE or not body:
        return [(dedupe_key, body)]
    return [(dedupe_key if number == 1 else f"{dedupe_key}{PART}{number}", text)
            for number, text in enumerate(sms_parts(body), start=1)]


def _queue_parts(session: Session, chosen: Route, *, dedupe_key: str, body: str | None, **row) -> Notice:
    """Queue a message as one row, or as its SMS parts in order; the Notice is the first part's. The later
    parts are queued only when the first was (see _parts)."""
    parts = _parts(chosen, dedupe_key, body)
    notice = _queue(session, chosen, dedupe_key=dedupe_key, body=parts[0][1], **row)
    if notice.added:
        for part_key, text in parts[1:]:
            _queue(session, chosen, dedupe_key=part_key, body=text, **row)
    return notice


def _queue(session: Session, chosen: Route, *, dedupe_key: str, kind: str, recipient: str,
           producer_id: int | None, body: str, variables: dict | None, not_before: datetime | None) -> Notice:
    """Enqueue one row; an undeliverable one is kept for the staff with the reason, and never claimed."""
    added = enqueue(session, dedupe_key=dedupe_key, kind=kind, recipient=recipient, channel=chosen.channel,
                    body=body, content_sid=chosen.content_sid, content_variables=variables,
                    producer_id=producer_id, not_before=not_before)
    if added and chosen.via == UNDELIVERABLE:
        session.execute(update(OutboxItem)
                        .where(OutboxItem.dedupe_key == dedupe_key, OutboxItem.status == PENDING)
                        .values(status=UNDELIVERABLE, last_error=NO_CHANNEL)
                        .execution_options(synchronize_session=False))
    if added:
        return Notice(status=UNDELIVERABLE if chosen.via == UNDELIVERABLE else PENDING, via=chosen.via,
                      channel=chosen.channel)
    row = session.scalar(select(OutboxItem).where(OutboxItem.dedupe_key == dedupe_key))
    via = UNDELIVERABLE if row.status == UNDELIVERABLE else "template" if row.content_sid else row.channel
    return Notice(status=row.status, via=via, channel=row.channel, added=False)
