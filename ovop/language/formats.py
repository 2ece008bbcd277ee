"""How figures and moments are written, in replies, pages and JSON alike: 40 rather than 40.0, ISO 8601."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any


def quantity_text(value: float | None) -> str:
    """40.0 -> "40", 1.5 -> "1.5", None -> ""."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def plain_number(value: Any) -> Any:
    """40.0 -> 40 (in JSON and in a refusal's parameters); a decimal, None or anything else stays as it is."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 1e15 else value


def iso(moment: datetime | date | None) -> str | None:
    """A moment or a date in ISO 8601, None for none."""
    return moment.isoformat() if moment is not None else None
