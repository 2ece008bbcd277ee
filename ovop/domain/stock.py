"""The stock ledger: append-only reports; the level is the latest report not undone.

This module is the one home of the current level (`level`, `current`, `levels`) and of what makes a level low
or stale: the bot's answers, order acceptances, the dashboard's overview and the staff API all read it here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased, selectinload

from ovop.domain.directory import Invalid, cooperative_by_id, known_fields, product_by_code, require, text
from ovop.models import Cooperative, Producer, Product, StockReport
from ovop.language.understand import MAX_QUANTITY

UNDO_WINDOW = timedelta(minutes=10)
STALE_AFTER = timedelta(days=14)
STAFF = "staff"  # the source of a staff correction (the bot writes "message" and "undo" lines)
CORRECTION_FIELDS = ("cooperative_id", "product", "quantity", "note")
MAX_NOTE = 500


def is_low(quantity: float | None, product: Product) -> bool:
    """Below the product's low-stock threshold (a product without one is never low)."""
    return quantity is not None and quantity < (product.low_stock_threshold or 0)


def is_stale(report: StockReport | None, now: datetime) -> bool:
    """No report at all, or none for STALE_AFTER."""
    return report is None or report.reported_at < now - STALE_AFTER


@dataclass(frozen=True)
class Recorded:
    report: StockReport
    product: Product
    previous: float | None

    @property
    def low(self) -> bool:
        return is_low(self.report.quantity, self.product)


@dataclass(frozen=True)
class Level:
    """The current level of one product at one cooperative (`report` None: never reported)."""

    cooperative: Cooperative
    product: Product
    report: StockReport | None
    low: bool
    stale: bool


def _standing():
    """Reports that count towards a level: not an undo line and not undone."""
    undo = aliased(StockReport)
    return (StockReport.source != "undo") & ~exists().where(undo.reverts_id == StockReport.id)


def current(session: Session, *, cooperative_id: int | None = None,
            product_id: int | None = None) -> dict[tuple[int, int], StockReport]:
    """The current level of every (cooperative, product), or of those asked for, in one query: for each, the
    latest standing report (an undo line or an undone report never is a level)."""
    ranked = (select(StockReport.id, func.row_number().over(
        partition_by=(StockReport.cooperative_id, StockReport.product_id),
        order_by=(StockReport.reported_at.desc(), StockReport.id.desc())).label("rank"))
        .where(_standing()))
    if cooperative_id is not None:
        ranked = ranked.where(StockReport.cooperative_id == cooperative_id)
    if product_id is not None:
        ranked = ranked.where(StockReport.product_id == product_id)
    ranked = ranked.subquery()
    latest = session.scalars(select(StockReport).join(ranked, ranked.c.id == StockReport.id)
                             .where(ranked.c.rank == 1))
    return {(report.cooperative_id, report.product_id): report for report in latest}


def level(session: Session, cooperative_id: int, product_id: int) -> StockReport | None:
    """The current level of a product at a cooperative: its latest standing report."""
    return current(session, cooperative_id=cooperative_id, product_id=product_id).get((cooperative_id, product_id))


def standing_since(session: Session, since: datetime, limit: int) -> list[StockReport]:
    """The reports that were levels at some moment since `since` (standing ones), oldest first; the latest
    `limit` when there are more."""
    rows = list(session.scalars(select(StockReport).where(_standing(), StockReport.reported_at >= since)
                                .order_by(StockReport.reported_at.desc(), StockReport.id.desc()).limit(limit)))
    return rows[::-1]


def levels(session: Session, now: datetime, *, cooperative_id: int | None = None,
           product_id: int | None = None) -> list[Level]:
    """One Level per product each cooperative makes or has reported, by cooperative id then product id."""
    found = current(session, cooperative_id=cooperative_id, product_id=product_id)
    products = {product.id: product for product in session.scalars(select(Product))}
    cooperatives = select(Cooperative).options(selectinload(Cooperative.products)).order_by(Cooperative.id)
    if cooperative_id is not None:
        cooperatives = cooperatives.where(Cooperative.id == cooperative_id)
    rows = []
    for cooperative in session.scalars(cooperatives):
        product_ids = {product.id for product in cooperative.products}
        product_ids |= {pid for coop_id, pid in found if coop_id == cooperative.id}
        if product_id is not None:
            product_ids &= {product_id}
        for pid in sorted(product_ids):
            report = found.get((cooperative.id, pid))
            rows.append(Level(cooperative, products[pid], report,
                              low=is_low(report.quantity if report else None, products[pid]),
                              stale=is_stale(report, now)))
    return rows


