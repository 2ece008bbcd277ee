"""Stock: the one rule for the current level (ovop.domain.stock), the staff API on it (GET /stock, GET /stock/history,
POST /stock: a staff correction), the overview's correction form, and the low-stock staff alert."""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ovop.core import clock
from ovop.messaging.channels import NO_CHANNEL, UNDELIVERABLE
from ovop.domain import stock
from ovop.models import Cooperative, OutboxItem, Producer, Product, StockReport
from tests.conftest import TOKEN
from tests.helpers import add_producer, inbound_form

pytestmark = pytest.mark.clock  # the stale flag depends on the date: every test sets the clock

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
AWA, BINTA, FATOU = "+221770000101", "+221770000102", "+221770000201"


@pytest.fixture
def now():
    with clock.frozen_at(NOW, all_threads=True):
        yield NOW


@pytest.fixture
def world(db, now) -> dict:
    """Two cooperatives: Takku (yaourt, threshold 10; savon) with Awa and Binta, Jappo (yaourt) with Fatou."""
    with db.transaction() as session:
        awa = add_producer(session, AWA, products=("yaourt", "savon"))
        binta = add_producer(session, BINTA, name="Binta Sarr")
        fatou = add_producer(session, FATOU, name="Fatou Fall", cooperative="GIE Jappo")
        yaourt, savon = (session.scalar(select(Product).where(Product.code == code)) for code in ("yaourt", "savon"))
        return {"takku": awa.cooperative_id, "jappo": fatou.cooperative_id, "awa": awa.id, "binta": binta.id,
                "fatou": fatou.id, "yaourt": yaourt.id, "savon": savon.id}


def report(db, phone: str, code: str, quantity: float, at: datetime) -> int:
    with db.transaction() as session:
        producer = session.scalar(select(Producer).where(Producer.phone == phone))
        product = session.scalar(select(Product).where(Product.code == code))
        return stock.record(session, producer, product, quantity, at).report.id


def undo(db, phone: str, at: datetime) -> None:
    with db.transaction() as session:
        assert stock.undo_last(session, session.scalar(select(Producer).where(Producer.phone == phone)), at)


def level(db, cooperative_id: int, product_id: int) -> float | None:
    with db.transaction() as session:
        found = stock.level(session, cooperative_id, product_id)
        return found.quantity if found else None


# --- the rule: the current level ------------------------------------------------------------------------------

def test_the_level_is_the_latest_line_that_was_neither_undone_nor_an_undo(db, world, now):
    report(db, AWA, "yaourt", 30, now - timedelta(hours=2))
    report(db, BINTA, "yaourt", 5, now - timedelta(minutes=2))
    undo(db, BINTA, now)  # the undo line repeats the 5 it reverts: it is not a level either
    assert level(db, world["takku"], world["yaourt"]) == 30
    with db.transaction() as session:
        every = stock.current(session)
        rows = stock.levels(session, now)
    assert {key: line.quantity for key, line in every.items()} == {(world["takku"], world["yaourt"]): 30}
    assert [(row.cooperative.id, row.product.code, row.report.quantity if row.report else None, row.low, row.stale)
            for row in rows] == [(world["takku"], "yaourt", 30, False, False),
                                 (world["takku"], "savon", None, False, True),
                                 (world["jappo"], "yaourt", None, False, True)]


def test_low_and_stale_are_judged_in_one_place(db, world, now):
    report(db, AWA, "yaourt", 9, now - stock.STALE_AFTER - timedelta(minutes=1))
    with db.transaction() as session:
        [row] = stock.levels(session, now, cooperative_id=world["takku"], product_id=world["yaourt"])
        assert (row.low, row.stale) == (True, True)
        assert stock.is_low(10, row.product) is False
        assert stock.is_stale(row.report, now - timedelta(minutes=2)) is False


