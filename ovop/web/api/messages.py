"""The message log in the staff API: what came in and went out, newest first."""
from __future__ import annotations


from flask import url_for

from ovop.web import paging
from ovop.web.api import bp, database, query
from ovop.domain import directory, schemas
from ovop.models import Message


def message_json(message: Message) -> dict:
    """One logged message as the API shows it (an erased producer's texts read as null)."""
    return {"id": message.id, "direction": message.direction, "phone": message.phone, "channel": message.channel,
            "body": message.body, "status": message.status, "error_code": message.error_code,
            "created_at": message.created_at.isoformat(), "producer_id": message.producer_id,
            **cost_json(message), **media_json(message)}


def media_json(message: Message) -> dict:
    """What came with an inbound message: its files (`url` to fetch a stored one with the token, null while it
    is not stored) and a shared location."""
    located = message.latitude is not None and message.longitude is not None
    return {"media": [{"url": url_for("api.get_media", media_id=item.id) if item.status == "stored" else None,
                       "content_type": item.content_type, "status": item.status} for item in message.media],
            "location": {"latitude": message.latitude, "longitude": message.longitude} if located else None}


def cost_json(message: Message) -> dict:
    """What an outbound message is and cost (ovop.messaging.costs): its kind, carrier, SMS segments and the
    estimate in F CFA (null when MESSAGE_PRICES has no price for it); null for an inbound message."""
    outbound = message.direction == "out"
    return {"kind": message.kind if outbound else None, "provider": message.provider if outbound else None,
            "segments": message.segments if outbound else None, "cost": message.cost if outbound else None}


@bp.get("/messages")
def list_messages():
    """Newest first, a page at a time; `?phone=`, `?producer_id=`, `?direction=`, `?status=`, `?channel=`."""
    filters = query(schemas.MessageQuery)
    window = paging.window(directory.MESSAGE_KEYS)
    with database().transaction() as session:
        found = directory.messages(session, phone_number=filters.phone, direction=filters.direction,
                                   producer_id=filters.producer_id, status=filters.status, channel=filters.channel,
                                   window=window)
        return paging.answer(found, directory.MESSAGE_KEYS, message_json)
