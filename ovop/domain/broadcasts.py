"""Broadcasts: a message from the staff to an audience of producers, each in their language, now or later.

Functions take the caller's Session and never commit; the scheduler's `broadcasts` job enqueues what is due.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ovop.domain.directory import Invalid, choice, has_real_producers, text, whole
from ovop.language.i18n import LANGUAGES, for_channel, mark, sms_encoding, sms_segments, t
from ovop.models import Broadcast, Cooperative, Producer, Product
from ovop.domain.workshops import moment
from ovop.messaging.notify import added as queued, notify

FIELDS = ("text", "audience", "send_at")
AUDIENCE_KEYS = ("cooperative_id", "product", "language")
MAX_TEXT = 1600  # Twilio's limit for one message body
SCHEDULED, ENQUEUED = "scheduled", "enqueued"
# The staff's own words, passed through the catalogue so the channel policy can send it like any message.
TEXT_KEY = mark("broadcast.text")


def create(session: Session, fields: dict, now: datetime) -> Broadcast:
    """A broadcast from staff input: text {fr, wo, en} (one at least), audience, send_at (default now)."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise Invalid(unknown[0], f"unknown field (writable fields: {', '.join(FIELDS)})")
    texts = _texts(fields.get("text"))
    audience = check_audience(session, fields.get("audience"))
    send_at = moment("send_at", fields.get("send_at")) or now
    broadcast = Broadcast(text_fr=texts.get("fr"), text_wo=texts.get("wo"), text_en=texts.get("en"),
                          audience=audience, send_at=send_at, status=SCHEDULED, created_at=now)
    session.add(broadcast)
    session.flush()
    return broadcast


def _texts(value: Any) -> dict[str, str]:
    """{lang: text}; a plain string is taken as French."""
    if isinstance(value, str):
        value = {"fr": value}
    if not isinstance(value, dict) or not value:
        raise Invalid("text", "must be an object {\"fr\": …, \"wo\": …, \"en\": …} with one text at least")
    for lang in value:
        if lang not in LANGUAGES:
            raise Invalid("text", f"unknown language '{lang}' (use {', '.join(LANGUAGES)})")
    texts = {lang: _body(f"text.{lang}", value.get(lang)) for lang in LANGUAGES}
    texts = {lang: found for lang, found in texts.items() if found}
    if not texts:
        raise Invalid("text", "must hold one text at least")
    return texts


def _body(field: str, value: Any) -> str | None:
    """A message text: line breaks kept (unlike directory.text), trimmed, within Twilio's length."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(field, "must be a string")
    lines = [" ".join(line.split()) for line in value.strip().splitlines()]
    cleaned = "\n".join(lines).strip()
    text(field, cleaned.replace("\n", " "), MAX_TEXT)  # the same refusals as any text (control characters…)
    return cleaned or None


def check_audience(session: Session, value: Any) -> dict[str, Any]:
    """{cooperative_id, product, language}, each optional; every one given must exist."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("audience", "must be an object {\"cooperative_id\": …, \"product\": …, \"language\": …}")
    unknown = sorted(set(value) - set(AUDIENCE_KEYS))
    if unknown:
        raise Invalid(f"audience.{unknown[0]}", f"unknown key (use {', '.join(AUDIENCE_KEYS)})")
    audience: dict[str, Any] = {}
    if value.get("cooperative_id") is not None:
        cooperative_id = whole("audience.cooperative_id", value["cooperative_id"], minimum=1)
        if session.get(Cooperative, cooperative_id) is None:
            raise Invalid("audience.cooperative_id", f"there is no cooperative with id {cooperative_id}")
        audience["cooperative_id"] = cooperative_id
    if value.get("product") is not None:
        code = text("audience.product", value["product"], 40, required=True).lower()
        if session.scalar(select(Product.id).where(Product.code == code)) is None:
            raise Invalid("audience.product", f"unknown product code '{code}'")
        audience["product"] = code
    if value.get("language") is not None:
        audience["language"] = choice("audience.language", value["language"], LANGUAGES)
    return audience


