"""Scheduled jobs: what falls due is enqueued once, at the right local time, never at night, never to the opted out.

Time comes from the clock seam (ovop.core.clock.frozen_at) and each job's `now`: no test sleeps.
"""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from ovop.core.config import defaults
from ovop.core import clock
from ovop.domain import stock, workshops
from ovop.core.db import Database
from ovop.language.i18n import is_gsm7, sms_segments
from ovop.models import Cooperative, OutboxItem, PriceObservation, Producer, Product, Registration
from ovop.jobs import jobs
from ovop.cli.jobs import jobs_cli
from ovop.core.localtime import quiet_until
from ovop.worker import MISFIRE_GRACE_SECONDS, build_scheduler, start_scheduler
from tests.helpers import add_producer

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

UTC = timezone.utc
CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STARTS = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)  # Wednesday 9 December 10:00 in Dakar (UTC+0)
D2 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # two days before at 09:00
D0 = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)  # the same day at 07:00
MONDAY_8 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # ISO week 2026-W50


def run(app, name, now) -> int:
    """Run one job as the worker would at `now`."""
    with clock.frozen_at(now, all_threads=True):
        return jobs.registry()[name].run(app.extensions["ovop"].db, app.config, now)


def rows(db, kind=None) -> list[OutboxItem]:
    with db.transaction() as session:
        query = select(OutboxItem).order_by(OutboxItem.id)
        return list(session.scalars(query.where(OutboxItem.kind == kind) if kind else query))


def keys(db, kind=None) -> list[str]:
    return [item.dedupe_key for item in rows(db, kind)]


def make_producers(db, n, start=0, **options) -> list[int]:
    with db.transaction() as session:
        return [add_producer(session, f"+22177100{start + i:04d}", name=f"P{start + i}", **options).id
                for i in range(n)]


def make_workshop(db, capacity=10, **fields) -> int:
    spec = {"title": {"fr": "Vendre en boutique", "en": "Selling in the boutique"}, "starts_at": STARTS.isoformat(),
            "location": "Boutique OVOP", "capacity": capacity, **fields}
    with db.transaction() as session:
        return workshops.create(session, spec, CREATED).id


def sign_up(db, workshop_id, producer_id, at=CREATED):
    with db.transaction() as session:
        return workshops.register(session, workshop_id, session.get(Producer, producer_id), at)


def cancel(app, workshop_id, producer_id, at):
    db = app.extensions["ovop"].db
    with clock.frozen_at(at), db.transaction() as session:
        registration = session.scalar(select(Registration).filter_by(workshop_id=workshop_id,
                                                                     producer_id=producer_id))
        workshops.cancel(session, registration, at, app.config)


def reminder_keys(db, workshop_id) -> set[tuple[int, str]]:
    """{(producer id, d-N)} of the reminders enqueued for a workshop."""
    found = set()
    for key in keys(db, "workshop_reminder"):
        _, workshop, producer, label = key.split(":")
        if workshop == f"workshop={workshop_id}":
            found.add((int(producer.removeprefix("producer=")), label))
    return found


# --- workshop reminders -----------------------------------------------------------------------------------

def test_reminders_go_two_days_before_at_nine_and_the_same_day_at_seven(app, db):
    workshop_id = make_workshop(db)
    first, second = make_producers(db, 2)
    sign_up(db, workshop_id, first), sign_up(db, workshop_id, second)
    assert run(app, "workshop-reminders", D2 - timedelta(minutes=1)) == 0
    assert run(app, "workshop-reminders", D2) == 2
    assert run(app, "workshop-reminders", D2 + timedelta(minutes=5)) == 0
    assert run(app, "workshop-reminders", D0 - timedelta(minutes=1)) == 0
    assert run(app, "workshop-reminders", D0) == 2
    assert run(app, "workshop-reminders", STARTS) == 0
    prefix = f"reminder:workshop={workshop_id}"
    assert keys(db, "workshop_reminder") == [f"{prefix}:producer={first}:d-2", f"{prefix}:producer={second}:d-2",
                                             f"{prefix}:producer={first}:d-0", f"{prefix}:producer={second}:d-0"]
    reminder = rows(db, "workshop_reminder")[0]
    assert reminder.body == "Rappel atelier OVOP : Vendre en boutique, mer. 9 déc. 10:00, Boutique OVOP."
    assert reminder.not_before == D2 and reminder.channel == "sms"


