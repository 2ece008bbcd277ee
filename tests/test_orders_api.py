"""Orders through the staff API and the domain rules behind them: references, alerts, answers, the first yes
winning, cancel, delivery, follow-ups and bad input."""
from __future__ import annotations

import json
import threading
import urllib.request
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select, update

from ovop.core.config import defaults
from ovop.core import clock
from ovop.domain import orders
from ovop.language.i18n import is_gsm7, sms_segments
from ovop.models import Order, OutboxItem, Producer, Product, StockReport
from ovop.jobs import order_followups
from tests.conftest import TOKEN
from tests.helpers import add_producer, live_server

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

AWA, BINTA, COUMBA, FATOU = "+221770000101", "+221770000102", "+221770000103", "+221770000104"
NOW = datetime(2026, 12, 2, 10, tzinfo=timezone.utc)  # a Wednesday morning in Dakar (UTC+0)
TODAY = NOW.date()
NEXT_WEEK = (TODAY + timedelta(days=7)).isoformat()


@pytest.fixture(autouse=True)
def wednesday_morning():
    """Due dates, reminders and "today" are read against one known moment, whatever the hour the suite runs."""
    with clock.frozen_at(NOW, all_threads=True):
        yield


@pytest.fixture
def coop(db) -> dict:
    """GIE Takku Liggéey makes yoghurt: Awa (Wolof, WhatsApp, wrote an hour ago), Binta (French, SMS) and
    Coumba (opted out); Fatou belongs to another cooperative making peanut oil."""
    with db.transaction() as session:
        session.add_all([Product(code="yaourt", unit="pot", name_fr="yaourt", name_wo="soow", name_en="yoghurt"),
                         Product(code="huile_arachide", unit="litre", name_fr="huile d'arachide")])
        session.flush()
        awa = add_producer(session, AWA, name="Awa Ndiaye", language="wo", channel="whatsapp")
        awa.last_inbound_at = clock.now() - timedelta(hours=1)
        binta = add_producer(session, BINTA, name="Binta Sarr", language="fr", channel="sms")
        coumba = add_producer(session, COUMBA, name="Coumba Fall")
        coumba.opted_out = True
        fatou = add_producer(session, FATOU, name="Fatou Diouf", products=("huile_arachide",),
                             cooperative="Union de Kaolack")
        return {"id": awa.cooperative_id, "awa": awa.id, "binta": binta.id, "coumba": coumba.id,
                "fatou": fatou.id, "kaolack": fatou.cooperative_id}


def order_body(coop, **changes) -> dict:
    return {"cooperative_id": coop["id"], "product": "yaourt", "quantity": 40, "due_date": NEXT_WEEK,
            "note": "pour la foire de Dakar", **changes}


def create(api, coop, **changes) -> dict:
    status, body = api.post("/orders", order_body(coop, **changes))
    assert status == 201, body
    return body


def outbox(db, kind=None) -> list[OutboxItem]:
    with db.transaction() as session:
        query = select(OutboxItem).order_by(OutboxItem.id)
        if kind:
            query = query.where(OutboxItem.kind == kind)
        return list(session.scalars(query))


def answer(db, order_id, producer_id, yes=True, quantity=None, now=None, config=None):
    """A producer's answer as the flow records it (the conversations are tests/transcripts/*_orders*.txt)."""
    with db.transaction() as session:
        order, producer = session.get(Order, order_id), session.get(Producer, producer_id)
        if yes:
            result = orders.accept(session, config or defaults(), order, producer, quantity, now=now)
        else:
            result = orders.decline(session, config or defaults(), order, producer, now=now)
        return result.outcome, result.quantity, result.stock


# --- creating and alerting ------------------------------------------------------------------------------

def test_it_creates_an_order_with_a_reference_and_alerts_every_producer_at_once(api, db, coop):
    body = create(api, coop)
    assert body["reference"] == "CMD-0001" and body["status"] == "pending"
    assert (body["product"], body["quantity"], body["unit"], body["due_date"]) == ("yaourt", 40, "pot", NEXT_WEEK)
    assert body["accepted_by"] is None and body["overdue"] is False
    assert [(a["producer_id"], a["answer"], a["sent_via"]) for a in body["answers"]] == [
        (coop["awa"], None, "whatsapp"), (coop["binta"], None, "sms")]  # Coumba opted out: nothing
    awa, binta = outbox(db, "order_alert")
    assert awa.dedupe_key == f"order-alert:order={body['id']}:producer={coop['awa']}"
    assert awa.channel == "whatsapp" and "soow 40 pot" in awa.body and "WAAW walla DÉEDÉET" in awa.body
    assert binta.channel == "sms" and "yaourt 40 pot" in binta.body and "OUI, NON" in binta.body
    assert is_gsm7(binta.body) and sms_segments(binta.body) == 1


