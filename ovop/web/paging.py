"""Paging over HTTP, for the API and the dashboard: `?limit=` and `?after=<cursor>` read from the query string,
`{"items": [...], "next": <cursor or null>}` written back.

A cursor is the key of the last row shown (ovop.core.keyset), as JSON in URL-safe base64: opaque to the caller,
and checked against the list's order when it comes back, so a cursor that was not ours is a refusal naming
`after`, never a 500. The dashboard also takes `?before=<cursor>` for its "previous page" links.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Callable, Iterable

from flask import request, url_for

from ovop.core import keyset
from ovop.core.errors import Invalid
from ovop.web import inputs

DEFAULT_LIMIT, MAX_LIMIT = 100, 500
MAX_CURSOR = 2000  # characters; our cursors are a few dozen


def encode(order: keyset.Order, key: tuple | None) -> str | None:
    """The cursor of a row's key (None stays None)."""
    if key is None:
        return None
    data = json.dumps(order.to_json(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode(field: str, raw: str | None, order: keyset.Order) -> tuple | None:
    """The key a cursor carries, typed for `order`; Invalid(field) when it is not a cursor of this list."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) > MAX_CURSOR:
            raise ValueError(raw[:20])
        values = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4)))
        key = order.from_json(values)
    except (ValueError, UnicodeError, binascii.Error, RecursionError):  # BadKey and JSONDecodeError among them
        raise Invalid(field, "bad_cursor") from None
    if any(isinstance(value, str) and not inputs.storable(value) for value in key):
        raise Invalid(field, "bad_cursor")
    return key


def limit(default: int = DEFAULT_LIMIT) -> int:
    """`?limit=`: how many rows a page holds, 1 to MAX_LIMIT (absent or empty: `default`)."""
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise Invalid("limit", "not_an_integer")
    if len(raw) > 6 or int(raw) > MAX_LIMIT:
        raise Invalid("limit", "too_large", max=MAX_LIMIT)
    if int(raw) < 1:
        raise Invalid("limit", "too_small", min=1)
    return int(raw)


def window(order: keyset.Order, *, default: int = DEFAULT_LIMIT, backward: bool = False) -> keyset.Window:
    """The page a request asks for: `?limit=`, `?after=`, and with `backward` (the dashboard) `?before=`."""
    size = limit(default)
    after = decode("after", request.args.get("after"), order)
    before = decode("before", request.args.get("before"), order) if backward and after is None else None
    return keyset.Window(size, after=after, before=before)


def answer(page: keyset.Page, order: keyset.Order, to_json: Callable) -> dict:
    """A list answer: the page's items and the cursor of the next page (null on the last one)."""
    return {"items": [to_json(row) for row in page], "next": encode(order, page.next)}


def items(rows: Iterable, order: keyset.Order, next_key: tuple | None) -> dict:
    """A list answer from rows already shaped as JSON."""
    return {"items": list(rows), "next": encode(order, next_key)}


# --- the dashboard's pages ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pager:
    """The links under a dashboard list: the previous and next pages (None when there is none), and whether the
    URL's `limit` or cursor was refused (the page then shows the first rows and says so)."""

    previous: str | None = None
    next: str | None = None
    refused: bool = False


def asked(order: keyset.Order, size: int) -> tuple[keyset.Window, bool]:
    """The page a dashboard URL asks for (`limit`, `after`, `before`), or the first page and True when the URL's
    values are not ours (an old bookmark, a hand-edited link): never an error page."""
    try:
        return window(order, default=size, backward=True), False
    except Invalid:
        return keyset.Window(size), True


def pager(endpoint: str, page: keyset.Page, order: keyset.Order, shown: keyset.Window, refused: bool = False,
          **params) -> Pager:
    """Links to the pages around `page`, keeping the list's filters (`params`) and a `limit` given in the URL."""
    params = {name: value for name, value in params.items() if value not in (None, "")}
    if not refused and request.args.get("limit"):
        params["limit"] = request.args["limit"]
    following = url_for(endpoint, **params, after=encode(order, page.next)) if page.next else None
    if page.previous:
        preceding = url_for(endpoint, **params, before=encode(order, page.previous))
    else:  # a page after a row since deleted, with nothing left past it: back to the start
        preceding = url_for(endpoint, **params) if shown.after else None
    return Pager(previous=preceding, next=following, refused=refused)