def test_the_overview_and_the_api_show_the_level_the_undo_restored(app, api, db, world, now):
    report(db, AWA, "yaourt", 30, now - timedelta(hours=2))
    report(db, AWA, "yaourt", 99, now - timedelta(minutes=1))
    undo(db, AWA, now)
    status, body = api.get(f"/stock?cooperative_id={world['takku']}&product=yaourt")
    assert status == 200 and [item["quantity"] for item in body["items"]] == [30]
    from ovop.web.dashboard import overview as views_overview
    with app.test_request_context(), db.transaction() as session:
        shown = {(row.cooperative.id, row.product.code): row.report for row in views_overview.rows(session, now)}
    assert shown[(world["takku"], "yaourt")].quantity == 30


# --- GET /api/v1/stock ----------------------------------------------------------------------------------------

def test_it_lists_the_current_level_of_every_product_of_every_cooperative(api, db, world, now):
    report(db, AWA, "yaourt", 8, now - timedelta(days=1))  # threshold 10: low
    report(db, FATOU, "yaourt", 40, now - timedelta(days=20))  # stale
    status, body = api.get("/stock")
    assert status == 200 and body["next"] is None
    assert body["items"] == [
        {"cooperative_id": world["takku"], "product": "yaourt", "quantity": 8, "unit": "pot",
         "reported_at": (now - timedelta(days=1)).isoformat(), "producer_id": world["awa"], "source": "message",
         "note": None, "low": True, "stale": False},
        {"cooperative_id": world["takku"], "product": "savon", "quantity": None, "unit": "pot", "reported_at": None,
         "producer_id": None, "source": None, "note": None, "low": False, "stale": True},
        {"cooperative_id": world["jappo"], "product": "yaourt", "quantity": 40, "unit": "pot",
         "reported_at": (now - timedelta(days=20)).isoformat(), "producer_id": world["fatou"], "source": "message",
         "note": None, "low": False, "stale": True},
    ]


@pytest.mark.parametrize("query, expected", [
    ("cooperative_id={takku}", [("takku", "yaourt"), ("takku", "savon")]),
    ("product=yaourt", [("takku", "yaourt"), ("jappo", "yaourt")]),
    ("product=YAOURT&cooperative_id={jappo}", [("jappo", "yaourt")]),
    ("low=true", [("takku", "yaourt")]), ("low=1&stale=0", [("takku", "yaourt")]),
    ("stale=true", [("takku", "savon"), ("jappo", "yaourt")]),
    ("low=false&stale=false", []),
])
def test_it_filters_levels(api, db, world, now, query, expected):
    report(db, AWA, "yaourt", 8, now - timedelta(days=1))
    report(db, FATOU, "yaourt", 40, now - timedelta(days=20))
    status, body = api.get("/stock?" + query.format(**world))
    assert status == 200
    assert [(next(k for k in ("takku", "jappo") if world[k] == item["cooperative_id"]), item["product"])
            for item in body["items"]] == expected


def test_it_pages_levels_with_a_cursor(api, world, now):
    seen, after, pages = [], "", 0
    while True:
        status, body = api.get(f"/stock?limit=2{'&after=' + after if after else ''}")
        assert status == 200 and len(body["items"]) <= 2
        seen += [(item["cooperative_id"], item["product"]) for item in body["items"]]
        pages += 1
        if body["next"] is None:
            break
        after = body["next"]
    assert pages == 2 and seen == [(world["takku"], "yaourt"), (world["takku"], "savon"), (world["jappo"], "yaourt")]


@pytest.mark.parametrize("path, field", [
    ("/stock?limit=0", "limit"), ("/stock?limit=501", "limit"), ("/stock?limit=x", "limit"),
    ("/stock?after=nope", "after"), ("/stock?after=W10", "after"), ("/stock?after=WyJ4IiwxXQ", "after"),
    ("/stock?low=maybe", "low"), ("/stock?stale=2", "stale"), ("/stock?cooperative_id=-1", "cooperative_id"),
    ("/stock?cooperative_id=99999", "cooperative_id"), ("/stock?product=unknown", "product"),
    ("/stock/history?limit=1000", "limit"), ("/stock/history?after=WzEsMl0", "after"),
    ("/stock/history?after=WyJ5ZXN0ZXJkYXkiLDFd", "after"), ("/stock/history?product=nope", "product"),
    ("/stock/history?after=WyIyMDI2LTEyLTAxVDEwOjAwOjAwKzAwOjAwIiw5OTk5OTk5OTk5OTk5XQ", "after"),
])
def test_it_refuses_bad_query_strings_naming_the_field(api, world, path, field):
    status, body = api.get(path)
    assert status == 422 and body["field"] == field and body["error"]