def test_with_several_orders_pending_the_alert_says_to_answer_with_the_reference(api, db, coop):
    create(api, coop)
    second = create(api, coop, quantity=10)
    assert second["reference"] == "CMD-0002"
    prefix = f"order-alert:order={second['id']}:"
    alerts = [row for row in outbox(db, "order_alert") if row.dedupe_key.startswith(prefix)]
    assert {row.recipient for row in alerts} == {AWA, BINTA}
    assert all("CMD-0002" in row.body for row in alerts)
    assert any("OUI CMD-0002 ou NON CMD-0002" in row.body for row in alerts)
    assert any("WAAW CMD-0002 walla DÉEDÉET CMD-0002" in row.body for row in alerts)


def test_orders_created_at_the_same_moment_get_distinct_references(app, coop):
    def post(results):
        request = urllib.request.Request(f"{base}/api/v1/orders", data=json.dumps(order_body(coop)).encode(),
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            results.append((response.status, json.loads(response.read())["reference"]))

    results: list = []
    with live_server(app) as base:
        threads = [threading.Thread(target=post, args=(results,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    assert sorted(results) == [(201, f"CMD-{n:04d}") for n in range(1, 9)]


@pytest.mark.parametrize("changes, field", [
    ({"cooperative_id": 999}, "cooperative_id"),
    ({"cooperative_id": "1"}, "cooperative_id"),
    ({"cooperative_id": None}, "cooperative_id"),
    ({"product": "savon_noir"}, "product"),
    ({"product": "huile_arachide"}, "product"),  # exists, but this cooperative does not make it
    ({"product": 3}, "product"),
    ({"quantity": -5}, "quantity"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": "20"}, "quantity"),
    ({"quantity": True}, "quantity"),
    ({"quantity": 10**9}, "quantity"),
    ({"due_date": (TODAY - timedelta(days=1)).isoformat()}, "due_date"),
    ({"due_date": "15/12/2026"}, "due_date"),
    ({"due_date": "demain"}, "due_date"),
    ({"due_date": 20261215}, "due_date"),
    ({"note": 12}, "note"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_input_is_refused_with_the_field(api, db, coop, changes, field):
    body = {k: v for k, v in order_body(coop, **changes).items() if v is not None}
    status, answer_ = api.post("/orders", body)
    assert (status, answer_["field"]) == (422, field), answer_
    assert outbox(db) == []


@pytest.mark.parametrize("missing", ["cooperative_id", "product", "quantity", "due_date"])
def test_each_required_field_is_required(api, coop, missing):
    status, body = api.post("/orders", {k: v for k, v in order_body(coop).items() if k != missing})
    assert (status, body["field"]) == (422, missing)


def test_a_quantity_that_is_not_a_finite_number_is_refused(client, coop):
    data = json.dumps(order_body(coop)).replace('"quantity": 40', '"quantity": NaN')
    response = client.post("/api/v1/orders", data=data, content_type="application/json",
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422 and response.get_json()["field"] == "quantity"


def test_a_due_date_today_or_with_a_time_and_offset_is_accepted(api, coop):
    assert create(api, coop, due_date=TODAY.isoformat())["due_date"] == TODAY.isoformat()
    assert create(api, coop, due_date=f"{NEXT_WEEK}T10:00:00+00:00")["due_date"] == NEXT_WEEK


# --- reading ----------------------------------------------------------------------------------------------

def test_it_lists_orders_newest_first_with_filters(api, coop):
    first, second = create(api, coop), create(api, coop, quantity=5)
    api.post(f"/orders/{first['id']}/cancel")
    other = api.post("/orders", order_body(coop, cooperative_id=coop["kaolack"], product="huile_arachide"))[1]
    assert [o["id"] for o in api.get("/orders")[1]["items"]] == [other["id"], second["id"], first["id"]]
    assert [o["id"] for o in api.get("/orders?status=cancelled")[1]["items"]] == [first["id"]]
    assert [o["id"] for o in api.get(f"/orders?cooperative_id={coop['kaolack']}")[1]["items"]] == [other["id"]]
    assert [o["id"] for o in api.get(f"/orders?status=pending&cooperative_id={coop['id']}")[1]["items"]] == [
        second["id"]]


@pytest.mark.parametrize("query, field", [("status=lost", "status"), ("cooperative_id=abc", "cooperative_id")])
def test_bad_filters_are_refused(api, query, field):
    status, body = api.get(f"/orders?{query}")
    assert (status, body["field"]) == (422, field)


@pytest.mark.parametrize("path", ["/orders/999", "/orders/0", "/orders/abc", "/orders/99999999999"])
def test_an_unknown_order_is_404(api, path):
    assert api.get(path)[0] == 404


def test_staff_see_each_answer(api, db, coop):
    order = create(api, coop)
    assert answer(db, order["id"], coop["binta"], yes=False)[0] == "declined"
    assert answer(db, order["id"], coop["awa"], quantity=25)[0] == "partial"
    body = api.get(f"/orders/{order['id']}")[1]
    assert (body["status"], body["accepted_by"], body["accepted_quantity"]) == ("partial", coop["awa"], 25)
    answers = {a["producer_id"]: (a["answer"], a["quantity"], a["answered_at"] is not None) for a in body["answers"]}
    assert answers == {coop["awa"]: ("partial", 25, True), coop["binta"]: ("declined", None, True)}


# --- answers: the domain rules ----------------------------------------------------------------------------

def test_the_first_yes_wins_and_a_later_one_hears_it_is_taken(api, db, coop):
    order = create(api, coop)
    assert answer(db, order["id"], coop["binta"]) == ("accepted", 40, None)
    assert answer(db, order["id"], coop["awa"])[0] == "taken"
    assert answer(db, order["id"], coop["binta"])[0] == "already_yours"
    body = api.get(f"/orders/{order['id']}")[1]
    assert (body["status"], body["accepted_by"], body["accepted_quantity"]) == ("accepted", coop["binta"], 40)
    assert {a["producer_id"]: a["answer"] for a in body["answers"]} == {coop["awa"]: "too_late",
                                                                         coop["binta"]: "accepted"}


def test_a_yes_for_more_than_ordered_takes_the_whole_order(api, db, coop):
    order = create(api, coop)
    assert answer(db, order["id"], coop["awa"], quantity=60)[:2] == ("accepted", 40)


def test_a_yes_for_zero_is_a_no(api, db, coop):
    order = create(api, coop)
    assert answer(db, order["id"], coop["awa"], quantity=0)[0] == "declined"


def test_two_yeses_at_the_same_moment_make_exactly_one_acceptance(api, db, coop):
    for round_ in range(5):
        order = create(api, coop)
        barrier, outcomes = threading.Barrier(2), []

        def say_yes(producer_id):
            barrier.wait(timeout=10)
            outcomes.append(answer(db, order["id"], producer_id)[0])

        threads = [threading.Thread(target=say_yes, args=(pid,)) for pid in (coop["awa"], coop["binta"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["accepted", "taken"], round_
        body = api.get(f"/orders/{order['id']}")[1]
        assert sorted(a["answer"] for a in body["answers"]) == ["accepted", "too_late"]


def test_a_stale_read_cannot_accept_an_order_taken_meanwhile(api, db, coop):
    order = create(api, coop)
    with db.transaction() as session:
        stale = session.get(Order, order["id"])  # read while still pending
        assert stale.status == "pending"
    answer(db, order["id"], coop["binta"])
    with db.transaction() as session:
        session.add(stale)
        result = orders.accept(session, defaults(), stale, session.get(Producer, coop["awa"]))
        assert result.outcome == "taken"


def test_the_order_is_declined_once_every_alerted_producer_said_no(api, db, coop):
    order = create(api, coop)
    assert answer(db, order["id"], coop["awa"], yes=False)[0] == "declined"
    assert api.get(f"/orders/{order['id']}")[1]["status"] == "pending"  # Binta may still say yes
    answer(db, order["id"], coop["binta"], yes=False)
    assert api.get(f"/orders/{order['id']}")[1]["status"] == "declined"


def test_a_producer_who_could_not_be_reached_is_not_waited_for(api, db, coop):
    with db.transaction() as session:
        session.execute(update(Producer).where(Producer.id == coop["awa"]).values(last_inbound_at=None))
    config = defaults(OUTBOUND_BACKEND="twilio", TWILIO_WHATSAPP_FROM="+14155238886")  # no SMS, no template
    with db.transaction() as session:
        made = orders.create_order(session, config, order_body(coop))
        order_id, vias = made.id, {note.producer_id: note.sent_via for note in made.notifications}
    assert vias == {coop["awa"]: "undeliverable", coop["binta"]: "undeliverable"}
    assert {row.status for row in outbox(db, "order_alert")} == {"undeliverable"}
    answer(db, order_id, coop["binta"], yes=False)
    with db.transaction() as session:
        assert session.get(Order, order_id).status == "declined"


def test_a_cancelled_or_expired_order_cannot_be_accepted(api, db, coop):
    cancelled, late = create(api, coop), create(api, coop)
    api.post(f"/orders/{cancelled['id']}/cancel")
    with db.transaction() as session:
        session.get(Order, late["id"]).due_date = TODAY - timedelta(days=1)
    assert answer(db, cancelled["id"], coop["awa"])[0] == "cancelled"
    assert answer(db, late["id"], coop["awa"])[0] == "expired"
    assert api.get(f"/orders/{late['id']}")[1]["status"] == "expired"
    assert api.get(f"/orders/{cancelled['id']}")[1]["accepted_by"] is None


def test_accepting_more_than_the_last_reported_stock_is_allowed_and_said(api, db, coop):
    with db.transaction() as session:
        product = session.scalar(select(Product).where(Product.code == "yaourt"))
        for quantity, hours_ago in ((100, 5), (30, 1)):  # the latest report is the level
            session.add(StockReport(cooperative_id=coop["id"], product_id=product.id, producer_id=coop["awa"],
                                    quantity=quantity, unit="pot",
                                    reported_at=clock.now() - timedelta(hours=hours_ago)))
    order = create(api, coop)
    outcome, quantity, stock = answer(db, order["id"], coop["awa"])
    assert (outcome, quantity, stock) == ("accepted", 40, 30)


def test_staff_phones_get_a_short_sms_on_accept_and_on_decline(app, api, db, coop):
    app.config["STAFF_PHONES"] = ["+221770009999"]
    taken, refused = create(api, coop), create(api, coop)
    answer(db, taken["id"], coop["awa"], quantity=25, config=app.config)
    for producer in ("awa", "binta"):
        answer(db, refused["id"], coop[producer], yes=False, config=app.config)
    staff = outbox(db, "staff_order")
    assert [(row.recipient, row.channel) for row in staff] == [("+221770009999", "sms")] * 2
    assert "CMD-0001" in staff[0].body and "Awa Ndiaye" in staff[0].body and "25 sur 40" in staff[0].body
    assert "CMD-0002" in staff[1].body and "refusée par tous" in staff[1].body
    assert all(sms_segments(row.body) == 1 for row in staff)


# --- staff actions ----------------------------------------------------------------------------------------

def test_cancelling_tells_the_producers_who_did_not_say_no(api, db, coop):
    order = create(api, coop)
    answer(db, order["id"], coop["binta"], yes=False)
    status, body = api.post(f"/orders/{order['id']}/cancel")
    assert (status, body["status"]) == (200, "cancelled") and body["cancelled_at"]
    [told] = outbox(db, "order_cancelled")
    assert told.recipient == AWA and "neenal na komand CMD-0001" in told.body


def test_delivery_thanks_the_producer_who_took_the_order(api, db, coop):
    order = create(api, coop)
    assert api.post(f"/orders/{order['id']}/delivered")[0] == 409  # nobody has taken it yet
    answer(db, order["id"], coop["binta"])
    status, body = api.post(f"/orders/{order['id']}/delivered")
    assert (status, body["status"], body["overdue"]) == (200, "delivered", False) and body["delivered_at"]
    [thanks] = outbox(db, "order_thanks")
    assert thanks.recipient == BINTA and thanks.channel == "sms" and "Merci pour votre travail" in thanks.body


@pytest.mark.parametrize("first, then", [("cancel", "cancel"), ("cancel", "delivered")])
def test_an_action_the_status_does_not_allow_is_409(api, coop, first, then):
    order = create(api, coop)
    assert api.post(f"/orders/{order['id']}/{first}")[0] == 200
    status, body = api.post(f"/orders/{order['id']}/{then}")
    assert (status, body["current_status"]) == (409, "cancelled") and "CMD-0001" in body["error"]


def test_delivering_twice_is_409(api, db, coop):
    order = create(api, coop)
    answer(db, order["id"], coop["awa"])
    assert api.post(f"/orders/{order['id']}/delivered")[0] == 200
    assert api.post(f"/orders/{order['id']}/delivered")[0] == 409
    assert api.post(f"/orders/{order['id']}/cancel")[0] == 409
    assert len(outbox(db, "order_thanks")) == 1


def test_an_accepted_order_past_its_due_date_is_overdue(api, db, coop):
    order = create(api, coop)
    answer(db, order["id"], coop["awa"])
    with db.transaction() as session:
        session.get(Order, order["id"]).due_date = TODAY - timedelta(days=1)
    assert api.get(f"/orders/{order['id']}")[1]["overdue"] is True
    assert api.post(f"/orders/{order['id']}/delivered")[1]["overdue"] is False


# --- follow-ups (ovop/jobs/order_followups.py) ------------------------------------------------------------

def at(moment):
    return clock.frozen_at(moment, all_threads=True)


def test_a_silent_producer_is_reminded_once_after_24_hours(api, db, coop):
    start = datetime.combine(TODAY, time(10), tzinfo=timezone.utc)  # Dakar is on UTC
    with db.transaction() as session:
        session.get(Producer, coop["awa"]).last_inbound_at = start - timedelta(hours=1)
    with at(start):
        order = create(api, coop)
        answer(db, order["id"], coop["binta"], yes=False)
    for hours, reminded in ((23, 0), (25, 1), (49, 0)):  # one reminder, not one a day
        with at(start + timedelta(hours=hours)):
            assert order_followups.run(db, defaults(), clock.now()) == reminded, hours
    [reminder] = outbox(db, "order_reminder")
    assert reminder.dedupe_key == f"order-reminder:order={order['id']}:producer={coop['awa']}"
    assert reminder.recipient == AWA and reminder.body == (
        "Fàttali, komand OVOP CMD-0001: soow 40 pot, ngir Ala, 9 Des. Tontul WAAW walla DÉEDÉET.")
    # Awa's 24 h window has closed by then and no template is configured: the reminder goes by SMS.
    assert (reminder.channel, reminder.not_before) == ("sms", start + timedelta(hours=25))


def test_a_reminder_due_at_night_waits_for_the_morning(api, db, coop):
    start = datetime.combine(TODAY, time(20, 30), tzinfo=timezone.utc)
    with at(start):
        create(api, coop)
    with at(start + timedelta(hours=25)):  # 21:30 the next day: quiet hours
        assert order_followups.run(db, defaults(), clock.now()) == 2
    morning = datetime.combine(TODAY + timedelta(days=2), time(7), tzinfo=timezone.utc)
    assert {row.not_before for row in outbox(db, "order_reminder")} == {morning}


def test_a_reminder_run_inside_the_callers_transaction_adds_nothing_twice(api, db, coop):
    create(api, coop)
    later = clock.now() + timedelta(hours=30)
    with db.transaction() as session:
        assert order_followups.run(session, defaults(), later) == 2
    with db.transaction() as session:
        assert order_followups.run(session, defaults(), later) == 0
    assert len(outbox(db, "order_reminder")) == 2


def test_an_answered_or_closed_order_gets_no_reminder(api, db, coop):
    taken, cancelled = create(api, coop), create(api, coop)
    answer(db, taken["id"], coop["awa"])
    api.post(f"/orders/{cancelled['id']}/cancel")
    assert order_followups.run(db, defaults(), clock.now() + timedelta(hours=30)) == 0


def test_pending_orders_past_their_due_date_expire(api, db, coop):
    order = create(api, coop, due_date=TODAY.isoformat())
    order_followups.run(db, defaults(), clock.now())
    assert api.get(f"/orders/{order['id']}")[1]["status"] == "pending"
    order_followups.run(db, defaults(), clock.now() + timedelta(days=2))
    assert api.get(f"/orders/{order['id']}")[1]["status"] == "expired"
