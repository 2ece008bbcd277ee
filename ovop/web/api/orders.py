"""Orders in the staff API: create (the producers are alerted at once), follow the answers, cancel, deliver."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ovop.web import paging
from ovop.web.api import ApiError, bp, database, json_body, query
from ovop.domain import directory, orders, schemas
from ovop.models import Order
from ovop.language.formats import iso, plain_number

ID = f"int(min=1, max={directory.MAX_ID})"  # a path id that is not a storable integer is simply not found




def order_json(order: Order, today) -> dict:
    """An order as the staff see it, with every alerted producer's answer (null while unanswered)."""
    return {
        "id": order.id, "reference": order.reference, "cooperative_id": order.cooperative_id,
        "product": order.product.code, "quantity": plain_number(order.quantity), "unit": order.unit,
        "due_date": order.due_date.isoformat(), "note": order.note, "status": order.status,
        "overdue": orders.is_overdue(order, today), "accepted_by": order.accepted_by_id,
        "accepted_quantity": plain_number(order.accepted_quantity), "accepted_at": iso(order.accepted_at),
        "delivered_at": iso(order.delivered_at), "cancelled_at": iso(order.cancelled_at),
        "created_at": iso(order.created_at), "updated_at": iso(order.updated_at),
        "answers": [{"producer_id": note.producer_id, "answer": note.answer, "quantity": plain_number(note.quantity),
                     "answered_at": iso(note.answered_at), "notified_at": iso(note.notified_at),
                     "sent_via": note.sent_via, "reminded_at": iso(note.reminded_at)}
                    for note in order.notifications],
    }


def _json(order: Order) -> dict:
    return order_json(order, orders.local_today(current_app.config))


@bp.post("/orders")
def create_order():
    data = json_body()
    with database().transaction() as session:
        answer = _json(orders.create_order(session, current_app.config, data))
    return answer, 201


@bp.get("/orders")
def list_orders():
    """Newest first, a page at a time; `?status=` and `?cooperative_id=` narrow them."""
    filters = query(schemas.OrderQuery)
    window = paging.window(orders.ORDER_KEYS)
    with database().transaction() as session:
        found = orders.orders(session, status=filters.status, cooperative_id=filters.cooperative_id, window=window,
                              options=(selectinload(Order.notifications), selectinload(Order.product)))
        return paging.answer(found, orders.ORDER_KEYS, _json)


@bp.get(f"/orders/<{ID}:order_id>")
def get_order(order_id: int):
    with database().transaction() as session:
        return _json(_order(session, order_id))


@bp.post(f"/orders/<{ID}:order_id>/cancel")
def cancel_order(order_id: int):
    return _staff_action(order_id, orders.cancel)


@bp.post(f"/orders/<{ID}:order_id>/delivered")
def deliver_order(order_id: int):
    return _staff_action(order_id, orders.deliver)


def _staff_action(order_id: int, action):
    """Run cancel or deliver; a status that does not allow it is a 409 that says the current status."""
    with database().transaction() as session:
        try:
            order = action(session, current_app.config, _order(session, order_id))
        except orders.WrongStatus as error:
            raise ApiError(409, str(error), current_status=error.order.status) from None
        session.flush()
        return _json(order)


def _order(session, order_id: int) -> Order:
    found = session.scalar(select(Order).where(Order.id == order_id))
    if found is None:
        raise ApiError(404, f"no order with id {order_id}")
    return found
