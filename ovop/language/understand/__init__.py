"""Understanding producers: what a short, typo-ridden French / Wolof / English message means."""
from __future__ import annotations

from .catalogue import Catalogue, CatalogueProduct, match_product
from .meaning import Meaning
from .numbers import parse_pick, parse_price, parse_quantity
from .intents import keyword, strip_no, yes_no
from .policy import understand
from .spans import read
from .text import normalise
from .words import MAX_QUANTITY, ORDER_FORMAT

__all__ = ["Catalogue", "CatalogueProduct", "Meaning", "ORDER_FORMAT", "MAX_QUANTITY", "keyword", "match_product", "normalise", "read", "strip_no", "yes_no",
           "parse_pick", "parse_price", "parse_quantity", "understand"]
