"""Broadcasts: a message from the staff to an audience of producers, each in their language, now or later.

Functions take the caller's Session and never commit; the scheduler's `broadcasts` job enqueues what is due.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ovop.core import clock, keyset
from ovop.core.errors import Invalid
from ovop.domain import schemas
from ovop.domain.directory import has_real_producers
from ovop.language.i18n import LANGUAGES, for_channel, mark, sms_encoding, sms_segments, t
from ovop.models import Broadcast, Cooperative, Producer, Product
from ovop.messaging import costs
from ovop.messaging.channels import SEND_MARGIN, UNDELIVERABLE, WINDOW, provider_for, route
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


def preview(session: Session, data: dict, config: dict | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Who a broadcast would reach and what each language's text costs, without storing anything.

    Per language: producers by their channel, the SMS text, its encoding and segments, the SMS messages each
    SMS recipient gets (one, or numbered parts that each fit one segment), and with `config` the estimated cost
    in F CFA: recipients by the route the channel policy picks for them now (free WhatsApp text in the window, a
    template, SMS) × price (ovop.messaging.costs); `cost` is None, and `cost_unknown` counts them, for recipients
    MESSAGE_PRICES has no price for.
    """
    fields = schemas.parse(schemas.NewBroadcast, data)  # refused here as it would be when stored
    texts = {lang: text for lang, text in fields.text.given().items() if text}
    audience = check_audience(session, fields.audience)
    now = now or clock.now()
    counts: dict[str, dict[str, int]] = {lang: {"sms": 0, "whatsapp": 0} for lang in LANGUAGES}
    routes: dict[str, dict[str, int]] = {lang: {} for lang in LANGUAGES}
    reached = audience_query(session, audience).order_by(None).subquery()
    # channels.in_window, in SQL: the one thing the channel policy reads of a producer besides channel and language.
    in_window = reached.c.last_inbound_at > now - (WINDOW - SEND_MARGIN)
    grouped = (select(reached.c.language, reached.c.channel, in_window, reached.c.sandbox, func.count())
               .group_by(reached.c.language, reached.c.channel, in_window, reached.c.sandbox))
    for language, channel, window_open, sandbox, number in session.execute(grouped):
        lang = language if language in LANGUAGES else "fr"
        counts[lang]["whatsapp" if channel == "whatsapp" else "sms"] += number
        if config is not None:
            stand_in = Producer(channel=channel, language=lang, last_inbound_at=now if window_open else None)
            chosen = route(config, stand_in, "broadcast", now)
            via = "console" if sandbox and chosen.via != UNDELIVERABLE else chosen.via
            routes[lang][via] = routes[lang].get(via, 0) + number
    languages = {}
    for lang in LANGUAGES:
        sms_text = for_channel(t(TEXT_KEY, lang, text=_text_for(texts, lang)), "sms")
        entry = {"producers": sum(counts[lang].values()), "by_channel": counts[lang], "sms_text": sms_text,
                 "sms_encoding": sms_encoding(sms_text), "sms_segments": sms_segments(sms_text),
                 "sms_messages": len(costs.sms_parts(sms_text))}
        if config is not None:
            entry.update(_estimate(config, routes[lang], entry["sms_messages"]))
        languages[lang] = entry
    answer = {"producers": sum(entry["producers"] for entry in languages.values()), "audience": audience,
              "languages": languages}
    if config is not None:
        unknown = sum(entry["cost_unknown"] for entry in languages.values())
        answer.update(cost=None if unknown else round(sum(entry["cost"] for entry in languages.values()), 2),
                      cost_unknown=unknown)
    return answer


def _estimate(config: dict, routes: dict[str, int], sms_messages: int) -> dict[str, Any]:
    """{"by_route", "cost", "cost_unknown"} of one language's recipients, by route (sms | template | whatsapp
    | console | undeliverable: the last costs nothing, it never leaves)."""
    prices, total, unknown = config["MESSAGE_PRICES"], 0.0, 0
    for via, number in routes.items():
        if via == UNDELIVERABLE:
            continue
        channel = "sms" if via == "sms" else "whatsapp"
        provider = costs.CONSOLE if via == "console" else provider_for(config, channel)
        price = costs.unit_price(prices, provider, channel, "broadcast", template=via == "template")
        if price is None:
            unknown += number
        else:
            total += number * price * (sms_messages if via == "sms" else 1)
    return {"by_route": routes, "cost": None if unknown else round(total, 2), "cost_unknown": unknown}


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

