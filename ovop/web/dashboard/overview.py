"""Overview: each cooperative's stock of each product, with low and stale flags, a chart per product, and the
staff's correction of a level (the same rule as POST /api/v1/stock: ovop.domain.stock.correct)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from flask import redirect, request, url_for
from sqlalchemy import select

from ovop.web.dashboard.charts import Series, line_chart
from ovop.web.dashboard import (_, bp, database, form_number, form_value, lang, notice, number_text, page, problem, short_day)
from ovop.core import clock
from ovop.web import paging
from ovop.domain import schemas, stock
from ovop.core.errors import Refusal
from ovop.models import Cooperative, Product, StockReport
from ovop.language.formats import quantity_text

HISTORY = timedelta(days=90)
MAX_HISTORY_ROWS = 20_000
MAX_LINES = 6  # beyond this many cooperatives a product's chart shows their total instead
PAGE_SIZE = 100  # levels a page


def rows(session, now: datetime, window=None, attention: bool = False) -> list[stock.Level]:
    """One row per product each cooperative makes (or has reported), cooperatives by name, products by code;
    one page of them with a `window`; `attention` keeps the low or stale ones."""
    return stock.levels(session, now, order=stock.NAMED_LEVEL_KEYS, window=window, attention=attention)


def history(session, since: datetime) -> list[StockReport]:
    """The reports that made the levels since `since`, oldest first (the latest MAX_HISTORY_ROWS when more)."""
    return stock.standing_since(session, since, MAX_HISTORY_ROWS)


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
    return _page({})


@bp.post("/overview/stock")
def correct_stock():
    """The staff's correction of one level: a ledger line from staff, with an optional note."""
    try:
        fields = {"cooperative_id": form_number("cooperative_id", whole=True),
                  "product": form_value("product", 40) or None,
                  "quantity": form_number("quantity"), "note": form_value("note", schemas.MAX_NOTE) or None}
        with database().transaction() as session:
            done = stock.correct(session, fields, clock.now())
            words = {"cooperative": session.get(Cooperative, done.report.cooperative_id).name,
                     "product": done.product.name(lang()), "quantity": quantity_text(done.report.quantity),
                     "unit": done.report.unit}
    except Refusal as error:
        return _page(request.form, error, 422)
    notice("overview.corrected", **words)
    return redirect(url_for("dashboard.overview"))


def _page(form, error: Refusal | None = None, status: int = 200):
    now = clock.now()
    attention = request.args.get("attention") == "1"
    window, refused_link = paging.asked(stock.NAMED_LEVEL_KEYS, PAGE_SIZE)
    with database().transaction() as session:
        shown = rows(session, now, window, attention)
        # The correction form offers what has a level: the cooperatives and products of any row, not of this page.
        cooperatives = list(session.scalars(select(Cooperative).where(Cooperative.id.in_(
            select(stock.PAIRS.c.cooperative_id))).order_by(Cooperative.name, Cooperative.id)))
        products = list(session.scalars(select(Product).where(Product.id.in_(select(stock.PAIRS.c.product_id)))
                                        .order_by(Product.code)))
        names = {cooperative.id: cooperative.name for cooperative in cooperatives}
        counted = stock.tally(session, now)
        chosen = {"cooperative_id": form.get("cooperative_id") or request.args.get("cooperative_id") or "",
                  "product": form.get("product") or request.args.get("product") or "",
                  "quantity": form.get("quantity") or "", "note": form.get("note") or ""}
        return page("overview.html", status, rows=shown, attention=attention, charts=charts(session, now, names),
                    pager=paging.pager("dashboard.overview", shown, stock.NAMED_LEVEL_KEYS, window, refused_link,
                                       attention=1 if attention else None),
                    low=counted["low"], stale=counted["stale"], never=counted["never"],
                    stale_days=stock.STALE_AFTER.days,
                    cooperatives=cooperatives, products=products, form=chosen,
                    correcting=bool(error or request.args.get("product")),
                    error=problem(error) if error else None)
