"""Producers in the staff API: register, find, correct, and erase on request."""
from __future__ import annotations


from flask import current_app

from ovop.web import paging
from ovop.web.api import ApiError, bp, database, json_body, query
from ovop.domain import directory, schemas
from ovop.models import Producer
from ovop.language.formats import iso

ID = f"int(min=1, max={directory.MAX_ID})"  # a path id that is not a storable integer is simply not found



def producer_json(producer: Producer) -> dict:
    """A producer as the API shows it."""
    return {"id": producer.id, "phone": producer.phone, "name": producer.name,
            "cooperative_id": producer.cooperative_id, "language": producer.language, "channel": producer.channel,
            "products": [product.code for product in producer.products], "opted_out": producer.opted_out,
            "sandbox": bool(producer.sandbox),
            "last_inbound_at": iso(producer.last_inbound_at), "created_at": iso(producer.created_at)}


@bp.post("/producers")
def create_producer():
    with database().transaction() as session:
        answer = producer_json(directory.create_producer(session, json_body()))
    return answer, 201


@bp.get("/producers")
def list_producers():
    """Producers by name, a page at a time; `?cooperative_id=` and `?q=` (name or number) narrow them."""
    filters = query(schemas.ProducerQuery)
    window = paging.window(directory.PRODUCER_KEYS)
    with database().transaction() as session:
        found = directory.producers(session, cooperative_id=filters.cooperative_id, q=filters.q, window=window)
        return paging.answer(found, directory.PRODUCER_KEYS, producer_json)


@bp.get(f"/producers/<{ID}:producer_id>")
def get_producer(producer_id: int):
    with database().transaction() as session:
        return producer_json(_producer(session, producer_id))


@bp.patch(f"/producers/<{ID}:producer_id>")
def update_producer(producer_id: int):
    data = json_body()
    with database().transaction() as session:
        producer = directory.update_producer(session, _producer(session, producer_id), data)
        session.flush()
        return producer_json(producer)


@bp.delete(f"/producers/<{ID}:producer_id>")
def delete_producer(producer_id: int):
    """Erase the producer's personal data (name, number, message texts); their anonymous id stays."""
    with database().transaction() as session:
        directory.erase_producer(session, _producer(session, producer_id), current_app.config["MEDIA_DIR"])
    return "", 204


def _producer(session, producer_id: int) -> Producer:
    found = directory.producer(session, producer_id)
    if found is None:
        raise ApiError(404, f"no producer with id {producer_id}")
    return found
