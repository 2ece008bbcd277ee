"""Two-way SMS through the SMS gateway (SMSGate), end to end through real HTTP: the fake gateway posts signed
events to the service on loopback, and the sender sends the replies through the real `android-sms-gateway` client
to the fake gateway's API. On SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import create_app
from ovop.cli.commands import make_sender
from ovop.core import clock
from ovop.messaging.outbox import LEASE, enqueue, outbox_key
from ovop.models import GatewayEvent, Message, OutboxItem, Producer
from tests.conftest import app_config
from tests.fake_smsgate import FakeSmsGate, sign
from tests.fake_twilio import FakeTwilio
from tests.helpers import add_producer, live_server

pytestmark = pytest.mark.clock  # reads times of day: the tests set their own

PHONE = "+221770000101"
# 10:00 in Dakar (UTC+0 all year): well outside the quiet hours.
MORNING = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)


class Pace:
    """The rate limiter's clock and sleep: sleeping moves this clock on, and every sleep is counted."""

    def __init__(self):
        self.now, self.sleeps, self.lock = 0.0, [], threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(round(seconds, 6))
            self.now += seconds


@pytest.fixture
def gateway():
    with FakeSmsGate(clock=clock.now) as fake:  # signs its events with the clock the test sets
        yield fake


def gateway_config(database_url, gateway, **overrides):
    """SMS by the fake gateway (WhatsApp by a Twilio account this file never calls), in the given database."""
    settings = dict(OUTBOUND_BACKEND="twilio", TWILIO_ACCOUNT_SID="AC" + "1" * 32,
                    TWILIO_AUTH_TOKEN="unused-twilio-token", PUBLIC_BASE_URL="https://ovop.example.org",
                    SMS_PROVIDER="smsgate", SMSGATE_URL=gateway.base_url, SMSGATE_USERNAME=gateway.username,
                    SMSGATE_PASSWORD=gateway.password, SMSGATE_SIGNING_KEY=gateway.signing_key, SMSGATE_TIMEOUT=0.5)
    return app_config(database_url, **{**settings, **overrides})


@pytest.fixture
def service(database_url, gateway):
    application = create_app(gateway_config(database_url, gateway))
    yield application
    application.extensions["ovop"].db.dispose()


@pytest.fixture
def db(service):
    return service.extensions["ovop"].db


@pytest.fixture
def url(service):
    with live_server(service) as base:
        yield f"{base}/smsgate/inbound"


@pytest.fixture
def producer(db):
    with db.transaction() as session:
        return add_producer(session, PHONE).id


@pytest.fixture
def morning():
    with clock.frozen_at(MORNING, all_threads=True) as moment:
        yield moment


def count(db, model, *conditions) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*conditions))


def messages(db, *conditions) -> list[Message]:
    with db.transaction() as session:
        return list(session.scalars(select(Message).where(*conditions).order_by(Message.id)))


def sender(service, pace: Pace | None = None, **options):
    pace = pace or Pace()
    options.setdefault("in_flight", 1)
    return make_sender(service, sleep=pace.sleep, pace_clock=pace.monotonic, **options)


# --- a producer's SMS, its reply, the reply's statuses ---------------------------------------------------------

