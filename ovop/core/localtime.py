"""Local time for the service: its time zone (BOT_TIMEZONE) and the nightly quiet hours (QUIET_HOURS)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

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
