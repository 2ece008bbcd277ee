"""Small helpers shared by flows: the catalogue, product names, numbered lists, reading a choice."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot import understand
from bot.models import Product


def load_catalogue(session: Session) -> understand.Catalogue:
    """The product catalogue with every alias, as the understanding layer wants it."""
    products = session.scalars(select(Product).options(selectinload(Product.aliases)).order_by(Product.code))
    return understand.Catalogue(
        understand.CatalogueProduct(
            code=product.code, unit=product.unit,
            names={"fr": product.name_fr, "wo": product.name_wo or "", "en": product.name_en or ""},
            aliases=tuple(alias.alias for alias in product.aliases))
        for product in products)


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
    """The 0-based index a producer picked by typing its number, or None."""
    cleaned = text.strip().rstrip(".)").strip()
    if cleaned.isdigit() and 1 <= int(cleaned) <= count:
        return int(cleaned) - 1
    return None


def format_quantity(quantity: float) -> str:
    """40 rather than 40.0; 1,5 stays a decimal."""
    return str(int(quantity)) if float(quantity).is_integer() else f"{quantity:g}"
