"""Cooperatives and products in the staff API: thin views over ovop.domain.directory."""
from __future__ import annotations


from ovop.web import paging
from ovop.web.api import ApiError, bp, database, json_body
from ovop.domain import directory
from ovop.models import Cooperative, Product

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
    with database().transaction() as session:
        answer = cooperative_json(directory.create_cooperative(session, json_body()))
    return answer, 201


@bp.get("/cooperatives")
def list_cooperatives():
    """Cooperatives by name, a page at a time (`?limit=`, `?after=`)."""
    window = paging.window(directory.COOPERATIVE_KEYS)
    with database().transaction() as session:
        return paging.answer(directory.cooperatives(session, window), directory.COOPERATIVE_KEYS, cooperative_json)


@bp.get(f"/cooperatives/<{ID}:cooperative_id>")
def get_cooperative(cooperative_id: int):
    with database().transaction() as session:
        return cooperative_json(_cooperative(session, cooperative_id))


@bp.patch(f"/cooperatives/<{ID}:cooperative_id>")
def update_cooperative(cooperative_id: int):
    data = json_body()
    with database().transaction() as session:
        cooperative = directory.update_cooperative(session, _cooperative(session, cooperative_id), data)
        session.flush()
        return cooperative_json(cooperative)


def _cooperative(session, cooperative_id: int) -> Cooperative:
    found = directory.cooperative(session, cooperative_id)
    if found is None:
        raise ApiError(404, f"no cooperative with id {cooperative_id}")
    return found


@bp.post("/products")
def create_product():
    with database().transaction() as session:
        answer = product_json(directory.create_product(session, json_body()))
    return answer, 201


@bp.get("/products")
def list_products():
    """Products by code, a page at a time (`?limit=`, `?after=`)."""
    window = paging.window(directory.PRODUCT_KEYS)
    with database().transaction() as session:
        return paging.answer(directory.products(session, window), directory.PRODUCT_KEYS, product_json)


@bp.get("/products/<key>")
def get_product(key: str):
    with database().transaction() as session:
        return product_json(_product(session, key))


@bp.patch("/products/<key>")
def update_product(key: str):
    data = json_body()
    with database().transaction() as session:
        product = directory.update_product(session, _product(session, key), data)
        session.flush()
        return product_json(product)


def _product(session, key: str) -> Product:
    found = directory.product(session, key)
    if found is None:
        raise ApiError(404, f"no product with code or id '{key}'")
    return found