def test_a_producers_sms_is_recorded_once_and_its_reply_leaves_through_the_gateway(service, db, gateway, url,
                                                                                  producer, morning):
    event = gateway.received(PHONE, "Bonjour")
    first = gateway.post(url, event)
    assert first.status_code == 200 and first.json()["status"] == "received"
    replayed = gateway.post(url, event)  # the gateway retries an event it thinks we missed
    assert replayed.status_code == 200 and replayed.json()["status"] == "duplicate"

    inbound = messages(db, Message.direction == "in")
    assert [(m.phone, m.body, m.provider, m.provider_sid) for m in inbound] == [(PHONE, "Bonjour", "smsgate",
                                                                                 event["id"])]
    assert count(db, GatewayEvent) == 1
    replies = messages(db, Message.direction == "out")
    assert replies and all(m.kind == "reply" and m.status == "queued" for m in replies)
    assert gateway.accepted_count() == 0  # nothing is sent from the webhook itself

    assert sender(service).drain()["sent"] == len(replies)
    assert [(m["phoneNumbers"], m["text"]) for m in gateway.messages] == [([PHONE], m.body) for m in replies]
    sent = messages(db, Message.direction == "out")
    assert [(m.provider, m.provider_sid, m.status) for m in sent] == [
        ("smsgate", accepted, "queued") for accepted in gateway.accepted_ids()]

    # Delivery reports arrive out of order: the status only moves forward.
    reply_id = gateway.accepted_ids()[0]
    assert gateway.report(url, reply_id, "delivered").json()["status"] == "recorded"
    assert gateway.report(url, reply_id, "sent").json()["status"] == "unchanged"
    assert gateway.report(url, reply_id, "failed").json()["status"] == "unchanged"
    assert messages(db, Message.provider_sid == reply_id)[0].status == "delivered"
    assert count(db, GatewayEvent) == 4


def test_the_same_text_twice_is_two_messages_and_a_replayed_status_changes_nothing(service, db, gateway, url,
                                                                                     producer, morning):
    # The payload's messageId is built from the content: two identical SMS share it, their event ids differ.
    one, two = gateway.received(PHONE, "menu"), gateway.received(PHONE, "menu")
    assert one["payload"]["messageId"] == two["payload"]["messageId"] and one["id"] != two["id"]
    assert [gateway.post(url, event).status_code for event in (one, two)] == [200, 200]
    assert count(db, Message, Message.direction == "in") == 2

    sender(service).drain()
    reply_id = gateway.accepted_ids()[0]
    sent = gateway.status_event(reply_id, "sent")
    assert gateway.post(url, sent).json()["status"] == "recorded"
    assert gateway.post(url, sent).json()["status"] == "duplicate"
    failed = gateway.status_event(reply_id, "failed")
    assert gateway.post(url, failed).json()["status"] == "recorded"
    assert messages(db, Message.provider_sid == reply_id)[0].status == "failed"
    # A report about a message the service never sent (typed in the phone's own app) is accepted and ignored.
    assert gateway.report(url, "sent-from-the-phone", "delivered").json()["status"] == "unchanged"


def test_stop_by_gateway_sms_opts_the_producer_out_and_is_still_answered(service, db, gateway, url, producer,
                                                                         morning):
    assert gateway.receive_sms(url, PHONE, "STOP").status_code == 200
    with db.transaction() as session:
        assert session.get(Producer, producer).opted_out is True
    assert sender(service).drain()["sent"] >= 1
    assert gateway.accepted_count() == count(db, Message, Message.direction == "out") >= 1
    assert {m["phoneNumbers"][0] for m in gateway.messages} == {PHONE}


def test_a_reply_queued_at_night_leaves_at_once_but_a_tip_waits_for_the_morning(service, db, gateway, url,
                                                                                producer):
    night = datetime(2026, 12, 7, 23, 30, tzinfo=timezone.utc)  # 23:30 in Dakar, inside 21:00-07:00
    with clock.frozen_at(night, all_threads=True):
        with db.transaction() as session:
            enqueue(session, dedupe_key="tip:night", kind="price_tip", recipient=PHONE, channel="sms",
                    body="Prix du yaourt: 500 F CFA", producer_id=producer)
        assert gateway.receive_sms(url, PHONE, "Bonjour").status_code == 200
        assert sender(service).drain()["sent"] >= 1
        assert all(m.kind == "reply" for m in messages(db, Message.direction == "out", Message.status != "queued"))
        with db.transaction() as session:
            tip = session.scalar(select(OutboxItem).where(OutboxItem.dedupe_key == "tip:night"))
            assert tip.status == "pending"
    with clock.frozen_at(datetime(2026, 12, 8, 7, 0, tzinfo=timezone.utc), all_threads=True):
        assert sender(service).drain()["sent"] == 1
    assert "Prix du yaourt: 500 F CFA" in [m["text"] for m in gateway.messages]


