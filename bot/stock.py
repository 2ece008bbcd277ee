"""The stock ledger: append-only reports; the level is the latest report not undone."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from bot.models import Producer, Product, StockReport

UNDO_WINDOW = timedelta(minutes=10)
STALE_AFTER = timedelta(days=14)


@dataclass(frozen=True)
class Recorded:
    report: StockReport
    product: Product
    previous: float | None

    @property
    def low(self) -> bool:
        return self.report.quantity < (self.product.low_stock_threshold or 0)


def _standing():
    """Reports that count towards a level: not an undo line and not undone."""
    undo = aliased(StockReport)
    return (StockReport.source != "undo") & ~exists().where(undo.reverts_id == StockReport.id)


def level(session: Session, cooperative_id: int, product_id: int) -> StockReport | None:
    """The current level of a product at a cooperative: its latest standing report."""
    return session.scalar(select(StockReport)
                          .where(StockReport.cooperative_id == cooperative_id, StockReport.product_id == product_id,
                                 _standing())
                          .order_by(StockReport.reported_at.desc(), StockReport.id.desc()).limit(1))


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
