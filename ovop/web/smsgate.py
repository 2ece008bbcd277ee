"""The SMS gateway's webhook: signed JSON events, each handled once. Thin on purpose.

`sms:received` is a producer's SMS: handed to `receive` (the replies leave through the outbox and the gateway's
send API); `sms:sent`, `sms:delivered` and `sms:failed` move the status of a message we sent forward only.
Answers: 200 handled (or already handled, or an event we do not use), 400 a body that is not a gateway event,
403 a missing or wrong signature (or no SMSGATE_SIGNING_KEY set), 401 a timestamp more than 5 minutes from our
clock, 413 too large, 503 the database is away (the gateway tries again later).
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from ovop.conversation.inbound import InboundMessage, clean_text, receive
from ovop.core import clock
from ovop.core.phones import InvalidPhone, to_e164
from ovop.messaging import smsgate
from ovop.messaging import status as delivery
from ovop.models import GatewayEvent
from ovop.web.request_limits import limit_body

log = logging.getLogger(__name__)
bp = Blueprint("smsgate", __name__, url_prefix="/smsgate")

# An event is a few hundred bytes; an SMS the phone joined from parts stays well under this.
MAX_BODY = 64 * 1024
MAX_ID = 64  # the event id becomes the inbound message's provider sid (64 characters)
RECEIVED = "sms:received"


def _answer(code: int, **fields):
    return jsonify(fields), code


def _refuse(code: int, error: str, field: str | None = None):
    return _answer(code, error=error, field=field)


@bp.before_request
def cap_body():
    """The gateway sends a few hundred bytes: anything over MAX_BODY is refused before it is read."""
    limit_body(MAX_BODY)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error):
    return _refuse(413, f"request body larger than {MAX_BODY} bytes")


@bp.before_request
def verify_signature():
    """Refuse what the gateway did not sign with SMSGATE_SIGNING_KEY, and what it signed too long ago."""
    key = current_app.config.get("SMSGATE_SIGNING_KEY")
    if not key:
        log.warning("refused a gateway event: SMSGATE_SIGNING_KEY is not set")
        return _refuse(403, "SMSGATE_SIGNING_KEY is not set: gateway events are refused")
    timestamp = request.headers.get("X-Timestamp")
    if not smsgate.signature_is_valid(key, request.get_data(cache=True), timestamp,
                                      request.headers.get("X-Signature")):
        log.warning("refused an unsigned or wrongly signed gateway event")
        return _refuse(403, "invalid or missing X-Signature", "X-Signature")
    if not smsgate.timestamp_is_fresh(timestamp, clock.now()):
        log.warning("refused a gateway event with a stale timestamp %r", timestamp)
        return _refuse(401, "X-Timestamp is more than 5 minutes away from our clock", "X-Timestamp")
    return None


@bp.post("/inbound")
def inbound():
    """One webhook event of the gateway."""
    try:
        event = json.loads(request.get_data(cache=True))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
        return _refuse(400, "the body is not JSON")
    if not isinstance(event, dict):
        return _refuse(400, "the body is not a JSON object")
    kind, event_id, payload = event.get("event"), event.get("id"), event.get("payload")
    if not isinstance(kind, str) or not kind:
        return _refuse(400, "event is required", "event")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_ID:
        return _refuse(400, f"id is required (at most {MAX_ID} characters)", "id")
    event_id = clean_text(event_id).strip()
    if not event_id:
        return _refuse(400, "id is required", "id")
    if not isinstance(payload, dict):
        return _refuse(400, "payload is required", "payload")
    try:
        if kind == RECEIVED:
            return _received(event_id, payload)
        if kind in smsgate.EVENT_STATUS:
            return _status(event_id, kind, payload)
    except OperationalError:
        # The database is away: 503, and the gateway sends the event again later (it retries for about 2 days).
        log.exception("database unavailable while handling gateway event %s", event_id)
        return _refuse(503, "database unavailable; try again later")
    # Another event the gateway can send (a ping, a data SMS, an MMS): nothing to do, and nothing to retry.
    return _answer(200, status="ignored")


def _phone(payload: dict, field: str) -> str | None:
    raw = payload.get(field)
    if not isinstance(raw, str):
        return None
    try:
        return to_e164(clean_text(raw))
    except InvalidPhone:
        return None


def _received(event_id: str, payload: dict):
    """A producer's SMS: recorded once under the event id (the payload's messageId is not unique)."""
    text = payload.get("message")
    if not isinstance(text, str):
        return _refuse(400, "payload.message is required", "payload.message")
    phone = _phone(payload, "phoneNumber") or _phone(payload, "sender")
    if phone is None:
        if isinstance(payload.get("phoneNumber"), str) and payload["phoneNumber"].strip():
            # A sender named, not numbered ("Orange", a bank): nobody we could answer, and nothing to retry.
            log.info("gateway event %s: an SMS from %r, not a phone number; ignored", event_id,
                     clean_text(payload["phoneNumber"])[:20])
            return _answer(200, status="ignored", reason="the sender is not a phone number")
        return _refuse(400, "payload.phoneNumber is not a phone number", "payload.phoneNumber")
    db = current_app.extensions["ovop"].db
    if _seen(db, event_id):
        return _answer(200, status="duplicate")
    # The inbound message's provider sid is the event id, unique in the messages table: a replay that races
    # this one is recorded once by `receive` itself, in the transaction that does what the message asks.
    result = receive(db, current_app.config, InboundMessage(sid=event_id, phone=phone, channel="sms",
                                                            body=clean_text(text), provider=smsgate.NAME))
    with db.transaction() as session:
        _note(session, event_id, RECEIVED)
    return _answer(200, status="duplicate" if result.duplicate else "received", replies=len(result.replies))


def _status(event_id: str, kind: str, payload: dict):
    """A message we sent was sent, delivered or failed: its status moves forward only."""
    message_id = payload.get("messageId")
    if not isinstance(message_id, str) or not message_id.strip():
        return _refuse(400, "payload.messageId is required", "payload.messageId")
    db = current_app.extensions["ovop"].db
    with db.transaction() as session:
        if not _note(session, event_id, kind):
            return _answer(200, status="duplicate")
        # An unknown id still gets 200: a message sent from the phone's own app, which we never knew.
        moved = delivery.record_in(session, clean_text(message_id).strip()[:64], smsgate.EVENT_STATUS[kind], None)
    return _answer(200, status="recorded" if moved else "unchanged")


def _seen(db, event_id: str) -> bool:
    with db.transaction() as session:
        return session.scalar(select(GatewayEvent.id).where(GatewayEvent.id == event_id)) is not None


def _note(session, event_id: str, kind: str) -> bool:
    """Note the event id in the caller's transaction; False when it was already there (a replay)."""
    make_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (make_insert(GatewayEvent).values(id=event_id, event=kind[:30], received_at=clock.now())
                 .on_conflict_do_nothing(index_elements=["id"]).returning(GatewayEvent.id))
    return session.execute(statement).scalar() is not None