# --- refused events ---------------------------------------------------------------------------------------------

def tampered(gateway, event):
    body = json.dumps(event).encode()
    return body.replace(b"Bonjour", b"STOP")


@pytest.mark.parametrize("how, expected", [
    ("unsigned", 403), ("no timestamp", 403), ("wrong key", 403), ("tampered body", 403),
    ("signature of another timestamp", 403), ("six minutes old", 401), ("six minutes ahead", 401),
])
def test_unsigned_wrongly_signed_and_stale_events_are_refused_and_nothing_is_recorded(service, db, gateway, url,
                                                                                       producer, morning, how,
                                                                                       expected):
    event = gateway.received(PHONE, "Bonjour")
    body = json.dumps(event).encode()
    now = MORNING.timestamp()
    if how == "unsigned":
        answer = gateway.post(url, body, headers={"X-Signature": None})
    elif how == "no timestamp":
        answer = gateway.post(url, body, headers={"X-Timestamp": None})
    elif how == "wrong key":
        answer = gateway.post(url, body, key="not-the-signing-key")
    elif how == "tampered body":
        answer = gateway.post(url, tampered(gateway, event), signature=sign(gateway.signing_key, body, str(int(now))))
    elif how == "signature of another timestamp":
        answer = gateway.post(url, body, signature=sign(gateway.signing_key, body, str(int(now) - 1)))
    else:
        answer = gateway.post(url, body, at=now + (-361 if how == "six minutes old" else 361))
    assert answer.status_code == expected
    assert answer.json()["error"]
    assert count(db, Message) == 0 and count(db, GatewayEvent) == 0 and count(db, OutboxItem) == 0


def test_without_a_signing_key_every_event_is_refused(database_url, gateway, morning):
    application = create_app(gateway_config(database_url, gateway, SMS_PROVIDER="twilio", SMSGATE_SIGNING_KEY=None))
    try:
        with live_server(application) as base:
            answer = gateway.receive_sms(f"{base}/smsgate/inbound", PHONE, "Bonjour")
        assert answer.status_code == 403
        assert count(application.extensions["ovop"].db, Message) == 0
    finally:
        application.extensions["ovop"].db.dispose()


@pytest.mark.parametrize("body, expected", [
    (b"not json", 400), (b"[1, 2]", 400), (b'"text"', 400), (b"\xff\xfe", 400), (b"[" * 100_000, 413),
    (b"[" * 20_000 + b"]" * 20_000, 400),
    (json.dumps({"event": "sms:received", "payload": {"message": "x", "phoneNumber": PHONE}}).encode(), 400),
    (json.dumps({"event": "sms:received", "id": "e1"}).encode(), 400),
    (json.dumps({"event": "sms:received", "id": "e1", "payload": {"phoneNumber": PHONE}}).encode(), 400),
    # A sender that is a name or a short code (the operator's "Orange", "1234") is nobody we could answer: ignored.
    (json.dumps({"event": "sms:received", "id": "e1", "payload": {"message": "x", "phoneNumber": "12"}}).encode(),
     200),
    (json.dumps({"event": "sms:received", "id": "e1", "payload": {"message": "Votre credit", "phoneNumber": "Orange"}}
                ).encode(), 200),
    (json.dumps({"event": "sms:received", "id": "e1", "payload": {"message": "x", "phoneNumber": 221}}).encode(),
     400),
    (json.dumps({"event": "sms:delivered", "id": "e1", "payload": {"phoneNumber": PHONE}}).encode(), 400),
    (json.dumps({"event": "sms:sent", "id": "x" * 65, "payload": {"messageId": "m"}}).encode(), 400),
    (json.dumps({"event": 3, "id": "e1", "payload": {}}).encode(), 400),
    (json.dumps({"event": "system:ping", "id": "e1", "payload": {"health": {}}}).encode(), 200),
], ids=["text", "array", "string", "not-utf8", "too-large", "deep", "no-id", "no-payload", "no-message",
        "short-code", "named-sender", "phone-a-number", "no-message-id", "long-id", "event-not-text", "ping"])
