"""Sandbox producers: the phone simulator acts only as them, nothing sent to them (or to staff because of them)
leaves through a provider, and they are left out of real audiences and counts."""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from ovop.core import clock
from ovop.domain import orders, workshops
from ovop.models import Message, Order, OutboxItem, Producer, Product, Registration, StockReport, Workshop
from ovop.messaging.transport import TwilioTransport
from ovop.messaging.outbox import Sender
from ovop.jobs import jobs
from tests.helpers import add_producer, inbound_form
from tests.test_dashboard import Staff, with_dashboard

pytestmark = pytest.mark.clock  # reads dates: .ci/run also runs it at other hours

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)  # a Tuesday in Dakar (UTC+0)
REAL, REAL2, SANDBOX = "+221770000201", "+221770000202", "+221770000301"
STAFF = "+221770009999"


@pytest.fixture(autouse=True)
def frozen():
    with clock.frozen_at(NOW, all_threads=True):
        yield


def twilio_sender(db, fake) -> Sender:
    transport = TwilioTransport(fake.account_sid, fake.auth_token, sms_from="+15005550006",
                                whatsapp_from="whatsapp:+14155238886", api_base_url=fake.base_url, timeout=2.0)
    return Sender(db=db, transport=transport, rates={"sms": 0, "whatsapp": 0}, rng=random.Random(7))


def world(db) -> dict[str, int]:
    """A real cooperative (two real producers) and a sandbox cooperative (one sandbox producer), both of yaourt."""
    with db.transaction() as session:
        session.add(Product(code="yaourt", unit="pot", name_fr="yaourt", name_wo="soow", low_stock_threshold=20))
        session.flush()
        real = add_producer(session, REAL, name="Fatou Real", cooperative="GIE Réel")
        real2 = add_producer(session, REAL2, name="Coumba Real", cooperative="GIE Réel")
        sandbox = add_producer(session, SANDBOX, name="Test Sandbox", cooperative="GIE Essai")
        sandbox.sandbox = True
        session.flush()
        return {"real": real.id, "real2": real2.id, "sandbox": sandbox.id, "real_coop": real.cooperative_id,
                "sandbox_coop": sandbox.cooperative_id}


def say(client, phone: str, text: str, sid: str) -> int:
    return client.post("/twilio/inbound", data=inbound_form(phone, text, sid, "sms")).status_code


def rows(db, model, *where):
    with db.transaction() as session:
        return list(session.scalars(select(model).where(*where)))


# --- the API and the producer form ---------------------------------------------------------------------------

def test_the_api_creates_a_sandbox_producer_and_never_turns_one_into_the_other(api, db):
    ids = world(db)
    status, created = api.post("/producers", {"phone": "77 000 04 01", "name": "Essai", "sandbox": True,
                                              "cooperative_id": ids["sandbox_coop"]})
    assert status == 201 and created["sandbox"] is True
    status, real = api.get(f"/producers/{ids['real']}")
    assert real["sandbox"] is False
    assert api.post("/producers", {"phone": "77 000 04 02", "sandbox": "yes"})[0] == 422
    status, body = api.patch(f"/producers/{ids['real']}", {"sandbox": True})
    assert status == 422 and body["field"] == "sandbox"
    assert api.patch(f"/producers/{created['id']}", {**created, "name": "Essai 2"})[0] == 200  # a GET sent back
    status, body = api.post("/producers", {"phone": "77 000 04 03", "sandbox": True,
                                           "cooperative_id": ids["real_coop"]})
    assert status == 422 and body["field"] == "sandbox" and "real producers" in body["error"]


def test_the_demo_producers_are_sandbox_producers(demo, db):
    assert {producer.sandbox for producer in rows(db, Producer)} == {True}


def test_the_producer_form_creates_a_sandbox_producer(demo, db):
    staff = Staff(with_dashboard(demo).test_client())
    staff.login()
    takku = rows(db, Producer, Producer.phone == "+221770000101")[0].cooperative_id
    form = {"phone": "77 555 00 01", "name": "Essai Form", "cooperative_id": takku, "language": "fr",
            "channel": "sms", "sandbox": "1"}
    assert "Producteur de test" in staff.get("/producers/new").text
    assert staff.post("/producers/new", form).status_code == 302
    [made] = rows(db, Producer, Producer.name == "Essai Form")
    assert made.sandbox is True


# --- the simulator -------------------------------------------------------------------------------------------

