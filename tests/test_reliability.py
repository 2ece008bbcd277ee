"""Reliability: replayed webhooks, load with a faulty Twilio, a database restart, SQLite contention, fuzzing,
two schedulers at once, and a sender process killed (kill -9) or stopped (SIGTERM) mid-call.
`pytest -m reliability`; each test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL. The database
restart restarts the whole PostgreSQL server, so it runs only with RELIABILITY_PG_RESTART=1 (.ci/run sets it;
never set it while others use the same server).
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import create_app
from ovop.domain import broadcasts, stock, workshops
from ovop.core import clock
from ovop.conversation.inbound import InboundMessage, receive
from ovop.models import ConversationState, Message, OutboxItem, PriceObservation, Producer, Product, StockReport
from ovop.messaging.transport import ConsoleTransport, TwilioTransport
from ovop.messaging.outbox import LEASE, PENDING, SENDING, Sender, enqueue
from ovop.jobs import jobs
from tests.conftest import TOKEN, app_config
from tests.fake_twilio import FakeTwilio
from tests.helpers import add_producer, inbound_form, live_server, sign

pytestmark = pytest.mark.reliability

STAFF = "+221770009999"
OUTBOX = FakeTwilio.query_param("outbox")
AUTH = "test-auth-token-0123456789abcdef"
PUBLIC = "https://ovop.example.org"
UTC = timezone.utc


# --- helpers --------------------------------------------------------------------------------------------------

@pytest.fixture
def service(database_url):
    """The service in local mode, alerting one staff phone on low stock (our outbound traffic)."""
    application = create_app(app_config(database_url, STAFF_PHONES=[STAFF]))
    yield application
    application.extensions["ovop"].db.dispose()


def make_producers(db, count: int, first: int) -> list[str]:
    """`count` producers of yaourt (low stock below 10), each in a cooperative of their own; their phones."""
    with db.transaction() as session:
        return [add_producer(session, f"+2217710{first + n:05d}", name=f"P{first + n}",
                             cooperative=f"Coop {first + n}").phone for n in range(count)]


def scalar(db, query):
    with db.transaction() as session:
        return session.scalar(query)


def count(db, model, *conditions) -> int:
    return scalar(db, select(func.count()).select_from(model).where(*conditions))


def level(db, phone: str) -> float | None:
    """The producer's cooperative's current yaourt level."""
    with db.transaction() as session:
        producer = session.scalar(select(Producer).where(Producer.phone == phone))
        yaourt = session.scalar(select(Product).where(Product.code == "yaourt"))
        found = stock.level(session, producer.cooperative_id, yaourt.id)
        return found.quantity if found else None


def post(base: str, form: dict) -> requests.Response:
    return requests.post(f"{base}/twilio/inbound", data=form, timeout=60)


def run_threads(targets) -> list[BaseException]:
    """Start every target at once, wait for all; returns what they raised."""
    errors: list[BaseException] = []

    def guarded(target):
        try:
            target()
        except BaseException as error:  # noqa: BLE001 (reported by the test, not swallowed)
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a worker thread is stuck"
    return errors


def twilio_sender(db, fake: FakeTwilio, timeout: float = 0.5, **options) -> Sender:
    transport = TwilioTransport(fake.account_sid, fake.auth_token, sms_from="+15005550006",
                                whatsapp_from="whatsapp:+14155238886", api_base_url=fake.base_url, timeout=timeout)
    options.setdefault("rates", {"sms": 0, "whatsapp": 0})
    return Sender(db=db, transport=transport, status_callback_base=PUBLIC, rng=random.Random(5), **options)


def unsent(db) -> int:
    return count(db, OutboxItem, OutboxItem.status.in_((PENDING, SENDING)))


def drain(db, sender: Sender, *, past_stale_claims: bool = False) -> None:
    """Send whatever is left, moving the clock past every backoff (and past stale claims when asked)."""
    later = clock.now()
    for _ in range(20):
        if not unsent(db):
            return
        later += timedelta(minutes=20 if past_stale_claims else 0) + timedelta(hours=2)
        with clock.frozen_at(later, all_threads=True):
            while sender.run_once():
                pass
    assert unsent(db) == 0, "the outbox did not drain"


def assert_sent_exactly_once(db, fake: FakeTwilio) -> int:
    """Every outbox row was accepted by the fake Twilio once, and nothing else was; the only rows not sent are
    low-stock alerts withdrawn before they left because the producer undid the report (ANNULER)."""
    with db.transaction() as session:
        withdrawn = set(session.scalars(select(OutboxItem.kind).where(OutboxItem.status == "cancelled")))
        ids = {str(i) for i in session.scalars(select(OutboxItem.id).where(OutboxItem.status != "cancelled"))}
        statuses = set(session.scalars(select(OutboxItem.status).distinct()))
    accepted = fake.accepted_by(OUTBOX)
    assert fake.duplicates(OUTBOX) == {}
    assert set(accepted) == ids
    assert statuses <= {"sent", "cancelled"}
    assert withdrawn <= {"staff_low_stock"}
    return len(ids)


# --- 6. duplicates --------------------------------------------------------------------------------------------

def test_replayed_webhooks_change_nothing_and_send_nothing_more(service, db):
    """20 % of the deliveries are replayed, half of them at the very moment of the first delivery."""
    phones = make_producers(db, 20, first=0)
    script = {phone: [(f"SMd{p:03d}{k}", (p * 7 + k * 5) % 25) for k in range(5)] for p, phone in enumerate(phones)}
    every = [(phone, sid) for phone, messages in script.items() for sid, _ in messages]
    rng = random.Random(6)
    replayed = rng.sample(every, 20)
    at_once, afterwards = {sid for _, sid in replayed[:10]}, {sid for _, sid in replayed[10:]}
    answers: dict[str, list[requests.Response]] = {sid: [] for _, sid in every}

    with live_server(service) as base:
        def producer(phone):
            for sid, quantity in script[phone]:
                form = inbound_form(phone, f"yaourt {quantity}", sid)
                if sid in at_once:
                    barrier = threading.Barrier(2)

                    def deliver():
                        barrier.wait()
                        answers[sid].append(post(base, form))
                    assert not run_threads([deliver, deliver])
                else:
                    answers[sid].append(post(base, form))
                    if sid in afterwards:
                        answers[sid].append(post(base, form))

        assert not run_threads([lambda phone=phone: producer(phone) for phone in phones])

    for sid, responses in answers.items():
        assert [r.status_code for r in responses] == [200] * len(responses)
        assert len({r.content for r in responses}) == 1, f"{sid} was answered differently the second time"
    low = sum(1 for messages in script.values() for _, quantity in messages if quantity < 10)
    assert count(db, Message, Message.direction == "in") == 100
    assert count(db, Message, Message.direction == "out") == 100
    assert count(db, StockReport) == 100
    assert count(db, OutboxItem) == low
    for phone, messages in script.items():
        assert scalar(db, select(ConversationState.version).where(ConversationState.phone == phone)) == 5
        assert level(db, phone) == messages[-1][1]


# --- 7. load with a faulty Twilio -----------------------------------------------------------------------------

SCRIPT = ["yaourt {q}", "1", "{q}", "menu", "yaourt {q} pots", "annuler", "savon 3", "aide", "am na {q} pot soow",
          "stock", "{q}", "bonjour"]


def conversation(p: int) -> list[str]:
    """Producer p's 20 messages: reports, the guided menu, undo, things not made, greetings."""
    rng = random.Random(p)
    return [SCRIPT[(p + k) % len(SCRIPT)].format(q=rng.randrange(0, 30)) for k in range(20)]


