"""Receive one inbound message: record it once, lock the conversation, ask the engine, keep the answer.

No Flask here: the webhook, the phone simulator and `flask chat` all come through `receive`.
"""
from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.conversation import engine
from ovop.core.db import Database
from ovop.language.i18n import for_channel, t
from ovop.models import ConversationState, Message, Producer
from ovop.messaging.transport import twiml

log = logging.getLogger(__name__)

MAX_BODY = 1600  # Twilio's own limit for one message; anything longer is junk, not a report


@dataclass(frozen=True)
class InboundMessage:
    sid: str
    phone: str  # E.164
    channel: str  # sms | whatsapp
    body: str


@dataclass(frozen=True)
class Received:
    twiml: str
    replies: tuple[str, ...]
    duplicate: bool


def clean_text(raw: str | None) -> str:
    """Drop control characters and cap the length, keeping newlines, accents and emoji."""
    text = "".join(ch for ch in (raw or "") if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text[:MAX_BODY]


def receive(db: Database, config: dict, message: InboundMessage) -> Received:
    """Handle one inbound message exactly once per MessageSid; a duplicate gets the first answer again."""
    try:
        with db.transaction() as session:
            return _handle_new(session, config, message)
    except IntegrityError:
        # Another delivery of this MessageSid committed first (a Twilio retry, or the same request racing us).
        with db.transaction() as session:
            first = session.scalar(select(Message).where(Message.provider_sid == message.sid))
            if first is None:  # the unique violation was about something else: let it surface
                raise
            replies = tuple(session.scalars(select(Message.body).where(Message.in_reply_to_id == first.id)
                                            .order_by(Message.id)))
            return Received(twiml=first.reply_twiml or twiml([]), replies=replies, duplicate=True)


def _handle_new(session: Session, config: dict, message: InboundMessage) -> Received:
    now = clock.now()
    inbound = Message(direction="in", channel=message.channel, phone=message.phone, body=message.body,
                      provider_sid=message.sid, status="received", status_rank=0, created_at=now, updated_at=now)
    session.add(inbound)
    session.flush()  # claims the MessageSid now: a concurrent duplicate waits here, then fails
    state = _lock_conversation(session, message.phone, now)
    producer = session.scalar(select(Producer).where(Producer.phone == message.phone,
                                                     Producer.deleted_at.is_(None)))
    if producer is None:
        replies = _answer_stranger(state, config, now)
    else:
        inbound.producer_id = producer.id
        state.producer_id = producer.id
        if producer.last_inbound_at is None or producer.last_inbound_at < now:
            producer.last_inbound_at = now  # opens WhatsApp's 24 h window
        replies = _ask_engine(session, engine.Turn(session=session, producer=producer, state=state,
                                                   text=message.body, now=now, config=config,
                                                   message_id=inbound.id))
    replies = [for_channel(text, message.channel) for text in replies]
    for text in replies:
        session.add(Message(direction="out", channel=message.channel, phone=message.phone,
                            producer_id=inbound.producer_id, body=text, status="replied", status_rank=0,
                            in_reply_to_id=inbound.id, created_at=now, updated_at=now))
    state.version += 1
    state.updated_at = now
    inbound.reply_twiml = twiml(replies)
    return Received(twiml=inbound.reply_twiml, replies=tuple(replies), duplicate=False)


def _ask_engine(session: Session, turn: engine.Turn) -> list[str]:
    """The engine's replies; a bug in a flow costs only that message's answer, never the message itself.

    The engine runs in a savepoint: if it fails, what it wrote is rolled back, the inbound message stays
    recorded and the producer is told to try again. A database that is away still fails the whole request
    (the webhook answers 503 and Twilio may retry).
    """
    try:
        with session.begin_nested():
            return engine.handle(turn).replies
    except OperationalError:
        raise
    except Exception:
        log.exception("engine failed on message %s from producer %s", turn.message_id, turn.producer.id)
        session.expire(turn.state)
        return [t("error.try_later", turn.lang)]


def _lock_conversation(session: Session, phone: str, now) -> ConversationState:
    """The conversation row of `phone`, created if new and locked until the transaction ends.

    On PostgreSQL the row lock makes a second message from the same phone wait for the first; on SQLite
    every write transaction already holds the database lock (BEGIN IMMEDIATE, see bot/db.py).
    """
    make_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(make_insert(ConversationState)
                    .values(phone=phone, data={}, version=0, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["phone"]))
    return session.scalars(select(ConversationState).where(ConversationState.phone == phone)
                           .with_for_update().execution_options(populate_existing=True)).one()


def _answer_stranger(state: ConversationState, config: dict, now) -> list[str]:
    """One polite "how to join" a few times a day at most, so nobody can use us to pump SMS."""
    today = now.date().isoformat()
    quota = dict(state.data.get("join_replies") or {})
    sent_today = quota.get(today, 0)
    if sent_today >= config.get("JOIN_REPLIES_PER_DAY", 2):
        return []
    state.data = {**state.data, "join_replies": {today: sent_today + 1}}
    return [t("join.info", "fr")]