def test_it_refuses_a_query_string_the_database_cannot_store(api, world):
    status, body = api.get("/stock?product=yaourt%00")
    assert status == 422 and body["field"] == "product"


# --- GET /api/v1/stock/history --------------------------------------------------------------------------------

def test_the_history_shows_every_ledger_line_newest_first_with_undone_and_undo_lines(api, db, world, now):
    first = report(db, AWA, "yaourt", 30, now - timedelta(hours=2))
    second = report(db, AWA, "yaourt", 99, now - timedelta(minutes=1))
    undo(db, AWA, now)
    report(db, FATOU, "yaourt", 12, now - timedelta(hours=1))
    status, body = api.get(f"/stock/history?cooperative_id={world['takku']}&product=yaourt")
    assert status == 200 and body["next"] is None
    assert [(line["quantity"], line["source"], line["undone"], line["reverts_id"]) for line in body["items"]] == [
        (99, "undo", False, second), (99, "message", True, None), (30, "message", False, None)]
    assert body["items"][-1] == {"id": first, "cooperative_id": world["takku"], "product": "yaourt", "quantity": 30,
                                 "unit": "pot", "reported_at": (now - timedelta(hours=2)).isoformat(),
                                 "producer_id": world["awa"], "source": "message", "note": None, "reverts_id": None,
                                 "undone": False}
    assert len(api.get("/stock/history")[1]["items"]) == 4


def test_the_history_pages_with_a_cursor_even_between_lines_of_the_same_moment(api, db, world, now):
    for quantity in (1, 2, 3):
        report(db, AWA, "yaourt", quantity, now)
    report(db, AWA, "yaourt", 4, now - timedelta(days=1))
    quantities, after = [], None
    while True:
        status, body = api.get("/stock/history?limit=1" + (f"&after={after}" if after else ""))
        assert status == 200
        quantities += [line["quantity"] for line in body["items"]]
        after = body["next"]
        if after is None:
            break
    assert quantities == [3, 2, 1, 4]


# --- POST /api/v1/stock: a staff correction -----------------------------------------------------------------

def test_a_staff_correction_is_a_ledger_line_from_staff_that_becomes_the_level(api, db, world, now):
    report(db, AWA, "yaourt", 30, now - timedelta(hours=1))
    status, body = api.post("/stock", {"cooperative_id": world["takku"], "product": "yaourt", "quantity": 24.5,
                                       "note": "  inventaire   du samedi "})
    assert status == 201
    assert body == {"id": body["id"], "cooperative_id": world["takku"], "product": "yaourt", "quantity": 24.5,
                    "unit": "pot", "reported_at": now.isoformat(), "producer_id": None, "source": "staff",
                    "note": "inventaire du samedi", "reverts_id": None, "undone": False, "previous": 30,
                    "low": False}
    assert level(db, world["takku"], world["yaourt"]) == 24.5
    [item] = api.get(f"/stock?cooperative_id={world['takku']}&product=yaourt")[1]["items"]
    assert (item["quantity"], item["source"], item["note"], item["producer_id"]) == (24.5, "staff",
                                                                                     "inventaire du samedi", None)
    with db.transaction() as session:
        line = session.get(StockReport, body["id"])
        assert (line.source, line.message_id, line.producer_id) == ("staff", None, None)


def test_a_producer_annuler_does_not_undo_a_staff_correction(api, db, world, now):
    report(db, AWA, "yaourt", 30, now - timedelta(minutes=3))
    assert api.post("/stock", {"cooperative_id": world["takku"], "product": "yaourt", "quantity": 0})[0] == 201
    undo(db, AWA, now)  # Awa's 30 is undone; the staff's 0 stays the level
    assert level(db, world["takku"], world["yaourt"]) == 0
    status, body = api.post("/stock", {"cooperative_id": world["takku"], "product": "savon", "quantity": 3})
    assert status == 201 and body["previous"] is None and body["note"] is None


