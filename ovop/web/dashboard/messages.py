"""The message log: what came in and went out, filtered by producer, direction, status and channel."""
from __future__ import annotations

from flask import request
from sqlalchemy import select

from ovop.web.dashboard import bp, database, page, problem
from ovop.domain import directory
from ovop.domain.directory import DirectoryError
from ovop.models import Message, Producer
from ovop.messaging.status import RANK

LIMIT = 200
STATUSES = ("received", "replied") + tuple(sorted(RANK))


@bp.get("/messages", endpoint="messages")
def messages_page():
    """Newest first; `phone` (any writing) or `producer_id` picks one producer."""
    args = {key: (request.args.get(key) or "").strip()[:40] for key in
            ("phone", "producer_id", "direction", "status", "channel")}
    error, found, producer = None, [], None
    with database().transaction() as session:
        try:
            producer_id = directory.query_int("producer_id", args["producer_id"])
            found = directory.messages(session, phone_number=args["phone"] or None,
                                       direction=args["direction"] or None, producer_id=producer_id,
                                       status=args["status"] or None, channel=args["channel"] or None, limit=LIMIT)
            producer = directory.producer(session, producer_id) if producer_id else None
        except DirectoryError as refused:
            error = problem(refused)
        names = dict(session.execute(select(Producer.id, Producer.name).where(
            Producer.id.in_({message.producer_id for message in found if message.producer_id}))).all())
        return page("messages.html", 422 if error else 200, messages=found, args=args, error=error,
                    names=names, producer=producer, statuses=STATUSES, limit=LIMIT,
                    directions=directory.DIRECTIONS, channels=directory.CHANNELS, Message=Message)
