"""The stock ledger: append-only reports; the level is the latest report not undone.

This module is the one home of the current level (`level`, `current`, `levels`) and of what makes a level low
or stale: the bot's answers, order acceptances, the dashboard's overview and the staff API all read it here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, exists, func, or_, select, union
from sqlalchemy.orm import Session, aliased

from ovop.core import keyset
from ovop.core.errors import Invalid
from ovop.domain import schemas
from ovop.domain.directory import cooperative_by_id, product_by_code
from ovop.messaging import notify
from ovop.models import Cooperative, Producer, Product, StockReport, cooperative_products

UNDO_WINDOW = timedelta(minutes=10)
STALE_AFTER = timedelta(days=14)
STAFF = "staff"  # the source of a staff correction (the bot writes "message" and "undo" lines)


def is_low(quantity: float | None, product: Product) -> bool:
    """Below the product's low-stock threshold (a product without one is never low)."""
    return quantity is not None and quantity < (product.low_stock_threshold or 0)


def is_stale(report: StockReport | None, now: datetime) -> bool:
    """No report at all, or none for STALE_AFTER."""
    return report is None or report.reported_at < now - STALE_AFTER


# The same two rules as SQL conditions on a level's report (None when never reported), to filter pages of levels.
def _low_clause(report, product):
    return and_(report.id.is_not(None), report.quantity < func.coalesce(product.low_stock_threshold, 0))


def _stale_clause(report, now: datetime):
    return or_(report.id.is_(None), report.reported_at < now - STALE_AFTER)


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


# Built once: building an alias costs more CPU than the query it serves takes to run.
_UNDO = aliased(StockReport, name="undo")
_LINE = aliased(StockReport, name="line")


def _standing(report=StockReport):
    """Reports that count towards a level: not an undo line and not undone."""
    return (report.source != "undo") & ~exists().where(_UNDO.reverts_id == report.id)


def _latest(cooperative_id, product_id):
    """The id of the level of the (cooperative, product) given as columns of the enclosing query: the latest
    standing report (an undo line or an undone report never is a level). The one home of that rule."""
    return (select(_LINE.id).where(_LINE.cooperative_id == cooperative_id, _LINE.product_id == product_id,
                                   _standing(_LINE))
            .order_by(_LINE.reported_at.desc(), _LINE.id.desc()).limit(1).scalar_subquery())


def current(session: Session, *, cooperative_id: int | None = None,
            product_id: int | None = None) -> dict[tuple[int, int], StockReport]:
    """The current level of every (cooperative, product) reported, or of those asked for, in one query."""
    pairs = select(StockReport.cooperative_id, StockReport.product_id).distinct()
    if cooperative_id is not None:
        pairs = pairs.where(StockReport.cooperative_id == cooperative_id)
    if product_id is not None:
        pairs = pairs.where(StockReport.product_id == product_id)
    pairs = pairs.subquery()
    latest = select(_latest(pairs.c.cooperative_id, pairs.c.product_id)).select_from(pairs)
    found = session.scalars(select(StockReport).where(StockReport.id.in_(latest)))
    return {(report.cooperative_id, report.product_id): report for report in found}


# Read before every stock report: built once, and latest first along ix_stock_reports_level (indexes on the
# level and on reverts_id), so that its cost does not grow with the ledger.
_LEVEL = select(StockReport).where(StockReport.id == _latest(bindparam("cooperative_id"), bindparam("product_id")))


def level(session: Session, cooperative_id: int, product_id: int) -> StockReport | None:
    """The current level of a product at a cooperative: its latest standing report."""
    return session.scalar(_LEVEL, {"cooperative_id": cooperative_id, "product_id": product_id})


def standing_since(session: Session, since: datetime, limit: int) -> list[StockReport]:
    """The reports that were levels at some moment since `since` (standing ones), oldest first; the latest
    `limit` when there are more."""
    rows = list(session.scalars(select(StockReport).where(_standing(), StockReport.reported_at >= since)
                                .order_by(StockReport.reported_at.desc(), StockReport.id.desc()).limit(limit)))
    return rows[::-1]


# Every (cooperative, product) that has a level: the products a cooperative makes, and those it has reported.
PAIRS = union(select(cooperative_products.c.cooperative_id, cooperative_products.c.product_id),
              select(StockReport.cooperative_id, StockReport.product_id)).subquery("pairs")
LEVEL_KEYS = keyset.Order(keyset.asc(PAIRS.c.cooperative_id, int), keyset.asc(PAIRS.c.product_id, int))
# The overview's order: cooperatives by name, products by code.
NAMED_LEVEL_KEYS = keyset.Order(keyset.asc(Cooperative.name, str), keyset.asc(Cooperative.id, int),
                                keyset.asc(Product.code, str), keyset.asc(Product.id, int))
_REPORT = aliased(StockReport, name="level_report")  # the report that is a level, in the queries below


