"""The outbox against a fake Twilio on loopback, driven by the real twilio client through our transport."""
from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from ovop.core import clock
from ovop.models import Message, OutboxAttempt, OutboxItem, Producer
from ovop.messaging.transport import TwilioTransport
from ovop.messaging.outbox import LEASE, RateLimiter, Sender, enqueue, enqueue_many
from tests.fake_twilio import FakeTwilio
from tests.helpers import add_producer

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

OUTBOX = FakeTwilio.query_param("outbox")


def transport(fake, timeout=2.0) -> TwilioTransport:
    return TwilioTransport(fake.account_sid, fake.auth_token, sms_from="+15005550006",
                           whatsapp_from="whatsapp:+14155238886", api_base_url=fake.base_url, timeout=timeout)


def sender(db, fake, **options) -> Sender:
    options.setdefault("rates", {"sms": 0, "whatsapp": 0})  # unthrottled unless a test is about pace
    return Sender(db=db, transport=transport(fake), status_callback_base="https://ovop.example.org",
                  rng=random.Random(7), **options)


def put(db, key="tip:1", phone="+221770000101", channel="sms", **extra) -> int | None:
    with db.transaction() as session:
        return enqueue(session, dedupe_key=key, kind="test", recipient=phone, channel=channel,
                       body=extra.pop("body", "Prix du yaourt: 500 F CFA"), **extra)


def item(db, key="tip:1") -> OutboxItem:
    with db.transaction() as session:
        return session.scalar(select(OutboxItem).where(OutboxItem.dedupe_key == key))


def later(minutes):
    return clock.frozen_at(clock.now() + timedelta(minutes=minutes), all_threads=True)


def test_it_enqueues_a_dedupe_key_once(db):
    assert put(db) is not None
    assert put(db) is None
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 1


def test_it_enqueues_nothing_when_the_callers_transaction_rolls_back(db):
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            enqueue(session, dedupe_key="k", kind="t", recipient="+221770000101", channel="sms", body="x")
            raise RuntimeError("the order could not be saved")
    assert item(db, "k") is None


def test_it_sends_a_due_item_and_logs_it(db, fake):
    put(db, channel="whatsapp")
    assert sender(db, fake).run_once() == 1
    sent = item(db)
    assert sent.status == "sent" and sent.provider_sid.startswith("SM") and sent.attempts == 1
    [accepted] = fake.messages
    assert (accepted["to"], accepted["body"]) == ("whatsapp:+221770000101", "Prix du yaourt: 500 F CFA")
    assert accepted["status_callback"] == f"https://ovop.example.org/twilio/status?outbox={sent.id}"
    with db.transaction() as session:
        message = session.scalar(select(Message).where(Message.provider_sid == sent.provider_sid))
        assert (message.direction, message.status, message.outbox_item_id) == ("out", "queued", sent.id)


def test_it_does_not_send_before_its_time(db, fake):
    put(db, not_before=clock.now() + timedelta(hours=1))
    assert sender(db, fake).run_once() == 0
    with later(61):
        assert sender(db, fake).run_once() == 1
    assert fake.accepted_count() == 1


@pytest.mark.parametrize("failure", [(500, None), (429, 20429), (503, None)])
def test_it_retries_retryable_errors_with_backoff(db, fake, failure):
    put(db)
    fake.fail_next(*failure)
    assert sender(db, fake).run_once() == 1
    waiting = item(db)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.not_before > clock.now() + timedelta(seconds=5)
    assert sender(db, fake).run_once() == 0  # not yet
    with later(5):
        assert sender(db, fake).run_once() == 1
    assert (item(db).status, item(db).attempts) == ("sent", 2)
    assert fake.accepted_by(OUTBOX) == {str(waiting.id): 1}
    with db.transaction() as session:
        outcomes = session.scalars(select(OutboxAttempt.outcome).order_by(OutboxAttempt.id)).all()
    assert outcomes == ["retry", "sent"]


def test_it_retries_a_timeout(db, fake):
    put(db)
    fake.hang_next(5)
    slow = Sender(db=db, transport=transport(fake, timeout=0.5), rates={}, rng=random.Random(1))
    slow.run_once()
    assert item(db).status == "pending" and "Timeout" in item(db).last_error
    with later(5):
        slow.run_once()
    assert item(db).status == "sent"
    assert fake.accepted_count() == 1


