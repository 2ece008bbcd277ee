"""Orders: create one (its cooperative's producers are alerted at once), follow the answers, cancel, deliver."""
from __future__ import annotations

from flask import current_app, redirect, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ovop.web import paging
from ovop.web.dashboard import bp, database, form_number, form_value, notice, page, problem
from ovop.domain import directory, orders, schemas
from ovop.core.errors import Refusal
from ovop.models import Cooperative, Order, OrderNotification

PAGE_SIZE = 50  # orders a page


def _form_page(form: dict, error: Refusal | None = None, status: int = 200):
    """The orders page: the new-order form (with a refusal, if any) and the latest orders, a page at a time."""
    wanted = request.args.get("status") or None
    wanted = wanted if wanted in orders.STATUSES else None
    window, refused_link = paging.asked(orders.ORDER_KEYS, PAGE_SIZE)
    with database().transaction() as session:
        found = orders.orders(session, status=wanted, window=window, options=(
            selectinload(Order.notifications).selectinload(OrderNotification.producer),
            selectinload(Order.product), selectinload(Order.cooperative), selectinload(Order.accepted_by)))
        cooperatives = list(session.scalars(select(Cooperative).options(selectinload(Cooperative.products))
                                            .order_by(Cooperative.name)))
        return page("orders.html", status, orders=found, cooperatives=cooperatives,
                    pager=paging.pager("dashboard.orders", found, orders.ORDER_KEYS, window, refused_link,
                                       status=wanted),
                    products=directory.products(session), statuses=orders.STATUSES, wanted=wanted,
                    today=orders.local_today(current_app.config), form=form,
                    error=problem(error) if error else None, cancellable=orders.CANCELLABLE,
                    deliverable=orders.DELIVERABLE)


@bp.get("/orders", endpoint="orders")
def orders_page():
    return _form_page({})


@bp.post("/orders")
def create_order():
    """Create an order from the form; a refusal is shown next to the form with what was typed."""
    try:
        cooperative_id = schemas.value("cooperative_id", schemas.Id, form_value("cooperative_id", 12))
        data = {"cooperative_id": cooperative_id, "product": form_value("product", 40) or None,
                "quantity": form_number("quantity"), "due_date": form_value("due_date", 40) or None,
                "note": form_value("note", 500) or None}
        with database().transaction() as session:
            order = orders.create_order(session, current_app.config, data)
            reference = order.reference
            alerted = session.scalar(select(func.count()).select_from(OrderNotification).where(
                OrderNotification.order_id == order.id, OrderNotification.notified_at.is_not(None)))
    except Refusal as error:
        return _form_page(request.form, error, 422)
    notice("orders.created", reference=reference, alerted=alerted)
    return redirect(url_for("dashboard.orders"))


def _staff_action(order_id: int, action, done_key: str):
    with database().transaction() as session:
        order = session.get(Order, order_id)
        if order is None:
            notice("orders.not_found")
            return redirect(url_for("dashboard.orders"))
        try:
            action(session, current_app.config, order)
            notice(done_key, reference=order.reference)
        except orders.WrongStatus as error:
            notice("orders.wrong_status", reference=error.order.reference, status=error.order.status)
    return redirect(url_for("dashboard.orders", status=request.args.get("status") or None))


@bp.post(f"/orders/<int(min=1, max={directory.MAX_ID}):order_id>/cancel")
def cancel_order(order_id: int):
    return _staff_action(order_id, orders.cancel, "orders.cancelled")


@bp.post(f"/orders/<int(min=1, max={directory.MAX_ID}):order_id>/delivered")
def deliver_order(order_id: int):
    return _staff_action(order_id, orders.deliver, "orders.delivered")
