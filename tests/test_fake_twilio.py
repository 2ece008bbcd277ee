"""Tests for tests/fake_twilio.py, driven by the REAL twilio-python client."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

try:
    from tests.fake_twilio import FakeTwilio
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from fake_twilio import FakeTwilio

WA_FROM = "whatsapp:+14155238886"
NUMBER = "+573001234567"
WA_TO = "whatsapp:" + NUMBER


@pytest.fixture
def fake():
    """A running fake, stopped after the test."""
    with FakeTwilio() as server:
        yield server


def make_client(fake: FakeTwilio, timeout: float = 5.0, token: str | None = None) -> Client:
    """Build the real twilio Client exactly as our code does, pointed at the fake."""
    client = Client(
        fake.account_sid,
        token if token is not None else fake.auth_token,
        http_client=TwilioHttpClient(timeout=timeout),
    )
    client.api.base_url = fake.base_url
    return client


@pytest.fixture
def client(fake):
    """Real twilio Client talking to the fake."""
    return make_client(fake)


def send(client: Client, outbox: int = 1, **kwargs):
    """Create a WhatsApp message tagged with an outbox id in its StatusCallback."""
    params = {
        "to": WA_TO,
        "from_": WA_FROM,
        "body": "hola",
        "status_callback": f"http://127.0.0.1:9/twilio/status?outbox={outbox}",
    }
    params.update(kwargs)
    return client.messages.create(**params)


def test_it_creates_a_message_and_returns_a_queued_sm_sid(fake, client):
    """A valid create returns an SM sid, status queued, and is recorded with all fields."""
    msg = send(client, outbox=42, body="Hola cooperativa")

    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    int(msg.sid[2:], 16)
    assert msg.status == "queued"
    assert msg.to == WA_TO and msg.from_ == WA_FROM and msg.body == "Hola cooperativa"
    assert msg.account_sid == fake.account_sid
    assert msg.error_code is None
    assert msg.date_created is not None and msg.date_created.tzinfo is not None
    assert msg.num_segments == "1"

    [request] = fake.requests
    assert request["method"] == "POST"
    assert request["path"] == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert request["status"] == 201

    [recorded] = fake.messages
    assert recorded["sid"] == msg.sid
    assert recorded["to"] == WA_TO and recorded["from"] == WA_FROM
    assert recorded["status_callback"].endswith("?outbox=42")
    assert fake.accepted_count() == 1
    assert fake.accepted_by(FakeTwilio.query_param("outbox")) == {"42": 1}
    assert fake.status_callbacks() == [(recorded["status_callback"], msg.sid)]


def test_it_accepts_a_content_template_via_messaging_service(fake, client):
    """ContentSid + ContentVariables + MessagingServiceSid is accepted (status accepted, like Twilio)."""
    variables = json.dumps({"1": "Ana", "2": "12 kg"})
    msg = client.messages.create(
        to=WA_TO,
        messaging_service_sid="MG" + "0" * 32,
        content_sid="HX" + "1" * 32,
        content_variables=variables,
    )

    assert msg.status == "accepted"
    [recorded] = fake.messages
    assert recorded["content_sid"] == "HX" + "1" * 32
    assert json.loads(recorded["content_variables"]) == {"1": "Ana", "2": "12 kg"}
    assert recorded["messaging_service_sid"] == "MG" + "0" * 32
    assert recorded["body"] is None
    assert client.messages(msg.sid).fetch().sid == msg.sid


def test_it_rejects_wrong_credentials_with_401(fake):
    """Wrong auth token -> TwilioRestException status 401, code 20003, nothing accepted."""
    bad = make_client(fake, token="wrong-token")

    with pytest.raises(TwilioRestException) as exc:
        send(bad)

    assert exc.value.status == 401
    assert exc.value.code == 20003
    assert fake.accepted_count() == 0


def test_it_fails_next_with_429_then_succeeds(fake, client):
    """fail_next(429, 20429) fails one call only; the retry is accepted once."""
    fake.fail_next(429, 20429)

    with pytest.raises(TwilioRestException) as exc:
        send(client, outbox=7)
    assert (exc.value.status, exc.value.code) == (429, 20429)

    send(client, outbox=7)
    assert fake.accepted_by(FakeTwilio.query_param("outbox")) == {"7": 1}
    assert [r["status"] for r in fake.requests] == [429, 201]


def test_it_plays_scripted_failures_in_order(fake, client):
    """Scripted answers are a FIFO queue; a bare 500 defaults to code 20500."""
    fake.fail_next(500)
    fake.fail_next(400, 63016, times=2)

    observed = []
    for _ in range(4):
        try:
            send(client)
            observed.append(201)
        except TwilioRestException as exc:
            observed.append((exc.status, exc.code))

    assert observed == [(500, 20500), (400, 63016), (400, 63016), 201]


def test_it_answers_21610_for_an_opted_out_number(fake, client):
    """opt_out(number) makes every later send to it fail with 21610."""
    fake.opt_out(NUMBER)

    for _ in range(2):
        with pytest.raises(TwilioRestException) as exc:
            send(client)
        assert (exc.value.status, exc.value.code) == (400, 21610)
    assert fake.accepted_count() == 0

    fake.opt_in(NUMBER)
    send(client)
    assert fake.accepted_count() == 1


def test_it_answers_63016_outside_window_but_accepts_a_template(fake, client):
    """outside_window: free-form Body fails with 63016, a ContentSid send succeeds."""
    fake.outside_window(NUMBER)

    with pytest.raises(TwilioRestException) as exc:
        send(client, body="free text")
    assert (exc.value.status, exc.value.code) == (400, 63016)

    msg = send(client, body=None, content_sid="HX" + "a" * 32, content_variables='{"1": "x"}')
    assert msg.status == "queued"
    assert [m["content_sid"] for m in fake.messages] == ["HX" + "a" * 32]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "3001234567"}, 21211),
        ({"to": "whatsapp:573001234567"}, 21211),
        ({"to": ""}, 21604),
        ({"body": None}, 21619),
        ({"from_": None}, 21603),
    ],
)
def test_it_validates_like_twilio(fake, client, kwargs, code):
    """Invalid To, missing To/Body/From -> 400 with Twilio's error code."""
    with pytest.raises(TwilioRestException) as exc:
        send(client, **kwargs)

    assert (exc.value.status, exc.value.code) == (400, code)
    assert fake.accepted_count() == 0


