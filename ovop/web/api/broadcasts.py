"""Broadcasts in the staff API: a text per language to an audience, now or later, and a preview of its cost."""
from __future__ import annotations

from flask import current_app

from ovop.web import paging
from ovop.web.api import ApiError, bp, database, json_body
from ovop.domain import broadcasts, directory
from ovop.core import clock
from ovop.models import Broadcast
from ovop.language.formats import iso

ID = f"int(min=1, max={directory.MAX_ID})"



def broadcast_json(broadcast: Broadcast) -> dict:
    """A broadcast as the API shows it; `status` is scheduled until the scheduler has enqueued it."""
    return {"id": broadcast.id, "text": {"fr": broadcast.text_fr, "wo": broadcast.text_wo, "en": broadcast.text_en},
            "audience": broadcast.audience or {}, "send_at": iso(broadcast.send_at), "status": broadcast.status,
            "enqueued_at": iso(broadcast.enqueued_at), "recipients": broadcast.recipients,
            "created_at": iso(broadcast.created_at)}


@bp.post("/broadcasts")
def create_broadcast():
    """{"text": {"fr": …, "wo": …, "en": …}, "audience": {…}, "send_at": ISO}: the scheduler sends it."""
    body = json_body()
    with database().transaction() as session:
        answer = broadcast_json(broadcasts.create(session, body, clock.now()))
    return answer, 201


@bp.post("/broadcasts/preview")
def preview_broadcast():
    """Producers reached, SMS segments and the estimated cost per language, without storing or sending anything."""
    data = json_body()
    with database().transaction() as session:
        return broadcasts.preview(session, data, current_app.config)


@bp.get("/broadcasts")
def list_broadcasts():
    """Newest send time first, a page at a time (`?limit=`, `?after=`)."""
    window = paging.window(broadcasts.BROADCAST_KEYS)
    with database().transaction() as session:
        return paging.answer(broadcasts.broadcasts(session, window), broadcasts.BROADCAST_KEYS, broadcast_json)


@bp.get(f"/broadcasts/<{ID}:broadcast_id>")
def get_broadcast(broadcast_id: int):
    with database().transaction() as session:
        found = session.get(Broadcast, broadcast_id)
        if found is None:
            raise ApiError(404, f"no broadcast with id {broadcast_id}")
        return broadcast_json(found)
