"""Small helpers shared by flows: the catalogue, product names, numbered lists, reading a choice."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from ovop.language import understand
from ovop.models import Product, ProductAlias


def load_catalogue(session: Session) -> understand.Catalogue:
    """The product catalogue with every alias, as the understanding layer wants it.

    The rows come in one query; indexing them is not cheap, so the index is kept per process for as long as
    the rows read are the same (a new alias or product makes a new one).
    """
    rows = tuple(session.execute(
        select(Product.code, Product.unit, Product.name_fr, Product.name_wo, Product.name_en, ProductAlias.alias)
        .outerjoin(ProductAlias, ProductAlias.product_id == Product.id).order_by(Product.code, ProductAlias.id)))
    return _catalogue(rows)


@lru_cache(maxsize=8)
def _catalogue(rows: tuple) -> understand.Catalogue:
    products: dict[str, tuple] = {}
    aliases: dict[str, list[str]] = {}
    for code, unit, fr, wo, en, alias in rows:
        products.setdefault(code, (unit, fr, wo, en))
        if alias is not None:
            aliases.setdefault(code, []).append(alias)
    return understand.Catalogue(
        understand.CatalogueProduct(code=code, unit=unit, names={"fr": fr, "wo": wo or "", "en": en or ""},
                                    aliases=tuple(aliases.get(code, ())))
        for code, (unit, fr, wo, en) in products.items())


def product(session: Session, code: str) -> Product | None:
    """The product of that code; one this session already holds (what the producer makes) is not read again."""
    for held in session.identity_map.values():
        if isinstance(held, Product) and held.code == code:
            return held
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
