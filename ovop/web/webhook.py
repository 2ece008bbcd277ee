"""Twilio's webhooks: verify, record, hand to the engine, answer TwiML. Thin on purpose."""
from __future__ import annotations

import logging
import re
import uuid

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from ovop.messaging import status as delivery
from ovop.conversation.inbound import InboundMessage, Media, clean_text, receive
from ovop.messaging.transport import signature_is_valid, split_address, twiml
from ovop.web.request_limits import limit_body

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/twilio")

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Twilio posts a few KB (a WhatsApp text of 4,096 characters, percent-encoded, is under 50 KB): anything larger
# is refused with 413 before a byte of it is parsed, signature check included.
MAX_BODY = 64 * 1024
MAX_MEDIA = 10  # WhatsApp and MMS carry at most 10 files per message


def _twiml_response(document: str, status: int = 200) -> Response:
    return Response(document, status=status, mimetype="application/xml")


def _signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL + path (signed mode cannot start without PUBLIC_BASE_URL)."""
    base = current_app.config["PUBLIC_BASE_URL"]
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@bp.before_request
def cap_body():
    """Twilio sends a few KB: anything over MAX_BODY is refused before it is read or parsed."""
    limit_body(MAX_BODY)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error):
    return Response(f"request body larger than {MAX_BODY} bytes\n", status=413, mimetype="text/plain")


@bp.before_request
def verify_signature():
    """Refuse anything not signed by Twilio with our auth token (local mode when no token is set)."""
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not token:
        if current_app.config["OUTBOUND_BACKEND"] != "console" and current_app.config["SMS_PROVIDER"] == "smsgate":
            # The SMS gateway alone, without a Twilio account: nothing here can be verified.
            return Response("Twilio is not configured (no TWILIO_AUTH_TOKEN): refused\n", status=403,
                            mimetype="text/plain")
        return None
    params = {key: request.form.get(key, "") for key in request.form.keys()}
    if not signature_is_valid(token, _signed_url(), params, request.headers.get("X-Twilio-Signature")):
        log.warning("refused unsigned or wrongly signed request to %s", request.path)
        return Response("invalid or missing X-Twilio-Signature\n", status=403, mimetype="text/plain")
    return None


@bp.post("/inbound")
def inbound():
    """Twilio's messaging webhook for SMS and WhatsApp."""
    raw_from = request.form.get("From", "").strip()
    if not raw_from:
        return _twiml_response(twiml([]), 400)
    phone, channel = split_address(raw_from)
    if not E164.match(phone):
        # Twilio always sends E.164; anything else is not from a phone we could ever answer.
        return _twiml_response(twiml([]), 400)
    # Twilio always sends a MessageSid; a hand-made request without one is handled once, like any other.
    # Cleaned like the body: PostgreSQL refuses a NUL byte in text, and a junk sid must not become a 500.
    sid = clean_text(request.form.get("MessageSid") or request.form.get("SmsSid"))[:64].strip()
    sid = sid or f"local-{uuid.uuid4().hex}"
    message = InboundMessage(sid=sid, phone=phone, channel=channel, body=clean_text(request.form.get("Body")),
                             payload=clean_text(request.form.get("ButtonPayload"))[:200].strip() or None,
                             media=_media(request.form), **_location(request.form))
    try:
        result = receive(current_app.extensions["ovop"].db, current_app.config, message)
    except OperationalError:
        # The database is away: 503 tells Twilio (and its fallback URL) that nothing was recorded.
        log.exception("database unavailable while receiving %s", sid)
        return _twiml_response(twiml([]), 503)
    return _twiml_response(result.twiml)


def _media(form) -> tuple[Media, ...]:
    """The files Twilio lists (NumMedia, MediaUrlN, MediaContentTypeN); a malformed entry is left out."""
    count = form.get("NumMedia", "0").strip()
    count = min(int(count), MAX_MEDIA) if count.isdigit() else 0
    found = []
    for number in range(count):
        url = clean_text(form.get(f"MediaUrl{number}")).strip()
        content_type = clean_text(form.get(f"MediaContentType{number}")).strip().lower()
        if url.startswith(("https://", "http://")) and len(url) <= 1000:
            found.append(Media(url=url, content_type=content_type or "application/octet-stream"))
    return tuple(found)


def _location(form) -> dict:
    """Latitude and Longitude of a shared location, when both are numbers on the globe."""
    try:
        latitude, longitude = float(form.get("Latitude", "")), float(form.get("Longitude", ""))
    except ValueError:
        return {}
    if -90 <= latitude <= 90 and -180 <= longitude <= 180:
        return {"latitude": latitude, "longitude": longitude}
    return {}


@bp.post("/status")
def status():
    """Twilio's status callbacks: keep the furthest status each message reached."""
    # Cleaned as on /inbound: PostgreSQL refuses a NUL byte in text, and a junk sid must not become a 500.
    sid = clean_text(request.form.get("MessageSid") or request.form.get("SmsSid"))[:64].strip()
    if not sid:
        return Response("", status=400)
    error_code = request.form.get("ErrorCode")
    try:
        delivery.record(current_app.extensions["ovop"].db, sid, request.form.get("MessageStatus", ""),
                        int(error_code) if error_code and error_code.isdigit() else None)
    except OperationalError:
        log.exception("database unavailable while recording status of %s", sid)
        return Response("", status=503)
    # An unknown sid still gets 200: it is a message sent from the Twilio console or by another app on the
    # same account, and an error would only make Twilio retry something we will never know.
    return Response("", status=200)
