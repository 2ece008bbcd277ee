"""Workshops: sign-up with capacity and a waitlist, cancellation with promotion, the staff API; by message, what a
transcript cannot say (twenty answers at once, SMS length). The conversations are tests/transcripts/*_workshops.txt."""
from __future__ import annotations

import threading
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ovop.core.config import defaults
from ovop.core import clock
from ovop.domain import workshops
from ovop.language.i18n import is_gsm7, sms_segments
from ovop.models import OutboxItem, Producer, Registration, Workshop
from tests.helpers import add_producer, inbound_form, live_server

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)  # a Tuesday; Dakar is UTC+0 all year
STARTS = datetime(2026, 12, 9, 10, 0, tzinfo=timezone.utc)  # Wednesday 9 December, 10:00 in Dakar
TITLE = {"fr": "Vendre en boutique", "wo": "Jaay ci butig", "en": "Selling in the boutique"}
CONFIG = defaults(BOT_TIMEZONE="Africa/Dakar", OUTBOUND_BACKEND="console")
SIDS = (f"SMws{n:06d}" for n in count())


def make_workshop(db, capacity=5, starts_at=STARTS, **fields) -> int:
    spec = {"title": TITLE, "starts_at": starts_at.isoformat(), "location": "Boutique OVOP, Dakar",
            "capacity": capacity, **fields}
    with db.transaction() as session:
        return workshops.create(session, spec, NOW).id


def make_producers(db, n, channel="sms", language="fr", start=0) -> list[int]:
    with db.transaction() as session:
        return [add_producer(session, f"+22177000{start + i:04d}", name=f"P{start + i}", channel=channel,
                             language=language).id for i in range(n)]


def sign_up(db, workshop_id, producer_id, at=NOW) -> workshops.SignUp:
    with db.transaction() as session:
        return workshops.register(session, workshop_id, session.get(Producer, producer_id), at)


def cancel(db, workshop_id, producer_id, at=NOW, config=CONFIG):
    with db.transaction() as session:
        registration = session.scalar(select(Registration).filter_by(workshop_id=workshop_id,
                                                                     producer_id=producer_id))
        return workshops.cancel(session, registration, at, config)


def statuses(db, workshop_id) -> dict[int, str]:
    with db.transaction() as session:
        return dict(session.execute(select(Registration.producer_id, Registration.status)
                                    .where(Registration.workshop_id == workshop_id)).all())


def outbox(db, kind=None) -> list[OutboxItem]:
    with db.transaction() as session:
        query = select(OutboxItem).order_by(OutboxItem.id)
        return list(session.scalars(query.where(OutboxItem.kind == kind) if kind else query))


# --- signing up -----------------------------------------------------------------------------------------

def test_it_registers_until_the_workshop_is_full_then_waitlists_in_order(db):
    workshop_id = make_workshop(db, capacity=2)
    producers = make_producers(db, 4)
    outcomes = [sign_up(db, workshop_id, producer_id) for producer_id in producers]
    assert [(o.outcome, o.position) for o in outcomes] == [
        ("registered", None), ("registered", None), ("waitlisted", 1), ("waitlisted", 2)]


def test_it_answers_a_second_sign_up_with_the_place_already_held(db):
    workshop_id = make_workshop(db, capacity=1)
    first, second = make_producers(db, 2)
    sign_up(db, workshop_id, first), sign_up(db, workshop_id, second)
    assert sign_up(db, workshop_id, first).outcome == "already_registered"
    again = sign_up(db, workshop_id, second)
    assert (again.outcome, again.position) == ("already_waitlisted", 1)


def test_the_database_refuses_two_registrations_of_one_producer_for_one_workshop(db):
    workshop_id = make_workshop(db)
    [producer_id] = make_producers(db, 1)
    sign_up(db, workshop_id, producer_id)
    with pytest.raises(IntegrityError):
        with db.transaction() as session:
            session.add(Registration(workshop_id=workshop_id, producer_id=producer_id, status="registered"))


def test_it_never_registers_more_than_the_capacity_under_20_simultaneous_sign_ups(db):
    workshop_id = make_workshop(db, capacity=5)
    producers = make_producers(db, 20)
    start, results, errors = threading.Barrier(20), [], []

    def sign_up_at_once(producer_id):
        start.wait()
        try:
            results.append(sign_up(db, workshop_id, producer_id).outcome)
        except Exception as error:  # any failure is a test failure, reported below
            errors.append(error)

    threads = [threading.Thread(target=sign_up_at_once, args=(producer_id,)) for producer_id in producers]
    with clock.frozen_at(NOW, all_threads=True):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    assert sorted(results) == ["registered"] * 5 + ["waitlisted"] * 15
    assert list(statuses(db, workshop_id).values()).count("registered") == 5
    with db.transaction() as session:
        places = [workshops.position(session, r) for r in workshops.waitlist(session, workshop_id)]
    assert places == list(range(1, 16))


