"""The staff inbox in the API: conversations handed to a person, a producer's thread, a reply, closing.

GET /conversations?status=open, GET /conversations/{producer_id} (reading it marks it read),
POST /conversations/{producer_id}/reply {"text"} (through the outbox and the channel policy),
POST /conversations/{producer_id}/close (the producer is back with the bot).
"""
from __future__ import annotations

from flask import current_app

from ovop.conversation import handoff
from ovop.domain import directory, schemas
from ovop.models import MessageMedia, StaffConversation
from ovop.web import media_files, paging
from ovop.web.api import ApiError, bp, database, json_body, query
from ovop.web.api.messages import message_json

API_AUTHOR = "api"  # who a reply sent with the bearer token is from
ID = f"int(min=1, max={directory.MAX_ID})"  # a path id that is not a storable integer is simply not found


def conversation_json(conversation: StaffConversation) -> dict:
    producer = conversation.producer
    return {"id": conversation.id, "producer_id": conversation.producer_id,
            "producer_name": producer.name if producer else None,
            "phone": producer.phone if producer else None, "status": conversation.status,
            "reason": conversation.reason, "unread": conversation.unread,
            "opened_at": conversation.opened_at.isoformat(),
            "last_message_at": conversation.last_message_at.isoformat(),
            "closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None,
            "closed_by": conversation.closed_by}


def _refused(error: handoff.InboxRefusal):
    raise ApiError(error.status, error.reason) from None


@bp.get("/conversations")
def list_conversations():
    """The latest message first; `?status=open` for the inbox."""
    filters = query(schemas.ConversationQuery)
    window = paging.window(handoff.INBOX_KEYS)
    with database().transaction() as session:
        found = handoff.conversations(session, filters.status, window)
        return paging.answer(found, handoff.INBOX_KEYS, conversation_json)


@bp.get(f"/conversations/<{ID}:producer_id>")
def get_conversation(producer_id: int):
    """The producer's open conversation (else their latest) with their latest messages; marks it read."""
    with database().transaction() as session:
        try:
            conversation, messages = handoff.read(session, producer_id)
        except handoff.InboxRefusal as error:
            _refused(error)
        return {**conversation_json(conversation), "messages": [message_json(m) for m in messages]}


@bp.post(f"/conversations/<{ID}:producer_id>/reply")
def reply_to_conversation(producer_id: int):
    """Send the text to the producer (free text in WhatsApp's window, else a template, else SMS)."""
    given = schemas.parse(schemas.StaffReply, json_body())
    with database().transaction() as session:
        try:
            message = handoff.reply(session, current_app.config, producer_id, given.text, API_AUTHOR)
        except handoff.InboxRefusal as error:
            _refused(error)
        return message_json(message), 201


@bp.post(f"/conversations/<{ID}:producer_id>/close")
def close_conversation(producer_id: int):
    """Close the open conversation: the bot answers the producer again."""
    with database().transaction() as session:
        try:
            conversation = handoff.close(session, producer_id, API_AUTHOR)
        except handoff.InboxRefusal as error:
            _refused(error)
        return conversation_json(conversation)


@bp.get(f"/media/<{ID}:media_id>")
def get_media(media_id: int):
    """A stored photo, voice note or PDF a producer sent (the `url` of a message's `media`)."""
    with database().transaction() as session:
        row = session.get(MessageMedia, media_id)
        response = media_files.send(current_app.config["MEDIA_DIR"], row)
    if response is None:
        raise ApiError(404, f"there is no stored media with id {media_id}")
    return response
