"""Local time for the service: its time zone (BOT_TIMEZONE), the nightly quiet hours (QUIET_HOURS) and weekly slots
("mon 08:00"). The specs are parsed here, once at start by the settings (ovop.core.config) and again where used."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def timezone_of(config: dict) -> ZoneInfo:
    """The service's local time zone (BOT_TIMEZONE)."""
    return ZoneInfo(config["BOT_TIMEZONE"])


def parse_hhmm(value: str) -> time:
    """'07:00' -> time(7, 0); ValueError for anything else."""
    hours, _, minutes = value.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"not a time of day (HH:MM): {value!r}")
    return time(int(hours), int(minutes))


def quiet_window(spec: str) -> tuple[time, time] | None:
    """"21:00-07:00" -> (time(21, 0), time(7, 0)); None for "off"; ValueError for anything else."""
    if spec.strip().lower() == "off":
        return None
    start, dash, end = spec.partition("-")
    window = parse_hhmm(start), parse_hhmm(end)
    if not dash or window[0] == window[1]:
        raise ValueError(f"not two different times of day (HH:MM-HH:MM): {spec!r}")
    return window


def quiet_hours(config: dict) -> tuple[time, time] | None:
    """(start, end) of the nightly silence (QUIET_HOURS), or None when it is off."""
    return quiet_window(config["QUIET_HOURS"])


def weekly(spec: str) -> tuple[int, time]:
    """"mon 08:00" -> (0, time(8, 0)); ValueError for anything else."""
    day, _, at = spec.strip().lower().partition(" ")
    if day[:3] not in WEEKDAYS:
        raise ValueError(f"not a weekly schedule like 'mon 08:00': {spec!r}")
    return WEEKDAYS.index(day[:3]), parse_hhmm(at)


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
