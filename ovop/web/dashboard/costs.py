"""Costs: what the messages sent in the last 8 weeks cost, per week, per kind and per cooperative.

Each outbound message carries its estimate (ovop.messaging.costs, recorded when it was sent); this page only
adds them up. A message MESSAGE_PRICES had no price for is counted apart, never priced by a guess.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ovop.core import clock
from ovop.models import Cooperative, Message, Producer
from ovop.web.dashboard import _, bp, database, number_text, page, short_day, timezone_name
from ovop.web.dashboard.charts import Series, line_chart

WEEKS = 8
PRICES_EXAMPLE = '{"sms": {"twilio": 40, "smsgate": 15}, "whatsapp": {"utility": 10, "marketing": 30, "service": 0}}'


@dataclass
class Tally:
    """Messages, SMS segments, the cost of those with a price, and how many had none."""

    messages: int = 0
    segments: int = 0
    cost: float = 0.0
    unknown: int = 0

    def add(self, segments: int | None, cost: float | None) -> None:
        self.messages += 1
        self.segments += segments or 0
        if cost is None:
            self.unknown += 1
        else:
            self.cost += cost


def week_start(moment: datetime, tz: ZoneInfo) -> datetime:
    """Monday 00:00, local time, of the week `moment` falls in."""
    local = moment.astimezone(tz)
    return datetime.combine(local.date() - timedelta(days=local.weekday()), time(), tzinfo=tz)


def tallies(session, now: datetime, tz: ZoneInfo) -> dict:
    """{"weeks": [(monday, Tally)] oldest first, "kinds": {kind: Tally}, "cooperatives": {name|None: Tally},
    "total": Tally} over the outbound messages of the last WEEKS weeks (this one included)."""
    first = week_start(now, tz) - timedelta(weeks=WEEKS - 1)
    weeks = {first + timedelta(weeks=n): Tally() for n in range(WEEKS)}
    kinds: dict[str, Tally] = {}
    cooperatives: dict[str | None, Tally] = {}
    total = Tally()
    sent = (select(Message.created_at, Message.kind, Message.segments, Message.cost, Cooperative.name)
            .outerjoin(Producer, Producer.id == Message.producer_id)
            .outerjoin(Cooperative, Cooperative.id == Producer.cooperative_id)
            .where(Message.direction == "out", Message.created_at >= first))
    for created_at, kind, segments, cost, cooperative in session.execute(sent):
        for tally in (weeks.setdefault(week_start(created_at, tz), Tally()), kinds.setdefault(kind or "other", Tally()),
                      cooperatives.setdefault(cooperative, Tally()), total):
            tally.add(segments, cost)
    return {"weeks": sorted(weeks.items()), "total": total,
            "kinds": dict(sorted(kinds.items(), key=lambda item: -item[1].cost)),
            "cooperatives": dict(sorted(cooperatives.items(), key=lambda item: (-item[1].cost, item[0] or "")))}


@bp.app_template_filter("fcfa")
def money(amount: float | None) -> str:
    """An estimate in F CFA the local way, e.g. "1 520 F CFA" (cents kept when there are some)."""
    return "" if amount is None else f"{number_text(round(amount, 2))}\u00a0F\u202fCFA"


@bp.get("/costs")
def costs():
    now, tz = clock.now(), ZoneInfo(timezone_name())
    with database().transaction() as session:
        found = tallies(session, now, tz)
    chart = line_chart([Series(_("costs.per_week"), [(monday, tally.cost) for monday, tally in found["weeks"]])],
                       title=_("costs.chart_title"), value_text=number_text, moment_text=short_day)
    return page("costs.html", **found, chart=chart, weeks_shown=WEEKS, money=money,
                priced=bool(current_app.config.get("MESSAGE_PRICES")), example=PRICES_EXAMPLE)
