"""The phone simulator: chat as a producer through ovop.conversation.inbound.receive, the very path of the webhook.

The screen shows the phone's whole thread: what the producer typed, the bot's replies, and what the service
started on its own (order alerts, reminders, broadcasts) from the message log, or from the outbox while the
sender has not sent it yet — so "create an order, then see the alert arrive" works with or without a sender.

It acts only as sandbox producers (and numbers nobody has), whose messages never leave through a provider: a
real producer, or a sandbox producer of a cooperative with real producers, is refused with a 422 that says why.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, redirect, request, url_for
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from ovop.web.dashboard import _, bp, database, form_value, notice, page
from ovop.domain import directory
from ovop.core import phones
from ovop.language.i18n import sms_encoding, sms_segments
from ovop.conversation.inbound import InboundMessage, clean_text, receive
from ovop.models import Message, OutboxItem, Producer

MAX_MESSAGES, MAX_QUEUED, MAX_PRODUCERS = 100, 50, 300
QUICK_REPLIES = ("MENU", "yaourt 40", "OUI", "NON", "atelier", "1", "prix", "AIDE", "STOP", "START")


@dataclass(frozen=True)
class Bubble:
    """One message of a thread as _thread.html shows it (the simulator's phone, the inbox); `mine` when the
    producer sent it."""

    mine: bool
    channel: str
    body: str
    at: datetime
    status: str
    kind: str | None = None  # what the service started it for (order_alert…); None for a reply
    segments: int | None = None
    encoding: str | None = None
    message: Message | None = None  # the logged message, for its photos and voice notes
    author: str | None = None  # the staff member who wrote it


def _bubble(mine: bool, channel: str, body: str | None, at: datetime, status: str, kind: str | None) -> Bubble:
    text = body or ""
    sms = channel == "sms" and bool(text)
    return Bubble(mine, channel, text, at, status, kind, sms_segments(text) if sms else None,
                  sms_encoding(text) if sms else None)


def thread(session, phone: str) -> list[Bubble]:
    """The latest messages to and from `phone`, oldest first, with what still waits in the outbox."""
    logged = list(session.scalars(select(Message).where(Message.phone == phone)
                                  .order_by(Message.created_at.desc(), Message.id.desc()).limit(MAX_MESSAGES)))
    kinds = dict(session.execute(select(OutboxItem.id, OutboxItem.kind).where(
        OutboxItem.id.in_({message.outbox_item_id for message in logged if message.outbox_item_id}))).all())
    waiting = session.scalars(select(OutboxItem).where(
        OutboxItem.recipient == phone, ~exists().where(Message.outbox_item_id == OutboxItem.id))
        .order_by(OutboxItem.created_at.desc(), OutboxItem.id.desc()).limit(MAX_QUEUED))
    entries = [((message.created_at, 0, message.id),
                _bubble(message.direction == "in", message.channel, message.body, message.created_at,
                        message.status, kinds.get(message.outbox_item_id))) for message in logged]
    entries += [((item.created_at, 1, item.id),
                 _bubble(False, item.channel, item.body or _("simulator.template", sid=item.content_sid or ""),
                         item.created_at, item.status, item.kind)) for item in waiting]
    return [bubble for _key, bubble in sorted(entries, key=lambda entry: entry[0])]


def _phone(raw: str) -> str | None:
    try:
        return phones.to_e164(raw) if raw else None
    except phones.InvalidPhone:
        return None


def refusal(session, producer: Producer | None) -> str | None:
    """Why the simulator may not act as this producer (translated), or None when it may."""
    if producer is None:
        return None
    name = producer.name or producer.phone
    if not producer.sandbox:
        return _("simulator.real_producer", name=name)
    if directory.has_real_producers(session, producer.cooperative_id):
        return _("simulator.real_cooperative", name=name)
    return None


def _screen(session, phone: str | None, channel: str | None):
    """Who is at `phone`, the channel to write on, the thread, and why it is refused (None: it is not)."""
    producer = session.scalar(select(Producer).where(Producer.phone == phone, Producer.deleted_at.is_(None))) \
        if phone else None
    channel = channel if channel in ("sms", "whatsapp") else (producer.channel if producer else "sms")
    refused = refusal(session, producer)
    return producer, channel, thread(session, phone) if phone and not refused else [], refused


@bp.get("/simulator", endpoint="simulator")
def simulator_page():
    raw = (request.args.get("phone") or "").strip()[:40]
    phone = _phone(raw)
    with database().transaction() as session:
        producer, channel, bubbles, refused = _screen(session, phone, request.args.get("channel"))
        return _page(session, 422 if (raw and phone is None) or refused else 200, phone=phone, raw=raw,
                     producer=producer, channel=channel, bubbles=bubbles, refused=refused,
                     bad_phone=bool(raw) and phone is None)


def _page(session, status: int, **context):
    producers = list(session.scalars(select(Producer).where(Producer.deleted_at.is_(None), Producer.phone.is_not(None),
                                                            Producer.sandbox.is_(True))
                                     .options(selectinload(Producer.cooperative))
                                     .order_by(Producer.name, Producer.id).limit(MAX_PRODUCERS)))
    return page("simulator.html", status, producers=producers, quick_replies=QUICK_REPLIES, **context)


@bp.get("/simulator/thread")
def simulator_thread():
    """Just the thread, for the page to refresh itself every few seconds."""
    phone = _phone((request.args.get("phone") or "").strip()[:40])
    with database().transaction() as session:
        producer, channel, bubbles, refused = _screen(session, phone, request.args.get("channel"))
        return page("_thread.html", 422 if refused else 200, bubbles=bubbles, producer=producer, channel=channel)


@bp.post("/simulator")
def simulator_send():
    """Hand what was typed to ovop.conversation.inbound.receive as if Twilio had posted it, then show the thread again."""
    phone = _phone(form_value("phone", 40))
    channel = form_value("channel", 10)
    channel = channel if channel in ("sms", "whatsapp") else "sms"
    if phone is None:
        notice("simulator.bad_phone")
        return redirect(url_for("dashboard.simulator"))
    with database().transaction() as session:
        producer, channel_shown, _bubbles, refused = _screen(session, phone, channel)
        if refused:  # nothing is received: no real data changes, no real message leaves
            return _page(session, 422, phone=phone, raw=phone, producer=producer, channel=channel_shown,
                         bubbles=[], refused=refused, bad_phone=False)
    body = clean_text(request.form.get("quick") or request.form.get("body") or "").strip()
    if body:
        receive(database(), current_app.config,
                InboundMessage(sid=f"SIM{uuid.uuid4().hex}", phone=phone, channel=channel, body=body))
    return redirect(url_for("dashboard.simulator", phone=phone, channel=channel) + "#compose")
