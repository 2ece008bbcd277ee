"""The only place that talks to Twilio: addresses, transports and how provider errors are classed.

Every other module hands messages to a transport from `ovop.messaging.carriers.transport_from_config` (Twilio
here, the SMS gateway in ovop.messaging.smsgate, each channel by its carrier); tests point the real twilio client
at a fake Twilio on loopback through TWILIO_API_BASE_URL instead of patching anything here.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from ovop.core.config import Settings

log = logging.getLogger(__name__)

# Errors that will not get better by trying again: bad or unreachable numbers, opt-outs, WhatsApp outside
# the 24 h window, unapproved templates. Retrying them only costs money and annoys the producer.
PERMANENT_CODES = frozenset({
    21211,  # invalid 'To' number
    21214,  # 'To' number cannot be reached
    21408,  # region not enabled
    21606,  # 'From' number cannot send to this destination
    21608,  # unverified number (trial account)
    21610,  # the recipient replied STOP
    21612,  # cannot route to this number
    21614,  # 'To' is not a mobile number
    21617,  # body too long
    63003,  # WhatsApp: channel could not find the recipient
    63016,  # WhatsApp: free-form message outside the 24 h window
    63024,  # WhatsApp: invalid recipient
})
RETRYABLE_CODES = frozenset({20429, 20500, 20503, 30001})
OPTED_OUT_CODE = 21610
OUTSIDE_WINDOW_CODE = 63016
# Looking up whether Twilio already has a message: how far our clock and Twilio's may disagree, and how many
# of the number's messages to read (the newest whatever their state; those sent since the item was queued).
LOOKUP_SKEW = timedelta(minutes=2)
LOOKUP_NEWEST, LOOKUP_SENT = 50, 200


class TransportError(Exception):
    """A send that did not go through; `permanent` says whether trying again can help."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.permanent, self.code, self.status = permanent, code, status


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


class Transport(Protocol):
    name: str

    def send(self, to: str, channel: str, *, body: str | None = None, content_sid: str | None = None,
             content_variables: dict[str, Any] | None = None, status_callback: str | None = None,
             key: str | None = None) -> SendResult:
        """`key`: stable for one outbox item, for a provider that takes a client-chosen id (the SMS gateway)."""
        ...


def address(phone: str, channel: str) -> str:
    """Twilio's address for a phone on a channel: WhatsApp numbers carry a `whatsapp:` prefix."""
    return f"whatsapp:{phone}" if channel == "whatsapp" else phone


def split_address(raw: str) -> tuple[str, str]:
    """('+221…', 'whatsapp'|'sms') from Twilio's From/To field."""
    raw = raw.strip()
    if raw.lower().startswith("whatsapp:"):
        return raw[len("whatsapp:"):].strip(), "whatsapp"
    return raw, "sms"


def classify(exc: Exception) -> TransportError:
    """Turn what the twilio client raised into a TransportError that says whether to retry."""
    if isinstance(exc, TwilioRestException):
        code, status = exc.code, exc.status
        if code in RETRYABLE_CODES or status == 429 or (status or 0) >= 500:
            permanent = False
        else:
            permanent = code in PERMANENT_CODES or 400 <= (status or 0) < 500
        return TransportError(f"Twilio {status} {code}: {exc.msg}", permanent=permanent, code=code, status=status)
    # Timeouts and connection errors (requests raises them through the client): the request may not have
    # reached Twilio, so they are worth another try.
    return TransportError(f"{type(exc).__name__}: {exc}", permanent=False)


class ConsoleTransport:
    """Logs what would be sent; for a newcomer's machine and for the phone simulator."""

    name = "console"

    def __init__(self):
        self.sent: list[dict[str, Any]] = []

    def send(self, to, channel, *, body=None, content_sid=None, content_variables=None, status_callback=None,
             key=None):
        sid = "CO" + uuid.uuid4().hex
        self.sent.append({"to": to, "channel": channel, "body": body, "content_sid": content_sid,
                          "content_variables": content_variables, "sid": sid})
        log.info("console send to %s (%s): %s", address(to, channel), sid, body or f"template {content_sid}")
        return SendResult(sid=sid, status="sent")