def test_a_bad_event_gets_a_clear_answer_never_a_server_error(service, db, gateway, url, morning, body, expected):
    answer = gateway.post(url, body)
    assert answer.status_code == expected
    assert count(db, Message) == 0 and count(db, GatewayEvent) == 0


def test_the_phone_number_is_read_as_people_write_it(service, db, gateway, url, producer, morning):
    assert gateway.receive_sms(url, "77 000 01 01", "Bonjour").status_code == 200
    assert [m.phone for m in messages(db, Message.direction == "in")] == [PHONE]
    assert messages(db, Message.direction == "in")[0].producer_id == producer


def test_a_database_outage_answers_503_so_the_gateway_tries_again(gateway, morning):
    application = create_app(gateway_config("postgresql+psycopg://postgres@127.0.0.1:1/nothing", gateway))
    with live_server(application) as base:
        assert gateway.receive_sms(f"{base}/smsgate/inbound", PHONE, "Bonjour").status_code == 503
        assert gateway.report(f"{base}/smsgate/inbound", "ovop-x", "delivered").status_code == 503


# --- sent once ---------------------------------------------------------------------------------------------------

def test_a_sender_stopped_after_the_gateway_accepted_does_not_send_twice(service, db, gateway, url, producer):
    with clock.frozen_at(MORNING, all_threads=True):
        assert gateway.receive_sms(url, PHONE, "Bonjour").status_code == 200
        dead = sender(service)
        claimed = dead.claim()
        assert claimed
        for item in claimed:  # the gateway accepts; the sender stops (kill -9) before it records anything
            dead.transport.send(item.recipient, item.channel, body=item.body, key=outbox_key(item))
    accepted = gateway.accepted_count()
    with clock.frozen_at(MORNING + LEASE - timedelta(seconds=1), all_threads=True):
        assert sender(service).run_once() == 0  # the lease still holds
    with clock.frozen_at(MORNING + LEASE + timedelta(seconds=1), all_threads=True):
        taken_over = sender(service).drain()
    assert (taken_over["sent"], taken_over["found"]) == (len(claimed), len(claimed))
    assert gateway.accepted_count() == accepted == len(claimed)  # found by GET, not sent again
    assert sorted(m.provider_sid for m in messages(db, Message.direction == "out")) == sorted(gateway.accepted_ids())


def test_a_timeout_after_the_gateway_accepted_does_not_send_twice(service, db, gateway, url, producer, morning):
    assert gateway.receive_sms(url, PHONE, "Bonjour").status_code == 200
    replies = count(db, OutboxItem)
    gateway.accept_then_hang_next(3)
    assert sender(service).drain()["pending"] == 1  # the gateway has it, the sender does not know
    assert gateway.accepted_count() == 1
    with clock.frozen_at(MORNING + timedelta(hours=2), all_threads=True):
        again = sender(service).drain()
    assert again["found"] == 1
    assert gateway.accepted_count() == replies
    assert count(db, OutboxItem, OutboxItem.status == "sent") == replies


def test_errors_of_the_gateway_are_retried_or_given_up_as_they_deserve(service, db, gateway, producer, morning):
    with db.transaction() as session:
        for number in (1, 2):
            enqueue(session, dedupe_key=f"tip:{number}", kind="price_tip", recipient=PHONE, channel="sms",
                    body=f"Prix {number}", producer_id=producer)
    gateway.fail_next(503)  # the phone is away: later
    gateway.fail_next(400, "Invalid phone number")  # refused for good
    outcome = sender(service).drain()
    assert (outcome["pending"], outcome["failed"]) == (1, 1)
    with clock.frozen_at(MORNING + timedelta(hours=2), all_threads=True):
        assert sender(service).drain()["sent"] == 1
    assert gateway.accepted_count() == 1


# --- the gateway's pace -----------------------------------------------------------------------------------------