def test_reminders_follow_the_times_set_for_the_workshop(app, db):
    workshop_id = make_workshop(db, reminders=[{"days_before": 1, "time": "18:00"}])
    [producer] = make_producers(db, 1)
    sign_up(db, workshop_id, producer)
    assert run(app, "workshop-reminders", D2) == 0
    assert run(app, "workshop-reminders", datetime(2026, 12, 8, 17, 59, tzinfo=UTC)) == 0
    assert run(app, "workshop-reminders", datetime(2026, 12, 8, 18, 0, tzinfo=UTC)) == 1
    assert run(app, "workshop-reminders", D0) == 0
    assert reminder_keys(db, workshop_id) == {(producer, "d-1")}


def test_only_registered_producers_who_did_not_opt_out_are_reminded(app, db):
    workshop_id = make_workshop(db, capacity=3)
    seated, opted_out, cancelled, waiting = make_producers(db, 4)
    for producer_id in (seated, opted_out, cancelled, waiting):
        sign_up(db, workshop_id, producer_id)
    cancel(app, workshop_id, cancelled, CREATED + timedelta(hours=1))  # seat goes to `waiting`
    sign_up(db, workshop_id, cancelled, at=CREATED + timedelta(hours=2))  # back on the waitlist
    with db.transaction() as session:
        session.get(Producer, opted_out).opted_out = True
    run(app, "workshop-reminders", D2)
    assert reminder_keys(db, workshop_id) == {(seated, "d-2"), (waiting, "d-2")}


def test_a_producer_moved_from_the_waitlist_before_a_reminder_gets_it_and_one_moved_after_does_not(app, db):
    workshop_id = make_workshop(db, capacity=2)
    a, b, early, late = make_producers(db, 4)
    for producer_id in (a, b, early, late):
        sign_up(db, workshop_id, producer_id)
    cancel(app, workshop_id, a, D2 - timedelta(hours=1))  # `early` gets the seat before the d-2 reminder
    run(app, "workshop-reminders", D2)
    cancel(app, workshop_id, b, D2 + timedelta(hours=3))  # `late` gets it after: told by the promotion message
    run(app, "workshop-reminders", D2 + timedelta(hours=3, minutes=5))
    assert reminder_keys(db, workshop_id) == {(b, "d-2"), (early, "d-2")}
    run(app, "workshop-reminders", D0)
    assert reminder_keys(db, workshop_id) == {(b, "d-2"), (early, "d-2"), (early, "d-0"), (late, "d-0")}
    assert [item.producer_id for item in rows(db, "workshop_promoted")] == [early, late]


def test_a_producer_who_cancelled_before_the_reminder_does_not_get_it(app, db):
    workshop_id = make_workshop(db)
    stays, leaves = make_producers(db, 2)
    sign_up(db, workshop_id, stays), sign_up(db, workshop_id, leaves)
    run(app, "workshop-reminders", D2)
    cancel(app, workshop_id, leaves, D2 + timedelta(days=1))
    run(app, "workshop-reminders", D0)
    assert reminder_keys(db, workshop_id) == {(stays, "d-2"), (leaves, "d-2"), (stays, "d-0")}


def test_after_an_outage_only_the_current_reminder_is_sent(app, db):
    workshop_id = make_workshop(db)
    [producer] = make_producers(db, 1)
    sign_up(db, workshop_id, producer)
    assert run(app, "workshop-reminders", D0 + timedelta(minutes=40)) == 1
    assert reminder_keys(db, workshop_id) == {(producer, "d-0")}


def test_two_reminder_runs_racing_in_threads_enqueue_each_reminder_once(app, db):
    workshop_id = make_workshop(db, capacity=30)
    producers = make_producers(db, 30)
    for producer_id in producers:
        sign_up(db, workshop_id, producer_id)
    start, added, errors = threading.Barrier(2), [], []

    def race():
        start.wait()
        try:
            added.append(jobs.workshop_reminders(db, app.config, D2))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(2)]
    with clock.frozen_at(D2, all_threads=True):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    assert len(keys(db, "workshop_reminder")) == len(set(keys(db, "workshop_reminder"))) == 30
    assert sum(added) == 30  # each run counts only the rows it added


