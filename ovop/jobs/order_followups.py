"""Order follow-ups, run by the scheduler: expire orders past their due date, remind the silent once after 24 h.

Running it twice for the same moment adds nothing: each reminder has its dedupe key
(`order-reminder:order=12:producer=7`) and the alert row remembers when it was reminded. Reminders go through
ovop.messaging.notify like every scheduled message, so one due at night waits for the end of the quiet hours.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ovop.core import clock
from ovop.domain import orders
from ovop.core.db import Database
from ovop.language.i18n import DEFAULT_LANGUAGE, mark
from ovop.models import Order, OrderNotification
from ovop.messaging.notify import added as queued, notify, reachable

log = logging.getLogger(__name__)


def run(session_or_db: Session | Database, config: dict, now: datetime | None = None) -> int:
    """Do what is due at `now`; returns how many reminders were queued. A Database gets its own transaction."""
    now = now or clock.now()
    if isinstance(session_or_db, Database):
        with session_or_db.transaction() as session:
            return _run(session, config, now)
    return _run(session_or_db, config, now)


def _run(session: Session, config: dict, now: datetime) -> int:
    today = orders.local_today(config, now)
    late = session.scalars(select(Order).where(Order.status == orders.PENDING, Order.due_date < today))
    expired = sum(orders.expire(session, order, now) for order in late.all())
    silent = session.scalars(
        select(OrderNotification).join(Order)
        .where(Order.status == orders.PENDING, OrderNotification.answer.is_(None),
               OrderNotification.reminded_at.is_(None), OrderNotification.notified_at.is_not(None),
               OrderNotification.notified_at <= now - orders.REMIND_AFTER)
        .options(selectinload(OrderNotification.order), selectinload(OrderNotification.producer))
        .order_by(OrderNotification.id)).all()
    reminded = 0
    for note in silent:
        producer, order = note.producer, note.order
        several = len(orders.pending_refs(session, producer)) > 1
        if not reachable(producer):  # opted out since the alert: reminded if they come back in time
            continue
        reminded += queued(notify(
            session, config, producer, "order_reminder", dedupe_key=f"order-reminder:order={order.id}:producer="
            f"{producer.id}", key=mark("order.reminder_ref") if several else mark("order.reminder"),
            params={**orders.params(order, producer.language or DEFAULT_LANGUAGE, config),
                    **orders.button_payloads(order)}, now=now))
        note.reminded_at = now
    if expired or reminded:
        log.info("order follow-ups at %s: %s expired, %s reminders queued", now.isoformat(), expired, reminded)
    return reminded