def test_it_gives_up_after_the_attempt_limit(db, fake):
    put(db)
    fake.fail_next(500, times=3)
    limited = sender(db, fake, max_attempts=3)
    for minutes in (0, 10, 30):
        with later(minutes):
            limited.run_once()
    assert (item(db).status, item(db).attempts) == ("failed", 3)
    assert fake.accepted_count() == 0


@pytest.mark.parametrize("code", [21211, 21610, 21614, 63016])
def test_it_never_retries_a_permanent_error(db, fake, code):
    with db.transaction() as session:
        producer = add_producer(session)
    put(db, producer_id=producer.id)
    fake.fail_next(400, code)
    sender(db, fake).run_once()
    failed = item(db)
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", code, 1)
    with later(120):
        assert sender(db, fake).run_once() == 0
    with db.transaction() as session:
        assert session.get(Producer, producer.id).opted_out is (code == 21610)


def test_two_senders_racing_send_every_item_exactly_once(db, fake):
    with db.transaction() as session:
        for n in range(120):
            enqueue(session, dedupe_key=f"race:{n}", kind="test", recipient=f"+2217700{n:05d}", channel="sms",
                    body=f"message {n}")
    barrier = threading.Barrier(4)

    def drain():
        worker = sender(db, fake, batch_size=7)
        barrier.wait()
        while worker.run_once():
            pass

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.accepted_count() == 120
    assert fake.duplicates(OUTBOX) == {}
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "sent")) == 120
        assert session.scalar(select(func.count()).select_from(OutboxAttempt)) == 120


def test_the_rate_limiter_spaces_messages_per_channel():
    waits = []
    limiter = RateLimiter({"sms": 10.0, "whatsapp": 0}, sleep=waits.append)
    for _ in range(5):
        limiter.wait("sms")
        limiter.wait("whatsapp")
    assert len(waits) == 4  # the first SMS leaves at once, whatsapp is unthrottled
    assert all(0.05 < wait <= 0.4 for wait in waits)


def test_it_does_not_send_to_a_producer_who_said_stop_after_it_was_queued(db, fake):
    with db.transaction() as session:
        producer = add_producer(session)
    put(db, producer_id=producer.id)
    with db.transaction() as session:
        session.get(Producer, producer.id).opted_out = True
    sender(db, fake).run_once()
    assert (item(db).status, item(db).last_error) == ("cancelled", "recipient opted out")
    assert fake.accepted_count() == 0


def test_it_moves_free_whatsapp_text_to_sms_once_the_window_has_closed(db, fake):
    with db.transaction() as session:
        producer = add_producer(session, channel="whatsapp")
        producer.last_inbound_at = clock.now() - timedelta(hours=25)
    put(db, channel="whatsapp", producer_id=producer.id, body="Commande CMD-0001 : yaourt 40 pots, réponse OUI/NON")
    sender(db, fake).run_once()
    [accepted] = fake.messages
    assert accepted["to"] == "+221770000101"  # plain SMS, not whatsapp:
    assert accepted["body"] == "Commande CMD-0001 : yaourt 40 pots, réponse OUI/NON"
    assert item(db).channel == "sms"


def test_a_long_whatsapp_text_moved_to_sms_leaves_in_numbered_parts_of_one_segment(db, fake):
    with db.transaction() as session:
        producer = add_producer(session, channel="whatsapp")
        producer.last_inbound_at = clock.now() - timedelta(hours=25)
    text = "Bonjour Awa, " + "la boutique a bien recu vos pots de yaourt et vous remercie. " * 4
    put(db, channel="whatsapp", producer_id=producer.id, body=text)
    while sender(db, fake).run_once():
        pass
    bodies = [message["body"] for message in fake.messages]
    assert len(bodies) == 2 and bodies[0].startswith("1/2 ") and bodies[1].startswith("2/2 ")
    assert all(len(body) <= 160 for body in bodies)
    assert " ".join(body[4:] for body in bodies).split() == text.split()  # nothing lost, nothing twice
    assert item(db, "tip:1:part=2").channel == "sms"


def test_it_sends_nothing_during_quiet_hours_and_retries_after_them(db, fake):
    night = datetime(2026, 12, 1, 22, tzinfo=timezone.utc)
    morning = datetime(2026, 12, 2, 7, tzinfo=timezone.utc)

    def quiet(moment):
        return morning if night <= moment < morning else None

    with clock.frozen_at(night - timedelta(hours=2)):
        put(db)
    quiet_sender = sender(db, fake, quiet_until=quiet)
    with clock.frozen_at(night + timedelta(minutes=5), all_threads=True):
        assert quiet_sender.run_once() == 0
    fake.fail_next(500)
    with clock.frozen_at(night - timedelta(seconds=2), all_threads=True):
        quiet_sender.run_once()  # fails just before the quiet hours: the retry waits for the morning
    assert item(db).not_before == morning