def test_a_restarted_scheduler_enqueues_nothing_again(app, db, database_url):
    workshop_id = make_workshop(db)
    make_producers(db, 3)
    for producer_id in make_producers(db, 3, start=10):
        sign_up(db, workshop_id, producer_id)
    assert run(app, "workshop-reminders", D2) == 3
    restarted = Database(database_url)  # a new process: new engine, new connections, nothing remembered
    try:
        with clock.frozen_at(D2 + timedelta(minutes=5), all_threads=True):
            assert jobs.workshop_reminders(restarted, app.config, D2 + timedelta(minutes=5)) == 0
    finally:
        restarted.dispose()
    assert len(rows(db, "workshop_reminder")) == 3


def test_a_reminder_due_at_night_waits_until_seven(app, db):
    workshop_id = make_workshop(db, reminders=[{"days_before": 1, "time": "22:00"}])
    [producer] = make_producers(db, 1)
    sign_up(db, workshop_id, producer)
    assert run(app, "workshop-reminders", datetime(2026, 12, 8, 22, 0, tzinfo=UTC)) == 1
    [reminder] = rows(db, "workshop_reminder")
    assert reminder.not_before == D0


def test_whatsapp_outside_the_window_uses_the_approved_template(app, db):
    app.config["TWILIO_TEMPLATES"] = {"workshop_reminder": {"fr": "HXreminder"}}
    workshop_id = make_workshop(db)
    inside, outside = make_producers(db, 2, channel="whatsapp")
    with db.transaction() as session:
        session.get(Producer, inside).last_inbound_at = D2 - timedelta(hours=2)
        session.get(Producer, outside).last_inbound_at = D2 - timedelta(hours=30)
    sign_up(db, workshop_id, inside), sign_up(db, workshop_id, outside)
    run(app, "workshop-reminders", D2)
    free, templated = rows(db, "workshop_reminder")
    assert (free.channel, free.content_sid) == ("whatsapp", None)
    assert (templated.channel, templated.content_sid) == ("whatsapp", "HXreminder")
    assert templated.content_variables == {"1": "Vendre en boutique", "2": "mer. 9 déc. 10:00", "3": "Boutique OVOP"}


# --- price tips -------------------------------------------------------------------------------------------

def observe(db, code, price, on):
    with db.transaction() as session:
        product = session.scalar(select(Product).where(Product.code == code))
        session.add(PriceObservation(product=product, price=price, unit=product.unit, market="Boutique OVOP Dakar",
                                     observed_on=on))


def test_price_tips_go_on_monday_at_eight_once_a_week_to_each_producer(app, db):
    first, second = make_producers(db, 2, products=("yaourt",))
    [no_price] = make_producers(db, 1, start=50, products=("chapeau",), cooperative="Vanniers")
    observe(db, "yaourt", 500, date(2026, 11, 30)), observe(db, "yaourt", 550, date(2026, 12, 5))
    assert run(app, "price-tips", MONDAY_8 - timedelta(minutes=1)) == 0
    assert run(app, "price-tips", MONDAY_8) == 2
    assert run(app, "price-tips", MONDAY_8 + timedelta(hours=3)) == 0
    assert keys(db, "price_tip") == [f"price-tip:2026-W50:producer={first}", f"price-tip:2026-W50:producer={second}"]
    tip = rows(db, "price_tip")[0]
    assert tip.body == "Prix boutique OVOP :\nyaourt : 550 F CFA/pot, en hausse de 10%"
    assert is_gsm7(tip.body) and sms_segments(tip.body) == 1
    assert run(app, "price-tips", MONDAY_8 + timedelta(days=2)) == 0  # Wednesday: nothing is due
    assert run(app, "price-tips", MONDAY_8 + timedelta(days=7)) == 2  # next week
    assert no_price not in {item.producer_id for item in rows(db, "price_tip")}


def test_price_tips_skip_the_opted_out_and_follow_the_configured_time(app, db):
    app.config["PRICE_TIP_SCHEDULE"] = "thu 18:30"
    keeps, stopped = make_producers(db, 2)
    with db.transaction() as session:
        session.get(Producer, stopped).opted_out = True
    observe(db, "yaourt", 500, date(2026, 12, 1))
    assert run(app, "price-tips", MONDAY_8) == 0
    assert run(app, "price-tips", datetime(2026, 12, 10, 18, 30, tzinfo=UTC)) == 1
    assert [item.producer_id for item in rows(db, "price_tip")] == [keeps]


