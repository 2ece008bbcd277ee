"""What messages cost: SMS segments as carriers count them, the estimate from MESSAGE_PRICES on every outbound
message, texts the service starts by SMS in one segment (or numbered parts), and the figures staff read."""
from __future__ import annotations

import ast
import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ovop.core import clock
from ovop.core.config import defaults
from ovop.core.paths import ROOT
from ovop.domain.demo import DEMO_FILE
from ovop.language.i18n import LANGUAGES, for_channel, format_date, format_datetime, format_money, t
from ovop.messaging import costs
from ovop.messaging import notify as notifying
from ovop.messaging.outbox import Sender
from ovop.messaging.transport import TwilioTransport
from ovop.models import Message, OutboxItem, Producer
from tests.conftest import app_config
from tests.fake_twilio import FakeTwilio
from tests.helpers import add_producer, inbound_form

PRICES = {"sms": {"twilio": 40.0, "smsgate": 15.0}, "whatsapp": {"utility": 10.0, "marketing": 30.0, "service": 0.0}}
MARIAMA = "+221760000103"


# --- counting as carriers count ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, encoding, segments", [
    ("a" * 160, "gsm7", 1), ("a" * 161, "gsm7", 2), ("a" * 306, "gsm7", 2), ("a" * 307, "gsm7", 3),
    ("[promo] " + "a" * 150, "gsm7", 1), ("{~}" + "a" * 155, "gsm7", 2),  # the extension table counts double
    ("€" * 80, "gsm7", 1), ("\\" * 81, "gsm7", 2),
    ("ça" + "a" * 68, "ucs2", 1), ("ça" + "a" * 69, "ucs2", 2), ("ê" * 134, "ucs2", 2), ("ê" * 135, "ucs2", 3),
    ("😀" * 35, "ucs2", 1), ("😀" * 36, "ucs2", 2),  # an emoji is two UTF-16 code units
    ("Jërëjëf", "ucs2", 1), ("Jerejef, ñaar pot", "gsm7", 1),
])
def test_it_counts_encoding_and_segments_as_carriers_do(text, encoding, segments):
    assert costs.measure(text) == costs.Size(encoding, segments)


# --- the estimate ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider, channel, kind, body, template, expected", [
    ("twilio", "sms", "order_alert", "a" * 160, False, 40.0),
    ("twilio", "sms", "broadcast", "a" * 161, False, 80.0),  # two segments
    ("smsgate", "sms", "reply", "ê" * 71, False, 30.0),
    ("twilio", "whatsapp", "order_alert", "[template HX1]", True, 10.0),  # utility
    ("twilio", "whatsapp", "order_thanks", "[template HX1]", True, 10.0),
    ("twilio", "whatsapp", "price_tip", "[template HX2]", True, 30.0),  # marketing
    ("twilio", "whatsapp", "broadcast", "[template HX2]", True, 30.0),
    ("twilio", "whatsapp", "broadcast", "free text in the window", False, 0.0),  # service
    ("twilio", "whatsapp", "reply", "[template HX3]", True, 0.0),  # a list picker answering: in the window
    ("twilio", "whatsapp", "staff_reply", "[template HX4]", True, 10.0),  # outside the window: utility
    ("console", "sms", "order_alert", "a" * 400, False, 0.0),  # nothing left through a provider
    ("console", "whatsapp", "broadcast", "x", True, 0.0),
])
def test_it_estimates_from_the_price_table(provider, channel, kind, body, template, expected):
    estimate = costs.estimate(PRICES, provider=provider, channel=channel, kind=kind, body=body, template=template)
    assert estimate.cost == expected and estimate.provider == provider
    assert (estimate.segments is None) == (channel == "whatsapp")