def record(session: Session, producer: Producer, product: Product, quantity: float, now: datetime,
           message_id: int | None = None, source: str = "message") -> Recorded:
    """Add one report to the ledger and say what the level was before it."""
    before = level(session, producer.cooperative_id, product.id)
    report = StockReport(cooperative_id=producer.cooperative_id, product_id=product.id, producer_id=producer.id,
                         quantity=quantity, unit=product.unit, reported_at=now, message_id=message_id,
                         source=source)
    session.add(report)
    session.flush()
    return Recorded(report=report, product=product, previous=before.quantity if before else None)


def undo_last(session: Session, producer: Producer, now: datetime) -> list[StockReport]:
    """Revert the producer's last report message if it is recent; the undo is itself a ledger line."""
    last = session.scalar(select(StockReport)
                          .where(StockReport.producer_id == producer.id, _standing(),
                                 StockReport.reported_at >= now - UNDO_WINDOW)
                          .order_by(StockReport.reported_at.desc(), StockReport.id.desc()).limit(1))
    if last is None:
        return []
    # Every line written by the same message goes together ("savon 12 huile 5" is undone as a whole).
    same_message = select(StockReport).where(StockReport.producer_id == producer.id, _standing())
    same_message = (same_message.where(StockReport.message_id == last.message_id) if last.message_id
                    else same_message.where(StockReport.id == last.id))
    undone = []
    for report in session.scalars(same_message).all():
        session.add(StockReport(cooperative_id=report.cooperative_id, product_id=report.product_id,
                                producer_id=producer.id, quantity=report.quantity, unit=report.unit,
                                reported_at=now, source="undo", reverts_id=report.id))
        undone.append(report)
    session.flush()
    return undone


def correct(session: Session, data: dict, now: datetime) -> Recorded:
    """A staff correction (`cooperative_id`, `product` code, `quantity`, optional `note`): a new ledger line
    from staff, with no producer and no message, that becomes the level. Refusals are Invalid (field, reason)."""
    fields = known_fields(data, CORRECTION_FIELDS)
    require(fields, ("cooperative_id", "product", "quantity"))
    cooperative = cooperative_by_id(session, fields["cooperative_id"])
    product = _product(session, cooperative, fields["product"])
    quantity = fields["quantity"]
    if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or not math.isfinite(quantity):
        raise Invalid("quantity", "must be a number")
    if not 0 <= quantity <= MAX_QUANTITY:
        raise Invalid("quantity", f"must be between 0 and {MAX_QUANTITY}")
    note = text("note", fields.get("note"), MAX_NOTE)
    before = level(session, cooperative.id, product.id)
    report = StockReport(cooperative_id=cooperative.id, product_id=product.id, producer_id=None,
                         quantity=float(quantity), unit=product.unit, reported_at=now, source=STAFF, note=note)
    session.add(report)
    session.flush()
    return Recorded(report=report, product=product, previous=before.quantity if before else None)


def _product(session: Session, cooperative: Cooperative, code) -> Product:
    """The product named by `code` if the cooperative makes it or has a level of it."""
    product = product_by_code(session, "product", code)
    if product not in cooperative.products and level(session, cooperative.id, product.id) is None:
        raise Invalid("product", f"{cooperative.name} does not make '{product.code}'")
    return product


def history(session: Session, *, cooperative_id: int | None = None, product_id: int | None = None,
            after: tuple[datetime, int] | None = None, limit: int = 100) -> list[tuple[StockReport, bool]]:
    """Ledger lines newest first, each with whether it was undone (an undo line is a line of its own, with
    source "undo" and `reverts_id`); `after` is the (reported_at, id) of the last line of the previous page."""
    undo = aliased(StockReport)
    query = select(StockReport, exists().where(undo.reverts_id == StockReport.id).label("undone"))
    if cooperative_id is not None:
        query = query.where(StockReport.cooperative_id == cooperative_id)
    if product_id is not None:
        query = query.where(StockReport.product_id == product_id)
    if after is not None:
        moment, last_id = after
        query = query.where((StockReport.reported_at < moment)
                            | ((StockReport.reported_at == moment) & (StockReport.id < last_id)))
    query = query.order_by(StockReport.reported_at.desc(), StockReport.id.desc()).limit(limit)
    return [(report, bool(undone)) for report, undone in session.execute(query)]
