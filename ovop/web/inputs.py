"""Checks on what a staff request carries before any view reads it: text the database cannot store, JSON too deep.

PostgreSQL refuses a NUL byte in text and the driver cannot encode a lone surrogate ("\\ud800" in JSON): a view
handing either to a query would answer 500. The API and the dashboard refuse them up front instead, naming the
field, with the code the input schemas use for the same refusal (ovop.domain.schemas).
"""
from __future__ import annotations

import re
from typing import Any, Iterable


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
CODE = "control_characters"
MAX_DEPTH = 20  # the deepest body the API takes is three levels (a broadcast's audience)


def storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None


def first_unstorable(pairs: Iterable[tuple[str, list[str]]]) -> str | None:
    """The name of the first field (query string or form) whose name or a value cannot be stored."""
    for name, values in pairs:
        if not storable(name) or not all(storable(value) for value in values):
            return UNSTORABLE.sub("?", name)
    return None


def json_problem(data: Any) -> tuple[str, str] | None:
    """(field, CODE) for the first string that cannot be stored, (field, "too_deep") for the first part nested
    too deep, else None.

    Walks without recursion: the parser already accepted up to Python's recursion limit.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where or "body", "too_deep"
        if isinstance(value, str):
            if not storable(value):
                return where or "body", CODE
        elif isinstance(value, dict):
            for key, item in value.items():
                if not storable(key):
                    return where or "body", CODE
                stack.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, where, depth + 1) for item in value)
    return None
