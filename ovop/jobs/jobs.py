"""Scheduled jobs: each finds what is due at `now` and enqueues it in the outbox under a dedupe key; none sends.

A job is a plain function ``run(db, config, now) -> int`` (how many outbox items this run added), so the
worker, `flask jobs run NAME --at ISO` and the tests call the same code. Running a job twice for the same slot,
or two schedulers at once, adds nothing the second time: the outbox's unique dedupe key decides.

| job                | when (default)                 | dedupe key                                    |
|--------------------|--------------------------------|-----------------------------------------------|
| workshop-reminders | every 5 min                    | reminder:workshop=12:producer=7:d-2           |
| price-tips         | weekly, mon 08:00 local        | price-tip:2026-W49:producer=7                 |
| stock-reminders    | weekly, fri 10:00 local        | stock-reminder:2026-W49:producer=7            |
| broadcasts         | every 5 min                    | broadcast:5:producer=7                        |
| order-followups    | every 5 min (orders' module)   | its own                                       |
| media-fetch        | every minute                   | none: it downloads media, it sends nothing    |
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from ovop.domain import broadcasts as broadcasting
from ovop.domain import prices, workshops
from ovop.jobs import media as media_job
from ovop.core.db import Database
from ovop.language.i18n import mark
from ovop.models import Cooperative, Producer, StockReport
from ovop.core.localtime import WEEKDAYS, earliest_send, timezone_of, weekly
from ovop.messaging.notify import added as queued, notify, prepare, queue_prepared

STOCK_REPORT_FRESH = timedelta(days=6)


@dataclass(frozen=True)
class Job:
    """A named job, its function, and when the worker runs it."""

    name: str
    run: Callable[[Database, dict, datetime], int]
    summary: str
    schedule: Callable[[dict], str]
    counted: str = "message(s) enqueued"  # what run() counts, as `jobs run` says it

    def trigger(self, config: dict) -> BaseTrigger:
        """The APScheduler trigger for this job's schedule ("every 5 min" or "mon 08:00")."""
        spec, tz = self.schedule(config), timezone_of(config)
        if spec.startswith("every "):
            return IntervalTrigger(minutes=int(spec.split()[1]), timezone=tz)
        weekday, at = weekly(spec)
        return CronTrigger(day_of_week=WEEKDAYS[weekday], hour=at.hour, minute=at.minute, timezone=tz)


# --- weekly slots -------------------------------------------------------------------------------------------

def latest_slot(now: datetime, spec: str, config: dict) -> datetime:
    """The most recent weekly slot at or before `now`, in UTC."""
    weekday, at = weekly(spec)
    local = now.astimezone(timezone_of(config))
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = datetime.combine(day, at, tzinfo=local.tzinfo)
    if slot > local:
        slot -= timedelta(days=7)
    return slot.astimezone(timezone.utc)


def due_slot(now: datetime, spec: str, config: dict) -> datetime | None:
    """This week's slot while it is due (within the catch-up window), else None."""
    slot = latest_slot(now, spec, config)
    # A worker restarted late catches up within WEEKLY_WINDOW_HOURS; later, it waits for next week rather than
    # sending Monday's tip on a Wednesday.
    window = timedelta(hours=config["WEEKLY_WINDOW_HOURS"])
    return slot if now - slot < window else None


def week_label(slot: datetime, config: dict) -> str:
    """2026-W49: the ISO week of the slot's local date."""
    year, week, _ = slot.astimezone(timezone_of(config)).isocalendar()
    return f"{year}-W{week:02d}"


def _producers():
    """Producers who may be written to, with what they make loaded in bulk; sandbox producers are left out."""
    return (select(Producer)
            .where(Producer.reachable, Producer.sandbox.is_(False))
            .options(selectinload(Producer.products),
                     selectinload(Producer.cooperative).selectinload(Cooperative.products))
            .order_by(Producer.id))


# --- the jobs ---------------------------------------------------------------------------------------------

