"""Price observations in the staff API: what a product sold for, where and when (whole F CFA)."""
from __future__ import annotations

from flask import current_app

from ovop.web import paging
from ovop.web.api import bp, database, json_body, query
from ovop.core import clock
from ovop.domain import prices, schemas
from ovop.models import PriceObservation
from ovop.core.localtime import timezone_of


def price_json(observation: PriceObservation) -> dict:
    """An observation as the API shows it."""
    return {"id": observation.id, "product": observation.product.code, "price": observation.price,
            "unit": observation.unit, "market": observation.market,
            "observed_on": observation.observed_on.isoformat(), "created_at": observation.created_at.isoformat()}


@bp.post("/prices")
def create_price():
    """{"product": "yaourt", "price": 500, "unit": "pot", "market": …, "observed_on": "2026-12-07"}."""
    config = current_app.config
    today = clock.now().astimezone(timezone_of(config)).date()
    with database().transaction() as session:
        observation = prices.record(session, json_body(), today, market=prices.market_of(config))
        answer = price_json(observation)
    return answer, 201


@bp.get("/prices")
def list_prices():
    """Observations newest first, a page at a time; `?product=&market=` narrow them."""
    filters = query(schemas.PriceQuery)
    window = paging.window(prices.OBSERVATION_KEYS)
    with database().transaction() as session:
        found = prices.observations(session, product=filters.product, market=filters.market, window=window)
        return paging.answer(found, prices.OBSERVATION_KEYS, price_json)
