"""POST /twilio/inbound and /twilio/status as Twilio calls them: signed, repeated, reordered, malformed."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from app import create_app
from ovop.conversation import routing
from ovop.core import clock
from ovop.models import Message, Producer
from tests.conftest import app_config
from tests.helpers import add_producer, inbound_form, live_server, sign

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

AUTH = "test-auth-token-0123456789abcdef"
PUBLIC = "https://ovop.example.org"


@pytest.fixture
def signed_app(database_url):
    """The service as deployed: a Twilio auth token and the public URL Twilio calls."""
    application = create_app(app_config(database_url, TWILIO_AUTH_TOKEN=AUTH, TWILIO_ACCOUNT_SID="AC" + "1" * 32,
                                        PUBLIC_BASE_URL=PUBLIC))
    yield application
    application.extensions["ovop"].db.dispose()


@pytest.fixture
def producer(db):
    with db.transaction() as session:
        return add_producer(session)


def count(db, *conditions) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Message).where(*conditions))


def post_signed(client, form, url=f"{PUBLIC}/twilio/inbound", **headers):
    return client.post("/twilio/inbound", data=form, headers={"X-Twilio-Signature": sign(AUTH, url, form), **headers})


def test_it_answers_a_signed_message_with_twiml(signed_app, database_url):
    with signed_app.extensions["ovop"].db.transaction() as session:
        add_producer(session)
    response = post_signed(signed_app.test_client(), inbound_form("+221770000101", "bonjour", "SM1"))
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert "<Response><Message>" in response.get_data(as_text=True)


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong"])
def test_it_refuses_missing_or_wrong_signatures(signed_app, signature):
    form = inbound_form("+221770000101", "bonjour", "SM2")
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = signed_app.test_client().post("/twilio/inbound", data=form, headers=headers)
    assert response.status_code == 403
    assert count(signed_app.extensions["ovop"].db) == 0


def test_it_refuses_a_signature_made_for_another_body(signed_app):
    form = inbound_form("+221770000101", "yaourt 40", "SM3")
    signature = sign(AUTH, f"{PUBLIC}/twilio/inbound", form)
    tampered = {**form, "Body": "yaourt 4000"}
    response = signed_app.test_client().post("/twilio/inbound", data=tampered,
                                             headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_it_checks_the_public_url_whatever_forwarded_headers_say(signed_app):
    form = inbound_form("+221770000101", "salam", "SM4")
    forged = sign(AUTH, "https://evil.example/twilio/inbound", form)
    headers = {"X-Twilio-Signature": forged, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    assert signed_app.test_client().post("/twilio/inbound", data=form, headers=headers).status_code == 403
    assert post_signed(signed_app.test_client(), form, **{"X-Forwarded-Host": "evil.example"}).status_code == 200


def test_signed_mode_refuses_to_start_without_the_public_url(database_url):
    from ovop.core.config import ConfigError
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL is required when TWILIO_AUTH_TOKEN is set"):
        create_app(app_config(database_url, TWILIO_AUTH_TOKEN=AUTH, PUBLIC_BASE_URL=None))


def test_it_records_the_message_and_opens_the_whatsapp_window(client, db, producer):
    response = client.post("/twilio/inbound", data=inbound_form("+221770000101", "menu", "SM10", "whatsapp"))
    assert response.status_code == 200
    with db.transaction() as session:
        inbound = session.scalar(select(Message).where(Message.provider_sid == "SM10"))
        assert (inbound.direction, inbound.channel, inbound.phone) == ("in", "whatsapp", "+221770000101")
        assert inbound.producer_id == producer.id
        assert session.get(Producer, producer.id).last_inbound_at is not None


def test_it_handles_a_repeated_message_sid_once_and_answers_the_same(client, db, producer):
    form = inbound_form("+221770000101", "bonjour", "SM20")
    first = client.post("/twilio/inbound", data=form)
    second = client.post("/twilio/inbound", data=form)
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data()
    assert count(db, Message.direction == "in") == 1
    assert count(db, Message.direction == "out") == first.get_data(as_text=True).count("<Message>")


def test_it_records_one_message_when_duplicates_arrive_at_the_same_moment(app, db, producer):
    form = inbound_form("+221770000101", "bonjour", "SM30")
    barrier = threading.Barrier(8)
    answers = []

    def deliver(base):
        barrier.wait()
        answers.append(requests.post(f"{base}/twilio/inbound", data=form, timeout=30))

    with live_server(app) as base:
        threads = [threading.Thread(target=deliver, args=(base,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [answer.status_code for answer in answers] == [200] * 8
    assert len({answer.text for answer in answers}) == 1
    assert count(db, Message.direction == "in") == 1
    assert count(db, Message.direction == "out") == answers[0].text.count("<Message>")


@pytest.mark.parametrize("body", ["", " ", "x" * 5000, "\x00\x01\x02yaourt\x1b[31m", "🙏🙏🥛", "\ud7ff\u202e",
                                  "<Response>&amp;</Response>", "%s%n{0}"])
def test_it_never_fails_on_odd_bodies(client, producer, body):
    response = client.post("/twilio/inbound", data=inbound_form("+221770000101", body, f"SM-{hash(body)}"))
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("<?xml")


@pytest.mark.parametrize("form", [{}, {"Body": "yaourt 40", "MessageSid": "SM40"}, {"From": "", "Body": "x"}])
def test_it_answers_400_without_a_sender(client, form):
    assert client.post("/twilio/inbound", data=form).status_code == 400


def test_it_answers_400_to_a_sender_that_is_not_a_phone(client):
    assert client.post("/twilio/inbound", data={"From": "not-a-phone", "Body": "x", "MessageSid": "SM41"}).status_code == 400


def test_it_tells_an_unknown_number_how_to_join_a_few_times_a_day(client, db):
    day = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    answers = []
    with clock.frozen_at(day, all_threads=True):
        for n in range(4):
            answers.append(client.post("/twilio/inbound", data=inbound_form("+221771112233", "bonjour", f"SMX{n}")))
    with clock.frozen_at(day + timedelta(days=1), all_threads=True):
        answers.append(client.post("/twilio/inbound", data=inbound_form("+221771112233", "bonjour", "SMX9")))
    replies = [answer.get_data(as_text=True).count("<Message>") for answer in answers]
    assert replies == [1, 1, 0, 0, 1]
    assert count(db, Message.direction == "in") == 5  # every message is still recorded


def test_it_answers_503_when_the_database_is_down(database_url):
    app = create_app(app_config("postgresql+psycopg://postgres@127.0.0.1:1/nothing"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 503
    assert client.post("/twilio/inbound", data=inbound_form("+221770000101", "x", "SM50")).status_code == 503


def test_it_reports_health(client):
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


# Status callbacks ---------------------------------------------------------------------------------------------

def outgoing(db, sid="SMout1", phone="+221770000101", status="queued"):
    with db.transaction() as session:
        session.add(Message(direction="out", channel="sms", phone=phone, body="x", provider_sid=sid,
                            status=status, status_rank=2))


@pytest.mark.parametrize("order, final", [
    (["sent", "delivered"], "delivered"),
    (["delivered", "sent"], "delivered"),
    (["sending", "delivered", "sent", "queued"], "delivered"),
    (["delivered", "read", "sent"], "read"),
    (["failed", "sent"], "failed"),
])
def test_it_keeps_the_furthest_status_whatever_the_order(client, db, order, final):
    outgoing(db)
    for status in order:
        assert client.post("/twilio/status", data={"MessageSid": "SMout1", "MessageStatus": status}).status_code == 200
    with db.transaction() as session:
        assert session.scalar(select(Message.status).where(Message.provider_sid == "SMout1")) == final


def test_it_stores_the_error_code_and_opts_out_on_21610(client, db, producer):
    outgoing(db)
    form = {"MessageSid": "SMout1", "MessageStatus": "undelivered", "ErrorCode": "21610"}
    assert client.post("/twilio/status", data=form).status_code == 200
    with db.transaction() as session:
        message = session.scalar(select(Message).where(Message.provider_sid == "SMout1"))
        assert (message.status, message.error_code) == ("undelivered", 21610)
        assert session.get(Producer, producer.id).opted_out is True


@pytest.mark.parametrize("sid", ["SM\x00x", "\x00"])
def test_a_status_callback_with_a_nul_byte_gets_an_answer_not_a_500(client, sid):
    assert client.post("/twilio/status", data={"MessageSid": sid, "MessageStatus": "delivered"}).status_code in (
        200, 400)


def test_it_answers_200_to_an_unknown_sid(client):
    assert client.post("/twilio/status", data={"MessageSid": "SMnobody", "MessageStatus": "delivered"}).status_code == 200


def test_it_checks_signatures_on_status_callbacks_too(signed_app):
    client = signed_app.test_client()
    form = {"MessageSid": "SMout1", "MessageStatus": "delivered"}
    url = f"{PUBLIC}/twilio/status?outbox=7"
    assert client.post("/twilio/status?outbox=7", data=form).status_code == 403
    good = {"X-Twilio-Signature": sign(AUTH, url, form)}
    assert client.post("/twilio/status?outbox=7", data=form, headers=good).status_code == 200


def test_it_keeps_the_message_and_says_try_later_when_a_flow_fails(client, db, producer, monkeypatch):
    def broken(turn):
        turn.producer.language = "wo"  # a half-made change that must not survive
        raise RuntimeError("a bug in a flow")

    monkeypatch.setattr(routing, "handle", broken)
    response = client.post("/twilio/inbound", data=inbound_form("+221770000101", "yaourt 40", "SM60"))
    assert response.status_code == 200
    assert "Réessayez plus tard" in response.get_data(as_text=True)
    assert count(db, Message.direction == "in", Message.provider_sid == "SM60") == 1
    with db.transaction() as session:
        assert session.get(Producer, producer.id).language == "fr"


def test_messages_from_one_producer_at_the_same_moment_are_handled_one_after_the_other(app, db, producer):
    from ovop.models import ConversationState, StockReport
    barrier = threading.Barrier(10)
    answers = []

    def report(base, n):
        barrier.wait()
        form = inbound_form("+221770000101", f"yaourt {n}", f"SMsame{n}")
        answers.append(requests.post(f"{base}/twilio/inbound", data=form, timeout=30))

    with live_server(app) as base:
        threads = [threading.Thread(target=report, args=(base, n)) for n in range(20, 30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answer.status_code for answer in answers) == [200] * 10
    with db.transaction() as session:
        state = session.scalar(select(ConversationState).where(ConversationState.phone == "+221770000101"))
        reports = session.scalars(select(StockReport).order_by(StockReport.id)).all()
    assert state.version == 10  # every message saw the state the previous one left: no lost update
    assert sorted(report.quantity for report in reports) == [float(n) for n in range(20, 30)]
    # Each reply names the level the previous report left, so the replies chain without a gap.
    previous = [answer.text.split("(avant ")[1].split(")")[0] for answer in answers if "(avant " in answer.text]
    assert len(previous) == 9