@pytest.mark.parametrize("prices, provider, channel, kind, template", [
    ({}, "twilio", "sms", "order_alert", False),  # MESSAGE_PRICES unset
    ({"sms": {"twilio": 40}}, "smsgate", "sms", "reply", False),  # no price for that provider
    ({"sms": {"twilio": 40}}, "twilio", "whatsapp", "order_alert", True),  # no WhatsApp prices
    (PRICES, "twilio", "whatsapp", "something_new", True),  # a template kind of no known category
])
def test_an_unknown_price_is_recorded_as_unknown_never_guessed(prices, provider, channel, kind, template):
    estimate = costs.estimate(prices, provider=provider, channel=channel, kind=kind, body="hello", template=template)
    assert estimate.cost is None


def test_a_reply_is_carried_by_the_provider_that_brought_the_message():
    assert costs.reply_provider("twilio") == "twilio" and costs.reply_provider("smsgate") == "smsgate"
    assert costs.reply_provider("simulator") == costs.reply_provider("chat") == "console"


# --- numbered parts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "mot " * 60, "x" * 400,
    "Prix boutique OVOP :\n" + "\n".join(["beurre d'arachide : 12 500 F CFA/pot, en hausse"] * 5),
    "[a] {b} " * 40, "a" * 160 + " b",
])
def test_a_long_text_is_cut_into_numbered_parts_of_one_segment_each(text):
    parts = costs.sms_parts(text)
    assert len(parts) >= 2
    assert all(costs.measure(part).segments == 1 for part in parts)
    assert [part.split(" ", 1)[0] for part in parts] == [f"{n}/{len(parts)}" for n in range(1, len(parts) + 1)]
    assert "".join(part.split(" ", 1)[1] for part in parts).replace(" ", "").replace("\n", "") == \
        text.replace(" ", "").replace("\n", "")


def test_lines_are_kept_whole_when_they_fit():
    lines = [f"produit {n} : 12 500 F CFA/pot, en hausse de 15%" for n in range(5)]
    parts = costs.sms_parts("Prix boutique OVOP :\n" + "\n".join(lines))
    assert all(line in "\n".join(parts) for line in lines)


def test_a_text_of_one_segment_is_left_alone():
    assert costs.sms_parts("a" * 160) == ["a" * 160]


# --- every text the service starts, with the longest realistic words --------------------------------------

def longest(values) -> str:
    return max(values, key=len)


def realistic(lang: str) -> dict[str, dict[str, str]]:
    """The words each service-started key is rendered with: the demo's longest names, a four-digit quantity,
    CMD-0123, the longest date of a year, five-figure prices."""
    data = demo_data()
    product = longest(item["names"][lang] for item in data["products"])
    days = [datetime(2026, 1, 1, 12, tzinfo=timezone.utc) + timedelta(days=n) for n in range(365)]
    due = longest(format_date(day, lang, "Africa/Dakar").rstrip(".") for day in days)
    when = longest(format_datetime(day.replace(hour=9, minute=30), lang, "Africa/Dakar") for day in days)
    order = {"reference": "CMD-0123", "product": product, "quantity": "1250", "unit": "litre", "due_date": due}
    names = sorted((item["names"][lang] for item in data["products"]), key=len)
    lines = "\n".join(t("price.line_down", lang, product=name, price=format_money(12500, lang), unit="sachet",
                        percent=15) for name in names[-2:])
    workshop = {"title": longest(item["title"][lang] for item in data["workshops"]), "when": when,
                "location": longest(item["location"] for item in data["workshops"])}
    staff = {**{key: longest(item["names"]["fr"] for item in data["products"]) if key == "product" else value
                for key, value in order.items()},
             "producer": "Mariama Diallo-Badji", "phone": "+221761234567", "accepted": "800",
             "cooperative": longest(item["name"] for item in data["cooperatives"])}
    return {
        "order.alert": order, "order.alert_ref": order, "order.reminder": order, "order.reminder_ref": order,
        "order.cancelled": order, "order.thanks": order,
        "workshop.reminder": workshop, "workshop.promoted": workshop,
        "price.tip": {"lines": lines}, "reminder.stock": {"product": product},
        "broadcast.text": {"text": "La boutique OVOP sera fermee le 1er janvier. Bonne annee a toutes et a tous !"},
        "staff.reply": {"text": "Bonjour Mariama, nous avons bien recu votre photo. Nous passons jeudi a Ziguinchor "
                                "pour voir les palourdes et parler du prix avec le groupement."},
        "staff.order_accepted": staff, "staff.order_partial": staff, "staff.order_declined": staff,
        "staff.low_stock": {"cooperative": staff["cooperative"], "name": staff["product"], "quantity": "12.5",
                            "unit": "litre"},
    }