def test_the_gateway_keeps_its_pace_and_its_daily_cap(database_url, gateway, morning):
    application = create_app(gateway_config(database_url, gateway, SMSGATE_SECONDS_PER_SMS=5, SMSGATE_DAILY_CAP=3,
                                            OUTBOX_RATE_WHATSAPP=80))
    db = application.extensions["ovop"].db
    try:
        with db.transaction() as session:
            for number in range(5):
                enqueue(session, dedupe_key=f"tip:{number}", kind="price_tip", recipient=f"+22177000020{number}",
                        channel="sms", body=f"Prix {number}")
        pace = Pace()
        first = sender(application, pace)
        assert first.rates == {"sms": 0.2, "whatsapp": 80}  # WhatsApp keeps Twilio's pace
        assert first.drain()["sent"] == 3
        assert pace.sleeps == [5.0, 5.0]  # one SMS every 5 seconds
        assert gateway.accepted_count() == 3  # the cap: 3 a day
        with db.transaction() as session:
            waiting = session.scalars(select(OutboxItem).where(OutboxItem.status == "pending")).all()
            assert len(waiting) == 2
            # Not failed: waiting for tomorrow morning (07:00 in Dakar, the end of the quiet hours), attempts undone.
            assert {(item.not_before.replace(tzinfo=timezone.utc), item.attempts) for item in waiting} == {
                (datetime(2026, 12, 8, 7, 0, tzinfo=timezone.utc), 0)}
        with clock.frozen_at(MORNING + timedelta(hours=13), all_threads=True):  # 23:00: still today
            assert sender(application).drain()["sent"] == 0
        with clock.frozen_at(datetime(2026, 12, 8, 7, 0, tzinfo=timezone.utc), all_threads=True):
            pace = Pace()
            assert sender(application, pace).drain()["sent"] == 2
            assert pace.sleeps == [5.0]
        assert gateway.accepted_count() == 5
    finally:
        db.dispose()


def test_the_daily_cap_holds_with_calls_in_flight_at_once(database_url, gateway, morning):
    application = create_app(gateway_config(database_url, gateway, SMSGATE_SECONDS_PER_SMS=0, SMSGATE_DAILY_CAP=4))
    db = application.extensions["ovop"].db
    try:
        with db.transaction() as session:
            for number in range(10):
                enqueue(session, dedupe_key=f"tip:{number}", kind="price_tip", recipient=f"+22177000030{number}",
                        channel="sms", body=f"Prix {number}")
        assert sender(application, in_flight=4).drain()["sent"] == 4
        assert gateway.accepted_count() == 4
    finally:
        db.dispose()



# --- a sender process killed mid-call ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def gateway_process(database_url: str, gateway: FakeSmsGate, log_path: Path, *args: str) -> subprocess.Popen:
    """`flask --app app ARGS` in a process of its own, sending SMS through the fake gateway."""
    env = {**os.environ, "DATABASE_URL": database_url, "OUTBOUND_BACKEND": "twilio",
           "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "unused-twilio-token",
           "PUBLIC_BASE_URL": "https://ovop.example.org", "SMS_PROVIDER": "smsgate",
           "SMSGATE_URL": gateway.base_url, "SMSGATE_USERNAME": gateway.username,
           "SMSGATE_PASSWORD": gateway.password, "SMSGATE_SIGNING_KEY": gateway.signing_key,
           "SMSGATE_TIMEOUT": "60", "SMSGATE_SECONDS_PER_SMS": "0", "QUIET_HOURS": "off", "STAFF_PHONES": "",
           "ADMIN_TOKEN": "test-admin-token", "ADMIN_PASSWORD": "test-password", "SECRET_KEY": "test-secret",
           "PYTHONUNBUFFERED": "1"}
    for name in ("TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_API_BASE_URL"):
        env.pop(name, None)
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def drained(database_url, gateway, log_path: Path, moment: datetime) -> tuple[int, int]:
    """(sent, found already at the gateway) as `flask outbox drain --at MOMENT` reports them."""
    start = log_path.stat().st_size if log_path.exists() else 0
    process = gateway_process(database_url, gateway, log_path, "outbox", "drain", "--at", moment.isoformat())
    assert process.wait(timeout=120) == 0, log_path.read_text()[start:]
    said = re.search(r"outbox drain: (\d+) sent \((\d+) of them already", log_path.read_text()[start:])
    assert said, log_path.read_text()[start:]
    return int(said[1]), int(said[2])


