"""Broadcasts: a message from the staff to an audience of producers, each in their language, now or later.

Functions take the caller's Session and never commit; the scheduler's `broadcasts` job enqueues what is due.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ovop.core import keyset
from ovop.core.errors import Invalid
from ovop.domain import schemas
from ovop.domain.directory import has_real_producers
from ovop.language.i18n import LANGUAGES, for_channel, mark, sms_encoding, sms_segments, t
from ovop.models import Broadcast, Cooperative, Producer, Product
from ovop.messaging.notify import added as queued, notify

MAX_TEXT = schemas.MAX_TEXT
SCHEDULED, ENQUEUED = "scheduled", "enqueued"
# The staff's own words, passed through the catalogue so the channel policy can send it like any message.
TEXT_KEY = mark("broadcast.text")


def create(session: Session, data: dict, now: datetime) -> Broadcast:
    """A broadcast (schemas.NewBroadcast): text {fr, wo, en} (one at least), audience, send_at (default now)."""
    fields = schemas.parse(schemas.NewBroadcast, data)
    audience = check_audience(session, fields.audience)
    broadcast = Broadcast(text_fr=fields.text.fr, text_wo=fields.text.wo, text_en=fields.text.en,
                          audience=audience, send_at=fields.send_at or now, status=SCHEDULED, created_at=now)
    session.add(broadcast)
    session.flush()
    return broadcast


def check_audience(session: Session, audience: schemas.Audience | dict | None) -> dict[str, Any]:
    """{cooperative_id, product, language}, each optional; every one given must exist."""
    if isinstance(audience, dict):
        audience = schemas.parse(schemas.Audience, audience)
    if audience is None:
        return {}
    found = {name: value for name, value in audience.given().items() if value is not None}
    if "cooperative_id" in found and session.get(Cooperative, found["cooperative_id"]) is None:
        raise Invalid("audience.cooperative_id", "unknown_cooperative", id=found["cooperative_id"])
    if "product" in found and session.scalar(select(Product.id).where(Product.code == found["product"])) is None:
        raise Invalid("audience.product", "unknown_product", code=found["product"])
    return found


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


def preview(session: Session, data: dict) -> dict[str, Any]:
    """Who a broadcast would reach and what each language's text costs on SMS, without storing anything."""
    fields = schemas.parse(schemas.NewBroadcast, data)  # refused here as it would be when stored
    texts = {lang: text for lang, text in fields.text.given().items() if text}
    audience = check_audience(session, fields.audience)
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


BROADCAST_KEYS = keyset.Order(keyset.desc(Broadcast.send_at, datetime), keyset.desc(Broadcast.id, int))


def broadcasts(session: Session, window: keyset.Window | None = None) -> list[Broadcast]:
    """Every broadcast, newest send time first; one page of them with a `window`."""
    return keyset.fetch(session, select(Broadcast), BROADCAST_KEYS, window)


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

