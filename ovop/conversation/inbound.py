"""Receive one inbound message: lock the conversation, record the message once, ask the engine, keep the answer.

No Flask here: the webhook, the phone simulator and `flask chat` all come through `receive`.
"""
from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, joinedload

from ovop.core import clock
from ovop.conversation import engine, pickers
from ovop.core.db import Database
from ovop.language.i18n import for_channel, t
from ovop.models import ConversationState, Cooperative, Message, MessageMedia, Producer
from ovop.messaging import costs, outbox
from ovop.messaging.transport import twiml

log = logging.getLogger(__name__)

# Providers that cannot carry a reply in their webhook's answer (the SMS gateway): replies go through the outbox.
REPLY_BY_OUTBOX = frozenset({"smsgate"})
MAX_BODY = 1600  # Twilio's own limit for one message; anything longer is junk, not a report


def _upsert_conversation(make_insert):
    """INSERT … ON CONFLICT DO UPDATE … RETURNING, read as an ORM object (cheaper than an ORM-enabled INSERT)."""
    table = ConversationState.__table__
    upsert = make_insert(table).values(phone=bindparam("phone"), data={}, version=1, updated_at=bindparam("now"))
    upsert = upsert.on_conflict_do_update(index_elements=["phone"], set_={
        "version": table.c.version + 1, "updated_at": upsert.excluded.updated_at})
    return select(ConversationState).from_statement(upsert.returning(*table.c))


# The statements of every message, built once: building them costs more than running them.
_LOCK = {"postgresql": _upsert_conversation(pg_insert), "sqlite": _upsert_conversation(sqlite_insert)}
_PRODUCER = (select(Producer).where(Producer.phone == bindparam("phone"), Producer.deleted_at.is_(None))
             .options(joinedload(Producer.products),
                      joinedload(Producer.cooperative).joinedload(Cooperative.products)))


@dataclass(frozen=True)
class Media:
    """A file that came with a message: the provider's address and the type it declared."""

    url: str
    content_type: str


