"""The message log: what came in and went out, filtered by producer, direction, status and channel."""
from __future__ import annotations

from flask import request
from sqlalchemy import select

from ovop.core import keyset
from ovop.web import paging
from ovop.web.dashboard import bp, database, page, problem
from ovop.domain import directory, schemas
from ovop.core.errors import Refusal
from ovop.models import Message, Producer
from ovop.messaging.status import RANK

LIMIT = 50  # messages a page
STATUSES = ("received", "replied") + tuple(sorted(RANK))


@bp.get("/messages", endpoint="messages")
def messages_page():
    """Newest first, LIMIT a page read from the database; `phone` (any writing) or `producer_id` picks one
    producer."""
    args = {key: (request.args.get(key) or "").strip()[:40] for key in
            ("phone", "producer_id", "direction", "status", "channel")}
    error, found, producer = None, keyset.Page(), None
    window, refused_link = paging.asked(directory.MESSAGE_KEYS, LIMIT)
    with database().transaction() as session:
        try:
            query = schemas.parse_query(schemas.MessageQuery, args)
            found = directory.messages(session, phone_number=query.phone, direction=query.direction,
                                       producer_id=query.producer_id, status=query.status, channel=query.channel,
                                       window=window)
            producer = directory.producer(session, query.producer_id) if query.producer_id else None
        except Refusal as refused:
            error = problem(refused)
        names = dict(session.execute(select(Producer.id, Producer.name).where(
            Producer.id.in_({message.producer_id for message in found if message.producer_id}))).all())
        pager = paging.pager("dashboard.messages", found, directory.MESSAGE_KEYS, window, refused_link, **args)
        return page("messages.html", 422 if error else 200, messages=found, args=args, error=error, pager=pager,
                    names=names, producer=producer, statuses=STATUSES, limit=LIMIT,
                    directions=directory.DIRECTIONS, channels=directory.CHANNELS, Message=Message)