def test_a_late_63016_sends_the_message_again_by_sms_once(app, db, fake):
    """Twilio may accept free WhatsApp text and fail it later with 63016: the callback re-queues it by SMS."""
    with db.transaction() as session:
        producer = add_producer(session, channel="whatsapp")
        producer.last_inbound_at = clock.now() - timedelta(hours=23)
    put(db, channel="whatsapp", producer_id=producer.id, body="Rappel atelier : mer. 9 déc. 10:00")
    sender(db, fake).run_once()
    whatsapp_sid = fake.messages[0]["sid"]
    client = app.test_client()
    callback = {"MessageSid": whatsapp_sid, "MessageStatus": "failed", "ErrorCode": "63016"}
    assert client.post("/twilio/status", data=callback).status_code == 200
    assert client.post("/twilio/status", data=callback).status_code == 200  # Twilio repeats itself
    sender(db, fake).run_once()
    assert [(m["to"], m["body"]) for m in fake.messages] == [
        ("whatsapp:+221770000101", "Rappel atelier : mer. 9 déc. 10:00"),
        ("+221770000101", "Rappel atelier : mer. 9 déc. 10:00")]
    assert (item(db).channel, item(db).status) == ("sms", "sent")


def test_enqueue_many_adds_each_dedupe_key_once(db):
    put(db, key="tip:2")
    rows = [dict(dedupe_key=f"tip:{n}", kind="test", recipient="+221770000101", channel="sms", body=f"tip {n}")
            for n in range(1, 6)]
    with db.transaction() as session:
        assert enqueue_many(session, rows, chunk=2) == {"tip:1", "tip:3", "tip:4", "tip:5"}
    with db.transaction() as session:
        assert enqueue_many(session, rows) == set()
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 5
        assert session.scalar(select(OutboxItem.body).where(OutboxItem.dedupe_key == "tip:2")) == \
            "Prix du yaourt: 500 F CFA"  # the row already queued is kept as it was


def test_a_timeout_after_twilio_accepted_does_not_send_twice(db, fake):
    put(db)
    fake.accept_then_hang_next(3)
    slow = Sender(db=db, transport=transport(fake, timeout=0.5), rates={}, rng=random.Random(1))
    slow.run_once()
    assert item(db).status == "pending" and "Timeout" in item(db).last_error
    with later(5):
        slow.run_once()
    assert (item(db).status, item(db).provider_sid) == ("sent", fake.messages[0]["sid"])
    assert fake.accepted_count() == 1  # found by asking Twilio, not sent again


def at(moment):
    return clock.frozen_at(moment, all_threads=True)


