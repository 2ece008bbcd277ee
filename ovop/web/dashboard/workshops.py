"""Workshops: create and edit them, see registrations and the waitlist, mark attendance, export attendees."""
from __future__ import annotations

import csv
import io

from flask import Response, current_app, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ovop.web.dashboard import (_, bp, csv_safe, database, form_moment, form_number, form_value, lang, local_input, notice, page, problem, timezone_name)
from ovop.core import clock
from ovop.web import paging
from ovop.domain import directory, workshops
from ovop.core.errors import Refusal
from ovop.language.i18n import LANGUAGES, format_datetime
from ovop.models import Producer, Registration, Workshop

ID = f"int(min=1, max={directory.MAX_ID})"
PAGE_SIZE = 50  # workshops, or registrations, a page


def _fields() -> dict:
    """The workshop form as the domain's fields (workshops.create takes the same)."""
    titles = {code: form_value(f"title_{code}", 400) for code in LANGUAGES}
    description = form_value("description_fr", 4000)
    return {"title": {code: value for code, value in titles.items() if value},
            "description": {"fr": description} if description else None,
            "starts_at": form_moment("starts_at", required=True), "location": form_value("location", 400) or None,
            "capacity": form_number("capacity", whole=True),
            "registration_deadline": form_moment("registration_deadline")}


def _form_of(item: Workshop | None) -> dict:
    """An existing workshop as the form's values."""
    if item is None:
        return {}
    values = {f"title_{code}": getattr(item, f"title_{code}") or "" for code in LANGUAGES}
    return {**values, "description_fr": item.description_fr or "", "starts_at": local_input(item.starts_at),
            "location": item.location, "capacity": item.capacity,
            "registration_deadline": local_input(item.registration_deadline)}


@bp.get("/workshops", endpoint="workshops")
def workshops_page():
    return _list_page({})


def _list_page(form, error: Refusal | None = None, status: int = 200):
    window, refused_link = paging.asked(workshops.WORKSHOP_KEYS, PAGE_SIZE)
    with database().transaction() as session:
        found = workshops.workshops(session, window=window)
        counted = workshops.counts(session, [item.id for item in found])
        listed = [(item, counted[item.id], workshops.seats_left(item, counted[item.id])) for item in found]
        return page("workshops.html", status, workshops=listed, form=form, now=clock.now(),
                    pager=paging.pager("dashboard.workshops", found, workshops.WORKSHOP_KEYS, window, refused_link),
                    error=problem(error) if error else None)


@bp.post("/workshops")
def create_workshop():
    try:
        fields = _fields()
        with database().transaction() as session:
            item = workshops.create(session, fields, clock.now())
            workshop_id = item.id
    except Refusal as error:
        return _list_page(request.form, error, 422)
    notice("workshops.created")
    return redirect(url_for("dashboard.workshop", workshop_id=workshop_id))


def _detail_page(workshop_id: int, form: dict | None = None, error: Refusal | None = None,
                 status: int = 200):
    window, refused_link = paging.asked(workshops.REGISTRATION_KEYS, PAGE_SIZE)
    with database().transaction() as session:
        item = workshops.workshop(session, workshop_id)
        if item is None:
            return page("error.html", 404, message=_("workshops.not_found"))
        registrations = workshops.registrations(
            session, item, window, options=(selectinload(Registration.producer).selectinload(Producer.cooperative),))
        places = {registration.id: n for n, registration in enumerate(workshops.waitlist(session, item.id), 1)}
        counted = workshops.counts(session, [item.id])[item.id]
        return page("workshop.html", status, item=item, registrations=registrations, places=places,
                    pager=paging.pager("dashboard.workshop", registrations, workshops.REGISTRATION_KEYS, window,
                                       refused_link, workshop_id=item.id),
                    counted=counted, seats_left=workshops.seats_left(item, counted),
                    form=form if form is not None else _form_of(item), error=problem(error) if error else None,
                    holding=workshops.HOLDING_SEAT, attended=workshops.ATTENDED)


@bp.get(f"/workshops/<{ID}:workshop_id>", endpoint="workshop")
def workshop_page(workshop_id: int):
    return _detail_page(workshop_id)


@bp.post(f"/workshops/<{ID}:workshop_id>")
def edit_workshop(workshop_id: int):
    try:
        fields = _fields()
        with database().transaction() as session:
            item = workshops.lock(session, workshop_id)
            if item is None:
                return page("error.html", 404, message=_("workshops.not_found"))
            workshops.update(session, item, fields, clock.now(), current_app.config)
    except Refusal as error:
        return _detail_page(workshop_id, request.form, error, 422)
    notice("workshops.saved")
    return redirect(url_for("dashboard.workshop", workshop_id=workshop_id))


@bp.post(f"/workshops/<{ID}:workshop_id>/attendance")
def mark_attendance(workshop_id: int):
    """A producer came (attended=1) or, correcting a mistake, did not (attended=0)."""
    raw = form_value("producer_id", 12)
    producer_id = int(raw) if raw.isascii() and raw.isdigit() and directory.is_id(int(raw)) else None
    with database().transaction() as session:
        item = workshops.workshop(session, workshop_id)
        if item is None or producer_id is None:
            return page("error.html", 404, message=_("workshops.not_found"))
        try:
            workshops.mark_attendance(session, item, producer_id, form_value("attended", 2) == "1", clock.now())
        except LookupError:
            return page("error.html", 404, message=_("workshops.not_found"))
    return redirect(url_for("dashboard.workshop", workshop_id=workshop_id) + "#registrations")


@bp.get(f"/workshops/<{ID}:workshop_id>/attendees.csv")
def attendees_csv(workshop_id: int):
    """Those holding a seat (registered or attended), by name, as a spreadsheet opens it (UTF-8 with BOM)."""
    with database().transaction() as session:
        item = workshops.workshop(session, workshop_id)
        if item is None:
            return page("error.html", 404, message=_("workshops.not_found"))
        seated = session.scalars(
            select(Registration).join(Producer)
            .where(Registration.workshop_id == item.id, Registration.status.in_(workshops.HOLDING_SEAT))
            .options(selectinload(Registration.producer).selectinload(Producer.cooperative))
            .order_by(Producer.name, Producer.id))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([_(f"csv.{column}") for column in
                         ("name", "phone", "cooperative", "language", "status", "registered_at", "attended")])
        for registration in seated:
            producer = registration.producer
            writer.writerow([csv_safe(producer.name), producer.phone or "",
                             csv_safe(producer.cooperative.name if producer.cooperative else ""), producer.language,
                             registration.status,
                             format_datetime(registration.registered_at, lang(), timezone_name())
                             if registration.registered_at else "",
                             _("csv.yes") if registration.status == workshops.ATTENDED else _("csv.no")])
    filename = f"workshop-{workshop_id}-attendees.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
