"""A week of demo traffic and what it costs: `python -m bench.costs [--before REV]`.

The demo data goes into a scratch SQLite database, its producers taken as real ones (the jobs leave sandbox
producers out). A week is played hour by hour on the project clock: the scheduled jobs (price tips on Monday,
stock reminders on Friday, workshop reminders, order follow-ups, broadcasts), an order a day, a broadcast, and
each producer writing in on weekdays (the replies); the sender drains through the console transport. The
messages recorded are then priced with PRICES as if SMS went by Twilio or by the SMS gateway (WhatsApp by
Twilio, with approved templates for the kinds in TEMPLATES).

Then the catalogue: every text the service starts, in every language, with the longest realistic words
(tests/test_costs.py), counted in one GSM-7 segment or not; `--before REV` counts the catalogues of a git
revision too (e.g. the one before the texts were shortened).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select, update

from ovop.conversation.inbound import InboundMessage, receive
from ovop.core import clock, migrate
from ovop.core.config import defaults
from ovop.core.localtime import quiet_until
from ovop.core.paths import ROOT
from ovop.domain import broadcasts, demo, orders
from ovop.jobs.jobs import registry
from ovop.language import i18n
from ovop.messaging import costs
from ovop.messaging.outbox import Sender
from ovop.messaging.transport import ConsoleTransport
from ovop.models import Cooperative, Message, OutboxItem, Producer
from tests.test_costs import STAFF_KEYS, STAFF_WORDS, SERVICE_STARTED, realistic

PRICES = {"sms": {"twilio": 40, "smsgate": 15}, "whatsapp": {"utility": 10, "marketing": 30, "service": 0}}
TEMPLATES = {kind: {"fr": f"HX{n:032d}"} for n, kind in enumerate(
    ("order_alert", "order_reminder", "order_cancelled", "order_thanks", "price_tip", "stock_reminder",
     "workshop_reminder", "workshop_promoted", "broadcast"), start=1)}
MONDAY = datetime(2026, 12, 7, tzinfo=timezone.utc)  # Dakar is on UTC
WRITES = ["menu", "prix", "aide", "stock 30", "ok merci", "c'est quand l'atelier ?"]
ORDER_PRODUCTS = ["yaourt", "huile_arachide", "huile_palme", "chapeau", "savon", "kinkeliba"]
BROADCAST = ("Marche de Noel samedi 19 decembre a la boutique OVOP de Dakar : apportez vos produits, la boutique "
             "prend en charge le transport depuis les regions. Inscription avant mercredi par SMS ou WhatsApp.")


def play_week(url: str) -> list[tuple[Message, str | None]]:
    """Run the week on a fresh database; the outbound messages with their template (None: free text or SMS)."""
    db = migrate.fresh(url)
    config = defaults(DATABASE_URL=url, OUTBOUND_BACKEND="console", MESSAGE_PRICES=PRICES,
                      TWILIO_TEMPLATES=TEMPLATES, STAFF_PHONES=("+221770009999",))
    with clock.frozen_at(MONDAY - timedelta(days=1), all_threads=True), db.transaction() as session:
        demo.load(session, config=config)
        session.execute(update(Producer).values(sandbox=False))
    sender = Sender(db=db, transport=ConsoleTransport(), rates={}, prices=PRICES,
                    quiet_until=lambda moment: quiet_until(moment, config))
    producers = _producers(db)
    jobs = list(registry().values())
    for hour in range(7 * 24):
        now = MONDAY + timedelta(hours=hour)
        with clock.frozen_at(now, all_threads=True):
            day, at = now.weekday(), now.hour
            if at == 9 and day < len(ORDER_PRODUCTS):
                _order(db, config, ORDER_PRODUCTS[day], now)
            if day == 2 and at == 10:
                with db.transaction() as session:
                    broadcasts.enqueue(session, broadcasts.create(session, {"text": {"fr": BROADCAST}}, now), now,
                                       config)
            if day < 5 and at in (11, 16):
                for number, (phone, channel) in enumerate(producers):
                    text = WRITES[(day * 2 + (at == 16) + number) % len(WRITES)]
                    receive(db, config, InboundMessage(sid=f"SM{hour:04d}{number:02d}", phone=phone,
                                                       channel=channel, body=text))
            for job in jobs:
                job.run(db, config, now)
            sender.drain()
    with db.transaction() as session:
        found = session.execute(select(Message, OutboxItem.content_sid)
                                .outerjoin(OutboxItem, OutboxItem.id == Message.outbox_item_id)
                                .where(Message.direction == "out").order_by(Message.id)).all()
    db.dispose()
    return [(message, content_sid) for message, content_sid in found]


def _producers(db) -> list[tuple[str, str]]:
    with db.transaction() as session:
        return [(phone, channel) for phone, channel in session.execute(
            select(Producer.phone, Producer.channel).order_by(Producer.id))]


def _order(db, config, product: str, now: datetime) -> None:
    """An order to the first cooperative that makes `product`, due in five days."""
    with db.transaction() as session:
        cooperative = session.scalars(select(Cooperative).join(Producer, Producer.cooperative_id == Cooperative.id)
                                      .order_by(Cooperative.id)).unique().all()
        maker = next((c for c in cooperative if any(p.code == product for p in c.products)), None)
        if maker is None:
            return
        orders.create_order(session, config, {"cooperative_id": maker.id, "product": product, "quantity": 40,
                                              "due_date": (now + timedelta(days=5)).date().isoformat()}, now=now)


def price(sent: list[tuple[Message, str | None]]) -> dict[str, dict]:
    """Per kind: messages, SMS segments, recorded cost, and the estimate with SMS by Twilio and by the gateway."""
    table: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for message, content_sid in sent:
        row = table[message.kind or "other"]
        row["messages"] += 1
        row["sms"] += message.channel == "sms"
        row["segments"] += message.segments or 0
        row["recorded"] += message.cost or 0
        for sms_provider in ("twilio", "smsgate"):
            provider = sms_provider if message.channel == "sms" else "twilio"
            estimate = costs.estimate(PRICES, provider=provider, channel=message.channel, kind=message.kind,
                                      body=message.body, template=bool(content_sid))
            row[sms_provider] += estimate.cost or 0
            row[f"{sms_provider}_unknown"] += estimate.cost is None
    return table


def one_segment(locales: Path | None = None) -> tuple[int, int, list[str]]:
    """(fit, checked, the ones that do not) over the catalogue's service-started texts in every language."""
    previous = i18n.LOCALES_DIR
    if locales is not None:
        i18n.LOCALES_DIR = locales
    i18n.reload_catalogs()
    try:
        fit, checked, over = 0, 0, []
        for key in SERVICE_STARTED:
            if key in STAFF_WORDS:
                continue
            for lang in (("fr",) if key in STAFF_KEYS else i18n.LANGUAGES):
                text = i18n.for_channel(i18n.t(key, lang, **realistic(lang)[key]), "sms")
                checked += 1
                if costs.measure(text).segments == 1:
                    fit += 1
                else:
                    over.append(f"{key}/{lang} ({len(text)} characters)")
        return fit, checked, over
    finally:
        i18n.LOCALES_DIR = previous
        i18n.reload_catalogs()


