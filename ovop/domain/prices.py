"""Prices: what staff saw products sell for, and the tip each producer gets about the products they make.

A tip compares the boutique's latest price of a product with the observation just before it (same market,
same unit) and says whether it went up or down, and by how many percent. Functions take the caller's Session
and never commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


from sqlalchemy import select
from sqlalchemy.orm import Session

from ovop.core.config import Settings
from ovop.core import keyset
from ovop.core.errors import Invalid
from ovop.domain import schemas
from ovop.language.i18n import format_money, mark, t
from ovop.models import PriceObservation, Producer, Product

DEFAULT_MARKET = Settings.price_market  # the boutique, PRICE_MARKET's default
# One line per product in a tip, by which way the price went.
LINE_KEYS = {"up": mark("price.line_up"), "down": mark("price.line_down"), "same": mark("price.line_same"),
             "new": mark("price.line_new")}


@dataclass(frozen=True)
class Quote:
    """A product's latest price on a market and the observation before it, if comparable."""

    product: Product
    latest: PriceObservation
    previous: PriceObservation | None

    @property
    def direction(self) -> str:
        """up, down, same, or new when there is nothing to compare with."""
        if self.previous is None:
            return "new"
        if self.latest.price == self.previous.price:
            return "same"
        return "up" if self.latest.price > self.previous.price else "down"

    @property
    def percent(self) -> int:
        """The change in whole percent of the previous price; a real change never reads as 0 %."""
        if self.previous is None or self.latest.price == self.previous.price:
            return 0
        change, base = abs(self.latest.price - self.previous.price), self.previous.price
        return max(1, (change * 200 + base) // (2 * base))  # rounded half up, in whole numbers: 12.5 -> 13

    def line(self, lang: str) -> str:
        """"yaourt: 500 F CFA/pot, hausse 5%" in `lang`."""
        return t(LINE_KEYS[self.direction], lang, product=self.product.name(lang),
                 price=format_money(self.latest.price, lang), unit=self.latest.unit, percent=self.percent)


def market_of(config: dict | None) -> str:
    """The market whose prices the tips quote (PRICE_MARKET, the boutique by default)."""
    return config["PRICE_MARKET"]


def quote(session: Session, product: Product, market: str = DEFAULT_MARKET) -> Quote | None:
    """The latest observation of `product` on `market` and the comparable one before it; None when unseen."""
    latest_two = list(session.scalars(select(PriceObservation)
                                      .where(PriceObservation.product_id == product.id,
                                             PriceObservation.market == market)
                                      .order_by(PriceObservation.observed_on.desc(), PriceObservation.id.desc())
                                      .limit(2)))
    if not latest_two:
        return None
    latest = latest_two[0]
    previous = latest_two[1] if len(latest_two) > 1 and latest_two[1].unit == latest.unit else None
    return Quote(product, latest, previous)


def tip_lines(session: Session, producer: Producer, market: str = DEFAULT_MARKET,
              cache: dict[int, Quote | None] | None = None) -> str | None:
    """One line per product the producer makes that has a price, in their language; None when there is none.

    `cache` (product id -> quote) spares the database when a job writes to many producers.
    """
    lang = producer.language or "fr"
    cache = {} if cache is None else cache
    lines = []
    for product in producer.makes:
        if product.id not in cache:
            cache[product.id] = quote(session, product, market)
        if cache[product.id] is not None:
            lines.append(cache[product.id].line(lang))
    return "\n".join(lines) or None


def tip(session: Session, producer: Producer, market: str = DEFAULT_MARKET) -> str | None:
    """The weekly tip as the producer reads it, or None when none of their products has a price."""
    lines = tip_lines(session, producer, market)
    return t("price.tip", producer.language or "fr", lines=lines) if lines else None


# --- staff input ------------------------------------------------------------------------------------------

def record(session: Session, data: dict, today: date, market: str = DEFAULT_MARKET) -> PriceObservation:
    """Store one observation (schemas.NewPrice): a known product, whole F CFA, not observed after today."""
    fields = schemas.parse(schemas.NewPrice, data)
    product = session.scalar(select(Product).where(Product.code == fields.product))
    if product is None:
        raise Invalid("product", "unknown_product", code=fields.product)
    observed_on = fields.observed_on or today
    if observed_on > today:
        raise Invalid("observed_on", "in_the_future")
    observation = PriceObservation(product_id=product.id, product=product, price=fields.price,
                                   unit=fields.unit or product.unit, market=fields.market or market,
                                   observed_on=observed_on)
    session.add(observation)
    session.flush()
    return observation


OBSERVATION_KEYS = keyset.Order(keyset.desc(PriceObservation.observed_on, date),
                                keyset.desc(PriceObservation.id, int))


def observations(session: Session, *, product: str | None = None, market: str | None = None,
                 window: keyset.Window | None = None) -> list[PriceObservation]:
    """Observations newest first, filtered by product code and market; one page of them with a `window`."""
    query = select(PriceObservation).join(Product)
    if product:
        query = query.where(Product.code == product.strip().lower())
    if market:
        query = query.where(PriceObservation.market == market.strip())
    return keyset.fetch(session, query, OBSERVATION_KEYS, window)