def demo_data() -> dict:
    return json.loads(DEMO_FILE.read_text(encoding="utf-8"))


def catalogued(key: str) -> bool:
    """True when the key has its French text (a key the code does not use yet has none)."""
    try:
        t(key, "fr", **realistic("fr")[key])
    except KeyError:
        return False
    return True


SERVICE_STARTED = sorted(key for key in realistic("fr") if catalogued(key))
STAFF_WORDS = {"broadcast.text", "staff.reply"}  # texts that carry what a staff member wrote
STAFF_KEYS = {"staff.order_accepted", "staff.order_partial", "staff.order_declined", "staff.low_stock"}
NOTIFYING = {"notify", "notify_producer", "notify_staff", "prepare"}


def keys_passed_to_notify() -> set[str]:
    """Every literal key (mark("…") or "…") handed to notify, notify_staff or prepare in ovop/."""
    found: set[str] = set()
    for path in (ROOT / "ovop").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in NOTIFYING:
                arguments = [keyword.value for keyword in node.keywords if keyword.arg == "key"] + node.args[3:5]
                for argument in arguments:
                    for inner in ast.walk(argument):
                        if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and "." in inner.value \
                                and " " not in inner.value:
                            found.add(inner.value)
    return found


def test_every_key_the_service_starts_is_checked_here():
    unchecked = keys_passed_to_notify() - set(SERVICE_STARTED)
    assert not unchecked, f"give realistic parameters for {sorted(unchecked)} in tests/test_costs.py realistic()"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("key", SERVICE_STARTED)
def test_every_text_the_service_starts_fits_one_segment_or_leaves_in_parts_that_do(key, lang):
    text = for_channel(t(key, "fr" if key in STAFF_KEYS else lang, **realistic(lang)[key]), "sms")
    parts = costs.sms_parts(text)
    assert all(costs.measure(part) == costs.Size("gsm7", 1) for part in parts), parts
    if key not in STAFF_WORDS:  # the staff's own words may be long; the catalogue's texts are kept short
        assert parts == [text], f"{key} in {lang} takes {costs.measure(text).segments} segments: shorten it"


# --- recorded on every outbound message ---------------------------------------------------------------------

@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


def twilio_config(fake, **overrides) -> dict:
    return defaults(**{"OUTBOUND_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": fake.account_sid,
                       "TWILIO_AUTH_TOKEN": fake.auth_token, "TWILIO_WHATSAPP_FROM": "+14155238886",
                       "TWILIO_SMS_FROM": "+15005550006", "MESSAGE_PRICES": PRICES, **overrides})


def twilio_sender(db, fake, config) -> Sender:
    transport = TwilioTransport(fake.account_sid, fake.auth_token, sms_from=config["TWILIO_SMS_FROM"],
                                whatsapp_from=config["TWILIO_WHATSAPP_FROM"], api_base_url=fake.base_url, timeout=2.0)
    return Sender(db=db, transport=transport, rates={}, rng=random.Random(3), prices=config["MESSAGE_PRICES"])


def sms_producer(db, **changes) -> int:
    with db.transaction() as session:
        made = add_producer(session, MARIAMA, name="Mariama Diallo", language="fr", channel="sms")
        for name, value in changes.items():
            setattr(made, name, value)
        return made.id


def broadcast_to(db, config, producer_id, text, key="broadcast:1:producer=1"):
    with db.transaction() as session:
        return notifying.notify(session, config, session.get(Producer, producer_id), "broadcast", dedupe_key=key,
                                key="broadcast.text", params={"text": text})