def test_a_weekly_slot_missed_in_the_evening_waits_for_the_morning(app, db):
    app.config["PRICE_TIP_SCHEDULE"] = "sun 20:00"
    make_producers(db, 1)
    observe(db, "yaourt", 500, date(2026, 12, 1))
    assert run(app, "price-tips", datetime(2026, 12, 6, 21, 30, tzinfo=UTC)) == 1
    assert rows(db, "price_tip")[0].not_before == MONDAY_8 - timedelta(hours=1)


# --- stock reminders --------------------------------------------------------------------------------------

def test_stock_reminders_ask_cooperatives_silent_for_a_week(app, db):
    friday = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    [silent] = make_producers(db, 1, products=("yaourt",))
    [reporting] = make_producers(db, 1, start=20, products=("savon",), cooperative="GIE Jappo", language="wo")
    with db.transaction() as session:
        producer = session.get(Producer, reporting)
        stock.record(session, producer, producer.products[0], 12, friday - timedelta(days=2))
    assert run(app, "stock-reminders", friday - timedelta(minutes=1)) == 0
    assert run(app, "stock-reminders", friday) == 1
    assert run(app, "stock-reminders", friday + timedelta(minutes=5)) == 0
    [reminder] = rows(db, "stock_reminder")
    assert (reminder.dedupe_key, reminder.body) == (f"stock-reminder:2026-W50:producer={silent}",
                                                    "OVOP : pensez à envoyer votre stock, par exemple : yaourt 40")


# --- broadcasts -------------------------------------------------------------------------------------------

@pytest.fixture
def audience(db):
    """Two cooperatives: yaourt makers in French and Wolof, soap makers in English; one opted out."""
    with db.transaction() as session:
        fr = add_producer(session, "+221772000001", language="fr", products=("yaourt",), cooperative="Thiès")
        wo = add_producer(session, "+221772000002", language="wo", channel="whatsapp", products=("yaourt",),
                          cooperative="Thiès")
        en = add_producer(session, "+221772000003", language="en", products=("savon",), cooperative="Louga")
        gone = add_producer(session, "+221772000004", language="fr", products=("yaourt",), cooperative="Thiès")
        gone.opted_out = True
        thies = session.scalar(select(Cooperative.id).where(Cooperative.name == "Thiès"))
        return {"fr": fr.id, "wo": wo.id, "en": en.id, "gone": gone.id, "thies": thies}


TEXT = {"fr": "Marché de Noël samedi à la boutique : venez nombreux !", "wo": "Màrse Noël gaawu ci butig bi.",
        "en": "Christmas market on Saturday at the boutique."}


def test_a_broadcast_is_sent_at_its_time_to_its_audience_in_each_language(app, api, db, audience):
    with clock.frozen_at(CREATED, all_threads=True):
        status, created = api.post("/broadcasts", {"text": TEXT, "send_at": "2026-12-05T10:00:00+00:00"})
    assert (status, created["status"]) == (201, "scheduled")
    with db.transaction() as session:  # the Wolof speaker wrote an hour before: WhatsApp's window is open
        session.get(Producer, audience["wo"]).last_inbound_at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert run(app, "broadcasts", datetime(2026, 12, 5, 9, 59, tzinfo=UTC)) == 0
    assert run(app, "broadcasts", datetime(2026, 12, 5, 10, 0, tzinfo=UTC)) == 3
    assert run(app, "broadcasts", datetime(2026, 12, 5, 10, 5, tzinfo=UTC)) == 0
    sent = {item.producer_id: item for item in rows(db, "broadcast")}
    assert set(sent) == {audience["fr"], audience["wo"], audience["en"]}
    assert sent[audience["fr"]].body == "Marché de Noel samedi à la boutique : venez nombreux !"  # GSM-7 on SMS
    assert (sent[audience["wo"]].channel, sent[audience["wo"]].body) == ("whatsapp", TEXT["wo"])  # every letter
    assert sent[audience["en"]].dedupe_key == f"broadcast:{created['id']}:producer={audience['en']}"
    status, shown = api.get(f"/broadcasts/{created['id']}")
    assert (shown["status"], shown["recipients"]) == ("enqueued", 3)
    assert [item["id"] for item in api.get("/broadcasts")[1]["items"]] == [created["id"]]