@pytest.mark.parametrize("deadline, at, outcome", [
    (None, STARTS - timedelta(minutes=1), "registered"),
    (None, STARTS, "closed"),
    (STARTS - timedelta(days=2), STARTS - timedelta(days=2, seconds=1), "registered"),
    (STARTS - timedelta(days=2), STARTS - timedelta(days=2), "closed"),
])
def test_sign_up_closes_at_the_deadline_or_the_start(db, deadline, at, outcome):
    workshop_id = make_workshop(db, registration_deadline=deadline.isoformat() if deadline else None)
    [producer_id] = make_producers(db, 1)
    assert sign_up(db, workshop_id, producer_id, at=at).outcome == outcome


# --- cancelling and the waitlist --------------------------------------------------------------------------

def test_a_freed_seat_goes_to_the_first_on_the_waitlist_who_is_told_by_sms_in_gsm7(db):
    workshop_id = make_workshop(db, capacity=1)
    seated, first, second = make_producers(db, 3)
    for producer_id in (seated, first, second):
        sign_up(db, workshop_id, producer_id)
    promoted = cancel(db, workshop_id, seated, at=NOW + timedelta(hours=1))
    assert promoted.producer_id == first
    assert statuses(db, workshop_id) == {seated: "cancelled", first: "registered", second: "waitlisted"}
    [told] = outbox(db, "workshop_promoted")
    assert (told.producer_id, told.channel, told.status) == (first, "sms", "pending")
    assert told.body == ("Place libérée : vous etes inscrit(e) à Vendre en boutique, mer. 9 déc. 10:00, "
                         "Boutique OVOP, Dakar.")
    assert is_gsm7(told.body) and sms_segments(told.body) == 1


def test_cancelling_a_waitlisted_place_promotes_nobody(db):
    workshop_id = make_workshop(db, capacity=1)
    seated, waiting = make_producers(db, 2)
    sign_up(db, workshop_id, seated), sign_up(db, workshop_id, waiting)
    assert cancel(db, workshop_id, waiting) is None
    assert statuses(db, workshop_id) == {seated: "registered", waiting: "cancelled"}
    assert outbox(db) == []


def test_a_seat_freed_at_night_is_told_at_seven_in_the_morning(db):
    workshop_id = make_workshop(db, capacity=1)
    seated, waiting = make_producers(db, 2)
    sign_up(db, workshop_id, seated), sign_up(db, workshop_id, waiting)
    night = datetime(2026, 12, 3, 22, 30, tzinfo=timezone.utc)
    with clock.frozen_at(night):
        cancel(db, workshop_id, seated, at=night)
    [told] = outbox(db, "workshop_promoted")
    assert told.not_before == datetime(2026, 12, 4, 7, 0, tzinfo=timezone.utc)


def test_an_opted_out_producer_gets_the_seat_but_no_message(db):
    workshop_id = make_workshop(db, capacity=1)
    seated, waiting = make_producers(db, 2)
    sign_up(db, workshop_id, seated), sign_up(db, workshop_id, waiting)
    with db.transaction() as session:
        session.get(Producer, waiting).opted_out = True
    cancel(db, workshop_id, seated)
    assert statuses(db, workshop_id)[waiting] == "registered"
    assert outbox(db) == []


def test_a_producer_who_cancelled_can_sign_up_again_at_the_end_of_the_line(db):
    workshop_id = make_workshop(db, capacity=1)
    seated, waiting, back = make_producers(db, 3)
    for producer_id in (seated, waiting, back):
        sign_up(db, workshop_id, producer_id)
    cancel(db, workshop_id, waiting)
    again = sign_up(db, workshop_id, waiting, at=NOW + timedelta(minutes=5))
    assert (again.outcome, again.position) == ("waitlisted", 2)


# --- by message -------------------------------------------------------------------------------------------

PHONE = "+221770009999"