class TwilioTransport:
    """Sends through Twilio's REST API with the official client."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, sms_from: str | None = None,
                 whatsapp_from: str | None = None, messaging_service_sid: str | None = None,
                 api_base_url: str | None = None, timeout: float = Settings.twilio_timeout):
        # An explicit timeout: a hung request must not hold the sender forever.
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")
        self.sms_from, self.whatsapp_from = sms_from, whatsapp_from
        self.messaging_service_sid = messaging_service_sid

    def sender_for(self, channel: str) -> dict[str, str]:
        """The From (or messaging service) for a channel."""
        if channel == "whatsapp" and self.whatsapp_from:
            frm = self.whatsapp_from
            return {"from_": frm if frm.startswith("whatsapp:") else f"whatsapp:{frm}"}
        if channel == "sms" and self.sms_from:
            return {"from_": self.sms_from}
        if self.messaging_service_sid:
            return {"messaging_service_sid": self.messaging_service_sid}
        raise TransportError(f"no Twilio sender configured for {channel}", permanent=True)

    def can_send(self, channel: str) -> bool:
        """True when a sender is configured for the channel."""
        try:
            self.sender_for(channel)
            return True
        except TransportError:
            return False

    def send(self, to, channel, *, body=None, content_sid=None, content_variables=None, status_callback=None,
             key=None):
        params: dict[str, Any] = {"to": address(to, channel), **self.sender_for(channel)}
        if content_sid:
            params["content_sid"] = content_sid
            params["content_variables"] = json.dumps(content_variables or {}, ensure_ascii=False)
        else:
            params["body"] = body
        if status_callback:
            params["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**params)
        except (TwilioException, OSError, ValueError) as exc:
            raise classify(exc) from exc
        except Exception as exc:  # requests' own errors (timeouts, connection resets) land here
            raise classify(exc) from exc
        return SendResult(sid=message.sid, status=message.status or "queued")

    def find_sent(self, to: str, channel: str, body: str | None, since: datetime | None, *,
                  template: bool = False, content_variables: dict[str, Any] | None = None,
                  key: str | None = None) -> list[str]:
        """The sids of messages we sent through the API to this number since `since` that match, newest first.

        When a call ended without an answer, or its sender stopped mid-call, we cannot know whether Twilio
        accepted the request; asking before sending again is what keeps "sent once" true (Twilio's Messages
        API has no idempotency key). A free-text message matches on its body; a template, whose text Twilio
        renders, on the values of its variables.

        Twilio fills DateSent only once a message has left its queue, and its DateSent filter leaves out a
        message still queued or accepted, the very case after a crash mid-call. So two questions: the
        number's newest messages whatever their state, and those sent since `since`; both are matched here on
        the creation date, allowing for clocks that disagree by up to LOOKUP_SKEW.
        """
        values = [str(value) for value in (content_variables or {}).values() if str(value)]
        if not template and not body:
            return []
        to_address = address(to, channel)
        earliest = since - LOOKUP_SKEW if since is not None else None
        try:
            newest = self.client.messages.list(to=to_address, limit=LOOKUP_NEWEST)
            sent = (self.client.messages.list(to=to_address, date_sent_after=earliest, limit=LOOKUP_SENT)
                    if earliest is not None else [])
        except Exception as exc:  # cannot tell: the caller retries the lookup later rather than risk a double send
            raise classify(exc) from exc
        found: list[str] = []
        for message in [*newest, *sent]:
            if message.sid in found or (message.direction or "outbound-api") != "outbound-api":
                continue  # a TwiML reply (outbound-reply) or an inbound message is never an outbox send
            if earliest is not None and message.date_created is not None and message.date_created < earliest:
                continue
            text = message.body or ""
            if (all(value in text for value in values) if template else text == body):
                found.append(message.sid)
        return found


def twilio_from_config(config: dict) -> TwilioTransport:
    """The Twilio transport of the settings (TWILIO_*); RuntimeError without its credentials."""
    if not (config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN")):
        raise RuntimeError("sending through Twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    return TwilioTransport(
        config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], sms_from=config.get("TWILIO_SMS_FROM"),
        whatsapp_from=config.get("TWILIO_WHATSAPP_FROM"),
        messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID"),
        api_base_url=config.get("TWILIO_API_BASE_URL"), timeout=config["TWILIO_TIMEOUT"])


def signature_is_valid(auth_token: str, url: str, params: dict[str, str], signature: str | None) -> bool:
    """Check X-Twilio-Signature (HMAC-SHA1 over the URL and the sorted form fields)."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


def twiml(replies: list[str]) -> str:
    """The TwiML document that answers an inbound message with `replies` (none: an empty Response)."""
    response = MessagingResponse()
    for text in replies:
        response.message(text)
    return str(response)
