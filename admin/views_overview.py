"""Overview: each cooperative's stock of each product, with low and stale flags and a chart per product."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from admin.charts import Series, line_chart
from admin.dashboard import _, bp, database, lang, number_text, page, short_day
from bot import clock
from bot.models import Cooperative, Product, StockReport
# The ledger's own rule for which lines count (not an undo, not undone): one definition, shared with level().
from bot.stock import STALE_AFTER, _standing as standing

HISTORY = timedelta(days=90)
MAX_HISTORY_ROWS = 20_000
MAX_LINES = 6  # beyond this many cooperatives a product's chart shows their total instead


@dataclass(frozen=True)
class Level:
    cooperative: Cooperative
    product: Product
    report: StockReport | None
    low: bool
    stale: bool


def levels(session) -> dict[tuple[int, int], StockReport]:
    """The current level of every (cooperative, product) in one query: the latest standing report of each."""
    ranked = (select(StockReport.id, func.row_number().over(
        partition_by=(StockReport.cooperative_id, StockReport.product_id),
        order_by=(StockReport.reported_at.desc(), StockReport.id.desc())).label("rank"))
        .where(standing()).subquery())
    latest = session.scalars(select(StockReport).join(ranked, ranked.c.id == StockReport.id).where(ranked.c.rank == 1))
    return {(report.cooperative_id, report.product_id): report for report in latest}


def history(session, since: datetime) -> list[StockReport]:
    """Standing reports since `since`, oldest first (the latest MAX_HISTORY_ROWS when there are more)."""
    rows = list(session.scalars(select(StockReport).where(standing(), StockReport.reported_at >= since)
                                .order_by(StockReport.reported_at.desc(), StockReport.id.desc())
                                .limit(MAX_HISTORY_ROWS)))
    return rows[::-1]


def rows(session, now: datetime) -> list[Level]:
    """One row per product each cooperative makes (or has reported), cooperatives by name."""
    current = levels(session)
    products = {product.id: product for product in session.scalars(select(Product))}
    found = []
    for cooperative in session.scalars(select(Cooperative).options(selectinload(Cooperative.products))
                                       .order_by(Cooperative.name)):
        product_ids = [product.id for product in cooperative.products]
        product_ids += sorted(pid for coop_id, pid in current if coop_id == cooperative.id and pid not in product_ids)
        for product_id in product_ids:
            product, report = products[product_id], current.get((cooperative.id, product_id))
            found.append(Level(cooperative, product, report,
                               low=report is not None and report.quantity < (product.low_stock_threshold or 0),
                               stale=report is None or report.reported_at < now - STALE_AFTER))
    return found


def _total(lines: dict[str, list[tuple[datetime, float]]]) -> list[tuple[datetime, float]]:
    """The sum of several step lines, as one step line."""
    events = sorted((moment, name, value) for name, points in lines.items() for moment, value in points)
    current: dict[str, float] = {}
    total = []
    for moment, name, value in events:
        current[name] = value
        total.append((moment, sum(current.values())))
    return total


def charts(session, now: datetime, cooperatives: dict[int, str]) -> list[tuple[Product, object]]:
    """(product, SVG) for each product with reports in the last HISTORY days."""
    by_product: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for report in history(session, now - HISTORY):
        by_product[report.product_id][cooperatives.get(report.cooperative_id, "?")].append(
            (report.reported_at, report.quantity))
    drawn = []
    for product in session.scalars(select(Product).where(Product.id.in_(list(by_product))).order_by(Product.code)):
        lines = by_product[product.id]
        series = ([Series(name, points) for name, points in sorted(lines.items())] if len(lines) <= MAX_LINES
                  else [Series(_("overview.total"), _total(lines))])
        title = _("overview.chart_title", product=product.name(lang()), unit=product.unit)
        drawn.append((product, line_chart(series, title=title, end=now, step=True, value_text=number_text,
                                          moment_text=short_day)))
    return drawn


@bp.get("/overview")
def overview():
    """Stock across cooperatives; `?attention=1` keeps the rows that need a look."""
    now = clock.now()
    attention = request.args.get("attention") == "1"
    with database().transaction() as session:
        found = rows(session, now)
        shown = [row for row in found if row.low or row.stale] if attention else found
        names = {row.cooperative.id: row.cooperative.name for row in found}
        return page("overview.html", rows=shown, attention=attention, charts=charts(session, now, names),
                    low=sum(row.low for row in found), stale=sum(row.stale and row.report is not None for row in found),
                    never=sum(row.report is None for row in found), stale_days=STALE_AFTER.days)