def sent_messages(db) -> list[Message]:
    with db.transaction() as session:
        return list(session.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)))


LONG = ("Atelier gratuit a Thies le 12 janvier : emballage, etiquetage et hygiene. Venez avec vos produits et "
        "vos questions. Inscription par SMS avant le 8 janvier, places limitees. La boutique OVOP paie le repas "
        "de midi a toutes les participantes.")


def test_a_long_sms_leaves_in_numbered_parts_in_order_each_one_segment_and_priced(db, fake):
    config = twilio_config(fake)
    producer_id = sms_producer(db)
    notice = broadcast_to(db, config, producer_id, LONG)
    assert notice.added and notice.via == "sms"
    again = broadcast_to(db, config, producer_id, LONG)  # the same key again: nothing more
    assert not again.added
    with db.transaction() as session:
        keys = list(session.scalars(select(OutboxItem.dedupe_key).order_by(OutboxItem.id)))
    assert keys == ["broadcast:1:producer=1", "broadcast:1:producer=1:part=2"]
    twilio_sender(db, fake, config).drain()
    bodies = [message["body"] for message in fake.messages]
    assert [body[:4] for body in bodies] == ["1/2 ", "2/2 "]
    assert "".join(body[4:] for body in bodies).replace(" ", "") == LONG.replace(" ", "")
    recorded = sent_messages(db)
    assert [(m.kind, m.provider, m.segments, m.encoding, m.cost) for m in recorded] == \
        [("broadcast", "twilio", 1, "gsm7", 40.0)] * 2


def test_a_message_queued_whole_is_not_queued_again_in_parts(db, fake):
    config = twilio_config(fake)
    producer_id = sms_producer(db)
    assert broadcast_to(db, config, producer_id, "Court.").added
    assert not broadcast_to(db, config, producer_id, LONG).added  # same key, a longer text since: still once
    with db.transaction() as session:
        assert session.scalar(select(OutboxItem.body)) == "Court."
        assert len(session.scalars(select(OutboxItem)).all()) == 1


def test_the_weekly_fan_out_queues_parts_once(db, fake):
    config = twilio_config(fake)
    producer_id = sms_producer(db)
    with db.transaction() as session:
        producer = session.get(Producer, producer_id)
        rows = notifying.prepare(config, producer, "broadcast", dedupe_key="tip:1", key="broadcast.text",
                                 params={"text": LONG})
        assert [row["dedupe_key"] for row in rows] == ["tip:1", "tip:1:part=2"]
        assert notifying.queue_prepared(session, rows) == {"tip:1"}
    with db.transaction() as session:
        short = notifying.prepare(config, session.get(Producer, producer_id), "broadcast", dedupe_key="tip:1",
                                  key="broadcast.text", params={"text": "Court."})
        assert notifying.queue_prepared(session, short) == set()
        assert len(session.scalars(select(OutboxItem)).all()) == 2


def test_whatsapp_templates_and_window_text_are_priced_by_category(db, fake):
    config = twilio_config(fake, TWILIO_TEMPLATES={"broadcast": {"fr": "HX" + "b" * 32}})
    with db.transaction() as session:
        outside = add_producer(session, "+221770000101", language="fr", channel="whatsapp")
        inside = add_producer(session, "+221770000106", name="Ibrahima Diop", language="fr", channel="whatsapp",
                              cooperative="GIE Kinkéliba Kédougou")
        outside.last_inbound_at = clock.now() - timedelta(days=3)
        inside.last_inbound_at = clock.now() - timedelta(hours=1)
        ids = outside.id, inside.id
    for number, producer_id in enumerate(ids):
        broadcast_to(db, config, producer_id, LONG, key=f"broadcast:1:producer={number}")
    twilio_sender(db, fake, config).drain()
    by_phone = {m.phone: (m.provider, m.segments, m.encoding, m.cost) for m in sent_messages(db)}
    assert by_phone == {"+221770000101": ("twilio", None, None, 30.0), "+221770000106": ("twilio", None, None, 0.0)}


