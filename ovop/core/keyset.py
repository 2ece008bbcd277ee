"""Keyset pagination: a list's order declared once, a page read after (or before) the last row seen.

A page asks the database for the rows past a key (`WHERE key > :last ORDER BY key LIMIT n + 1`), never an
OFFSET, so page 1,000 costs what page 1 costs and a row written meanwhile neither repeats nor hides another.
The order's last key must be unique (the id) so that every row has one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Sequence

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

MAX_INT = 2**31 - 1  # keys are INTEGER columns on PostgreSQL: nothing larger can be one


class BadKey(ValueError):
    """A cursor's values do not fit the list's order (wrong count, wrong types, out of range)."""


@dataclass(frozen=True)
class Key:
    """One sort column: its expression, the type of its values (int, str, datetime, date), its direction."""

    column: Any
    kind: type
    descending: bool = False

    def past(self, value, forward: bool):
        """The condition "strictly after `value`" in this key's order (before it when not `forward`)."""
        greater = self.descending != forward
        return self.column > value if greater else self.column < value

    def sort(self, forward: bool):
        return self.column.desc() if self.descending == forward else self.column.asc()


def asc(column, kind: type) -> Key:
    return Key(column, kind)


def desc(column, kind: type) -> Key:
    return Key(column, kind, descending=True)


class Order(tuple):
    """The keys a list is sorted by, the last one unique."""

    def __new__(cls, *keys: Key):
        return super().__new__(cls, keys)

    def apply(self, query: Select, forward: bool = True) -> Select:
        return query.order_by(*(key.sort(forward) for key in self))

    def past(self, values: Sequence, forward: bool = True):
        """Rows strictly after `values` in this order: (a > x) or (a = x and b > y) or …"""
        clauses = []
        for n, key in enumerate(self):
            equal = [self[i].column == values[i] for i in range(n)]
            clauses.append(and_(*equal, key.past(values[n], forward)))
        return or_(*clauses)

    def to_json(self, values: Sequence) -> list:
        """A key as JSON values (datetimes and dates in ISO 8601)."""
        return [value.isoformat() if isinstance(value, (datetime, date)) else value for value in values]

    def from_json(self, values: Any) -> tuple:
        """The key `to_json` wrote, typed again; BadKey when the values cannot be one of this order's keys."""
        if not isinstance(values, list) or len(values) != len(self):
            raise BadKey("wrong number of values")
        return tuple(_typed(value, key.kind) for value, key in zip(values, self))


def _typed(value: Any, kind: type):
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or not -MAX_INT <= value <= MAX_INT:
            raise BadKey("not an integer key")
        return value
    if not isinstance(value, str):
        raise BadKey("not a text key")
    if kind is str:
        return value
    try:
        if kind is datetime:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise BadKey("a moment without its offset")
            return moment.astimezone(timezone.utc)
        if kind is date:
            return date.fromisoformat(value)
    except (ValueError, OverflowError):
        raise BadKey("not a date") from None
    raise BadKey(f"no key of type {kind.__name__}")


@dataclass(frozen=True)
class Window:
    """Which page: at most `limit` rows after the key `after`, or before the key `before`, or the first ones."""

    limit: int
    after: tuple | None = None
    before: tuple | None = None


class Page(list):
    """A page's rows, with the key of its last row when more follow (`next`) and of its first row when some
    come before it (`previous`)."""

    next: tuple | None = None
    previous: tuple | None = None


def fetch(session: Session, query: Select, order: Order, window: Window | None = None) -> Page:
    """The rows of `query` in `order`: all of them without a window, else one page of them.

    A query of one entity gives entities, one of several columns gives rows, as session.execute would.
    """
    width = len(query.column_descriptions)  # entities and columns asked for, before the keys are added
    if window is None:
        rows = session.execute(order.apply(query)).all()
        return Page(row[0] if width == 1 else row for row in rows)
    forward = window.before is None
    bound = window.after if forward else window.before
    query = query.add_columns(*(key.column.label(f"keyset_{n}") for n, key in enumerate(order)))
    if bound is not None:
        query = query.where(order.past(bound, forward))
    found = session.execute(order.apply(query, forward).limit(window.limit + 1)).all()
    more = len(found) > window.limit
    found = found[:window.limit]
    if not forward:
        found.reverse()
    page = Page(row[0] if width == 1 else tuple(row[:width]) for row in found)
    keys = [tuple(row[width:]) for row in found]
    if forward:
        page.next = keys[-1] if more else None
        page.previous = keys[0] if bound is not None and keys else None
    else:
        page.previous = keys[0] if more else None
        page.next = keys[-1] if keys else None
    return page