def test_a_sender_process_killed_mid_call_sends_nothing_twice(database_url, db, gateway, tmp_path):
    """kill -9 while the gateway has accepted four SMS and not answered: a new sender finds those four by their
    message id, sends the four the dead one never called for, once the lease has lapsed."""
    with db.transaction() as session:
        for round_ in range(2):
            for n in range(4):
                enqueue(session, dedupe_key=f"mid-call:{n}:{round_}", kind="test", recipient=f"+2217730{n:05d}",
                        channel="sms", body=f"Commande CMD-{n:04d} : message {round_ + 1}")
    log_path = tmp_path / "senders.log"
    gateway.accept_then_hang_next(300, times=4)
    start = clock.now()
    dying = gateway_process(database_url, gateway, log_path, "outbox", "drain", "--at", start.isoformat())
    try:
        assert gateway.wait_for_accepted(4, timeout=120), log_path.read_text()
    finally:
        dying.kill()  # SIGKILL: nothing recorded, nothing handed back
        dying.wait(timeout=60)
    assert count(db, OutboxItem, OutboxItem.status == "sending") == 8
    assert drained(database_url, gateway, log_path, start + LEASE - timedelta(seconds=1)) == (0, 0)
    assert drained(database_url, gateway, log_path, start + LEASE + timedelta(seconds=1)) == (8, 4)
    assert gateway.accepted_count() == 8 == len(set(gateway.accepted_ids()))
    with db.transaction() as session:
        assert set(session.scalars(select(OutboxItem.status))) == {"sent"}
        assert sorted(session.scalars(select(OutboxItem.provider_sid))) == sorted(gateway.accepted_ids())


def test_a_sender_stopped_while_it_waits_for_the_gateways_pace_hands_the_rest_back(database_url, gateway, morning):
    application = create_app(gateway_config(database_url, gateway, SMSGATE_SECONDS_PER_SMS=600))
    db = application.extensions["ovop"].db
    try:
        with db.transaction() as session:
            for number in range(2):
                enqueue(session, dedupe_key=f"tip:{number}", kind="price_tip", recipient=PHONE, channel="sms",
                        body=f"Prix {number}")
        stop = threading.Event()
        waiting = make_sender(application, stop)  # the real pace: the second SMS would wait 10 minutes
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(waiting.drain()))
        thread.start()
        assert gateway.wait_for_accepted(1)
        stop.set()  # SIGTERM during the wait
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert (outcome["sent"], outcome["released"], gateway.accepted_count()) == (1, 1, 1)
        with db.transaction() as session:
            second = session.scalar(select(OutboxItem).where(OutboxItem.dedupe_key == "tip:1"))
            assert (second.status, second.attempts, second.claimed_by) == ("pending", 0, None)
    finally:
        db.dispose()


# --- fuzzing: no signed event makes a server error --------------------------------------------------------------

VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=3),
                     max_leaves=8)
PHONES = st.one_of(st.just(PHONE), st.just("77 000 01 01"), st.just("00221770000101"), st.text(max_size=20),
                   st.integers())
PAYLOAD = st.fixed_dictionaries({}, optional={"messageId": st.one_of(st.text(max_size=70), VALUE),
                                              "message": st.one_of(st.text(max_size=200), VALUE),
                                              "phoneNumber": PHONES, "sender": PHONES, "simNumber": VALUE,
                                              "receivedAt": VALUE})
EVENTS = st.one_of(VALUE, st.fixed_dictionaries(
    {"event": st.sampled_from(["sms:received", "sms:sent", "sms:delivered", "sms:failed", "system:ping"]),
     "id": st.one_of(st.text(min_size=1, max_size=70), VALUE), "payload": st.one_of(PAYLOAD, VALUE)},
    optional={"deviceId": VALUE, "webhookId": VALUE}))


