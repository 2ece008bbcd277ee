"""Small helpers shared by flows: the catalogue, product names, numbered lists, reading a choice."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from ovop.language import understand
from ovop.models import Product, ProductAlias


def load_catalogue(session: Session) -> understand.Catalogue:
    """The product catalogue with every alias, as the understanding layer wants it.

    Reading the rows is cheap; indexing them is not, so the index is kept per process for as long as
    the rows read are the same (a new alias or product makes a new one).
    """
    products = tuple(session.execute(select(Product.code, Product.unit, Product.name_fr, Product.name_wo,
                                            Product.name_en).order_by(Product.code)))
    aliases = tuple(session.execute(select(Product.code, ProductAlias.alias)
                                    .join(ProductAlias.product).order_by(ProductAlias.id)))
    return _catalogue(products, aliases)


@lru_cache(maxsize=8)
def _catalogue(products: tuple, aliases: tuple) -> understand.Catalogue:
    by_code: dict[str, list[str]] = {}
    for code, alias in aliases:
        by_code.setdefault(code, []).append(alias)
    return understand.Catalogue(
        understand.CatalogueProduct(code=code, unit=unit, names={"fr": fr, "wo": wo or "", "en": en or ""},
                                    aliases=tuple(by_code.get(code, ())))
        for code, unit, fr, wo, en in products)


def product(session: Session, code: str) -> Product | None:
    return session.scalar(select(Product).where(Product.code == code))


def product_name(session: Session, code: str, lang: str) -> str:
    """A product's name in the producer's language."""
    found = product(session, code)
    return found.name(lang) if found else code


def numbered(labels: list[str]) -> str:
    """'1) yaourt 2) savon' — short enough for one SMS."""
    return " ".join(f"{n}) {label}" for n, label in enumerate(labels, start=1))


def choice(text: str, count: int) -> int | None:
    """The 0-based index a producer picked by typing its number ("2", "deux", "ñaar", "le 2"), or None."""
    picked = understand.parse_pick(text)
    return picked - 1 if picked is not None and 1 <= picked <= count else None