def test_without_prices_the_cost_is_unknown_and_the_size_still_recorded(db, fake):
    config = twilio_config(fake, MESSAGE_PRICES={})
    broadcast_to(db, config, sms_producer(db), "Bonjour.")
    twilio_sender(db, fake, config).drain()
    [message] = sent_messages(db)
    assert (message.provider, message.segments, message.encoding, message.cost) == ("twilio", 1, "gsm7", None)


def test_a_sandbox_producer_costs_nothing(db, fake):
    config = twilio_config(fake)
    broadcast_to(db, config, sms_producer(db, sandbox=True), "Bonjour.")
    twilio_sender(db, fake, config).drain()
    [message] = sent_messages(db)
    assert fake.messages == [] and (message.provider, message.cost) == ("console", 0.0)


def test_replies_record_their_carrier_size_and_cost(database_url):
    from app import create_app
    app = create_app(app_config(database_url, MESSAGE_PRICES=PRICES))
    try:
        with app.extensions["ovop"].db.transaction() as session:
            add_producer(session, MARIAMA, name="Mariama Diallo", language="fr", channel="sms")
        response = app.test_client().post("/twilio/inbound", data=inbound_form(MARIAMA, "aide", "SM" + "1" * 32))
        assert response.status_code == 200
        replies = sent_messages(app.extensions["ovop"].db)
        assert replies and all(m.kind == "reply" and m.provider == "twilio" and m.encoding == "gsm7"
                               and m.cost == 40.0 * m.segments for m in replies)
    finally:
        app.extensions["ovop"].db.dispose()


# --- what staff read: the API, the costs page, the broadcast preview ----------------------------------------

@pytest.fixture
def priced_app(database_url):
    """The service in local mode with a price table; the Twilio webhook's replies are carried by Twilio."""
    from app import create_app
    from tests.test_dashboard import with_dashboard
    application = with_dashboard(create_app(app_config(database_url, MESSAGE_PRICES=PRICES)))
    yield application
    application.extensions["ovop"].db.dispose()


def write_in(app, phone=MARIAMA, body="aide", sid="SM" + "2" * 32):
    with app.extensions["ovop"].db.transaction() as session:
        if session.scalar(select(Producer.id).where(Producer.phone == phone)) is None:
            add_producer(session, phone, name="Mariama Diallo", language="fr", channel="sms",
                         cooperative="Groupement des femmes de Ziguinchor")
    assert app.test_client().post("/twilio/inbound", data=inbound_form(phone, body, sid)).status_code == 200


def test_the_message_log_api_gives_kind_carrier_segments_and_cost_of_outbound_messages(priced_app):
    from tests.conftest import Api
    write_in(priced_app)
    status, listed = Api(priced_app.test_client()).get("/messages")
    assert status == 200
    outbound = [item for item in listed["items"] if item["direction"] == "out"]
    inbound = [item for item in listed["items"] if item["direction"] == "in"]
    assert outbound and all(item["kind"] == "reply" and item["provider"] == "twilio" and item["segments"] >= 1
                            and item["cost"] == 40.0 * item["segments"] for item in outbound)
    assert [(item["kind"], item["provider"], item["segments"], item["cost"]) for item in inbound] == [(None,) * 4]


