"""Stock in the staff API: the current level of every product at every cooperative, the ledger behind it, and
the staff's correction of a level. The rules (which line is the level, low, stale) live in ovop.domain.stock."""
from __future__ import annotations

from sqlalchemy import select

from ovop.web import paging
from ovop.web.api import bp, database, json_body, query
from ovop.core import clock
from ovop.domain import directory, schemas, stock
from ovop.models import Product, StockReport
from ovop.language.formats import plain_number


def level_json(level: stock.Level) -> dict:
    report = level.report
    return {"cooperative_id": level.cooperative.id, "product": level.product.code,
            "quantity": plain_number(report.quantity) if report else None,
            "unit": report.unit if report else level.product.unit,
            "reported_at": report.reported_at.isoformat() if report else None,
            "producer_id": report.producer_id if report else None, "source": report.source if report else None,
            "note": report.note if report else None, "low": level.low, "stale": level.stale}


def line_json(report: StockReport, code: str, undone: bool) -> dict:
    """One ledger line: a report (source message), an undo line (source undo, `reverts_id`), a staff
    correction (source staff, with its note)."""
    return {"id": report.id, "cooperative_id": report.cooperative_id, "product": code,
            "quantity": plain_number(report.quantity), "unit": report.unit, "reported_at": report.reported_at.isoformat(),
            "producer_id": report.producer_id, "source": report.source, "note": report.note,
            "reverts_id": report.reverts_id, "undone": undone}


# --- query strings ------------------------------------------------------------------------------------------

def _filters(session, schema: type[schemas.Query]) -> tuple[schemas.Query, int | None]:
    """The query string's filters (a cooperative and a product named must exist) and the product's id."""
    filters = query(schema)
    if filters.cooperative_id is not None:
        directory.cooperative_by_id(session, filters.cooperative_id)
    product_id = directory.product_by_code(session, "product", filters.product.lower()).id if filters.product else None
    return filters, product_id


# --- routes -------------------------------------------------------------------------------------------------

@bp.get("/stock")
def list_stock():
    """The current level per cooperative and product, by cooperative id then product id, a page at a time;
    `?cooperative_id=`, `?product=` (code), `?low=true|false`, `?stale=true|false` narrow it (a product never
    reported is stale)."""
    window = paging.window(stock.LEVEL_KEYS)
    with database().transaction() as session:
        filters, product_id = _filters(session, schemas.StockQuery)
        found = stock.levels(session, clock.now(), cooperative_id=filters.cooperative_id, product_id=product_id,
                             low=filters.low, stale=filters.stale, window=window)
        return paging.answer(found, stock.LEVEL_KEYS, level_json)


@bp.get("/stock/history")
def stock_history():
    """The ledger lines behind the levels, newest first, a page at a time; `?cooperative_id=` and `?product=`
    narrow them."""
    window = paging.window(stock.HISTORY_KEYS)
    with database().transaction() as session:
        filters, product_id = _filters(session, schemas.HistoryQuery)
        lines = stock.history(session, cooperative_id=filters.cooperative_id, product_id=product_id, window=window)
        codes = dict(session.execute(select(Product.id, Product.code)).all())
        return paging.answer(lines, stock.HISTORY_KEYS,
                             lambda line: line_json(line[0], codes.get(line[0].product_id, "?"), line[1]))


@bp.post("/stock")
def correct_stock():
    """{"cooperative_id": 1, "product": "yaourt", "quantity": 35, "note": "inventaire du samedi"}: a staff
    correction, a ledger line from staff that becomes the level; answers the line and the level before it."""
    data = json_body()
    with database().transaction() as session:
        done = stock.correct(session, data, clock.now())
        answer = {**line_json(done.report, done.product.code, False), "previous": plain_number(done.previous),
                  "low": done.low}
    return answer, 201
