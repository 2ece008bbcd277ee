"""Workshops in the staff API: create and list them, see who registered, mark who attended."""
from __future__ import annotations


from ovop.web import paging
from ovop.web.api import ApiError, bp, database, json_body, query
from ovop.core import clock
from ovop.domain import directory, schemas, workshops
from ovop.models import Registration, Workshop
from ovop.language.formats import iso

ID = f"int(min=1, max={directory.MAX_ID})"  # a path id that is not a storable integer is simply not found



def workshop_json(item: Workshop, status_counts: dict[str, int]) -> dict:
    """A workshop as the API shows it, with its seats."""
    languages = ("fr", "wo", "en")
    return {"id": item.id,
            "title": {lang: getattr(item, f"title_{lang}") for lang in languages},
            "description": {lang: getattr(item, f"description_{lang}") for lang in languages},
            "starts_at": iso(item.starts_at), "location": item.location, "capacity": item.capacity,
            "registration_deadline": iso(item.registration_deadline), "reminders": item.reminder_offsets(),
            "registered": sum(status_counts.get(status, 0) for status in workshops.HOLDING_SEAT),
            "waitlisted": status_counts.get(workshops.WAITLISTED, 0),
            "seats_left": workshops.seats_left(item, status_counts),
            "open": workshops.is_open(item, clock.now()), "created_at": iso(item.created_at)}


def registration_json(registration: Registration, position: int | None) -> dict:
    """A registration as the API shows it; `position` is the place on the waitlist."""
    return {"id": registration.id, "workshop_id": registration.workshop_id,
            "producer_id": registration.producer_id, "status": registration.status, "position": position,
            "created_at": iso(registration.created_at), "registered_at": iso(registration.registered_at),
            "cancelled_at": iso(registration.cancelled_at), "updated_at": iso(registration.updated_at)}


@bp.post("/workshops")
def create_workshop():
    body = json_body()
    with database().transaction() as session:
        item = workshops.create(session, body, clock.now())
        answer = workshop_json(item, {})
    return answer, 201


@bp.get("/workshops")
def list_workshops():
    """Workshops by start time, a page at a time; `?upcoming=true` keeps those not started yet."""
    upcoming = query(schemas.WorkshopQuery).upcoming
    window = paging.window(workshops.WORKSHOP_KEYS)
    with database().transaction() as session:
        found = workshops.workshops(session, upcoming_after=clock.now() if upcoming else None, window=window)
        counted = workshops.counts(session, [item.id for item in found])
        return paging.answer(found, workshops.WORKSHOP_KEYS, lambda item: workshop_json(item, counted[item.id]))


@bp.get(f"/workshops/<{ID}:workshop_id>")
def get_workshop(workshop_id: int):
    with database().transaction() as session:
        item = _workshop(session, workshop_id)
        return workshop_json(item, workshops.counts(session, [item.id])[item.id])


@bp.get(f"/workshops/<{ID}:workshop_id>/registrations")
def list_registrations(workshop_id: int):
    """Registrations in the order they were made, a page at a time; waitlisted ones carry their position."""
    window = paging.window(workshops.REGISTRATION_KEYS)
    with database().transaction() as session:
        item = _workshop(session, workshop_id)
        found = workshops.registrations(session, item, window)
        # Positions count from the head of the waitlist, which may lie on earlier pages: one workshop's waitlist.
        places = {registration.id: n for n, registration in enumerate(workshops.waitlist(session, item.id), 1)} \
            if any(registration.status == workshops.WAITLISTED for registration in found) else {}
        return paging.answer(found, workshops.REGISTRATION_KEYS,
                             lambda registration: registration_json(registration, places.get(registration.id)))


@bp.post(f"/workshops/<{ID}:workshop_id>/attendance")
def mark_attendance(workshop_id: int):
    """{"producer_id": 7, "attended": true}: the producer came (false corrects a mistake)."""
    body = schemas.parse(schemas.Attendance, json_body())
    producer_id, attended = body.producer_id, body.attended
    with database().transaction() as session:
        item = _workshop(session, workshop_id)
        try:
            registration = workshops.mark_attendance(session, item, producer_id, attended, clock.now())
        except LookupError as error:
            raise ApiError(404, str(error)) from None
        return registration_json(registration, workshops.position(session, registration))


def _workshop(session, workshop_id: int) -> Workshop:
    found = workshops.workshop(session, workshop_id)
    if found is None:
        raise ApiError(404, f"no workshop with id {workshop_id}")
    return found
