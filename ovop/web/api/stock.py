"""Stock in the staff API: the current level of every product at every cooperative, the ledger behind it, and
the staff's correction of a level. The rules (which line is the level, low, stale) live in ovop.domain.stock."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from flask import request
from sqlalchemy import select

from ovop.web.api import bp, database, json_body
from ovop.core import clock
from ovop.domain import directory, stock
from ovop.models import Cooperative, Product, StockReport

DEFAULT_LIMIT, MAX_LIMIT = 100, 500
BAD_CURSOR = "is not a cursor from a previous answer (give back the `next` of a list as it came)"


def _number(quantity: float | None) -> int | float | None:
    """40 rather than 40.0 in the JSON; a decimal stays a decimal."""
    if quantity is None:
        return None
    return int(quantity) if float(quantity).is_integer() else quantity


def level_json(level: stock.Level) -> dict:
    report = level.report
    return {"cooperative_id": level.cooperative.id, "product": level.product.code,
            "quantity": _number(report.quantity) if report else None,
            "unit": report.unit if report else level.product.unit,
            "reported_at": report.reported_at.isoformat() if report else None,
            "producer_id": report.producer_id if report else None, "source": report.source if report else None,
            "note": report.note if report else None, "low": level.low, "stale": level.stale}


def line_json(report: StockReport, code: str, undone: bool) -> dict:
    """One ledger line: a report (source message), an undo line (source undo, `reverts_id`), a staff
    correction (source staff, with its note)."""
    return {"id": report.id, "cooperative_id": report.cooperative_id, "product": code,
            "quantity": _number(report.quantity), "unit": report.unit, "reported_at": report.reported_at.isoformat(),
            "producer_id": report.producer_id, "source": report.source, "note": report.note,
            "reverts_id": report.reverts_id, "undone": undone}


# --- query strings ------------------------------------------------------------------------------------------

def _limit() -> int:
    return directory.query_int("limit", request.args.get("limit"), maximum=MAX_LIMIT) or DEFAULT_LIMIT


def _flag(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise directory.Invalid(name, "must be true or false")


def _cooperative_id(session) -> int | None:
    cooperative_id = directory.query_int("cooperative_id", request.args.get("cooperative_id"))
    if cooperative_id is not None and session.get(Cooperative, cooperative_id) is None:
        raise directory.Invalid("cooperative_id", f"no cooperative with id {cooperative_id}")
    return cooperative_id


def _product_id(session) -> int | None:
    code = request.args.get("product")
    if code is None or code == "":
        return None
    product_id = session.scalar(select(Product.id).where(Product.code == code.strip().lower()))
    if product_id is None:
        raise directory.Invalid("product", f"unknown product code '{code.strip()[:40]}'")
    return product_id


def _cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _after(shape: tuple[type, ...]) -> list | None:
    """The values a `next` cursor carried, checked against the shape this list gives its cursors."""
    raw = request.args.get("after")
    if raw is None or raw == "":
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4)))
    except (ValueError, UnicodeError, binascii.Error):
        raise directory.Invalid("after", BAD_CURSOR) from None
    if (not isinstance(values, list) or len(values) != len(shape)
            or not all(isinstance(value, kind) and not isinstance(value, bool) for value, kind in zip(values, shape))):
        raise directory.Invalid("after", BAD_CURSOR)
    return values


# --- routes -------------------------------------------------------------------------------------------------

@bp.get("/stock")
def list_stock():
    """The current level per cooperative and product, by cooperative id then product id; `?cooperative_id=`,
    `?product=` (code), `?low=true|false`, `?stale=true|false` narrow it (a product never reported is stale)."""
    limit, low, stale = _limit(), _flag("low"), _flag("stale")
    after = _after((int, int))
    with database().transaction() as session:
        found = stock.levels(session, clock.now(), cooperative_id=_cooperative_id(session),
                             product_id=_product_id(session))
        found = [level for level in found if (low is None or level.low == low)
                 and (stale is None or level.stale == stale)]
        if after is not None:
            found = [level for level in found if (level.cooperative.id, level.product.id) > tuple(after)]
        page = found[:limit]
        more = len(found) > limit
        return {"items": [level_json(level) for level in page],
                "next": _cursor([page[-1].cooperative.id, page[-1].product.id]) if more else None}


@bp.get("/stock/history")
def stock_history():
    """The ledger lines behind the levels, newest first; `?cooperative_id=` and `?product=` narrow them."""
    limit = _limit()
    after = _after((str, int))
    moment = None
    if after is not None:
        try:
            moment = datetime.fromisoformat(after[0]).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            raise directory.Invalid("after", BAD_CURSOR) from None
        if not directory.is_id(after[1]):
            raise directory.Invalid("after", BAD_CURSOR)
    with database().transaction() as session:
        lines = stock.history(session, cooperative_id=_cooperative_id(session), product_id=_product_id(session),
                              after=(moment, after[1]) if after is not None else None, limit=limit + 1)
        codes = dict(session.execute(select(Product.id, Product.code)).all())
        page = lines[:limit]
        last = page[-1][0] if page else None
        return {"items": [line_json(report, codes.get(report.product_id, "?"), undone) for report, undone in page],
                "next": _cursor([last.reported_at.isoformat(), last.id]) if len(lines) > limit else None}


@bp.post("/stock")
def correct_stock():
    """{"cooperative_id": 1, "product": "yaourt", "quantity": 35, "note": "inventaire du samedi"}: a staff
    correction, a ledger line from staff that becomes the level; answers the line and the level before it."""
    data = json_body()
    with database().transaction() as session:
        done = stock.correct(session, data, clock.now())
        answer = {**line_json(done.report, done.product.code, False), "previous": _number(done.previous),
                  "low": done.low}
    return answer, 201
