"""Prices: enter what a product sold for, and see each product's history as a table and a chart."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timezone

from flask import current_app, redirect, request, url_for

from ovop.web.dashboard.charts import Series, line_chart
from ovop.web.dashboard import (_, bp, database, form_number, form_value, lang, notice, number_text, page, problem, short_day)
from ovop.core import clock, keyset
from ovop.web import paging
from ovop.domain import directory, prices
from ovop.core.errors import Refusal
from ovop.models import PriceObservation
from ovop.core.localtime import timezone_of

MAX_HISTORY = 500  # observations drawn in the chart
PAGE_SIZE = 50  # observations a page of the table


def _today():
    return clock.now().astimezone(timezone_of(current_app.config)).date()


def _chart(product, observations: list[PriceObservation]):
    """One line per market (and unit), oldest first."""
    lines: dict[str, list] = defaultdict(list)
    for observation in sorted(observations, key=lambda o: (o.observed_on, o.id)):
        noon = datetime.combine(observation.observed_on, time(12), tzinfo=timezone.utc)
        lines[f"{observation.market} ({observation.unit})"].append((noon, observation.price))
    return line_chart([Series(name, points) for name, points in sorted(lines.items())],
                      title=_("prices.chart_title", product=product.name(lang())), from_zero=False,
                      value_text=number_text, moment_text=short_day, width=560)


def _page(form: dict, error: Refusal | None = None, status: int = 200):
    with database().transaction() as session:
        products = directory.products(session)
        wanted = (request.args.get("product") or form.get("product") or "")[:40]
        chosen = directory.product(session, wanted) if wanted else None
        quotes = [(product, prices.quote(session, product, prices.market_of(current_app.config)))
                  for product in products]
        if chosen is None:
            chosen = next((product for product, quote in quotes if quote), products[0] if products else None)
        window, refused_link = paging.asked(prices.OBSERVATION_KEYS, PAGE_SIZE)
        history = prices.observations(session, product=chosen.code, window=window) if chosen else keyset.Page()
        drawn = prices.observations(session, product=chosen.code, window=keyset.Window(MAX_HISTORY)) \
            if chosen else []
        return page("prices.html", status, products=products, quotes=quotes, chosen=chosen, history=history,
                    pager=paging.pager("dashboard.prices", history, prices.OBSERVATION_KEYS, window, refused_link,
                                       product=chosen.code if chosen else None),
                    chart=_chart(chosen, drawn) if drawn else None, form=form,
                    error=problem(error) if error else None, today=_today(),
                    market=prices.market_of(current_app.config))


@bp.get("/prices", endpoint="prices")
def prices_page():
    return _page({})


@bp.post("/prices")
def record_price():
    try:
        fields = {"product": form_value("product", 40) or None, "price": form_number("price", whole=True),
                  "unit": form_value("unit", 40) or None, "market": form_value("market", 200) or None,
                  "observed_on": form_value("observed_on", 20) or None}
        with database().transaction() as session:
            observation = prices.record(session, fields, _today(), market=prices.market_of(current_app.config))
            code = observation.product.code
    except Refusal as error:
        return _page(request.form, error, 422)
    notice("prices.recorded")
    return redirect(url_for("dashboard.prices", product=code))