def say(client, text, at=NOW, channel="whatsapp", phone=PHONE) -> list[str]:
    """Send one message as the producer and return the bot's replies."""
    with clock.frozen_at(at, all_threads=True):
        response = client.post("/twilio/inbound", data=inbound_form(phone, text, next(SIDS), channel))
    assert response.status_code == 200
    return [message.text or "" for message in ElementTree.fromstring(response.get_data()).iter("Message")]


def test_twenty_producers_answering_at_once_over_http_never_overfill_five_seats(app, db):
    import requests
    workshop_id = make_workshop(db, capacity=5)
    phones = [f"+22177300{i:04d}" for i in range(20)]
    with db.transaction() as session:
        for phone in phones:
            add_producer(session, phone, name=phone, channel="sms")
    start, answers = threading.Barrier(20), {}

    def answer_one(base, phone):
        start.wait()
        response = requests.post(f"{base}/twilio/inbound", data=inbound_form(phone, "1", next(SIDS)), timeout=60)
        answers[phone] = (response.status_code,
                          [m.text for m in ElementTree.fromstring(response.content).iter("Message")])

    with clock.frozen_at(NOW, all_threads=True), live_server(app) as base:
        for phone in phones:  # each one sees the list first
            requests.post(f"{base}/twilio/inbound", data=inbound_form(phone, "atelier", next(SIDS)), timeout=30)
        threads = [threading.Thread(target=answer_one, args=(base, phone)) for phone in phones]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert {status for status, _ in answers.values()} == {200} and len(answers) == 20
    replies = [reply for _, (reply,) in answers.values()]
    assert sum(reply.startswith("Inscrit(e)") for reply in replies) == 5
    positions = sorted(int(reply.split("numéro ")[1].split()[0]) for reply in replies if "numéro" in reply)
    assert positions == list(range(1, 16))
    assert list(statuses(db, workshop_id).values()).count("registered") == 5


@pytest.mark.parametrize("language", ["fr", "wo", "en"])
def test_sms_answers_fit_one_gsm7_segment(client, db, language):
    workshop_id = make_workshop(db, capacity=1, title={"fr": "Vendre en boutique : présentation et prix",
                                                       "wo": "Jaay ci butig: wone ak njëg",
                                                       "en": "Selling in the boutique: display and pricing"},
                                location="Boutique OVOP, Dakar — salle de conférence")
    [other] = make_producers(db, 1, start=500)
    with db.transaction() as session:
        add_producer(session, PHONE, language=language, channel="sms")
    for text in ("atelier", "1", "annuler atelier", "atelier"):
        for reply in say(client, text, channel="sms"):
            assert is_gsm7(reply) and sms_segments(reply) == 1, (text, reply)
    sign_up(db, workshop_id, other)
    say(client, "atelier", channel="sms")
    [reply] = say(client, "1", channel="sms")
    assert is_gsm7(reply) and sms_segments(reply) == 1, reply


# --- staff API --------------------------------------------------------------------------------------------

def test_api_creates_lists_and_shows_workshops(api, db):
    with clock.frozen_at(NOW, all_threads=True):
        status, created = api.post("/workshops", {
            "title": TITLE, "description": "Présenter et fixer ses prix", "starts_at": "2026-12-09T10:00:00+00:00",
            "location": "Boutique OVOP, Dakar", "capacity": 20,
            "reminders": [{"days_before": 1, "time": "18:00"}, {"days_before": 0, "time": "7:30"}]})
        assert status == 201
        assert created["title"] == TITLE and created["description"]["fr"] == "Présenter et fixer ses prix"
        assert created["reminders"] == [{"days_before": 1, "time": "18:00"}, {"days_before": 0, "time": "07:30"}]
        assert (created["seats_left"], created["registered"], created["open"]) == (20, 0, True)
        status, listed = api.get("/workshops?upcoming=true")
        assert status == 200 and [item["id"] for item in listed["items"]] == [created["id"]]
        status, one = api.get(f"/workshops/{created['id']}")
        assert status == 200 and one == created


def test_api_accepts_one_title_for_every_language_and_default_reminders(api):
    with clock.frozen_at(NOW, all_threads=True):
        status, created = api.post("/workshops", {"title": "Hygiène", "starts_at": "2026-12-09T10:00:00Z",
                                                  "location": "Dakar", "capacity": 3})
    assert status == 201
    assert created["title"] == {"fr": "Hygiène", "wo": None, "en": None}
    assert created["reminders"] == [{"days_before": 2, "time": "09:00"}, {"days_before": 0, "time": "07:00"}]
    assert created["starts_at"] == "2026-12-09T10:00:00+00:00"


