"""What a message means: the one answer the reader gives the flows."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Meaning:
    """What a message means; unused fields stay empty.

    kind: stock | clarify | help | menu | optout | optout_ask | optin | language | accept | decline |
    workshops | price | cancel | choice | thanks | human (asks for a person) | unknown.

    A clarify says what to ask (`reason`) and shows what was understood: `partial` (clear items, recorded
    by nobody yet), `quantity` (the figure typed for the unclear item), `options` (figures to choose from),
    `shown` (the producer's words for a figure to confirm, e.g. "2 cartons de 12") and `value` (the words
    asked about, learnt as an alias once confirmed; for a which_order clarify, "accept" or "decline").
    """

    kind: str
    items: dict[str, float] = field(default_factory=dict)
    product: str | None = None
    value: str | None = None
    order: str | None = None
    quantity: float | None = None
    reason: str | None = None
    candidates: tuple[str, ...] = ()
    partial: dict[str, float] = field(default_factory=dict)
    options: tuple[float, ...] = ()
    shown: str | None = None
