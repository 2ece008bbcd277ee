"""Cooperatives and products in the staff API: thin views over ovop.domain.directory."""
from __future__ import annotations


from ovop.web.api import ApiError, bp, database, items, json_body
from ovop.domain import directory
from ovop.models import Cooperative, Product

COOPERATIVE_FIELDS = ("name", "region", "products")
PRODUCT_FIELDS = ("code", "unit", "names", "aliases", "low_stock_threshold")
COOPERATIVE_READ_ONLY = ("id", "created_at")
PRODUCT_READ_ONLY = ("id", "created_at", "learnt_aliases")
ID = f"int(min=1, max={directory.MAX_ID})"  # a path id that is not a storable integer is simply not found


def cooperative_json(cooperative: Cooperative) -> dict:
    """A cooperative as the API shows it."""
    return {"id": cooperative.id, "name": cooperative.name, "region": cooperative.region,
            "products": [product.code for product in cooperative.products],
            "created_at": cooperative.created_at.isoformat()}


def product_json(product: Product) -> dict:
    """A product as the API shows it; learnt aliases are listed apart and cannot be written."""
    return {"id": product.id, "code": product.code, "unit": product.unit,
            "names": {"fr": product.name_fr, "wo": product.name_wo, "en": product.name_en},
            "aliases": directory.staff_aliases(product), "learnt_aliases": directory.learnt_aliases(product),
            "low_stock_threshold": product.low_stock_threshold, "created_at": product.created_at.isoformat()}


@bp.post("/cooperatives")
def create_cooperative():
    fields = directory.known_fields(json_body(), COOPERATIVE_FIELDS, COOPERATIVE_READ_ONLY)
    with database().transaction() as session:
        answer = cooperative_json(directory.create_cooperative(session, fields))
    return answer, 201


@bp.get("/cooperatives")
def list_cooperatives():
    with database().transaction() as session:
        return items(cooperative_json(cooperative) for cooperative in directory.cooperatives(session))


@bp.get(f"/cooperatives/<{ID}:cooperative_id>")
def get_cooperative(cooperative_id: int):
    with database().transaction() as session:
        return cooperative_json(_cooperative(session, cooperative_id))


@bp.patch(f"/cooperatives/<{ID}:cooperative_id>")
def update_cooperative(cooperative_id: int):
    fields = directory.known_fields(json_body(), COOPERATIVE_FIELDS, COOPERATIVE_READ_ONLY)
    with database().transaction() as session:
        cooperative = directory.update_cooperative(session, _cooperative(session, cooperative_id), fields)
        session.flush()
        return cooperative_json(cooperative)


def _cooperative(session, cooperative_id: int) -> Cooperative:
    found = directory.cooperative(session, cooperative_id)
    if found is None:
        raise ApiError(404, f"no cooperative with id {cooperative_id}")
    return found


@bp.post("/products")
def create_product():
    fields = directory.known_fields(json_body(), PRODUCT_FIELDS, PRODUCT_READ_ONLY)
    with database().transaction() as session:
        answer = product_json(directory.create_product(session, fields))
    return answer, 201


@bp.get("/products")
def list_products():
    with database().transaction() as session:
        return items(product_json(product) for product in directory.products(session))


@bp.get("/products/<key>")
def get_product(key: str):
    with database().transaction() as session:
        return product_json(_product(session, key))


@bp.patch("/products/<key>")
def update_product(key: str):
    fields = directory.known_fields(json_body(), PRODUCT_FIELDS, PRODUCT_READ_ONLY)
    with database().transaction() as session:
        product = directory.update_product(session, _product(session, key), fields)
        session.flush()
        return product_json(product)


def _product(session, key: str) -> Product:
    found = directory.product(session, key)
    if found is None:
        raise ApiError(404, f"no product with code or id '{key}'")
    return found