@pytest.mark.parametrize("fields, field", [
    ({"cooperative_id": ...}, "cooperative_id"), ({"cooperative_id": None}, "cooperative_id"),
    ({"cooperative_id": "1"}, "cooperative_id"), ({"cooperative_id": 99999}, "cooperative_id"),
    ({"cooperative_id": True}, "cooperative_id"), ({"product": ...}, "product"), ({"product": None}, "product"),
    ({"product": 3}, "product"), ({"product": "inconnu"}, "product"),
    ({"product": "savon", "cooperative_id": "jappo"}, "product"),  # Jappo makes no soap and never reported any
    ({"quantity": ...}, "quantity"), ({"quantity": None}, "quantity"), ({"quantity": -1}, "quantity"),
    ({"quantity": 100_001}, "quantity"), ({"quantity": "12"}, "quantity"), ({"quantity": True}, "quantity"),
    ({"quantity": 1e308 * 10}, "quantity"), ({"note": "x" * 501}, "note"), ({"note": 5}, "note"),
    ({"note": "a\x01b"}, "note"), ({"reverts_id": 1}, "reverts_id"),
])
def test_it_refuses_invalid_corrections_naming_the_field(api, db, world, fields, field):
    body = {"cooperative_id": world["takku"], "product": "yaourt", "quantity": 12, **fields}
    body = {name: world["jappo"] if value == "jappo" else value for name, value in body.items() if value is not ...}
    status, answer = api.post("/stock", body)
    assert status == 422 and answer["field"] == field and answer["error"]
    with db.transaction() as session:
        assert session.scalars(select(StockReport)).all() == []


def test_it_answers_400_to_a_correction_that_is_not_a_json_object(client, world):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/v1/stock", data="{", content_type="application/json", headers=headers).status_code == 400
    assert client.post("/api/v1/stock", json=[1], headers=headers).status_code == 400
    assert client.post("/api/v1/stock", json={}, headers={}).status_code == 401
    response = client.post("/api/v1/stock", data="x" * (200 * 1024), content_type="application/json", headers=headers)
    assert response.status_code == 413 and response.is_json


# --- no input makes the stock API fail ---------------------------------------------------------------------

FUZZ = settings(max_examples=int(os.environ.get("STOCK_FUZZ_EXAMPLES") or 60), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=3), max_leaves=8)
NEAR = {"cooperative_id": st.integers(-1, 3) | st.integers(), "product": st.sampled_from(["yaourt", "savon", "", "X"]),
        "quantity": st.integers(-5, 10 ** 20) | st.floats() | st.text(max_size=5),
        "note": st.text(max_size=600)}
BODIES = st.one_of(JSON, st.fixed_dictionaries({}, optional={name: st.one_of(value, JSON)
                                                              for name, value in NEAR.items()}))
QUERY = st.dictionaries(st.sampled_from(["cooperative_id", "product", "low", "stale", "limit", "after", "x"]),
                        st.one_of(st.text(max_size=30), st.integers(-3, 600).map(str),
                                  st.sampled_from(["true", "false", "yaourt", "W10", "WzEsMl0"])), max_size=5)


