"""The message log in the staff API: what came in and went out, newest first."""
from __future__ import annotations

from flask import request

from ovop.web.api import bp, database, items
from ovop.domain import directory
from ovop.models import Message


def message_json(message: Message) -> dict:
    """One logged message as the API shows it (an erased producer's texts read as null)."""
    return {"id": message.id, "direction": message.direction, "phone": message.phone, "channel": message.channel,
            "body": message.body, "status": message.status, "error_code": message.error_code,
            "created_at": message.created_at.isoformat(), "producer_id": message.producer_id}


@bp.get("/messages")
def list_messages():
    args = request.args
    producer_id = directory.query_int("producer_id", args.get("producer_id"))
    limit = directory.query_int("limit", args.get("limit"), maximum=directory.MAX_MESSAGE_LIMIT)
    with database().transaction() as session:
        found = directory.messages(session, phone_number=args.get("phone"), direction=args.get("direction"),
                                   producer_id=producer_id, status=args.get("status"),
                                   channel=args.get("channel"), limit=limit)
        return items(message_json(message) for message in found)
