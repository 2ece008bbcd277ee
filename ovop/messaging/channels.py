"""The channel policy: how a message the service starts (alerts, reminders, tips, broadcasts) may reach a producer.

For a producer who has not opted out, the first line that applies decides:

| producer's channel | condition                                               | the outbox row                      |
|--------------------|---------------------------------------------------------|-------------------------------------|
| whatsapp           | a kind with buttons, its template in the producer's language | WhatsApp template (ContentSid)   |
| whatsapp           | WhatsApp sender configured, 24 h window open at send    | free WhatsApp text                  |
| whatsapp           | an approved template for (kind, language) or (kind, fr) | WhatsApp template (ContentSid)      |
| any                | an SMS sender configured                                | SMS, folded to GSM-7                |
| any                | otherwise                                               | status "undeliverable", never sent  |

Free WhatsApp text outside the window is never queued: Twilio refuses it (63016) and the producer hears nothing.
Templates come from config["TWILIO_TEMPLATES"] (the JSON of the TWILIO_TEMPLATES variable, read at start):
``{"order_alert": {"fr": "HX…", "wo": "HX…"}}``. Their ContentVariables number the caller's params in the
order given ({"1": first, "2": second, …}), so each kind documents that order where it builds its params.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ovop.language.i18n import DEFAULT_LANGUAGE
from ovop.models import Producer


# A row no channel can carry: kept for the staff with the reason, and never claimed by the sender.
UNDELIVERABLE = "undeliverable"
NO_CHANNEL = "no allowed channel: WhatsApp window closed, no approved template, no SMS sender configured"
# Kinds that leave at once even during the quiet hours (ovop.messaging.notify queues them for now, and the sender
# still claims them at night): what staff just did about the producer's own order, and answers to the producer.
AT_ANY_HOUR = frozenset({"order_alert", "order_cancelled", "order_thanks", "reply", "staff_reply"})
WINDOW = timedelta(hours=24)
# Kinds whose templates carry quick-reply buttons (the order alert's and its reminder's accept and decline, in
# variables {{6}} and {{7}}): on WhatsApp the template in the producer's own language is sent inside the window as
# well, since free text cannot carry buttons.
BUTTON_KINDS = frozenset({"order_alert", "order_reminder"})
# The sender may need a few minutes (rate limit, a retry): a text queued just before the window closes
# would reach Twilio after it. Inside this margin the template or SMS is used instead.
SEND_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class Route:
    """How one message will leave: `via` is whatsapp | template | sms | undeliverable."""

    via: str
    channel: str
    content_sid: str | None = None


def templates(config: dict) -> dict:
    """{kind: {language: ContentSid}}: TWILIO_TEMPLATES, parsed and checked at start (ovop.core.config)."""
    return config["TWILIO_TEMPLATES"]


def template_for(config: dict, kind: str, lang: str) -> str | None:
    """The approved template for a message kind in `lang`, else the French one (the reference), else None."""
    by_language = templates(config).get(kind) or {}
    return by_language.get(lang) or by_language.get(DEFAULT_LANGUAGE) or None


def _console(config: dict) -> bool:
    return config["OUTBOUND_BACKEND"] == "console"


def sms_ready(config: dict) -> bool:
    """True when an SMS can leave: the console backend, the SMS gateway when it carries SMS (SMS_PROVIDER=smsgate),
    else a Twilio sender number or messaging service."""
    if _console(config):
        return True
    if provider_for(config, "sms") == "smsgate":
        return bool(config.get("SMSGATE_URL") and config.get("SMSGATE_USERNAME") and config.get("SMSGATE_PASSWORD"))
    return bool(config.get("TWILIO_SMS_FROM") or config.get("TWILIO_MESSAGING_SERVICE_SID"))


def whatsapp_ready(config: dict) -> bool:
    """True when a WhatsApp message can leave: a WhatsApp sender, a messaging service, or the console."""
    return _console(config) or bool(config.get("TWILIO_ACCOUNT_SID") and (
        config.get("TWILIO_WHATSAPP_FROM") or config.get("TWILIO_MESSAGING_SERVICE_SID")))


def provider_for(config: dict, channel: str) -> str:
    """Who carries a message on `channel`: console (local mode), SMS_PROVIDER for SMS, Twilio for WhatsApp."""
    if _console(config):
        return "console"
    return config["SMS_PROVIDER"] if channel == "sms" else "twilio"


def in_window(producer: Producer, at: datetime) -> bool:
    """True when free WhatsApp text sent at `at` still falls in the 24 h after the producer's last message."""
    last = producer.last_inbound_at
    return last is not None and at < last + WINDOW - SEND_MARGIN


def route(config: dict, producer: Producer, kind: str, at: datetime) -> Route:
    """Decide how a message of `kind` reaches `producer` when sent at `at` (the table above)."""
    if producer.channel == "whatsapp" and whatsapp_ready(config):
        language = producer.language or DEFAULT_LANGUAGE
        buttons = kind in BUTTON_KINDS and (templates(config).get(kind) or {}).get(language)
        if buttons:  # quick-reply buttons exist only in templates: used inside the window too
            return Route("template", "whatsapp", buttons)
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