def catalogues_at(revision: str) -> Path:
    """The three .po files of a git revision, in a temporary locales directory."""
    folder = Path(tempfile.mkdtemp(prefix="ovop-locales-"))
    for lang in i18n.LANGUAGES:
        path = f"locales/{lang}/LC_MESSAGES/messages.po"
        target = folder / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        (target / "messages.po").write_bytes(subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT,
                                                            check=True, capture_output=True).stdout)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REV", help="also count the catalogues of this git revision")
    args = parser.parse_args(argv)
    url = f"sqlite:///{tempfile.mkdtemp(prefix='ovop-costs-')}/week.sqlite3"
    sent = play_week(url)
    table = price(sent)
    print(f"A week of demo traffic ({MONDAY:%Y-%m-%d}, 7 days), priced with MESSAGE_PRICES = {PRICES}")
    print(f"{'kind':<20}{'messages':>9}{'of SMS':>8}{'segments':>10}{'recorded':>10}{'SMS by twilio':>15}"
          f"{'SMS by smsgate':>16}")
    total = defaultdict(float)
    for kind, row in sorted(table.items(), key=lambda item: -item[1]["twilio"]):
        print(f"{kind:<20}{row['messages']:>9.0f}{row['sms']:>8.0f}{row['segments']:>10.0f}{row['recorded']:>10.0f}"
              f"{row['twilio']:>11.0f} F{_unknown(row, 'twilio'):>3}"
              f"{row['smsgate']:>12.0f} F{_unknown(row, 'smsgate'):>3}")
        for name, value in row.items():
            total[name] += value
    print(f"{'total':<20}{total['messages']:>9.0f}{total['sms']:>8.0f}{total['segments']:>10.0f}"
          f"{total['recorded']:>10.0f}{total['twilio']:>11.0f} F{'':>3}{total['smsgate']:>12.0f} F")
    print("(recorded: the cost written on the messages: replies went back by Twilio's TwiML, the rest by the "
          "console, 0; a trailing ? counts messages with no price)")
    replies = [message for message, _ in sent if message.channel == "sms" and message.kind == "reply"]
    print(f"SMS replies: {len(replies)}, over one segment: {sum(m.segments > 1 for m in replies)} "
          f"({', '.join(sorted({m.body[:30].replace(chr(10), ' ') + '…' for m in replies if m.segments > 1}))})")
    sms = [message for message, _ in sent if message.channel == "sms" and message.kind != "reply"]
    print(f"SMS the service started this week: {len(sms)}, of one segment: "
          f"{sum(message.segments == 1 for message in sms)}, numbered parts among them: "
          f"{sum(message.body[:4].count('/') == 1 and message.body[0].isdigit() for message in sms)}")
    fit, checked, over = one_segment()
    print(f"Catalogue texts the service starts, longest realistic words, one GSM-7 segment: {fit} of {checked}"
          + (f"; over: {', '.join(over)}" if over else ""))
    if args.before:
        fit, checked, over = one_segment(catalogues_at(args.before))
        print(f"  the same at {args.before}: {fit} of {checked}" + (f"; over: {', '.join(over)}" if over else ""))


def _unknown(row: dict, provider: str) -> str:
    return f"?{row[f'{provider}_unknown']:.0f}" if row[f"{provider}_unknown"] else ""


if __name__ == "__main__":
    main(sys.argv[1:])