def test_the_costs_page_adds_up_per_week_kind_and_cooperative(priced_app):
    from tests.test_dashboard import Staff
    write_in(priced_app)
    with priced_app.extensions["ovop"].db.transaction() as session:  # a message no price was known for
        session.add(Message(direction="out", channel="sms", phone="+221770000999", body="x", status="sent",
                            kind="staff_order", provider="smsgate", segments=1, encoding="gsm7", cost=None,
                            created_at=clock.now(), updated_at=clock.now()))
    staff = Staff(priced_app.test_client())
    assert staff.login(password="test-password").status_code == 302
    page = staff.get("/costs").text
    replies = sent_messages(priced_app.extensions["ovop"].db)
    segments = sum(m.segments for m in replies if m.kind == "reply")
    assert 'href="/costs"' in page  # in the menu
    assert "Coût des messages" in page and "Groupement des femmes de Ziguinchor" in page
    assert "Réponse" in page and "Personnel (sans coopérative)" in page
    assert f"{len(replies) - 1 + 1} messages" in page.replace("\u00a0", " ")
    assert f"{int(40 * segments)}\u00a0F\u202fCFA" in page
    assert "Coût inconnu (pas de prix) : 1 message(s)" in page.replace("&#39;", "'")
    staff.get("/lang/en?next=/costs")
    assert "What messages cost" in staff.get("/costs").text


def test_the_costs_page_says_when_no_price_is_set(database_url):
    from app import create_app
    from tests.test_dashboard import Staff, with_dashboard
    app = with_dashboard(create_app(app_config(database_url)))
    try:
        staff = Staff(app.test_client())
        staff.login(password="test-password")
        assert "MESSAGE_PRICES n&#39;est pas défini" in staff.get("/costs").text
    finally:
        app.extensions["ovop"].db.dispose()


def test_the_broadcast_preview_estimates_the_cost_by_route_before_sending(database_url, fake):
    from app import create_app
    from tests.conftest import Api
    app = create_app(app_config(database_url, MESSAGE_PRICES=PRICES, OUTBOUND_BACKEND="twilio",
                                TWILIO_ACCOUNT_SID=fake.account_sid, TWILIO_AUTH_TOKEN=fake.auth_token,
                                TWILIO_SMS_FROM="+15005550006", TWILIO_WHATSAPP_FROM="+14155238886",
                                TWILIO_API_BASE_URL=fake.base_url, PUBLIC_BASE_URL="https://ovop.example"))
    try:
        with app.extensions["ovop"].db.transaction() as session:
            add_producer(session, "+221772000001", language="fr", channel="sms")
            inside = add_producer(session, "+221772000002", language="fr", channel="whatsapp")
            inside.last_inbound_at = clock.now() - timedelta(hours=1)
            add_producer(session, "+221772000003", language="fr", channel="whatsapp")  # window closed, no template
        api = Api(app.test_client())
        status, preview = api.post("/broadcasts/preview", {"text": {"fr": LONG}})
        assert status == 200
        french = preview["languages"]["fr"]
        assert french["sms_messages"] == 2  # numbered parts of one segment each
        assert french["by_route"] == {"sms": 2, "whatsapp": 1}
        assert french["cost"] == preview["cost"] == 2 * 2 * 40.0 + 0.0
        status, unknown = api.post("/broadcasts/preview", {"text": {"fr": "Bonjour"}})
        assert unknown["cost"] == 80.0 and unknown["cost_unknown"] == 0
        app.config["MESSAGE_PRICES"] = {"sms": {"twilio": 40.0}}
        status, unknown = api.post("/broadcasts/preview", {"text": {"fr": "Bonjour"}})
        assert unknown["cost"] is None and unknown["cost_unknown"] == 1  # WhatsApp has no price
    finally:
        app.extensions["ovop"].db.dispose()


def test_the_dashboard_preview_shows_the_estimated_cost(priced_app):
    from tests.test_dashboard import Staff
    with priced_app.extensions["ovop"].db.transaction() as session:
        add_producer(session, "+221772000001", language="fr", channel="sms")
    staff = Staff(priced_app.test_client())
    staff.login(password="test-password")
    page = staff.post("/broadcasts", {"text_fr": "Bonjour à tous", "action": "preview", "when": "now"}).text
    assert "Coût estimé de la diffusion : 0\u00a0F\u202fCFA" in page  # local mode: the console costs nothing


def test_the_costs_page_needs_a_signed_in_user(priced_app):
    response = priced_app.test_client().get("/costs")
    assert response.status_code == 302 and response.headers["Location"].startswith("/?next=")