@settings(max_examples=int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES") or 100), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(event=EVENTS)
@example(event={"event": "sms:received", "id": "\x00", "payload": {"message": "x", "phoneNumber": PHONE}})
@example(event={"event": "sms:received", "id": "e\x00", "payload": {"message": "\x00yaourt 4", "phoneNumber": PHONE}})
def test_no_signed_event_makes_a_server_error(service, db, gateway, producer, event):
    client = service.test_client()
    body = json.dumps(event).encode()
    timestamp = str(int(clock.now().timestamp()))
    answer = client.post("/smsgate/inbound", data=body, headers={
        "Content-Type": "application/json", "X-Timestamp": timestamp,
        "X-Signature": sign(gateway.signing_key, body, timestamp)})
    assert answer.status_code < 500, answer.get_data(as_text=True)
    assert answer.is_json


# --- who carries what --------------------------------------------------------------------------------------------

def test_sms_leaves_by_the_gateway_and_whatsapp_by_twilio(database_url, gateway):
    with FakeTwilio(clock=clock.now) as twilio:
        application = create_app(gateway_config(
            database_url, gateway, TWILIO_ACCOUNT_SID=twilio.account_sid, TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_API_BASE_URL=twilio.base_url, TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
            TWILIO_SMS_FROM=None, TWILIO_TIMEOUT=2))
        db = application.extensions["ovop"].db
        try:
            transport = application.extensions["ovop"].transport
            assert (transport.carrier("sms"), transport.carrier("whatsapp")) == ("smsgate", "twilio")
            assert transport.can_send("sms") and transport.can_send("whatsapp")
            with clock.frozen_at(MORNING, all_threads=True):
                with db.transaction() as session:
                    enqueue(session, dedupe_key="tip:sms", kind="price_tip", recipient=PHONE, channel="sms",
                            body="Prix par SMS")
                    enqueue(session, dedupe_key="tip:wa", kind="price_tip", recipient="+221770000102",
                            channel="whatsapp", content_sid="HX" + "0" * 32, content_variables={"1": "yaourt"})
                assert sender(application).drain()["sent"] == 2
            assert [m["text"] for m in gateway.messages] == ["Prix par SMS"]
            assert [m["to"] for m in twilio.messages] == ["whatsapp:+221770000102"]
            assert {m.channel: m.provider for m in messages(db, Message.direction == "out")} == {
                "sms": "smsgate", "whatsapp": "twilio"}
        finally:
            db.dispose()


def test_a_staff_alert_caused_by_a_gateway_sms_leaves_through_the_gateway(database_url, gateway):
    """No Twilio SMS number at all: the gateway is what makes SMS possible (channels.sms_ready counts it)."""
    staff = "+221770009999"
    application = create_app(gateway_config(database_url, gateway, STAFF_PHONES=[staff]))
    db = application.extensions["ovop"].db
    try:
        with db.transaction() as session:
            add_producer(session, PHONE)
        with clock.frozen_at(MORNING, all_threads=True), live_server(application) as base:
            assert gateway.receive_sms(f"{base}/smsgate/inbound", PHONE, "stock yaourt 3").status_code == 200
            sender(application).drain()
        texts = {m["phoneNumbers"][0]: m["text"] for m in gateway.messages}
        assert set(texts) == {PHONE, staff}
        assert "yaourt" in texts[staff]  # the low-stock alert names the product
    finally:
        db.dispose()


def test_the_console_backend_keeps_everything_local(database_url, gateway, morning):
    application = create_app(gateway_config(database_url, gateway, OUTBOUND_BACKEND="console"))
    db = application.extensions["ovop"].db
    try:
        assert application.extensions["ovop"].transport.name == "console"
        with db.transaction() as session:
            enqueue(session, dedupe_key="tip:1", kind="price_tip", recipient=PHONE, channel="sms", body="Prix")
        assert sender(application).drain()["sent"] == 1
        assert gateway.accepted_count() == 0
        assert [m.provider for m in messages(db, Message.direction == "out")] == ["console"]
    finally:
        db.dispose()