@dataclass(frozen=True)
class InboundMessage:
    sid: str
    phone: str  # E.164
    channel: str  # sms | whatsapp
    body: str
    # What a tapped WhatsApp button or list item carries (ButtonPayload): routed on, never the label.
    payload: str | None = None
    media: tuple[Media, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    provider: str = "twilio"  # who brought it: twilio | smsgate | simulator | chat


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
        try:
            with db.transaction() as session:
                return _handle_new(session, config, message)
        except _EngineFailed:
            # What the engine wrote went with the transaction: record the message again with an apology.
            with db.transaction() as session:
                return _handle_new(session, config, message, engine_failed=True)
    except IntegrityError:
        # Another delivery of this MessageSid committed first (a Twilio retry, or the same request racing us).
        with db.transaction() as session:
            first = session.scalar(select(Message).where(Message.provider_sid == message.sid))
            if first is None:  # the unique violation was about something else: let it surface
                raise
            if first.phone != message.phone:
                # A sid is one sender's: another number reusing it (a forged request in local mode) is not a
                # redelivery, and must never get the first sender's answer back.
                log.warning("message %s from another number than its first delivery: ignored", message.sid)
                return Received(twiml=twiml([]), replies=(), duplicate=True)
            replies = tuple(session.scalars(select(Message.body).where(Message.in_reply_to_id == first.id)
                                            .order_by(Message.id)))
            return Received(twiml=first.reply_twiml or twiml([]), replies=replies, duplicate=True)


class _EngineFailed(Exception):
    """The engine raised: the transaction is rolled back and the message recorded again without it."""


def _handle_new(session: Session, config: dict, message: InboundMessage, engine_failed: bool = False) -> Received:
    """One message in one transaction, in as few statements as the rules allow: lock (and count) the
    conversation, read the producer with what they make (Producer.makes) in one query, record the message (a
    duplicate MessageSid fails here), ask the engine, record the replies."""
    now = clock.now()
    state = _lock_conversation(session, message.phone, now)
    producer = session.scalars(_PRODUCER, {"phone": message.phone}).unique().one_or_none()
    inbound = Message(direction="in", channel=message.channel, phone=message.phone, body=message.body,
                      producer_id=producer.id if producer else None, provider_sid=message.sid,
                      status="received", status_rank=0, created_at=now, updated_at=now,
                      provider=message.provider, latitude=message.latitude, longitude=message.longitude)
    # Fetched later by the worker (ovop.jobs.media), with the account's credentials, into MEDIA_DIR.
    inbound.media = [MessageMedia(position=number, content_type=item.content_type[:100], source_url=item.url,
                                  status="pending", created_at=now)
                     for number, item in enumerate(message.media)]
    session.add(inbound)
    if producer is not None:
        if state.producer_id != producer.id:
            state.producer_id = producer.id
        if producer.last_inbound_at is None or producer.last_inbound_at < now:
            producer.last_inbound_at = now  # opens WhatsApp's 24 h window
    session.flush()  # the message gets its id for the rows it causes; a duplicate MessageSid fails here
    if producer is None:
        replies = _answer_stranger(state, config, now)
    elif engine_failed:
        replies = [t("error.try_later", producer.language or "fr")]
    else:
        replies = _ask_engine(session, engine.Turn(session=session, producer=producer, state=state,
                                                   text=message.body, now=now, config=config,
                                                   message_id=inbound.id, channel=message.channel,
                                                   payload=message.payload,
                                                   media=tuple(item.content_type for item in message.media),
                                                   located=message.latitude is not None))
    # A list picker (menu, workshops) leaves by REST with its ContentSid when the channel allows it: TwiML cannot
    # carry one, so then every reply of this message goes through the outbox, in order.
    contents = pickers.content_sids(config, message.channel, message.provider, producer.language or "fr",
                                    replies) if producer is not None else [None] * len(replies)
    variables = [getattr(text, "variables", None) for text in replies]
    replies = [for_channel(text, message.channel) for text in replies]
    if message.channel == "sms":
        # Concatenated SMS may arrive broken or not at all (Senegal's carriers): a reply longer than one segment
        # leaves as numbered parts of one segment each, like everything the service sends by SMS.
        replies = [part for text in replies for part in costs.sms_parts(text)]
        contents = variables = [None] * len(replies)
    by_outbox = message.provider in REPLY_BY_OUTBOX or any(contents)
    # A reply is carried by the provider that brought the message (TwiML, or the gateway through the outbox).
    carrier = costs.reply_provider(message.provider)
    for number, text in enumerate(replies, start=1):
        reply = Message(direction="out", channel=message.channel, phone=message.phone, kind="reply",
                        producer_id=inbound.producer_id, body=text, status="replied", status_rank=0,
                        in_reply_to_id=inbound.id, created_at=now, updated_at=now,
                        **costs.estimate(config["MESSAGE_PRICES"], provider=carrier, channel=message.channel,
                                         kind="reply", body=text).columns())
        if by_outbox:
            # Replies are sent like anything else the service sends: once, by the sender, which fills this row in.
            reply.status = "queued"
            reply.outbox_item_id = outbox.enqueue(
                session, dedupe_key=f"reply:{inbound.id}:{number}", kind="reply", recipient=message.phone,
                channel=message.channel, body=text, producer_id=inbound.producer_id, not_before=now,
                content_sid=contents[number - 1],
                content_variables=variables[number - 1] if contents[number - 1] else None)
        session.add(reply)
    inbound.reply_twiml = twiml([] if by_outbox else replies)
    return Received(twiml=inbound.reply_twiml, replies=tuple(replies), duplicate=False)


def _ask_engine(session: Session, turn: engine.Turn) -> list[str]:
    """The engine's replies; a bug in a flow costs only that message's answer, never the message itself.

    If the engine fails, _EngineFailed rolls the whole transaction back and `receive` records the message
    again, with the conversation as it was and "try again later" for an answer. A database that is away still
    fails the whole request (the webhook answers 503 and Twilio may retry).
    """
    try:
        replies = engine.handle(turn).replies
        session.flush()  # what the engine wrote fails here, still as the engine's failure
        return replies
    except OperationalError:
        raise
    except Exception as error:
        log.exception("engine failed on message %s from producer %s", turn.message_id, turn.producer.id)
        raise _EngineFailed() from error


def _lock_conversation(session: Session, phone: str, now) -> ConversationState:
    """The conversation row of `phone`, created if new, counted (version + 1) and locked until the transaction
    ends, in one statement.

    On PostgreSQL the upsert's row lock makes a second message from the same phone wait for the first, then
    read what the first left; on SQLite every write transaction already holds the database lock (BEGIN
    IMMEDIATE, see ovop/core/db.py).
    """
    return session.scalars(_LOCK[session.get_bind().dialect.name], {"phone": phone, "now": now},
                           execution_options={"populate_existing": True}).one()


def _answer_stranger(state: ConversationState, config: dict, now) -> list[str]:
    """One polite "how to join" a few times a day at most, so nobody can use us to pump SMS."""
    today = now.date().isoformat()
    quota = dict(state.data.get("join_replies") or {})
    sent_today = quota.get(today, 0)
    if sent_today >= config["JOIN_REPLIES_PER_DAY"]:
        return []
    state.data = {**state.data, "join_replies": {today: sent_today + 1}}
    return [t("join.info", "fr")]