def wait_until(condition, what: str, seconds: float = 30.0):
    """Wait for something another thread does (a safety net against a hang, not a measure of speed)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


def test_a_claim_left_by_a_stopped_sender_lapses_within_the_lease_and_is_looked_up_first(db, fake):
    put(db, key="tip:1", phone="+221770000101")
    put(db, key="tip:2", phone="+221770000102")
    start = clock.now()
    with at(start):
        dead = sender(db, fake)
        first, second = dead.claim()
        # Twilio accepts the first; the sender stops (kill -9) before it hears back, and never calls for the second.
        dead.transport.send(first.recipient, first.channel, body=first.body,
                            status_callback=dead.status_callback(first))
    assert fake.messages[0]["date_sent"] is None  # still queued at Twilio: DateSent is empty
    with at(start + LEASE - timedelta(seconds=1)):
        assert sender(db, fake).run_once() == 0  # the lease still holds
    with at(start + LEASE + timedelta(seconds=1)):
        assert sender(db, fake).run_once() == 2
    assert (item(db, "tip:1").status, item(db, "tip:1").provider_sid) == ("sent", fake.messages[0]["sid"])
    assert item(db, "tip:2").status == "sent"
    assert fake.accepted_by(OUTBOX) == {str(first.id): 1, str(second.id): 1}


def test_a_template_left_mid_call_is_found_by_its_variables(db, fake):
    variables = {"1": "CMD-0007", "2": "40"}
    put(db, channel="whatsapp", content_sid="HX" + "3" * 32, content_variables=variables,
        body="Commande CMD-0007 : 40 pots")
    start = clock.now()
    with at(start):
        dead = sender(db, fake)
        [claimed] = dead.claim()
        dead.transport.send(claimed.recipient, "whatsapp", content_sid=claimed.content_sid,
                            content_variables=variables)
    with at(start + LEASE + timedelta(seconds=1)):
        assert sender(db, fake).run_once() == 1
    assert (item(db).status, item(db).provider_sid) == ("sent", fake.messages[0]["sid"])
    assert fake.accepted_count() == 1


@pytest.mark.skipif("libfaketime" in os.environ.get("LD_PRELOAD", ""),
                    reason="under libfaketime a timed Event.wait never ends (sem_clockwait is not faked), so the "
                           "renewing thread cannot tick; the wall clock plays no part here, --now covers this test")
def test_a_claim_is_renewed_while_its_call_is_in_flight(db, fake):
    put(db)
    fake.accept_then_hang_next(60)  # Twilio has it and does not answer: the call stays in flight
    busy = Sender(db=db, transport=transport(fake, timeout=30), rates={}, renew_every=0.02)
    start = clock.now()
    with at(start):
        running = threading.Thread(target=busy.run_once)
        running.start()
        assert fake.wait_for_accepted(1, timeout=30)
    with at(start + LEASE - timedelta(seconds=5)):
        wait_until(lambda: item(db).claimed_at == start + LEASE - timedelta(seconds=5), "the lease to be renewed")
    with at(start + LEASE + timedelta(seconds=10)):  # the first claim would have lapsed; the renewed one holds
        assert sender(db, fake).run_once() == 0
        assert (item(db).status, item(db).claimed_by) == ("sending", busy.worker_id)
        fake.stop()  # the hung request now answers: the busy sender records its send
        running.join(timeout=60)
    assert not running.is_alive()
    assert (item(db).status, item(db).provider_sid) == ("sent", fake.messages[0]["sid"])
    assert fake.accepted_count() == 1


def test_a_stopped_sender_finishes_its_call_in_flight_and_hands_back_the_rest(db, fake):
    put(db, key="alert:1", body="Commande CMD-0001 : yaourt 40 pots")
    put(db, key="alert:2", body="Commande CMD-0001 annulée")  # same producer: leaves after the first
    fake.accept_then_hang_next(60)
    stop = threading.Event()
    stopping = Sender(db=db, transport=transport(fake, timeout=3), rates={}, rng=random.Random(1))
    running = threading.Thread(target=stopping.run_forever, args=(stop, 0.05))
    running.start()
    assert fake.wait_for_accepted(1, timeout=30)
    stop.set()  # SIGTERM: the call in flight goes on until it ends (here: times out)
    running.join(timeout=60)
    assert not running.is_alive()
    first, second = item(db, "alert:1"), item(db, "alert:2")
    assert (first.status, first.attempts) == ("pending", 1) and "Timeout" in first.last_error  # recorded
    assert (second.status, second.attempts, second.claimed_by) == ("pending", 0, None)  # handed back unsent
    assert second.not_before <= clock.now()  # due at once
    with later(5):
        assert sender(db, fake).run_once() == 2
    assert [m["body"] for m in fake.messages] == ["Commande CMD-0001 : yaourt 40 pots", "Commande CMD-0001 annulée"]
    assert (item(db, "alert:1").status, item(db, "alert:2").status) == ("sent", "sent")
    assert item(db, "alert:1").provider_sid == fake.messages[0]["sid"]


def test_drain_sends_what_is_due_and_counts_it(db, fake):
    put(db, key="tip:1", phone="+221770000101")
    put(db, key="tip:2", phone="+221770000102")
    put(db, key="tip:3", phone="+221770000103", not_before=clock.now() + timedelta(hours=1))
    drained = sender(db, fake, batch_size=1).drain()
    assert (drained["sent"], drained["found"]) == (2, 0)
    assert fake.accepted_count() == 2 and item(db, "tip:3").status == "pending"


def test_a_lookup_that_fails_is_asked_again_before_anything_is_sent(db, fake):
    put(db)
    fake.accept_then_hang_next(3)
    slow = Sender(db=db, transport=transport(fake, timeout=0.5), rates={}, rng=random.Random(1))
    slow.run_once()  # Twilio has it; the call timed out
    fake.fail_next(500, listing=True)
    with later(5):
        slow.run_once()  # "has it already gone?" cannot be answered
    assert (item(db).status, item(db).error_code) == ("pending", None)  # still "may have gone"
    with later(30):
        slow.run_once()
    assert (item(db).status, item(db).provider_sid) == ("sent", fake.messages[0]["sid"])
    assert fake.accepted_count() == 1