@pytest.mark.parametrize("selection, expected", [
    ({"cooperative_id": "thies"}, {"fr", "wo"}),
    ({"product": "savon"}, {"en"}),
    ({"language": "wo"}, {"wo"}),
    ({"product": "yaourt", "language": "fr"}, {"fr"}),
])
def test_a_broadcast_reaches_only_its_audience(app, api, db, audience, selection, expected):
    selection = {key: audience[value] if key == "cooperative_id" else value for key, value in selection.items()}
    with clock.frozen_at(CREATED, all_threads=True):
        assert api.post("/broadcasts", {"text": {"fr": "Bonjour"}, "audience": selection})[0] == 201
    run(app, "broadcasts", CREATED)
    assert {item.producer_id for item in rows(db, "broadcast")} == {audience[name] for name in expected}


def test_whatsapp_outside_the_window_without_a_template_falls_back_to_sms(app, api, db, audience):
    with clock.frozen_at(CREATED, all_threads=True):
        api.post("/broadcasts", {"text": TEXT, "audience": {"language": "wo"}})
    run(app, "broadcasts", CREATED)
    [item] = rows(db, "broadcast")
    assert (item.channel, item.body) == ("sms", "Màrse Noel gaawu ci butig bi.")


def test_a_broadcast_due_at_night_leaves_at_seven(app, api, db, audience):
    with clock.frozen_at(CREATED, all_threads=True):
        api.post("/broadcasts", {"text": TEXT, "send_at": "2026-12-05T23:15:00+00:00"})
    run(app, "broadcasts", datetime(2026, 12, 5, 23, 15, tzinfo=UTC))
    assert {item.not_before for item in rows(db, "broadcast")} == {datetime(2026, 12, 6, 7, 0, tzinfo=UTC)}


def test_the_preview_counts_producers_and_sms_segments_per_language(api, audience):
    long_fr = "Réunion des coopératives " * 10
    status, preview = api.post("/broadcasts/preview", {"text": {"fr": long_fr, "en": "Meeting"}})
    assert status == 200
    assert preview["producers"] == 3
    assert {lang: preview["languages"][lang]["producers"] for lang in ("fr", "wo", "en")} == {"fr": 1, "wo": 1, "en": 1}
    assert preview["languages"]["wo"]["by_channel"] == {"sms": 0, "whatsapp": 1}
    assert preview["languages"]["fr"]["sms_encoding"] == "GSM-7"
    assert preview["languages"]["fr"]["sms_segments"] == 2
    assert preview["languages"]["wo"]["sms_segments"] == 2  # no Wolof text: the French one is sent
    assert preview["languages"]["en"]["sms_segments"] == 1


@pytest.mark.parametrize("body, field", [
    ({"text": {}}, "text"),
    ({"text": {"de": "Hallo"}}, "text.de"),
    ({"text": {"fr": 5}}, "text.fr"),
    ({"text": {"fr": "x" * 1601}}, "text.fr"),
    ({"text": {"fr": "Bonjour"}, "audience": {"cooperative_id": 999}}, "audience.cooperative_id"),
    ({"text": {"fr": "Bonjour"}, "audience": {"product": "caviar"}}, "audience.product"),
    ({"text": {"fr": "Bonjour"}, "audience": {"language": "de"}}, "audience.language"),
    ({"text": {"fr": "Bonjour"}, "audience": {"region": "Thiès"}}, "audience.region"),
    ({"text": {"fr": "Bonjour"}, "send_at": "demain"}, "send_at"),
    ({"text": {"fr": "Bonjour"}, "send_at": "2026-12-05T10:00:00"}, "send_at"),
])
def test_a_bad_broadcast_is_refused_with_422(api, body, field):
    status, answer = api.post("/broadcasts", body)
    assert (status, answer["field"]) == (422, field)
    assert api.post("/broadcasts/preview", body)[0] == 422


def test_an_unknown_broadcast_is_404(api):
    assert api.get("/broadcasts/4242")[0] == 404


# --- quiet hours ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("local, until", [
    ("2026-12-05T20:59", None),
    ("2026-12-05T21:00", "2026-12-06T07:00"),
    ("2026-12-05T23:59", "2026-12-06T07:00"),
    ("2026-12-06T00:00", "2026-12-06T07:00"),
    ("2026-12-06T06:59", "2026-12-06T07:00"),
    ("2026-12-06T07:00", None),
])
def test_quiet_hours_last_from_nine_at_night_to_seven_in_the_morning(local, until):
    moment = datetime.fromisoformat(local).replace(tzinfo=UTC)
    expected = datetime.fromisoformat(until).replace(tzinfo=UTC) if until else None
    assert quiet_until(moment, defaults(BOT_TIMEZONE="Africa/Dakar")) == expected