@FUZZ
@given(body=BODIES)
def test_no_correction_body_makes_a_server_error(client, world, body):
    response = client.post("/api/v1/stock", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code in (201, 400, 422), (body, response.status_code, response.get_data(as_text=True))
    assert response.is_json and ("error" in response.get_json() or "id" in response.get_json())


@FUZZ
@given(query=QUERY, history=st.booleans())
def test_no_query_string_makes_a_server_error(client, world, query, history):
    response = client.get("/api/v1/stock" + ("/history" if history else ""), query_string=query,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code in (200, 422), (query, response.status_code, response.get_data(as_text=True))
    assert response.is_json


# --- the low-stock staff alert --------------------------------------------------------------------------------

def say(app, phone: str, text: str, sid: str) -> int:
    return app.test_client().post("/twilio/inbound", data=inbound_form(phone, text, sid)).status_code


def test_the_low_stock_alert_goes_the_way_of_every_staff_alert(app, db, world):
    app.config["STAFF_PHONES"] = ["+221770009999"]
    assert say(app, AWA, "yaourt 4", "SM" + "1" * 32) == 200  # threshold 10
    with db.transaction() as session:
        [row] = session.scalars(select(OutboxItem).where(OutboxItem.kind == "staff_low_stock")).all()
        line = session.scalar(select(StockReport))
        assert (row.recipient, row.channel, row.status, row.dedupe_key) == (
            "+221770009999", "sms", "pending", f"low-stock:report={line.id}:to=+221770009999")
        assert row.body == "OVOP stock bas : GIE Takku Liggéey, yaourt 4 pot."
        assert row.about_producer_id == world["awa"]  # so that erasing Awa rewrites it, like an order answer's


def test_without_an_sms_sender_the_low_stock_alert_is_kept_undeliverable_like_the_order_alerts(app, db, world):
    app.config.update(STAFF_PHONES=["+221770009999"], OUTBOUND_BACKEND="twilio", TWILIO_ACCOUNT_SID="AC1",
                      TWILIO_WHATSAPP_FROM="+14155238886", TWILIO_SMS_FROM=None)
    assert say(app, AWA, "yaourt 4", "SM" + "2" * 32) == 200
    with db.transaction() as session:
        [row] = session.scalars(select(OutboxItem).where(OutboxItem.kind == "staff_low_stock")).all()
        assert (row.status, row.last_error) == (UNDELIVERABLE, NO_CHANNEL)


# --- the overview's correction form ---------------------------------------------------------------------------

@pytest.fixture
def staff(app, world):
    from tests.test_dashboard import Staff, with_dashboard
    signed = Staff(with_dashboard(app).test_client())
    assert signed.login().status_code == 302
    return signed


def test_the_overview_corrects_a_level_with_a_note(staff, db, world, now):
    report(db, AWA, "yaourt", 30, now - timedelta(hours=1))
    page = staff.get(f"/overview?cooperative_id={world['takku']}&product=yaourt").text
    assert 'id="correct" open' in page and 'name="csrf_token"' in page
    response = staff.post("/overview/stock", {"cooperative_id": str(world["takku"]), "product": "yaourt",
                                              "quantity": "12,5", "note": "casse"})
    assert response.status_code == 302 and response.headers["Location"] == "/overview"
    page = staff.get("/overview").text
    assert "Stock corrigé : GIE Takku Liggéey, yaourt 12.5 pot." in page
    assert re.search(r"<strong>12.5</strong> pot", page)
    with db.transaction() as session:
        line = session.scalars(select(StockReport).order_by(StockReport.id.desc())).first()
        assert (line.quantity, line.source, line.note, line.producer_id) == (12.5, "staff", "casse", None)


@pytest.mark.parametrize("fields, message", [
    ({"quantity": "-3"}, "Quantité : doit être au moins 0"),
    ({"quantity": "100001"}, "Quantité : doit être au plus 100000"),
    ({"quantity": "beaucoup"}, "Quantité : doit être un nombre"),
    ({"product": "inconnu"}, "Produit : code produit inconnu : inconnu"),
    ({"cooperative_id": "99999"}, "Coopérative : pas de coopérative n° 99999"),
])
def test_the_overview_refuses_a_wrong_correction_next_to_the_form(staff, db, world, fields, message):
    data = {"cooperative_id": str(world["takku"]), "product": "yaourt", "quantity": "5", **fields}
    response = staff.post("/overview/stock", data)
    assert response.status_code == 422 and message in response.text and 'id="correct" open' in response.text
    with db.transaction() as session:
        assert session.scalars(select(StockReport)).all() == []


def test_the_overview_correction_needs_its_csrf_token(staff, db, world):
    response = staff.post("/overview/stock", {"cooperative_id": str(world["takku"]), "product": "yaourt",
                                              "quantity": "5"}, token=False)
    assert response.status_code == 400 and "CSRF" in response.text
    with db.transaction() as session:
        assert session.scalars(select(StockReport)).all() == []
        assert session.scalar(select(Cooperative.name).where(Cooperative.id == world["takku"]))
