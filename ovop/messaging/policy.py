"""Channel policy for every message the service starts (alerts, reminders, tips, broadcasts), never replies.

For a producer who has not opted out, the first line that applies decides:

| producer's channel | condition                                               | the outbox row                      |
|--------------------|---------------------------------------------------------|-------------------------------------|
| whatsapp           | WhatsApp sender configured, 24 h window open at send    | free WhatsApp text                  |
| whatsapp           | an approved template for (kind, language) or (kind, fr) | WhatsApp template (ContentSid)      |
| any                | an SMS sender configured                                | SMS, folded to GSM-7                |
| any                | otherwise                                               | status "undeliverable", never sent  |

Free WhatsApp text outside the window is never queued: Twilio refuses it (63016) and the producer hears nothing.
Templates come from config["TWILIO_TEMPLATES"] (a dict, or the JSON of the TWILIO_TEMPLATES variable):
``{"order_alert": {"fr": "HX…", "wo": "HX…"}}``. Their ContentVariables number the caller's params in the
order given ({"1": first, "2": second, …}), so each kind documents that order where it builds its params.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.language.i18n import DEFAULT_LANGUAGE, for_channel, t
from ovop.models import OutboxItem, Producer
from ovop.messaging.outbox import PENDING, enqueue

log = logging.getLogger(__name__)

UNDELIVERABLE = "undeliverable"
NO_CHANNEL = "no allowed channel: WhatsApp window closed, no approved template, no SMS sender configured"
WINDOW = timedelta(hours=24)
# The sender may need a few minutes (rate limit, a retry): a text queued just before the window closes
# would reach Twilio after it. Inside this margin the template or SMS is used instead.
SEND_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class Route:
    """How one message will leave: `via` is whatsapp | template | sms | undeliverable."""

    via: str
    channel: str
    content_sid: str | None = None


@dataclass(frozen=True)
class Notice:
    """What `notify` queued: the outbox row's status (pending, undeliverable, or later ones), its route, and
    whether this call added it (False: that dedupe key was already queued)."""

    status: str
    via: str
    channel: str
    added: bool = True


@lru_cache(maxsize=8)
def _parse_templates(raw: str) -> dict:
    try:
        parsed = json.loads(raw)
    except ValueError:
        log.error("TWILIO_TEMPLATES is not valid JSON; no WhatsApp template will be used")
        return {}
    if not isinstance(parsed, dict):
        log.error("TWILIO_TEMPLATES must be a JSON object {kind: {language: ContentSid}}")
        return {}
    return parsed


def templates(config: dict) -> dict:
    """{kind: {language: ContentSid}} from the settings (a dict, or JSON text), else from the environment."""
    raw = config["TWILIO_TEMPLATES"] if "TWILIO_TEMPLATES" in config else os.environ.get("TWILIO_TEMPLATES")
    if not raw:
        return {}
    return raw if isinstance(raw, dict) else _parse_templates(raw)


def template_for(config: dict, kind: str, lang: str) -> str | None:
    """The approved template for a message kind in `lang`, else the French one (the reference), else None."""
    by_language = templates(config).get(kind) or {}
    return by_language.get(lang) or by_language.get(DEFAULT_LANGUAGE) or None


def _console(config: dict) -> bool:
    return config.get("OUTBOUND_BACKEND", "console") == "console"


def sms_ready(config: dict) -> bool:
    """True when an SMS can leave: a sender number, a messaging service, or the console backend."""
    return _console(config) or bool(config.get("TWILIO_SMS_FROM") or config.get("TWILIO_MESSAGING_SERVICE_SID"))


def whatsapp_ready(config: dict) -> bool:
    """True when a WhatsApp message can leave: a WhatsApp sender, a messaging service, or the console."""
    return _console(config) or bool(config.get("TWILIO_WHATSAPP_FROM")
                                    or config.get("TWILIO_MESSAGING_SERVICE_SID"))


def in_window(producer: Producer, at: datetime) -> bool:
    """True when free WhatsApp text sent at `at` still falls in the 24 h after the producer's last message."""
    last = producer.last_inbound_at
    return last is not None and at < last + WINDOW - SEND_MARGIN


def route(config: dict, producer: Producer, kind: str, at: datetime) -> Route:
    """Decide how a message of `kind` reaches `producer` when sent at `at` (the table above)."""
    if producer.channel == "whatsapp" and whatsapp_ready(config):
        if in_window(producer, at):
            return Route("whatsapp", "whatsapp")
        content_sid = template_for(config, kind, producer.language or DEFAULT_LANGUAGE)
        if content_sid:
            return Route("template", "whatsapp", content_sid)
    if sms_ready(config):
        return Route("sms", "sms")
    return Route(UNDELIVERABLE, producer.channel or "sms")