def test_quiet_hours_are_local_time():
    paris = defaults(BOT_TIMEZONE="Europe/Paris")
    assert quiet_until(datetime(2026, 12, 5, 20, 30, tzinfo=UTC), paris) == datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 12, 5, 20, 30, tzinfo=UTC), defaults(QUIET_HOURS="off")) is None


# --- the worker and the command line ----------------------------------------------------------------------

def test_the_worker_schedules_every_job_under_its_name(app):
    scheduler = build_scheduler(app)
    scheduled = {job.id: job for job in scheduler.get_jobs()}
    expected = {"workshop-reminders", "price-tips", "stock-reminders", "broadcasts", "media-fetch"}
    assert expected <= set(scheduled) <= expected | {"order-followups"}
    assert isinstance(scheduled["workshop-reminders"].trigger, IntervalTrigger)
    assert scheduled["workshop-reminders"].trigger.interval == timedelta(minutes=5)
    assert isinstance(scheduled["price-tips"].trigger, CronTrigger)
    assert str(scheduled["price-tips"].trigger.timezone) == "Africa/Dakar"
    for job in scheduled.values():
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (MISFIRE_GRACE_SECONDS, True, 1)


def test_the_worker_starts_and_stops(app):
    scheduler = start_scheduler(app)
    try:
        assert scheduler.running
    finally:
        scheduler.shutdown(wait=False)


def test_the_order_followups_job_is_listed_when_its_module_exists():
    try:
        import ovop.jobs.order_followups  # noqa: F401
    except ModuleNotFoundError:
        assert "order-followups" not in jobs.registry()
    else:
        assert "order-followups" in jobs.registry()


@pytest.fixture
def cli(app):
    if "jobs" not in app.cli.commands:
        app.cli.add_command(jobs_cli)
    return app.test_cli_runner()


def test_jobs_list_names_every_job(cli):
    result = cli.invoke(args=["jobs", "list"])
    assert result.exit_code == 0
    assert {line.split()[0] for line in result.output.splitlines()} >= {
        "workshop-reminders", "price-tips", "stock-reminders", "broadcasts"}
    assert "mon 08:00" in result.output


def test_jobs_run_at_a_time_enqueues_once_and_the_sender_need_not_wait_for_that_time(cli, db):
    workshop_id = make_workshop(db)
    for producer_id in make_producers(db, 2):
        sign_up(db, workshop_id, producer_id)
    first = cli.invoke(args=["jobs", "run", "workshop-reminders", "--at", "2026-12-07T09:00:00+00:00"])
    assert first.exit_code == 0 and "2 message(s) enqueued" in first.output
    again = cli.invoke(args=["jobs", "run", "workshop-reminders", "--at", "2026-12-07T09:00"])
    assert again.exit_code == 0 and "0 message(s) enqueued" in again.output
    assert all(item.not_before <= clock.now() for item in rows(db))


def test_jobs_run_in_quiet_hours_keeps_the_wait_from_the_real_clock(cli, db):
    workshop_id = make_workshop(db, reminders=[{"days_before": 1, "time": "22:00"}])
    for producer_id in make_producers(db, 1):
        sign_up(db, workshop_id, producer_id)
    real = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    with clock.frozen_at(real):
        result = cli.invoke(args=["jobs", "run", "workshop-reminders", "--at", "2026-12-08T22:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert rows(db)[0].not_before == real + timedelta(hours=9)


@pytest.mark.parametrize("args", [["jobs", "run", "coffee"], ["jobs", "run", "broadcasts", "--at", "tomorrow"]])
def test_jobs_run_refuses_an_unknown_job_or_time(cli, args):
    result = cli.invoke(args=args)
    assert result.exit_code == 2


def test_a_queued_reminder_is_withdrawn_when_the_producer_cancels_before_it_leaves(app, db):
    workshop_id = make_workshop(db)
    stays, leaves = make_producers(db, 2)
    sign_up(db, workshop_id, stays), sign_up(db, workshop_id, leaves)
    run(app, "workshop-reminders", D2)  # both reminders queued, the sender has not run yet
    cancel(app, workshop_id, leaves, D2 + timedelta(minutes=1))
    with db.transaction() as session:
        statuses = dict(session.execute(select(OutboxItem.producer_id, OutboxItem.status)
                                        .where(OutboxItem.kind == "workshop_reminder")).all())
    assert statuses == {stays: "pending", leaves: "cancelled"}