@pytest.fixture
def staff(demo, db) -> Staff:
    staff = Staff(with_dashboard(demo).test_client())
    staff.login()
    with db.transaction() as session:  # one real producer, in a cooperative of their own
        session.add(Producer(phone=REAL, name="Fatou Real", language="fr", channel="whatsapp", sandbox=False))
    return staff


def test_the_simulator_refuses_a_real_producer_with_a_422_and_changes_nothing(staff, db):
    page = staff.get(f"/simulator?phone={REAL}")
    assert page.status_code == 422 and "producteur réel" in page.text and "Fatou Real" in page.text
    assert 'id="compose"' not in page.text
    assert staff.get(f"/simulator/thread?phone={REAL}").status_code == 422
    for text in ("yaourt 40", "STOP", "annuler atelier"):
        answer = staff.post("/simulator", {"phone": REAL, "channel": "whatsapp", "body": text})
        assert answer.status_code == 422 and "producteur réel" in answer.text
    [real] = rows(db, Producer, Producer.phone == REAL)
    assert real.last_inbound_at is None and real.opted_out is False  # no window opened, no STOP overridden
    assert rows(db, Message, Message.phone == REAL) == [] and rows(db, StockReport) == []
    listed = staff.get("/simulator").text
    assert "Awa Ndiaye" in listed and "Fatou Real" not in listed  # only sandbox producers are offered


def test_the_simulator_refuses_a_sandbox_producer_of_a_cooperative_with_real_producers(staff, db):
    with db.transaction() as session:
        awa = session.scalar(select(Producer).where(Producer.phone == "+221770000101"))
        session.execute(update(Producer).where(Producer.phone == REAL).values(cooperative_id=awa.cooperative_id))
    answer = staff.post("/simulator", {"phone": "+221770000101", "channel": "whatsapp", "body": "yaourt 40"})
    assert answer.status_code == 422 and "producteurs réels" in answer.text
    assert rows(db, StockReport) == [] and rows(db, Message) == []


def test_the_simulator_still_acts_as_a_sandbox_producer(staff, db):
    answer = staff.post("/simulator", {"phone": "+221770000101", "channel": "whatsapp", "body": "yaourt 40"})
    assert answer.status_code == 302 and len(rows(db, StockReport)) == 1


# --- nothing leaves through a provider -----------------------------------------------------------------------

def test_a_message_to_a_sandbox_producer_is_written_to_the_log_and_never_reaches_twilio(app, api, db, fake):
    ids = world(db)
    app.config.update(OUTBOUND_BACKEND="twilio", TWILIO_SMS_FROM="+15005550006")
    status, order = api.post(
        "/orders", {"cooperative_id": ids["sandbox_coop"], "product": "yaourt", "quantity": 10,
                    "due_date": (NOW + timedelta(days=6)).date().isoformat()})
    assert status == 201
    [alert] = rows(db, OutboxItem, OutboxItem.kind == "order_alert")
    assert alert.recipient == SANDBOX
    assert twilio_sender(db, fake).drain()["sent"] == 1
    assert fake.messages == []
    [logged] = rows(db, Message, Message.outbox_item_id == alert.id)
    assert logged.provider_sid.startswith("CO") and logged.phone == SANDBOX and "CMD-0001" in logged.body


def test_staff_alerts_caused_by_a_sandbox_producer_never_reach_twilio(app, api, db, fake):
    ids = world(db)
    app.config.update(STAFF_PHONES=[STAFF], OUTBOUND_BACKEND="twilio", TWILIO_SMS_FROM="+15005550006")
    due = (NOW + timedelta(days=6)).date().isoformat()
    for cooperative in ("sandbox_coop", "real_coop"):
        assert api.post("/orders", {"cooperative_id": ids[cooperative], "product": "yaourt", "quantity": 10,
                                    "due_date": due})[0] == 201
    client = app.test_client()
    assert say(client, SANDBOX, "oui", "SM" + "1" * 32) == 200  # takes CMD-0001, of the sandbox cooperative
    assert say(client, SANDBOX, "yaourt 5", "SM" + "2" * 32) == 200  # low stock
    staff_rows = rows(db, OutboxItem, OutboxItem.recipient == STAFF)
    assert {row.kind for row in staff_rows} >= {"staff_order"}
    # Through the webhook the alert goes to the real boutique phone: only the console may carry it.
    with db.transaction() as session:
        session.execute(update(OutboxItem).values(not_before=NOW))
    twilio_sender(db, fake).drain()
    assert [message["to"] for message in fake.messages if message["to"].endswith(STAFF)] == []
    assert all(row.status == "sent" for row in rows(db, OutboxItem, OutboxItem.recipient == STAFF))
    assert all(m.provider_sid.startswith("CO") for m in rows(db, Message, Message.phone == STAFF))
    # A real producer's answer does reach the staff phone through Twilio.
    assert say(client, REAL, "oui", "SM" + "3" * 32) == 200
    twilio_sender(db, fake).drain()
    assert [m["to"] for m in fake.messages].count(STAFF) == 1


