"""Messages the service starts on its own (reminders, tips, broadcasts, a freed seat): the rules they obey.

Every such message goes through `notify`: nobody who opted out or was erased is written to, nothing leaves
during quiet hours (it waits for the morning instead), the channel policy picks how it may reach the producer,
and the outbox gets it under a dedupe key, in the caller's transaction. Replies never come through here.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.messaging import policy
from ovop.models import Producer

DEFAULT_TIMEZONE = "Africa/Dakar"
DEFAULT_QUIET_HOURS = "21:00-07:00"


def timezone_of(config: dict) -> ZoneInfo:
    """The service's local time zone (BOT_TIMEZONE)."""
    return ZoneInfo((config or {}).get("BOT_TIMEZONE") or DEFAULT_TIMEZONE)


def parse_hhmm(value: str) -> time:
    """'07:00' -> time(7, 0); ValueError for anything else."""
    hours, _, minutes = value.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"not a time of day (HH:MM): {value!r}")
    return time(int(hours), int(minutes))


def quiet_hours(config: dict) -> tuple[time, time] | None:
    """(start, end) of the nightly silence from QUIET_HOURS ("21:00-07:00"); None when set to "" or "off"."""
    spec = (config or {}).get("QUIET_HOURS", DEFAULT_QUIET_HOURS)
    if not spec or str(spec).lower() == "off":
        return None
    start, _, end = str(spec).partition("-")
    return parse_hhmm(start), parse_hhmm(end)


def quiet_until(now: datetime, config: dict) -> datetime | None:
    """The end of the quiet hours `now` falls in (the next 07:00 local, in UTC), or None outside them."""
    hours = quiet_hours(config)
    if hours is None:
        return None
    start, end = hours
    local = now.astimezone(timezone_of(config))
    moment = local.time().replace(tzinfo=None)
    quiet = (moment >= start or moment < end) if start > end else (start <= moment < end)
    if not quiet:
        return None
    morning = datetime.combine(local.date(), end, tzinfo=local.tzinfo)
    if morning <= local:
        morning += timedelta(days=1)
    return morning.astimezone(timezone.utc)


def earliest_send(now: datetime, config: dict) -> datetime:
    """When a message started at `now` may leave: now, or the end of the quiet hours."""
    return quiet_until(now, config) or now


def reachable(producer: Producer) -> bool:
    """Whether the service may start a conversation with this producer at all."""
    return producer.reachable


def notify(session: Session, producer: Producer, *, kind: str, dedupe_key: str, key: str, params: dict,
           now: datetime, config: dict) -> bool:
    """Queue message `key` for `producer` unless they may not be written to; True when this call added it.

    `params` must already be in the producer's language; their order is the order of a WhatsApp template's
    variables ({{1}}, {{2}}, …) when the channel policy picks one for `kind`.
    """
    if not reachable(producer):
        return False
    # Quiet hours are judged at `now`, which `jobs run --at` may set apart from the clock; the wait they
    # impose is kept but counted from the real clock, so the running sender never waits for a pretended time.
    wait = earliest_send(now, config) - now
    leave_at = clock.now() + wait if wait > timedelta(0) else None
    return _enqueue_by_policy(session, producer, kind=kind, dedupe_key=dedupe_key, key=key, params=params,
                              now=now, config=config, not_before=leave_at)


def prepare(producer: Producer, *, kind: str, dedupe_key: str, key: str, params: dict, now: datetime,
            config: dict) -> dict | None:
    """The row `notify` would queue, for a fan-out that inserts many at once (ovop.messaging.outbox.enqueue_many)."""
    if not reachable(producer):
        return None
    wait = earliest_send(now, config) - now
    leave_at = clock.now() + wait if wait > timedelta(0) else None
    return policy.outbox_row(config, producer, kind, dedupe_key, key, params, not_before=leave_at, now=now)


def _enqueue_by_policy(session: Session, producer: Producer, *, kind: str, dedupe_key: str, key: str,
                       params: dict, now: datetime, config: dict, not_before: datetime | None) -> bool:
    """The one call into the channel policy (bot/policy.py): WhatsApp text, template, SMS or undeliverable."""
    notice = policy.notify(session, config, producer, kind, dedupe_key, key, params, not_before=not_before,
                           now=now)
    return notice is not None and notice.added