def audience_query(session: Session, audience: dict[str, Any]):
    """Producers the audience reaches: not erased, not opted out, matching every criterion given.

    Real producers only, except for an audience naming a cooperative whose producers are all sandbox producers
    (a demo cooperative): then those, so a broadcast can be tried in the phone simulator.
    """
    sandbox = audience.get("cooperative_id") is not None and not has_real_producers(session,
                                                                                     audience["cooperative_id"])
    query = select(Producer).where(Producer.reachable, Producer.sandbox.is_(sandbox))
    if audience.get("cooperative_id") is not None:
        query = query.where(Producer.cooperative_id == audience["cooperative_id"])
    if audience.get("language"):
        query = query.where(Producer.language == audience["language"])
    if audience.get("product"):
        product_id = select(Product.id).where(Product.code == audience["product"]).scalar_subquery()
        query = query.where(Producer.makes_product(product_id))
    return query.order_by(Producer.id)


def preview(session: Session, fields: dict) -> dict[str, Any]:
    """Who a broadcast would reach and what each language's text costs on SMS, without storing anything."""
    texts = _texts(fields.get("text"))
    audience = check_audience(session, fields.get("audience"))
    moment("send_at", fields.get("send_at"))  # refused here as it would be when stored
    counts: dict[str, dict[str, int]] = {lang: {"sms": 0, "whatsapp": 0} for lang in LANGUAGES}
    reached = audience_query(session, audience).order_by(None).subquery()
    for language, channel, number in session.execute(select(reached.c.language, reached.c.channel, func.count())
                                                     .group_by(reached.c.language, reached.c.channel)):
        lang = language if language in LANGUAGES else "fr"
        counts[lang]["whatsapp" if channel == "whatsapp" else "sms"] += number
    languages = {}
    for lang in LANGUAGES:
        sms_text = for_channel(t(TEXT_KEY, lang, text=_text_for(texts, lang)), "sms")
        languages[lang] = {"producers": sum(counts[lang].values()), "by_channel": counts[lang],
                           "sms_text": sms_text, "sms_encoding": sms_encoding(sms_text),
                           "sms_segments": sms_segments(sms_text)}
    return {"producers": sum(entry["producers"] for entry in languages.values()), "audience": audience,
            "languages": languages}


def _text_for(texts: dict[str, str], lang: str) -> str:
    """The text a producer speaking `lang` gets: theirs, else French, else whichever was written."""
    return texts.get(lang) or texts.get("fr") or next(iter(texts.values()))


def broadcasts(session: Session) -> list[Broadcast]:
    """Every broadcast, newest send time first."""
    return list(session.scalars(select(Broadcast).order_by(Broadcast.send_at.desc(), Broadcast.id.desc())))


def due(session: Session, now: datetime) -> list[Broadcast]:
    """Scheduled broadcasts whose time has come, locked so a second scheduler skips them."""
    query = (select(Broadcast).where(Broadcast.status == SCHEDULED, Broadcast.send_at <= now)
             .order_by(Broadcast.send_at, Broadcast.id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def enqueue(session: Session, broadcast: Broadcast, now: datetime, config: dict) -> int:
    """Queue the broadcast for everyone in its audience (once each, by dedupe key); returns how many were added."""
    added = 0
    for producer in session.scalars(audience_query(session, broadcast.audience or {})):
        lang = producer.language or "fr"
        added += queued(notify(session, config, producer, "broadcast", key=TEXT_KEY, params={"text": broadcast.text(lang)},
                               dedupe_key=f"broadcast:{broadcast.id}:producer={producer.id}", now=now))
    broadcast.status, broadcast.enqueued_at = ENQUEUED, now
    broadcast.recipients = (broadcast.recipients or 0) + added
    session.flush()
    return added

