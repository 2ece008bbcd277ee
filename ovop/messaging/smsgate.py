"""The only place that talks to the SMS gateway (SMS Gateway for Android, "SMSGate"): sending, looking a message up,
and checking the signature of its webhook events.

A phone with a local SIM runs the gateway app; we reach its API (the cloud server, a private server, or the phone
itself on the local network) with the official client `android-sms-gateway`, pointed at SMSGATE_URL through a
requests session that carries SMSGATE_TIMEOUT on every call.

Sent once: each outbox item gets a message id of its own, derived from the item (`message_id`). Before sending an
item whose last try ended without an answer, the sender asks the gateway for that id (GET /messages/{id}); and if
the gateway already has it anyway, it answers 409 to a second POST with the same id, which is taken as "accepted".
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import requests
from android_sms_gateway import client as gateway_client
from android_sms_gateway import domain as gateway_domain
from android_sms_gateway.errors import APIError, NotFoundError
from android_sms_gateway.http import RequestsHttpClient

from ovop.core.config import Settings
from ovop.core.localtime import earliest_send, timezone_of
from ovop.messaging.channels import provider_for
from ovop.messaging.transport import SendResult, TransportError

log = logging.getLogger(__name__)

NAME = "smsgate"
# The gateway's message states, as the statuses of ovop.messaging.status (whose RANK keeps them forward only).
STATES = {"pending": "queued", "processed": "sending", "sent": "sent", "delivered": "delivered",
          "failed": "failed", "cancelling": "queued", "cancelled": "canceled"}
# Its webhook events about a message we sent, as those statuses.
EVENT_STATUS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}
# A webhook event older or newer than this by our clock is refused (a replay, or a clock that is wrong).
SIGNATURE_TOLERANCE = timedelta(minutes=5)
ID_PREFIX = "ovop-"
ID_LENGTH = 36  # the gateway keeps ids of at most 36 characters


def message_id(key: str) -> str:
    """The gateway message id for an outbox item's stable `key`: the same key always gives the same id."""
    return ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:ID_LENGTH - len(ID_PREFIX)]


def signature(key: str, body: bytes, timestamp: str) -> str:
    """What the gateway puts in X-Signature: lowercase hex HMAC-SHA256 of the raw body followed by X-Timestamp."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def signature_is_valid(key: str, body: bytes, timestamp: str | None, given: str | None) -> bool:
    """True when `given` is the signature of `body` and `timestamp` with `key` (compared in constant time)."""
    if not (key and timestamp and given):
        return False
    return hmac.compare_digest(signature(key, body, timestamp), given.strip().lower())


def timestamp_is_fresh(timestamp: str | None, now: datetime) -> bool:
    """True when X-Timestamp (Unix seconds) is within SIGNATURE_TOLERANCE of `now`, either side."""
    text = (timestamp or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:  # Unix seconds have 10 digits until 2286
        return False
    return abs(now.timestamp() - int(text)) <= SIGNATURE_TOLERANCE.total_seconds()


def cap_window(now: datetime, config: dict) -> tuple[datetime, datetime]:
    """(start of today, local time, in UTC; when the gateway may send again once today's cap is reached: the next
    local morning, the end of the quiet hours or midnight when they are off)."""
    local = now.astimezone(timezone_of(config))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = midnight + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    return midnight.astimezone(now.tzinfo), earliest_send(tomorrow.astimezone(now.tzinfo), config)


def classify(exc: Exception) -> TransportError:
    """Turn what the client or requests raised into a TransportError that says whether to retry."""
    if isinstance(exc, APIError):
        status = exc.status_code or 0
        detail = (exc.response or {}).get("message") if isinstance(exc.response, dict) else None
        # 400: the gateway refuses the message itself (a number it cannot send to, an empty text): trying again
        # changes nothing. 401/403: the credentials are wrong, and every message would fail the same way until
        # someone fixes them; retried with backoff so nothing is lost meanwhile. 429 and 5xx: later.
        permanent = status in (400, 404, 413, 422)
        return TransportError(f"SMSGate {status}: {detail or exc}", permanent=permanent, status=status)
    # Timeouts and connection errors: the request may or may not have reached the gateway; worth another try.
    return TransportError(f"{type(exc).__name__}: {exc}", permanent=False)


class _TimeoutSession(requests.Session):
    """A requests session that gives every call a timeout, so a hung gateway cannot hold the sender."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