def test_it_hangs_past_the_client_timeout_without_accepting(fake):
    """A hang makes the real client time out, and the hung request is never accepted."""
    fake.hang_next(2.0)
    slow = make_client(fake, timeout=0.3)

    with pytest.raises(requests.exceptions.Timeout):
        send(slow, outbox=5)
    assert fake.accepted_count() == 0

    send(slow, outbox=5)  # the retry is not a duplicate
    assert fake.accepted_by(FakeTwilio.query_param("outbox")) == {"5": 1}


def test_it_reproduces_seeded_fault_rates(fake, client):
    """The same seed gives the same sequence of faults."""

    def run() -> list:
        fake.reset()
        fake.set_fault_rates(error_500=0.2, error_429=0.2, seed=1234)
        outcomes = []
        for i in range(40):
            try:
                send(client, outbox=i)
                outcomes.append(201)
            except TwilioRestException as exc:
                outcomes.append(exc.status)
        return outcomes

    first, second = run(), run()

    assert first == second
    assert {201, 500, 429} <= set(first)
    assert fake.accepted_count() == first.count(201)


def test_it_records_concurrent_creates_from_8_threads(fake, client):
    """8 threads x 10 creates are all accepted exactly once, and a rate is observable."""
    barrier = threading.Barrier(8)

    def worker(t: int) -> list[str]:
        own = make_client(fake)
        barrier.wait()
        return [send(own, outbox=t * 100 + i).sid for i in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = [sid for sids in pool.map(worker, range(8)) for sid in sids]

    assert len(set(sids)) == 80
    assert fake.accepted_count() == 80
    assert fake.duplicates(FakeTwilio.query_param("outbox")) == {}
    assert len(fake.accepted_by(FakeTwilio.query_param("outbox"))) == 80
    assert len(fake.requests) == 80
    assert fake.wait_for_accepted(80, timeout=0.1)
    assert fake.achieved_rate() > 0


def test_it_resets_recordings_and_behaviour(fake, client):
    """reset() clears messages, requests and scripted behaviour."""
    fake.opt_out(NUMBER)
    fake.fail_next(500)
    fake.reset()

    send(client)
    assert fake.accepted_count() == 1 and len(fake.requests) == 1


def test_it_starts_and_stops_without_a_context_manager():
    """start()/stop() work and stop() is idempotent."""
    fake = FakeTwilio().start()
    try:
        send(make_client(fake))
        assert fake.accepted_count() == 1
    finally:
        fake.stop()
    fake.stop()
    with pytest.raises(RuntimeError):
        fake.base_url


def test_a_queued_message_is_listed_but_has_no_date_sent_until_it_leaves(fake, client):
    """Like Twilio: DateSent stays empty while a message is queued, so a DateSent filter leaves it out."""
    msg = send(client, outbox=7, body="Commande CMD-0001")
    earlier = datetime.now(timezone.utc) - timedelta(minutes=5)

    [listed] = client.messages.list(to=WA_TO, limit=20)
    assert (listed.sid, listed.status, listed.date_sent, listed.body) == (msg.sid, "queued", None, "Commande CMD-0001")
    assert listed.date_created is not None and listed.direction == "outbound-api"
    assert client.messages.list(to=WA_TO, date_sent_after=earlier, limit=20) == []
    assert client.messages.list(date_sent=earlier.date(), limit=20) == []

    assert fake.mark_sent() == 1
    [sent] = client.messages.list(to=WA_TO, date_sent_after=earlier, limit=20)
    assert (sent.sid, sent.status) == (msg.sid, "sent") and sent.date_sent >= earlier
    assert client.messages.list(to=WA_TO, date_sent_before=earlier, limit=20) == []
    assert client.messages.list(to="whatsapp:+573009999999", limit=20) == []
    assert fake.mark_sent() == 0  # nothing left in the queue


def test_it_lists_newest_first_in_pages(fake, client):
    """Listings come a PageSize at a time; the real client follows next_page_uri."""
    sids = [send(client, outbox=n, body=f"message {n}").sid for n in range(7)]

    listed = client.messages.list(to=WA_TO, page_size=3)
    assert [m.sid for m in listed] == sids[::-1]
    assert len([r for r in fake.requests if r["method"] == "GET"]) == 3
    assert [m.sid for m in client.messages.list(to=WA_TO, limit=2)] == sids[:-3:-1]


def test_its_clock_stamps_messages():
    """A test can hand the fake its own clock."""
    moment = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
    with FakeTwilio(clock=lambda: moment) as fake:
        message = send(make_client(fake))
        fake.mark_sent()
        [listed] = make_client(fake).messages.list(to=WA_TO, limit=5)
    assert message.date_created == moment and listed.date_sent == moment


def test_a_template_message_shows_its_variables_in_its_body(fake, client):
    """Twilio renders a template's text: the fake shows the template and the variables' values."""
    msg = client.messages.create(to=WA_TO, from_=WA_FROM, content_sid="HX" + "2" * 32,
                                 content_variables=json.dumps({"1": "CMD-0004", "2": "40 pots"}))
    assert msg.body == f"[template HX{'2' * 32}] CMD-0004 40 pots"
    assert fake.messages[0]["body"] is None  # what was posted: no Body


def test_it_fails_the_next_listing_when_told(fake, client):
    """fail_next(listing=True) fails listings and leaves creates alone."""
    fake.fail_next(500, listing=True)
    send(client)
    with pytest.raises(TwilioException, match="20500"):  # the client wraps a failed page in TwilioException
        client.messages.list(to=WA_TO, limit=5)
    assert len(client.messages.list(to=WA_TO, limit=5)) == 1
