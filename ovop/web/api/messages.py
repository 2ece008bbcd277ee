"""The message log in the staff API: what came in and went out, newest first."""
from __future__ import annotations


from ovop.web import paging
from ovop.web.api import bp, database, query
from ovop.domain import directory, schemas
from ovop.models import Message


def message_json(message: Message) -> dict:
    """One logged message as the API shows it (an erased producer's texts read as null)."""
    return {"id": message.id, "direction": message.direction, "phone": message.phone, "channel": message.channel,
            "body": message.body, "status": message.status, "error_code": message.error_code,
            "created_at": message.created_at.isoformat(), "producer_id": message.producer_id}


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