def content_variables(params: dict) -> dict[str, str]:
    """Twilio's ContentVariables: the params numbered from 1 in the order given."""
    return {str(number): str(value) for number, value in enumerate(params.values(), start=1)}


def notify(session: Session, config: dict, producer: Producer, kind: str, dedupe_key: str, key: str,
           params: dict, *, not_before: datetime | None = None, now: datetime | None = None) -> Notice | None:
    """Queue message `key` for a producer in their language by the allowed channel, once per dedupe key.

    The channel is judged for the moment the message may leave: `not_before`, else `now` (a job run "as if the
    clock said" passes its time), else the clock. Returns None when nothing may be sent (opted out, erased);
    otherwise the outbox row's Notice — for a key already queued, the row that was there. Runs in the
    caller's transaction and never commits.
    """
    if not producer.reachable:
        return None
    chosen, row = _route_and_render(config, producer, kind, dedupe_key, key, params, not_before, now)
    return _queue(session, chosen, dedupe_key=dedupe_key, kind=kind, recipient=producer.phone,
                  producer_id=producer.id, body=row["body"], variables=row["content_variables"],
                  not_before=not_before)


def outbox_row(config: dict, producer: Producer, kind: str, dedupe_key: str, key: str, params: dict, *,
               not_before: datetime | None = None, now: datetime | None = None) -> dict | None:
    """What `notify` would queue, as a row for ovop.messaging.outbox.enqueue_many (None: nothing may be sent)."""
    if not producer.reachable:
        return None
    chosen, row = _route_and_render(config, producer, kind, dedupe_key, key, params, not_before, now)
    if chosen.via == UNDELIVERABLE:
        row.update(status=UNDELIVERABLE, last_error=NO_CHANNEL)
    return row


def _route_and_render(config, producer, kind, dedupe_key, key, params, not_before, now) -> tuple[Route, dict]:
    at = not_before or now or clock.now()
    chosen = route(config, producer, kind, at)
    text = t(key, producer.language or DEFAULT_LANGUAGE, **params)
    return chosen, {"dedupe_key": dedupe_key, "kind": kind, "recipient": producer.phone, "channel": chosen.channel,
                    "body": for_channel(text, chosen.channel), "content_sid": chosen.content_sid,
                    "content_variables": content_variables(params) if chosen.content_sid else None,
                    "producer_id": producer.id, "not_before": not_before}


def notify_staff(session: Session, config: dict, kind: str, dedupe_key: str, key: str, params: dict, *,
                 about: Producer | None = None) -> int:
    """Queue a short French SMS to each of STAFF_PHONES; returns how many rows this call added.

    `about`: the producer whose action the alert reports. Erasing them rewrites the alert, and when they are a
    sandbox producer the alert is written to the message table, never sent through a provider.
    """
    chosen = Route("sms", "sms") if sms_ready(config) else Route(UNDELIVERABLE, "sms")
    body = for_channel(t(key, DEFAULT_LANGUAGE, **params), "sms")
    added = 0
    for phone in config.get("STAFF_PHONES") or ():
        row_key = f"{dedupe_key}:to={phone}"
        notice = _queue(session, chosen, dedupe_key=row_key, kind=kind, recipient=phone,
                        producer_id=None, body=body, variables=None, not_before=None)
        if notice.added and about is not None:
            session.execute(update(OutboxItem).where(OutboxItem.dedupe_key == row_key)
                            .values(about_producer_id=about.id, sandbox=bool(about.sandbox))
                            .execution_options(synchronize_session=False))
        added += notice.added
    return added


def _queue(session: Session, chosen: Route, *, dedupe_key: str, kind: str, recipient: str,
           producer_id: int | None, body: str, variables: dict | None, not_before: datetime | None) -> Notice:
    """Enqueue one row; an undeliverable one is kept for the staff with the reason, and never claimed."""
    added = enqueue(session, dedupe_key=dedupe_key, kind=kind, recipient=recipient, channel=chosen.channel,
                    body=body, content_sid=chosen.content_sid, content_variables=variables,
                    producer_id=producer_id, not_before=not_before)
    if added and chosen.via == UNDELIVERABLE:
        session.execute(update(OutboxItem)
                        .where(OutboxItem.dedupe_key == dedupe_key, OutboxItem.status == PENDING)
                        .values(status=UNDELIVERABLE, last_error=NO_CHANNEL)
                        .execution_options(synchronize_session=False))
    if added:
        return Notice(status=UNDELIVERABLE if chosen.via == UNDELIVERABLE else PENDING, via=chosen.via,
                      channel=chosen.channel)
    row = session.scalar(select(OutboxItem).where(OutboxItem.dedupe_key == dedupe_key))
    via = UNDELIVERABLE if row.status == UNDELIVERABLE else "template" if row.content_sid else row.channel
    return Notice(status=row.status, via=via, channel=row.channel, added=False)