def workshop_reminders(db: Database, config: dict, now: datetime) -> int:
    """Remind producers holding a seat of a workshop whose reminder time has come (the latest one only)."""
    added = 0
    with db.transaction() as session:
        for item, label, due_at in workshops.due_reminders(session, now, config):
            if earliest_send(now, config) >= item.starts_at:
                continue  # quiet hours last until after the start: a reminder then would only confuse
            for registration in workshops.holding_seat_at(session, item, due_at):
                producer = registration.producer
                added += queued(notify(session, config, producer, "workshop_reminder", key=mark("workshop.reminder"),
                                params=workshops.details(item, producer.language or "fr", config),
                                dedupe_key=f"reminder:workshop={item.id}:producer={producer.id}:{label}",
                                now=now))
    return added


def price_tips(db: Database, config: dict, now: datetime) -> int:
    """Send each producer the week's boutique prices of what they make, once per week."""
    slot = due_slot(now, config["PRICE_TIP_SCHEDULE"], config)
    if slot is None:
        return 0
    week, market, rows = week_label(slot, config), prices.market_of(config), []
    with db.transaction() as session:
        cache: dict = {}
        for producer in session.scalars(_producers()):
            lines = prices.tip_lines(session, producer, market, cache)
            if lines:
                rows.extend(prepare(config, producer, "price_tip", key=mark("price.tip"), params={"lines": lines},
                                    dedupe_key=f"price-tip:{week}:producer={producer.id}", now=now))
        # One statement per few hundred producers: a network of 100 000 is queued in seconds, still once.
        return len(queue_prepared(session, rows))


def stock_reminders(db: Database, config: dict, now: datetime) -> int:
    """Ask for a stock report from producers whose cooperative reported nothing in the past week."""
    slot = due_slot(now, config["STOCK_REMINDER_SCHEDULE"], config)
    if slot is None:
        return 0
    week, added = week_label(slot, config), 0
    recent = exists().where(StockReport.cooperative_id == Producer.cooperative_id,
                            StockReport.reported_at >= slot - STOCK_REPORT_FRESH)
    with db.transaction() as session:
        for producer in session.scalars(_producers().where(Producer.cooperative_id.is_not(None), ~recent)):
            made = producer.makes
            if not made:
                continue
            lang = producer.language or "fr"
            added += queued(notify(session, config, producer, "stock_reminder", key=mark("reminder.stock"),
                            params={"product": made[0].name(lang)},
                            dedupe_key=f"stock-reminder:{week}:producer={producer.id}", now=now))
    return added


def broadcasts(db: Database, config: dict, now: datetime) -> int:
    """Enqueue the staff's broadcasts whose send time has come."""
    added = 0
    with db.transaction() as session:
        for broadcast in broadcasting.due(session, now):
            added += broadcasting.enqueue(session, broadcast, now, config)
    return added


# --- the registry -----------------------------------------------------------------------------------------

def _every(config: dict) -> str:
    return f"every {config['SCHEDULER_INTERVAL_MINUTES']} min"


def registry() -> dict[str, Job]:
    """Every job by name, in the order `jobs list` shows them; order-followups when its module exists."""
    jobs = [
        Job("workshop-reminders", workshop_reminders, "workshop reminders whose time has come", _every),
        Job("price-tips", price_tips, "the weekly boutique prices of each producer's products",
            lambda config: config["PRICE_TIP_SCHEDULE"]),
        Job("stock-reminders", stock_reminders, "ask for stock from cooperatives silent for a week",
            lambda config: config["STOCK_REMINDER_SCHEDULE"]),
        Job("broadcasts", broadcasts, "staff broadcasts whose send time has come", _every),
        Job("media-fetch", media_job.run, "fetch the photos and voice notes producers sent into MEDIA_DIR",
            lambda config: "every 1 min", counted="file(s) stored"),
    ]
    try:
        followups = importlib.import_module("ovop.jobs.order_followups")
    except ModuleNotFoundError as error:
        if error.name != "ovop.jobs.order_followups":
            raise
    else:
        jobs.append(Job("order-followups", followups.run, "expire overdue orders, remind silent producers once",
                        _every))
    return {job.name: job for job in jobs}