class SmsGateTransport:
    """Sends SMS through the gateway's API with the official client; SMS only (the phone has no WhatsApp)."""

    name = NAME

    def __init__(self, url: str, username: str, password: str, *, timeout: float = Settings.smsgate_timeout):
        self.session = _TimeoutSession(timeout)
        self.client = gateway_client.APIClient(username, password, base_url=url.rstrip("/"),
                                               http=RequestsHttpClient(session=self.session))

    def can_send(self, channel: str) -> bool:
        return channel == "sms"

    def send(self, to, channel, *, body=None, content_sid=None, content_variables=None, status_callback=None,
             key: str | None = None) -> SendResult:
        if channel != "sms":
            raise TransportError(f"the SMS gateway carries SMS only, not {channel}", permanent=True)
        if content_sid or not body:
            raise TransportError("the SMS gateway sends text only, not templates", permanent=True)
        identifier = message_id(key) if key else None
        message = gateway_domain.Message(phone_numbers=[to], text_message=gateway_domain.TextMessage(text=body),
                                         with_delivery_report=True, id=identifier)
        try:
            state = self.client.send(message)
        except APIError as exc:
            if exc.status_code == 409 and identifier:
                # The gateway already has this very id: an earlier try reached it. Accepted, not sent again.
                log.info("SMSGate already had message %s; not sent again", identifier)
                return SendResult(sid=identifier, status="accepted")
            raise classify(exc) from exc
        except Exception as exc:  # requests' timeouts and connection errors, a reply that is not the API's
            raise classify(exc) from exc
        return SendResult(sid=state.id, status=STATES.get(state.state.value.lower(), "queued"))

    def find_sent(self, to: str, channel: str, body: str | None, since: datetime | None, *,
                  template: bool = False, content_variables: dict[str, Any] | None = None,
                  key: str | None = None) -> list[str]:
        """[the item's message id] when the gateway has it, else []; TransportError when it cannot tell."""
        if not key or channel != "sms":
            return []
        identifier = message_id(key)
        try:
            self.client.get_state(identifier)
        except NotFoundError:
            return []
        except Exception as exc:  # cannot tell: the caller asks again later rather than risk a double send
            raise classify(exc) from exc
        return [identifier]

    def close(self) -> None:
        self.session.close()


def signed_headers(key: str, body: bytes, at: float | None = None) -> dict[str, str]:
    """The headers the gateway sends with a webhook event (for the fake gateway and for trying the endpoint)."""
    timestamp = str(int(time.time() if at is None else at))
    return {"Content-Type": "application/json", "X-Timestamp": timestamp,
            "X-Signature": signature(key, body, timestamp)}


def pace(config: dict, rates: dict[str, float]) -> dict[str, Any]:
    """The sender's settings for the gateway's pace when it carries SMS: at most one SMS every
    SMSGATE_SECONDS_PER_SMS (instead of Twilio's OUTBOX_RATE_SMS), at most SMSGATE_DAILY_CAP a local day.
    `rates` are the per-channel rates otherwise (Twilio's); nothing changes when the gateway carries nothing."""
    if provider_for(config, "sms") != NAME:
        return {"rates": rates}
    seconds = config["SMSGATE_SECONDS_PER_SMS"]
    gateway = {**rates, "sms": 1.0 / seconds if seconds > 0 else 0}
    return {"rates": gateway, "daily_caps": {NAME: config["SMSGATE_DAILY_CAP"]},
            "cap_window": lambda moment: cap_window(moment, config)}