def _of_levels(query):
    """`query` over every level: each pair, its cooperative, its product and its report (None: never one)."""
    return (query.select_from(PAIRS).join(Cooperative, Cooperative.id == PAIRS.c.cooperative_id)
            .join(Product, Product.id == PAIRS.c.product_id)
            .outerjoin(_REPORT, _REPORT.id == _latest(PAIRS.c.cooperative_id, PAIRS.c.product_id)))


_LEVELS = _of_levels(select(Cooperative, Product, _REPORT))


def levels(session: Session, now: datetime, *, cooperative_id: int | None = None, product_id: int | None = None,
           low: bool | None = None, stale: bool | None = None, attention: bool = False,
           order: keyset.Order = LEVEL_KEYS, window: keyset.Window | None = None) -> list[Level]:
    """One Level per product each cooperative makes or has reported, by cooperative id then product id (or
    `order`); `low` and `stale` keep those that are (True) or are not (False), `attention` those low or stale;
    one page of them with a `window`, read in one query that looks up the level of the page's rows only."""
    query, report = _LEVELS, _REPORT
    if cooperative_id is not None:
        query = query.where(PAIRS.c.cooperative_id == cooperative_id)
    if product_id is not None:
        query = query.where(PAIRS.c.product_id == product_id)
    if low is not None:
        query = query.where(_low_clause(report, Product) if low else ~_low_clause(report, Product))
    if stale is not None:
        query = query.where(_stale_clause(report, now) if stale else ~_stale_clause(report, now))
    if attention:
        query = query.where(or_(_low_clause(report, Product), _stale_clause(report, now)))
    rows = keyset.fetch(session, query, order, window)
    found = keyset.Page(Level(cooperative, product, line, low=is_low(line.quantity if line else None, product),
                              stale=is_stale(line, now)) for cooperative, product, line in rows)
    found.next, found.previous = rows.next, rows.previous
    return found


def tally(session: Session, now: datetime) -> dict[str, int]:
    """How many levels are low, stale though reported, and never reported, counted by the database."""
    report = _REPORT
    low, stale, never = session.execute(_of_levels(select(
        func.count(case((_low_clause(report, Product), 1))),
        func.count(case((and_(report.id.is_not(None), _stale_clause(report, now)), 1))),
        func.count(case((report.id.is_(None), 1)))))).one()
    return {"low": low, "stale": stale, "never": never}


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


# The dedupe key of the staff's low-stock alert about a report starts with this and the report's id.
LOW_STOCK_KEY = "low-stock:report="


def low_stock_key(report_id: int) -> str:
    """The dedupe key of the staff alert a low report causes (notify_staff adds `:to=<phone>`)."""
    return f"{LOW_STOCK_KEY}{report_id}"


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
        # A low-stock alert this report caused and that has not left yet would now be wrong.
        notify.withdraw(session, f"{LOW_STOCK_KEY}{report.id}:", "the stock report was undone")
    session.flush()
    return undone


def correct(session: Session, data: dict, now: datetime) -> Recorded:
    """A staff correction (schemas.StockCorrection: `cooperative_id`, `product` code, `quantity`, `note`): a new
    ledger line from staff, with no producer and no message, that becomes the level."""
    fields = schemas.parse(schemas.StockCorrection, data)
    cooperative = cooperative_by_id(session, fields.cooperative_id)
    product = _product(session, cooperative, fields.product)
    before = level(session, cooperative.id, product.id)
    report = StockReport(cooperative_id=cooperative.id, product_id=product.id, producer_id=None,
                         quantity=fields.quantity, unit=product.unit, reported_at=now, source=STAFF,
                         note=fields.note)
    session.add(report)
    session.flush()
    return Recorded(report=report, product=product, previous=before.quantity if before else None)


def _product(session: Session, cooperative: Cooperative, code: str) -> Product:
    """The product named by `code` if the cooperative makes it or has a level of it."""
    product = product_by_code(session, "product", code)
    if product not in cooperative.products and level(session, cooperative.id, product.id) is None:
        raise Invalid("product", "not_made_here", cooperative=cooperative.name, product=product.code)
    return product


HISTORY_KEYS = keyset.Order(keyset.desc(StockReport.reported_at, datetime), keyset.desc(StockReport.id, int))


def history(session: Session, *, cooperative_id: int | None = None, product_id: int | None = None,
            window: keyset.Window | None = None) -> list[tuple[StockReport, bool]]:
    """Ledger lines newest first, each with whether it was undone (an undo line is a line of its own, with
    source "undo" and `reverts_id`); one page of them with a `window`."""
    undo = aliased(StockReport)
    query = select(StockReport, exists().where(undo.reverts_id == StockReport.id).label("undone"))
    if cooperative_id is not None:
        query = query.where(StockReport.cooperative_id == cooperative_id)
    if product_id is not None:
        query = query.where(StockReport.product_id == product_id)
    rows = keyset.fetch(session, query, HISTORY_KEYS, window)
    lines = keyset.Page((report, bool(undone)) for report, undone in rows)
    lines.next, lines.previous = rows.next, rows.previous
    return lines