def transcript(db, phones: list[str]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Per phone, in order: (text, replies) of every inbound message."""
    found = {}
    with db.transaction() as session:
        for phone in phones:
            inbound = session.scalars(select(Message).where(Message.phone == phone, Message.direction == "in")
                                      .order_by(Message.provider_sid)).all()
            found[phone] = [(m.body, tuple(session.scalars(select(Message.body).where(Message.in_reply_to_id == m.id)
                                                           .order_by(Message.id)))) for m in inbound]
    return found


def final_state(db, phone: str) -> tuple:
    with db.transaction() as session:
        state = session.scalar(select(ConversationState).where(ConversationState.phone == phone))
        producer = session.scalar(select(Producer).where(Producer.phone == phone))
        reports = session.scalar(select(func.count()).select_from(StockReport)
                                 .where(StockReport.producer_id == producer.id))
        return state.flow, state.step, state.data, state.version, reports


def test_fifty_producers_at_once_with_a_faulty_twilio_are_each_handled_once_and_as_if_in_turn(service, db):
    producers, messages = 50, 20
    phones = make_producers(db, producers, first=100)
    shadows = make_producers(db, producers, first=300)  # the same conversations, replayed one by one later
    statuses: list[int] = []

    with FakeTwilio() as fake, live_server(service) as base:
        fake.set_fault_rates(error_500=0.10, error_429=0.05, hang=0.02, hang_seconds=1.5, seed=7)
        stop = threading.Event()
        senders = [twilio_sender(db, fake, batch_size=10) for _ in range(2)]
        running = [threading.Thread(target=s.run_forever, args=(stop, 0.05)) for s in senders]
        for thread in running:
            thread.start()

        def producer(p, phone):
            for k, text in enumerate(conversation(p)):
                statuses.append(post(base, inbound_form(phone, text, f"SMl{p:03d}{k:03d}")).status_code)

        errors = run_threads([lambda p=p, phone=phone: producer(p, phone) for p, phone in enumerate(phones)])
        stop.set()
        for thread in running:
            thread.join(timeout=60)
        assert not errors
        assert statuses == [200] * producers * messages
        drain(db, senders[0])
        alerts = assert_sent_exactly_once(db, fake)
        assert alerts > 0
        faults = [r for r in fake.requests if r["status"] != 201]
        assert faults, "the fake Twilio injected no fault: the test proves nothing"

    assert count(db, Message, Message.direction == "in") == producers * messages
    assert count(db, Message, Message.direction == "in", Message.provider_sid.like("SMl%")) == producers * messages

    config = service.config
    for p, shadow in enumerate(shadows):
        for k, text in enumerate(conversation(p)):
            receive(db, config, InboundMessage(sid=f"SMs{p:03d}{k:03d}", phone=shadow, channel="sms", body=text))
    live, serial = transcript(db, phones), transcript(db, shadows)
    for phone, shadow in zip(phones, shadows):
        assert live[phone] == serial[shadow]
        assert final_state(db, phone) == final_state(db, shadow)
        assert level(db, phone) == level(db, shadow)


# --- 8. a database restart ------------------------------------------------------------------------------------

def restart_postgresql() -> None:
    version = sorted(Path("/etc/postgresql").iterdir())[0].name
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   timeout=120, capture_output=True)


@pytest.mark.skipif(os.environ.get("RELIABILITY_PG_RESTART") != "1",
                    reason="restarts the whole PostgreSQL server: set RELIABILITY_PG_RESTART=1 (.ci/run does)")
def test_a_database_restart_mid_run_loses_nothing_and_halves_nothing(service, db, database_url):
    if db.dialect != "postgresql":
        pytest.skip("a PostgreSQL server restart")
    producers, messages = 10, 15
    phones = make_producers(db, producers, first=500)
    statuses: list[int] = []
    halfway = threading.Event()
    sent = [0]

    with FakeTwilio() as fake, live_server(service) as base:
        stop = threading.Event()
        sender = twilio_sender(db, fake)
        running = threading.Thread(target=sender.run_forever, args=(stop, 0.05))
        running.start()

        def producer(p, phone):
            for k in range(messages):
                form = inbound_form(phone, f"yaourt {(p + 3 * k) % 20}", f"SMr{p:03d}{k:03d}")
                deadline = time.monotonic() + 90
                while True:  # Twilio's fallback / our retry: the same MessageSid until it is taken
                    status = post(base, form).status_code
                    statuses.append(status)
                    if status != 503 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                sent[0] += 1
                if sent[0] >= producers * messages // 3:
                    halfway.set()
                time.sleep(0.02)

        def restarter():
            halfway.wait(timeout=120)
            restart_postgresql()

        errors = run_threads([restarter] + [lambda p=p, phone=phone: producer(p, phone)
                                            for p, phone in enumerate(phones)])
        assert not errors
        assert set(statuses) <= {200, 503}
        assert statuses.count(200) == producers * messages
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
        # Nothing half-written: each message once, with its reply, its report and one step of its conversation.
        assert count(db, Message, Message.direction == "in") == producers * messages
        assert count(db, Message, Message.direction == "out", Message.in_reply_to_id.is_not(None)) == \
            producers * messages
        assert count(db, StockReport) == producers * messages
        for p, phone in enumerate(phones):
            assert scalar(db, select(ConversationState.version).where(ConversationState.phone == phone)) == messages
            assert level(db, phone) == (p + 3 * (messages - 1)) % 20
        stop.set()
        running.join(timeout=60)
        # A claim left by a send the outage interrupted lapses after the lease: step past it too.
        drain(db, twilio_sender(db, fake), past_stale_claims=True)
        assert_sent_exactly_once(db, fake)


# --- 9. SQLite under contention -------------------------------------------------------------------------------

def test_thirty_two_writers_at_once_never_meet_database_is_locked(service, db, caplog):
    if db.dialect != "sqlite":
        pytest.skip("about SQLite's single writer")
    phones = make_producers(db, 24, first=700)
    statuses: list[int] = []
    barrier = threading.Barrier(32)

    with live_server(service) as base:
        def webhook_writer(n, phone):
            barrier.wait()
            for k in range(5):
                statuses.append(post(base, inbound_form(phone, f"yaourt {k + 8}", f"SMc{n:02d}{k}")).status_code)

        def api_writer(n):
            barrier.wait()
            for k in range(5):
                statuses.append(requests.post(f"{base}/api/v1/producers", timeout=60,
                                              headers={"Authorization": f"Bearer {TOKEN}"},
                                              json={"phone": f"+2217720{n:02d}{k:03d}", "name": f"W{n}.{k}"})
                                .status_code)

        def outbox_writer(n):
            from ovop.messaging.outbox import enqueue
            barrier.wait()
            for k in range(10):
                with db.transaction() as session:
                    enqueue(session, dedupe_key=f"contention:{n}:{k}", kind="test", recipient=STAFF,
                            channel="sms", body="x")
                Sender(db=db, transport=ConsoleTransport(), rates={}).run_once()

        with caplog.at_level(logging.WARNING):
            errors = run_threads([lambda n=n, phone=phone: webhook_writer(n, phone) for n, phone in enumerate(phones)]
                                 + [lambda n=n: api_writer(n) for n in range(4)]
                                 + [lambda n=n: outbox_writer(n) for n in range(4)])
    assert not errors, errors
    assert set(statuses) <= {200, 201}
    assert len(statuses) == 24 * 5 + 4 * 5
    assert "database is locked" not in caplog.text
    assert count(db, Message, Message.direction == "in") == 24 * 5
    assert count(db, Producer) == 24 + 20
    assert count(db, OutboxItem, OutboxItem.kind == "test") == 40


# --- 10. fuzzing ----------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES") or 120), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PHONE = "+221770000101"
FIELDS = ["From", "To", "Body", "MessageSid", "SmsSid", "AccountSid", "NumMedia", "MessagingServiceSid",
          "ProfileName", "WaId", "MediaUrl0"]
FROM = st.one_of(st.just(PHONE), st.just(f"whatsapp:{PHONE}"), st.just(" whatsapp:+221 77"),
                 st.from_regex(r"\A(whatsapp:)?\+[0-9]{1,16}\Z"), st.text(max_size=40))
ANY_TEXT = st.text(max_size=300)
# Control characters (NUL above all: PostgreSQL refuses it in text) where a real sid has letters and digits.
SID = st.one_of(ANY_TEXT, st.text(alphabet="SMab0123456789\x00\x01\n\u00e9\U0001f600", max_size=70))
FORMS = st.builds(lambda base, extra: {**extra, **base},
                  st.fixed_dictionaries({}, optional={"From": FROM, "Body": ANY_TEXT, "MessageSid": SID,
                                                      "SmsSid": SID, "To": ANY_TEXT}),
                  st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=20)), ANY_TEXT,
                                  max_size=6))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner,
                                                                                max_size=4),
                    max_leaves=12)
API_FIELDS = {
    "/producers": ["phone", "name", "cooperative_id", "language", "channel", "products"],
    "/cooperatives": ["name", "region", "products"],
    "/products": ["code", "unit", "names", "aliases", "low_stock_threshold"],
    "/orders": ["cooperative_id", "product", "quantity", "due_date", "note"],
}
NEAR_VALID = {  # values the API accepts most of the time, so fuzzing also reaches the writes behind validation
    "phone": st.integers(0, 99_999).map(lambda n: f"+22177{n:07d}") | st.sampled_from(["77 000 01 03", "0", ""]),
    "name": st.text(max_size=130), "region": st.text(max_size=90),
    "cooperative_id": st.integers(-1, 4), "language": st.sampled_from(["fr", "wo", "en", "de"]),
    "channel": st.sampled_from(["sms", "whatsapp", "fax"]),
    "products": st.lists(st.sampled_from(["yaourt", "savon", "inconnu", ""]), max_size=3),
    "code": st.from_regex(r"\A[a-z_]{1,12}\Z") | st.text(max_size=45), "unit": st.sampled_from(["pot", "kg", ""]),
    "names": st.fixed_dictionaries({"fr": st.text(max_size=90)}, optional={"wo": st.text(max_size=10)}),
    "aliases": st.lists(st.text(max_size=90), max_size=3), "low_stock_threshold": st.integers(-3, 10 ** 10),
    "product": st.sampled_from(["yaourt", "savon", "YAOURT", ""]),
    "quantity": st.one_of(st.integers(-5, 10 ** 12), st.floats(allow_nan=False), st.text(max_size=5)),
    "due_date": st.sampled_from(["2027-12-24", "2026-02-30", "demain", "2020-01-01"]), "note": st.text(max_size=300),
}


def near_valid(path: str):
    """A body of `path`: every field plausible, or some fields missing and others arbitrary JSON."""
    plausible = st.fixed_dictionaries({field: NEAR_VALID[field] for field in API_FIELDS[path]})
    mixed = st.fixed_dictionaries({}, optional={field: st.one_of(NEAR_VALID[field], JSON)
                                                for field in API_FIELDS[path]})
    return st.tuples(st.just(path), st.one_of(plausible, mixed))


API_BODIES = st.one_of(JSON, st.sampled_from(list(API_FIELDS)).flatmap(near_valid))


@pytest.fixture
def fuzzed(service, db):
    with db.transaction() as session:
        add_producer(session, PHONE)
    return service


@FUZZ
@given(form=FORMS)
@example(form={"From": PHONE, "Body": "yaourt 4", "MessageSid": "SM\x00"})
@example(form={"From": PHONE, "Body": "yaourt 4", "SmsSid": "SM" + "9" * 70})
def test_no_webhook_form_makes_a_server_error(fuzzed, form):
    response = fuzzed.test_client().post("/twilio/inbound", data=form)
    assert response.status_code < 500, (form, response.status_code)


@FUZZ
@given(body=API_BODIES, path=st.sampled_from(list(API_FIELDS)), raw=st.booleans())
def test_no_api_json_makes_a_server_error(fuzzed, body, path, raw):
    if isinstance(body, tuple):
        path, body = body
    client = fuzzed.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if raw:  # whatever bytes claim to be JSON
        response = client.post(f"/api/v1{path}", data=json.dumps(body)[:-1] if body is not None else "{",
                               headers={**headers, "Content-Type": "application/json"})
    else:
        response = client.post(f"/api/v1{path}", json=body, headers=headers)
    assert response.status_code < 500, (path, body, response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json


@pytest.fixture
def signed_service(database_url):
    application = create_app(app_config(database_url, TWILIO_AUTH_TOKEN=AUTH, TWILIO_ACCOUNT_SID="AC" + "1" * 32,
                                        PUBLIC_BASE_URL=PUBLIC))
    yield application
    application.extensions["ovop"].db.dispose()


# Printable values: what the app does with a signed control character is the other fuzz test's business.
PRINTABLE = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=80)
SIGNED_FORMS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=12)),
                               PRINTABLE, min_size=1, max_size=7).map(
    lambda form: {**form, "From": PHONE})
TAMPERING = st.sampled_from(["change", "add", "remove", "url"])
OTHER_URLS = st.sampled_from(["http://ovop.example.org/twilio/inbound", f"{PUBLIC}/twilio/inbound/",
                              f"{PUBLIC}/twilio/status", "https://evil.example.org/twilio/inbound",
                              f"{PUBLIC}/twilio/inbound?x=1", f"{PUBLIC}:8443/twilio/inbound"])


@FUZZ
@given(form=SIGNED_FORMS, how=TAMPERING, data=st.data())
def test_every_tampered_request_is_refused(signed_service, form, how, data):
    client = signed_service.test_client()
    url = f"{PUBLIC}/twilio/inbound"
    signature = sign(AUTH, url, form)
    tampered = dict(form)
    if how == "change":
        field = data.draw(st.sampled_from(sorted(tampered)))
        tampered[field] = data.draw(PRINTABLE.filter(lambda value: value != form[field]))
    elif how == "add":
        field = data.draw(st.text(min_size=1, max_size=12).filter(lambda name: name not in form))
        tampered[field] = data.draw(PRINTABLE)
    elif how == "remove":
        removable = sorted(field for field, value in form.items() if field + value)
        field = data.draw(st.sampled_from(removable))
        del tampered[field]
    else:
        signature = sign(AUTH, data.draw(OTHER_URLS), form)
    assert client.post("/twilio/inbound", data=tampered, headers={"X-Twilio-Signature": signature}).status_code == 403
    # The untouched request is not refused (400 for junk fields is fine: it was signed).
    assert client.post("/twilio/inbound", data=form,
                       headers={"X-Twilio-Signature": sign(AUTH, url, form)}).status_code != 403


# --- 11. two schedulers at once -------------------------------------------------------------------------------

START = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # Monday, Dakar time = UTC: price tips at 08:00
SCHEDULER_CONFIG = {"STOCK_REMINDER_SCHEDULE": "mon 08:15", "OUTBOUND_BACKEND": "console"}


def test_two_schedulers_for_an_hour_enqueue_every_reminder_and_tip_once(service, db):
    phones = make_producers(db, 20, first=900)
    with db.transaction() as session:
        yaourt = session.scalar(select(Product).where(Product.code == "yaourt"))
        for days, price in ((14, 450), (7, 500)):
            session.add(PriceObservation(product_id=yaourt.id, price=price, unit="pot", market="Boutique OVOP Dakar",
                                         observed_on=(START - timedelta(days=days)).date()))
        workshop = workshops.create(session, {"title": "Vendre en boutique", "location": "Boutique OVOP",
                                              "starts_at": "2026-12-07T10:00:00+00:00", "capacity": 8,
                                              "reminders": [{"days_before": 0, "time": "08:20"}]},
                                    START - timedelta(days=3))
        ids = [session.scalar(select(Producer.id).where(Producer.phone == phone)) for phone in phones]
        for producer_id in ids[:10]:  # 8 seats, 2 on the waitlist: they get no reminder
            workshops.register(session, workshop.id, session.get(Producer, producer_id), START - timedelta(days=2))
        broadcasts.create(session, {"text": {"fr": "La boutique ferme samedi."},
                                    "send_at": "2026-12-07T08:10:00+00:00"}, START - timedelta(days=1))
    config = {**service.config, **SCHEDULER_CONFIG}
    added = [0, 0]
    barrier = threading.Barrier(2)

    def scheduler(n):
        barrier.wait()
        for minute in range(61):
            now = START + timedelta(minutes=minute)
            with clock.frozen_at(now):  # this thread's clock only
                for job in jobs.registry().values():
                    added[n] += job.run(db, config, now)

    errors = run_threads([lambda: scheduler(0), lambda: scheduler(1)])
    assert not errors, errors
    with db.transaction() as session:
        keys = list(session.scalars(select(OutboxItem.dedupe_key)))
    expected = ({f"price-tip:2026-W50:producer={i}" for i in ids}
                | {f"stock-reminder:2026-W50:producer={i}" for i in ids}
                | {f"reminder:workshop={workshop.id}:producer={i}:d-0" for i in ids[:8]})
    assert len(keys) == len(set(keys)) == sum(added)
    assert {key for key in keys if not key.startswith("broadcast:")} == expected
    assert len([key for key in keys if key.startswith("broadcast:")]) == len(ids)


# --- 12. a sender stopped mid-call -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = [f"+2217730{n:05d}" for n in range(4)]  # two messages each: four calls in flight, four waiting


def queue_messages(db) -> list[int]:
    with db.transaction() as session:
        for round_ in range(2):
            for n, phone in enumerate(RECIPIENTS):
                enqueue(session, dedupe_key=f"mid-call:{n}:{round_}", kind="test", recipient=phone, channel="sms",
                        body=f"Commande CMD-{n:04d} : message {round_ + 1}")
        return list(session.scalars(select(OutboxItem.id).order_by(OutboxItem.id)))


def sender_process(database_url: str, fake: FakeTwilio, log_path: Path, *args: str,
                   twilio_timeout: float = 60.0) -> subprocess.Popen:
    """`flask --app app ARGS` in a process of its own, sending through the fake Twilio."""
    env = {**os.environ, "DATABASE_URL": database_url, "OUTBOUND_BACKEND": "twilio",
           "TWILIO_ACCOUNT_SID": fake.account_sid, "TWILIO_AUTH_TOKEN": fake.auth_token,
           "TWILIO_SMS_FROM": "+15005550006", "TWILIO_API_BASE_URL": fake.base_url,
           "TWILIO_TIMEOUT": str(twilio_timeout), "PUBLIC_BASE_URL": PUBLIC, "QUIET_HOURS": "off",
           "OUTBOX_RATE_SMS": "0", "STAFF_PHONES": "", "ADMIN_TOKEN": TOKEN, "ADMIN_PASSWORD": "test-password",
           "SECRET_KEY": "test-secret", "PYTHONUNBUFFERED": "1"}
    env.pop("TWILIO_MESSAGING_SERVICE_SID", None)
    env.pop("TWILIO_WHATSAPP_FROM", None)
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def drain_at(database_url: str, fake: FakeTwilio, log_path: Path, moment: datetime) -> dict[str, int]:
    """Run `flask --app app outbox drain --at MOMENT` to the end; what it says it did."""
    start = log_path.stat().st_size if log_path.exists() else 0
    process = sender_process(database_url, fake, log_path, "outbox", "drain", "--at", moment.isoformat(),
                             twilio_timeout=10)
    assert process.wait(timeout=120) == 0, log_path.read_text()[start:]
    said = log_path.read_text()[start:]
    found = re.search(r"outbox drain: (\d+) sent \((\d+) of them already at Twilio", said)
    assert found, said
    return {"sent": int(found[1]), "found": int(found[2])}


def statuses(db) -> dict[str, int]:
    with db.transaction() as session:
        return dict(session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all())


def test_a_sender_killed_mid_call_sends_nothing_twice_and_what_it_held_leaves_within_seconds(database_url, db,
                                                                                              tmp_path):
    """kill -9 while Twilio has accepted four messages and not answered: a new sender finds those four at
    Twilio, sends the four the dead one never called for, and takes the rows back as soon as the lease lapses."""
    ids = queue_messages(db)
    log_path = tmp_path / "senders.log"
    with FakeTwilio(clock=clock.now) as fake:
        fake.accept_then_hang_next(300, times=4)
        start = clock.now()
        dying = sender_process(database_url, fake, log_path, "outbox", "drain", "--at", start.isoformat())
        try:
            assert fake.wait_for_accepted(4, timeout=120), log_path.read_text()
        finally:
            dying.kill()  # SIGKILL: nothing is recorded, nothing handed back
            dying.wait(timeout=60)
        assert statuses(db) == {SENDING: 8}
        assert all(m["date_sent"] is None for m in fake.messages)  # Twilio still has them queued

        # While the lease holds, a new sender leaves them alone ...
        assert drain_at(database_url, fake, log_path, start + LEASE - timedelta(seconds=1)) == {"sent": 0, "found": 0}
        assert statuses(db) == {SENDING: 8}
        # ... one second after it lapsed, it takes them back, asks Twilio first and sends what Twilio lacks.
        assert drain_at(database_url, fake, log_path, start + LEASE + timedelta(seconds=1)) == {"sent": 8, "found": 4}
        assert assert_sent_exactly_once(db, fake) == len(ids) == 8
        assert fake.accepted_count() == 8


@pytest.mark.parametrize("command", [("worker",), ("serve", "--port", "0"), ("outbox", "drain")],
                         ids=["worker", "serve", "outbox-drain"])
def test_a_sender_stopped_with_sigterm_mid_call_finishes_records_and_exits_0(database_url, db, tmp_path, command):
    """SIGTERM (every deploy) while Twilio has accepted four messages and hangs: the process stops claiming,
    finishes and records the four calls, hands back the four it had not started, and exits 0."""
    ids = queue_messages(db)
    log_path = tmp_path / "senders.log"
    with FakeTwilio(clock=clock.now) as fake:
        fake.accept_then_hang_next(300, times=4)
        start = clock.now()
        stopping = sender_process(database_url, fake, log_path, *command, "--at", start.isoformat(),
                                  twilio_timeout=5)
        try:
            assert fake.wait_for_accepted(4, timeout=120), log_path.read_text()
            stopping.send_signal(signal.SIGTERM)
            assert stopping.wait(timeout=120) == 0, log_path.read_text()
        finally:
            if stopping.poll() is None:
                stopping.kill()
        assert fake.accepted_count() == 4  # nothing more was claimed or called after SIGTERM
        with db.transaction() as session:
            rows = session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
            in_flight = [row for row in rows if row.attempts == 1]
            handed_back = [row for row in rows if row.attempts == 0]
            assert {row.status for row in rows} == {PENDING}  # nothing left claimed
            assert len(in_flight) == len(handed_back) == 4
            assert all("Timeout" in row.last_error for row in in_flight)  # each call's end was recorded
            assert all(row.claimed_by is None and row.not_before <= start for row in handed_back)  # due at once
            due = max(row.not_before for row in rows)  # the timed-out calls wait out a short backoff

        assert drain_at(database_url, fake, log_path, due) == {"sent": 8, "found": 4}
        assert assert_sent_exactly_once(db, fake) == len(ids) == 8