# --- audiences and counts ------------------------------------------------------------------------------------

def test_a_sandbox_producer_is_no_part_of_a_real_cooperatives_orders(app, api, db):
    ids = world(db)
    with db.transaction() as session:  # a sandbox producer put into the real cooperative behind the API's back
        session.execute(update(Producer).where(Producer.id == ids["sandbox"])
                        .values(cooperative_id=ids["real_coop"]))
    status, order = api.post("/orders", {"cooperative_id": ids["real_coop"], "product": "yaourt", "quantity": 10,
                                         "due_date": (NOW + timedelta(days=6)).date().isoformat()})
    assert status == 201
    assert sorted(row.recipient for row in rows(db, OutboxItem, OutboxItem.kind == "order_alert")) == [REAL, REAL2]
    with db.transaction() as session:
        sandbox = session.get(Producer, ids["sandbox"])
        assert orders.pending_orders(session, sandbox) == []
        answer = orders.accept(session, app.config, session.get(Order, order["id"]), sandbox)
        assert answer.outcome == "closed"
    assert rows(db, Order)[0].status == "pending"


def test_price_tips_stock_reminders_and_broadcasts_leave_sandbox_producers_out(app, api, db):
    ids = world(db)
    with db.transaction() as session:
        product = session.scalar(select(Product))
        from ovop.models import PriceObservation
        session.add(PriceObservation(product_id=product.id, price=500, unit="pot", market="Boutique OVOP Dakar",
                                     observed_on=NOW.date() - timedelta(days=2)))
    monday = datetime(2026, 12, 7, 8, 30, tzinfo=timezone.utc)
    friday = datetime(2026, 12, 4, 10, 30, tzinfo=timezone.utc)
    jobs.price_tips(app.extensions["ovop"].db, app.config, monday)
    jobs.stock_reminders(app.extensions["ovop"].db, app.config, friday)
    status, _ = api.post("/broadcasts", {"text": {"fr": "Bonjour"}})
    assert status == 201
    jobs.broadcasts(app.extensions["ovop"].db, app.config, NOW + timedelta(minutes=1))
    for kind in ("price_tip", "stock_reminder", "broadcast"):
        recipients = sorted(row.recipient for row in rows(db, OutboxItem, OutboxItem.kind == kind))
        assert recipients == [REAL, REAL2], kind
    status, preview = api.post("/broadcasts/preview", {"text": {"fr": "x"}})
    assert status == 200 and preview["producers"] == 2
    # A broadcast to the sandbox cooperative itself reaches its sandbox producer (to try it in the simulator).
    status, preview = api.post("/broadcasts/preview", {"text": {"fr": "x"},
                                                       "audience": {"cooperative_id": ids["sandbox_coop"]}})
    assert preview["producers"] == 1


def test_a_sandbox_producer_takes_no_real_seat_and_frees_none(app, db):
    ids = world(db)
    with db.transaction() as session:
        item = Workshop(title_fr="Hygiène", starts_at=NOW + timedelta(days=10), location="Dakar", capacity=1)
        session.add(item)
        session.flush()
        workshop_id = item.id
    with db.transaction() as session:
        assert workshops.register(session, workshop_id, session.get(Producer, ids["sandbox"]), NOW).outcome \
            == "registered"
        assert workshops.register(session, workshop_id, session.get(Producer, ids["real"]), NOW).outcome \
            == "registered"  # the sandbox seat was not a real one
        assert workshops.register(session, workshop_id, session.get(Producer, ids["real2"]), NOW).outcome \
            == "waitlisted"
        assert workshops.counts(session, [workshop_id])[workshop_id] == {"registered": 1, "waitlisted": 1}
    with db.transaction() as session:
        mine = session.scalar(select(Registration).where(Registration.producer_id == ids["sandbox"]))
        assert workshops.cancel(session, mine, NOW, app.config) is None  # nobody real is promoted
    statuses = {r.producer_id: r.status for r in rows(db, Registration)}
    assert statuses[ids["real2"]] == "waitlisted"
    assert rows(db, OutboxItem, OutboxItem.kind == "workshop_promoted") == []