@pytest.mark.parametrize("change, field", [
    ({"title": None}, "title"),
    ({"title": {"wo": "Jaay"}}, "title.fr"),
    ({"title": {"de": "Verkaufen"}}, "title.fr"),
    ({"title": {"fr": "Vendre", "de": "Verkaufen"}}, "title.de"),
    ({"starts_at": "2026-12-09T10:00:00"}, "starts_at"),
    ({"starts_at": "next week"}, "starts_at"),
    ({"starts_at": "2026-11-30T10:00:00+00:00"}, "starts_at"),
    ({"capacity": 0}, "capacity"),
    ({"capacity": "20"}, "capacity"),
    ({"capacity": 2.5}, "capacity"),
    ({"location": ""}, "location"),
    ({"registration_deadline": "2026-12-10T10:00:00+00:00"}, "registration_deadline"),
    ({"reminders": [{"days_before": 2, "time": "25:00"}]}, "reminders.time"),
    ({"reminders": [{"days_before": -1}]}, "reminders.days_before"),
    ({"reminders": [{"days_before": 2}, {"days_before": 2, "time": "10:00"}]}, "reminders.days_before"),
    ({"reminders": "d-2"}, "reminders"),
    ({"seats": 4}, "seats"),
])
def test_api_refuses_a_bad_workshop_with_422_naming_the_field(api, change, field):
    body = {"title": TITLE, "starts_at": "2026-12-09T10:00:00+00:00", "location": "Dakar", "capacity": 5, **change}
    with clock.frozen_at(NOW, all_threads=True):
        status, answer = api.post("/workshops", body)
    assert (status, answer["field"]) == (422, field)


def test_api_lists_registrations_with_waitlist_positions_and_marks_attendance(api, db):
    workshop_id = make_workshop(db, capacity=1)
    seated, first, second = make_producers(db, 3)
    for producer_id in (seated, first, second):
        sign_up(db, workshop_id, producer_id)
    status, listed = api.get(f"/workshops/{workshop_id}/registrations")
    assert status == 200
    assert [(r["producer_id"], r["status"], r["position"]) for r in listed["items"]] == [
        (seated, "registered", None), (first, "waitlisted", 1), (second, "waitlisted", 2)]
    status, marked = api.post(f"/workshops/{workshop_id}/attendance", {"producer_id": seated, "attended": True})
    assert (status, marked["status"]) == (200, "attended")
    status, shown = api.get(f"/workshops/{workshop_id}")
    assert (shown["registered"], shown["waitlisted"], shown["seats_left"]) == (1, 2, 0)
    status, undone = api.post(f"/workshops/{workshop_id}/attendance", {"producer_id": seated, "attended": False})
    assert (status, undone["status"]) == (200, "registered")


@pytest.mark.parametrize("path, body, expected", [
    ("/workshops/999/attendance", {"producer_id": 1, "attended": True}, 404),
    ("/workshops/{id}/attendance", {"producer_id": 999, "attended": True}, 404),
    ("/workshops/{id}/attendance", {"producer_id": "1", "attended": True}, 422),
    ("/workshops/{id}/attendance", {"producer_id": 1, "attended": "yes"}, 422),
    ("/workshops/{id}/attendance", {"producer_id": 1, "came": True}, 422),
])
def test_api_refuses_bad_attendance(api, db, path, body, expected):
    workshop_id = make_workshop(db)
    status, answer = api.post(path.format(id=workshop_id), body)
    assert status == expected and "error" in answer


def test_api_answers_404_for_an_unknown_workshop(api):
    assert api.get("/workshops/12345")[0] == 404
    assert api.get("/workshops/12345/registrations")[0] == 404


def test_demo_workshops_and_prices_load_once(db):
    from ovop.domain.demo import DEMO_FILE, load
    import json
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    with db.transaction() as session, clock.frozen_at(NOW):
        first = load(session)
        again = load(session)
        direct = workshops.load_demo_workshops_and_prices(session, data, NOW, CONFIG)
    assert (first["workshops"], first["prices"]) == (3, 8)
    assert (again["workshops"], again["prices"]) == (0, 0) and direct == {"workshops": 0, "prices": 0}
    with db.transaction() as session:
        soonest = session.scalar(select(Workshop).order_by(Workshop.starts_at).limit(1))
        assert soonest.starts_at == datetime(2026, 12, 10, 10, 0, tzinfo=timezone.utc)
        assert session.scalar(select(func.count()).select_from(Workshop)) == 3
