"""The staff dashboard through Flask's test client: sign-in, CSRF, the failed-login limit, every page with the
demo data, forms that create and refuse, the CSV import report (bad files included) and the CSV export."""
from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from ovop.core.config import defaults
from ovop.domain import csv_import
from ovop.web.dashboard import ui_text
from ovop.web.dashboard import auth
from ovop.web.dashboard.charts import Series, line_chart
from app import create_app
from ovop.core import clock
from ovop.core.errors import REASONS, Invalid
from ovop.domain import orders, stock
from ovop.models import (Broadcast, Message, Order, OutboxItem, PriceObservation, Producer, Product, Registration, StockReport, Workshop)
from tests.conftest import app_config

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

PASSWORD = "test-password"
AWA = "+221770000101"  # demo: Awa Ndiaye, GIE Takku Liggéey (yaourt), Wolof, WhatsApp
MARIAMA = "+221760000103"  # demo: Mariama Diallo, Ziguinchor, French, SMS
NEXT_WEEK = (orders.local_today(defaults()) + timedelta(days=7)).isoformat()


def with_dashboard(app):
    """The app with the dashboard blueprint, whether or not app.py registers it yet."""
    from ovop.web.dashboard import bp
    if "dashboard" not in app.blueprints:
        app.register_blueprint(bp)
    return app


class Staff:
    """A browser as the tests drive it: signs in, posts forms with the session's CSRF token."""

    def __init__(self, client):
        self.client = client

    def token(self) -> str:
        self.client.get("/")  # the login page makes the session's token
        with self.client.session_transaction() as session:
            return session["csrf"]

    def login(self, password=PASSWORD, user="admin", **extra):
        return self.client.post("/", data={"username": user, "password": password, "csrf_token": self.token(),
                                           **extra})

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, data=None, *, token=True, **kwargs):
        data = dict(data or {})
        if token:
            data["csrf_token"] = self.token()
        return self.client.post(path, data=data, **kwargs)

    def post_json(self, path, body):
        return self.client.post(path, json=body, headers={"X-CSRF-Token": self.token(), "Accept": "application/json"})


@pytest.fixture
def dash(demo):
    return with_dashboard(demo)


@pytest.fixture
def staff(dash) -> Staff:
    signed = Staff(dash.test_client())
    assert signed.login().status_code == 302
    return signed


@pytest.fixture
def visitor(dash) -> Staff:
    return Staff(dash.test_client())


def rows(db, model, *where):
    with db.transaction() as session:
        return list(session.scalars(select(model).where(*where)))


def product_codes(db, phone) -> list[str]:
    with db.transaction() as session:
        return sorted(p.code for p in session.scalar(select(Producer).where(Producer.phone == phone)).products)


# --- signing in ---------------------------------------------------------------------------------------------

def test_the_login_page_is_at_root_with_a_secure_session_cookie(visitor):
    response = visitor.get("/")
    assert response.status_code == 200
    assert 'name="password"' in response.text and 'name="csrf_token"' in response.text
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_cookie_is_secure_when_the_public_url_is_https(database_url):
    app = with_dashboard(create_app(app_config(database_url, PUBLIC_BASE_URL="https://ovop.example")))
    try:
        assert "Secure" in app.test_client().get("/").headers["Set-Cookie"]
    finally:
        app.extensions["ovop"].db.dispose()


@pytest.mark.parametrize("path", ["/overview", "/orders", "/workshops", "/workshops/1", "/prices", "/producers",
                                  "/producers/new", "/producers/import", "/messages", "/broadcasts", "/simulator",
                                  "/workshops/1/attendees.csv", "/simulator/thread?phone=%2B221770000101"])
def test_every_page_needs_a_signed_in_user(visitor, path):
    response = visitor.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/?next=")


def test_it_signs_in_and_returns_to_the_page_asked_for(visitor):
    response = visitor.login(next="/simulator?phone=%2B221770000101")
    assert response.status_code == 302 and response.headers["Location"] == "/simulator?phone=%2B221770000101"
    assert visitor.get("/overview").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_it_never_sends_a_signed_in_user_off_site(visitor, target):
    response = visitor.login(next=target)
    assert response.headers["Location"] == "/overview"


@pytest.mark.parametrize("user, password", [("admin", "wrong"), ("root", PASSWORD), ("admin", ""),
                                            ("admin", PASSWORD + " ")])
def test_a_wrong_user_or_password_is_refused(visitor, user, password):
    response = visitor.login(password=password, user=user)
    assert response.status_code == 401
    assert ui_text.FR["login.wrong"].replace("'", "&#39;") in response.text
    assert visitor.get("/overview").status_code == 302


def test_the_password_is_never_logged(visitor, caplog):
    caplog.set_level(logging.DEBUG)
    visitor.login(password="a-guess-to-hide")
    visitor.login()
    assert "a-guess-to-hide" not in caplog.text and PASSWORD not in caplog.text


def test_after_a_few_failed_logins_the_account_waits_a_moment_and_then_may_try_again(visitor):
    start = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
    with clock.frozen_at(start):
        for _ in range(auth.FREE_FAILURES["account"] + 1):
            assert visitor.login(password="wrong").status_code == 401
        refused = visitor.login()  # even the right password, while the account waits
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert visitor.get("/overview").status_code == 302
    with clock.frozen_at(start + timedelta(seconds=1)):
        assert visitor.login().status_code == 302


def test_the_wait_doubles_with_each_failure_up_to_a_minute():
    free = auth.FREE_FAILURES["account"]
    assert [auth.delay_after(n, free) for n in range(1, free + 9)] == [0] * free + [1, 2, 4, 8, 16, 32, 60, 60]
    assert auth.delay_after(10_000, free) == auth.MAX_DELAY


def test_signing_out_ends_the_session(staff):
    assert staff.post("/logout").status_code == 302
    assert staff.get("/overview").status_code == 302


# --- CSRF ---------------------------------------------------------------------------------------------------

POSTS = [("/", {"username": "admin", "password": PASSWORD}), ("/logout", {}),
         ("/orders", {"cooperative_id": "1", "product": "yaourt", "quantity": "5", "due_date": NEXT_WEEK}),
         ("/workshops", {"title_fr": "X", "starts_at": "2099-01-01T10:00", "location": "Dakar", "capacity": "3"}),
         ("/prices", {"product": "yaourt", "price": "600"}),
         ("/producers/new", {"phone": "771112233", "language": "fr", "channel": "sms"}),
         ("/broadcasts", {"text_fr": "Bonjour", "when": "now"}),
         ("/simulator", {"phone": AWA, "channel": "whatsapp", "body": "MENU"})]


@pytest.mark.parametrize("path, data", POSTS, ids=[path for path, _ in POSTS])
@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_a_form_without_its_csrf_token_is_refused(staff, db, path, data, token):
    if token is not None:
        data = {**data, "csrf_token": token}
    before = {model: len(rows(db, model)) for model in (Order, Workshop, PriceObservation, Producer, Broadcast,
                                                        Message)}
    response = staff.post(path, data, token=False)
    assert response.status_code == 400
    assert "CSRF" in response.text
    assert {model: len(rows(db, model)) for model in before} == before
    assert staff.get("/overview").status_code == 200  # still signed in: the logout was refused too


def test_a_token_from_another_session_is_refused(dash, staff):
    stranger = Staff(dash.test_client())
    response = staff.post("/prices", {"product": "yaourt", "price": "600", "csrf_token": stranger.token()},
                          token=False)
    assert response.status_code == 400


def test_json_calls_need_the_csrf_header(staff):
    response = staff.client.post("/broadcasts/preview", json={"text": {"fr": "x"}})
    assert response.status_code == 400 and "error" in response.get_json()


# --- every page with the demo data --------------------------------------------------------------------------

PAGES = [("/overview", "GIE Takku Liggéey"), ("/orders", "Nouvelle commande"), ("/workshops", "Vendre en boutique"),
         ("/prices", "yaourt"), ("/producers", "Awa Ndiaye"), ("/producers/new", "Téléphone"),
         ("/producers/import", "phone, name"), ("/messages", "Messages"), ("/broadcasts", "Destinataires"),
         ("/simulator", "Awa Ndiaye"), ("/simulator?phone=%2B221770000101", "Awa Ndiaye")]


@pytest.mark.parametrize("path, expected", PAGES)
def test_each_page_renders_with_the_demo_data(staff, path, expected):
    response = staff.get(path)
    assert response.status_code == 200
    assert expected in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_of_one_workshop_and_one_producer_render(staff, db):
    workshop = rows(db, Workshop)[0]
    producer = rows(db, Producer, Producer.phone == AWA)[0]
    assert staff.get(f"/workshops/{workshop.id}").status_code == 200
    assert "Awa Ndiaye" in staff.get(f"/producers/{producer.id}").text
    assert staff.get("/workshops/99999").status_code == 404
    assert staff.get("/producers/99999").status_code == 404


def test_the_interface_switches_to_english_and_back(staff):
    response = staff.get("/lang/en?next=/orders")
    assert response.status_code == 302 and response.headers["Location"] == "/orders"
    assert "New order" in staff.get("/orders").text
    staff.get("/lang/fr?next=/orders")
    assert "Nouvelle commande" in staff.get("/orders").text


def test_the_english_and_french_tables_have_the_same_keys_and_the_code_uses_known_ones():
    assert set(ui_text.FR) == set(ui_text.EN)
    prefixes = {key.split(".")[0] for key in ui_text.FR}
    used = set()
    for path in Path(__file__).resolve().parent.parent.joinpath("ovop", "web").rglob("*"):
        if path.suffix in (".html", ".py", ".js") and path.name != "ui_text.py":
            literals = re.findall(r"""["']([a-z_]+(?:\.[a-z_]+)+)["']""", path.read_text(encoding="utf-8"))
            used |= {key for key in literals if key.split(".")[0] in prefixes
                     and key.rsplit(".", 1)[-1] not in ("html", "csv", "py")}
    assert len(used) > 150
    assert used - set(ui_text.FR) == set()


def test_a_refusal_reads_in_the_staff_language_from_its_code():
    assert ui_text.refusal("fr", Invalid("quantity", "not_a_number")) == "Quantité : doit être un nombre"
    assert ui_text.refusal("en", Invalid("quantity", "not_a_number")) == "Quantity: must be a number"
    assert ui_text.refusal("fr", Invalid("name", "too_long", max=120)) == "Nom : 120 caractères au plus"
    assert ui_text.refusal("fr", Invalid("odd", "something_new")) == "odd : valeur refusée"


def test_every_refusal_code_has_a_text_in_each_language():
    for lang in ui_text.LANGUAGES:
        assert set(ui_text.REFUSALS[lang]) == set(REASONS), lang


# --- overview -----------------------------------------------------------------------------------------------

def test_the_overview_shows_levels_low_and_stale_flags_and_a_chart(staff, db):
    now = clock.now()
    with db.transaction() as session:
        awa = session.scalar(select(Producer).where(Producer.phone == AWA))
        yaourt = session.scalar(select(Product).where(Product.code == "yaourt"))
        stock.record(session, awa, yaourt, 40, now - timedelta(days=20))
        stock.record(session, awa, yaourt, 5, now - timedelta(days=15))  # threshold 20: low, and 15 days old
        mariama = session.scalar(select(Producer).where(Producer.phone == MARIAMA))
        oil = session.scalar(select(Product).where(Product.code == "huile_palme"))
        stock.record(session, mariama, oil, 30, now - timedelta(hours=2))
        stock.record(session, mariama, oil, 99, now - timedelta(minutes=2))
        stock.undo_last(session, mariama, now)  # the 99 is undone: the level is 30 again
        assert stock.level(session, mariama.cooperative_id, oil.id).quantity == 30
    page = staff.get("/overview").text
    takku = page[page.index("GIE Takku Liggéey"):]
    assert re.search(r"<strong>5</strong> pot", takku) and "bas (&lt; 20)" in takku and "ancien" in takku
    ziguinchor = page[page.index("Groupement des femmes de Ziguinchor"):]
    assert re.search(r"<strong>30</strong> litre", ziguinchor) and "99" not in ziguinchor.split("</tr>")[0]
    assert page.count('<svg class="chart"') == 2
    attention = staff.get("/overview?attention=1").text
    assert "GIE Takku Liggéey" in attention and "<strong>30</strong>" not in attention


# --- orders -------------------------------------------------------------------------------------------------

def _takku(db) -> int:
    with db.transaction() as session:
        return session.scalar(select(Producer.cooperative_id).where(Producer.phone == AWA))


def test_creating_an_order_alerts_the_cooperative_and_lists_it(staff, db):
    response = staff.post("/orders", {"cooperative_id": _takku(db), "product": "yaourt", "quantity": "30,5",
                                      "due_date": NEXT_WEEK, "note": "pour samedi"})
    assert response.status_code == 302
    [order] = rows(db, Order)
    assert (order.reference, order.quantity, order.status) == ("CMD-0001", 30.5, "pending")
    assert [item.recipient for item in rows(db, OutboxItem, OutboxItem.kind == "order_alert")] == [AWA]
    page = staff.get("/orders").text
    assert "Commande CMD-0001 créée ; producteurs alertés : 1." in page
    assert "CMD-0001" in page and "pour samedi" in page and "en attente" in page


@pytest.mark.parametrize("changes, message", [
    ({"quantity": "beaucoup"}, "Quantité : doit être un nombre"),
    ({"quantity": ""}, "Quantité : obligatoire"),
    ({"due_date": "2001-01-01"}, "Échéance : est dans le passé"),
    ({"product": "savon"}, "ne fabrique pas"),
    ({"cooperative_id": "abc"}, "Coopérative"),
    ({"cooperative_id": "99999999999"}, "Coopérative"),
])
def test_a_bad_order_is_refused_next_to_the_form(staff, db, changes, message):
    data = {"cooperative_id": _takku(db), "product": "yaourt", "quantity": "30", "due_date": NEXT_WEEK, **changes}
    response = staff.post("/orders", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert rows(db, Order) == []


def test_orders_are_cancelled_and_delivered_only_when_their_status_allows(staff, db, dash):
    staff.post("/orders", {"cooperative_id": _takku(db), "product": "yaourt", "quantity": "10", "due_date": NEXT_WEEK})
    [order] = rows(db, Order)
    response = staff.post(f"/orders/{order.id}/delivered")  # pending: cannot be delivered yet
    assert response.status_code == 302 and rows(db, Order)[0].status == "pending"
    assert "action impossible" in staff.get("/orders").text
    with db.transaction() as session:
        orders.accept(session, dash.config, session.get(Order, order.id),
                      session.scalar(select(Producer).where(Producer.phone == AWA)))
    staff.post(f"/orders/{order.id}/delivered")
    assert rows(db, Order)[0].status == "delivered"
    assert staff.post("/orders/99999/cancel").status_code == 302


def test_cancelling_an_order_tells_the_producers(staff, db):
    staff.post("/orders", {"cooperative_id": _takku(db), "product": "yaourt", "quantity": "10", "due_date": NEXT_WEEK})
    [order] = rows(db, Order)
    staff.post(f"/orders/{order.id}/cancel")
    assert rows(db, Order)[0].status == "cancelled"
    assert [item.kind for item in rows(db, OutboxItem)] == ["order_alert", "order_cancelled"]


# --- the simulator ------------------------------------------------------------------------------------------

def test_the_simulator_talks_through_the_webhook_path_and_shows_the_replies(staff, db):
    response = staff.post("/simulator", {"phone": "77 000 01 01", "channel": "whatsapp", "body": "yaourt 40"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/simulator?phone=%2B221770000101")
    inbound = rows(db, Message, Message.direction == "in")
    assert len(inbound) == 1 and inbound[0].provider_sid.startswith("SIM") and inbound[0].body == "yaourt 40"
    assert len(rows(db, StockReport)) == 1
    thread = staff.get("/simulator/thread?phone=%2B221770000101&channel=whatsapp").text
    assert "yaourt 40" in thread and "soow 40 pot" in thread


def test_an_order_alert_reaches_the_simulated_phone_and_its_answer_accepts_the_order(staff, db):
    staff.post("/orders", {"cooperative_id": _takku(db), "product": "yaourt", "quantity": "30", "due_date": NEXT_WEEK})
    thread = staff.get(f"/simulator?phone={AWA}").text
    assert "CMD-0001" in thread and "Alerte commande" in thread and "en attente d&#39;envoi" in thread
    assert re.search(r"1 SMS GSM-7", thread)  # no WhatsApp window yet: the alert goes by SMS, one segment
    staff.post("/simulator", {"phone": AWA, "channel": "whatsapp", "body": "oui"})
    assert rows(db, Order)[0].status == "accepted"
    assert "acceptée" in staff.get("/orders").text


def test_an_unknown_number_gets_the_join_message_and_a_bad_number_is_refused(staff, db):
    staff.post("/simulator", {"phone": "+221 77 999 99 99", "channel": "sms", "body": "bonjour"})
    assert "OVOP" in staff.get("/simulator/thread?phone=%2B221779999999").text
    assert staff.get("/simulator?phone=12").status_code == 422
    assert staff.post("/simulator", {"phone": "12", "body": "x"}).status_code == 302
    assert len(rows(db, Message, Message.phone == "12")) == 0


# --- workshops ----------------------------------------------------------------------------------------------

def _workshop_form(**changes) -> dict:
    # Sooner than every demo workshop, so it is number 1 in the list the bot sends.
    start = (clock.now() + timedelta(days=3)).strftime("%Y-%m-%dT10:00")
    return {"title_fr": "Marketing digital", "title_en": "Digital marketing", "starts_at": start,
            "location": "Boutique OVOP", "capacity": "1", **changes}


def test_workshops_are_created_in_local_time_and_edited(staff, db):
    response = staff.post("/workshops", _workshop_form())
    assert response.status_code == 302
    [item] = rows(db, Workshop, Workshop.title_fr == "Marketing digital")
    assert item.starts_at.hour == 10 and item.title_en == "Digital marketing"  # Dakar is UTC+0
    edited = staff.post(f"/workshops/{item.id}", _workshop_form(title_fr="Marketing en ligne", capacity="4"))
    assert edited.status_code == 302
    assert rows(db, Workshop, Workshop.id == item.id)[0].title_fr == "Marketing en ligne"


@pytest.mark.parametrize("changes, message", [({"capacity": "0"}, "Places"), ({"title_fr": ""}, "Titre"),
                                              ({"starts_at": "2001-01-01T10:00"}, "futur"),
                                              ({"starts_at": "demain"}, "Début")])
def test_a_bad_workshop_is_refused(staff, db, changes, message):
    before = len(rows(db, Workshop))
    response = staff.post("/workshops", _workshop_form(**changes))
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert len(rows(db, Workshop)) == before


def test_registrations_waitlist_attendance_and_a_larger_capacity(staff, db):
    staff.post("/workshops", _workshop_form())
    [item] = rows(db, Workshop, Workshop.title_fr == "Marketing digital")
    for phone in (AWA, MARIAMA):  # capacity 1: Awa gets the seat, Mariama waits
        staff.post("/simulator", {"phone": phone, "channel": "sms", "body": "atelier"})
        staff.post("/simulator", {"phone": phone, "channel": "sms", "body": "1"})
    page = staff.get(f"/workshops/{item.id}").text
    assert "Awa Ndiaye" in page and "Mariama Diallo" in page and "liste d&#39;attente" in page and "#1" in page
    assert staff.post(f"/workshops/{item.id}", _workshop_form(capacity="0")).status_code == 422
    staff.post(f"/workshops/{item.id}", _workshop_form(capacity="2"))
    assert {r.status for r in rows(db, Registration, Registration.workshop_id == item.id)} == {"registered"}
    awa = rows(db, Producer, Producer.phone == AWA)[0]
    staff.post(f"/workshops/{item.id}/attendance", {"producer_id": awa.id, "attended": "1"})
    assert rows(db, Registration, Registration.producer_id == awa.id)[0].status == "attended"
    assert staff.post(f"/workshops/{item.id}/attendance", {"producer_id": "x"}).status_code == 404


def test_the_attendees_export_is_a_spreadsheet_safe_csv(staff, db):
    staff.post("/workshops", _workshop_form(capacity="5"))
    [item] = rows(db, Workshop, Workshop.title_fr == "Marketing digital")
    with db.transaction() as session:
        awa = session.scalar(select(Producer).where(Producer.phone == AWA))
        awa.name = "=HYPERLINK(\"http://evil\")"
    for phone in (AWA, MARIAMA):
        staff.post("/simulator", {"phone": phone, "channel": "sms", "body": "atelier"})
        staff.post("/simulator", {"phone": phone, "channel": "sms", "body": "1"})
    staff.post("/simulator", {"phone": MARIAMA, "channel": "sms", "body": "annuler atelier"})
    response = staff.get(f"/workshops/{item.id}/attendees.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeffNom,Téléphone,Coopérative,Langue,Statut,Inscrit le,Présent")
    lines = body.strip().splitlines()
    assert len(lines) == 2  # Mariama cancelled: only Awa holds a seat
    assert lines[1].startswith("\"'=HYPERLINK(\"\"http://evil\"\")\",+221770000101,GIE Takku Liggéey,wo,registered,")


# --- prices -------------------------------------------------------------------------------------------------

def test_a_price_is_recorded_and_drawn(staff, db):
    response = staff.post("/prices", {"product": "yaourt", "price": "550", "observed_on": ""})
    assert response.status_code == 302 and response.headers["Location"].endswith("product=yaourt")
    page = staff.get("/prices?product=yaourt").text
    assert "hausse 10" in page and '<svg class="chart"' in page
    assert len(rows(db, PriceObservation)) == 9


@pytest.mark.parametrize("price", ["12.5", "", "-3", "abc", "99999999999"])
def test_a_bad_price_is_refused(staff, db, price):
    assert staff.post("/prices", {"product": "yaourt", "price": price}).status_code == 422
    assert len(rows(db, PriceObservation)) == 8


# --- producers ----------------------------------------------------------------------------------------------

def test_a_producer_is_added_found_edited_and_a_duplicate_refused(staff, db):
    form = {"phone": "77 555 44 33", "name": "Khady Sow", "cooperative_id": _takku(db), "language": "fr",
            "channel": "sms"}
    assert staff.post("/producers/new", form).status_code == 302
    [khady] = rows(db, Producer, Producer.name == "Khady Sow")
    assert khady.phone == "+221775554433" and product_codes(db, khady.phone) == ["yaourt"]
    duplicate = staff.post("/producers/new", {**form, "name": "Autre", "phone": "+221775554433"})
    assert duplicate.status_code == 409 and "un autre producteur a déjà le numéro" in duplicate.text
    assert "Khady Sow" in staff.get("/producers?q=554433").text
    assert "Khady Sow" not in staff.get("/producers?q=Awa").text
    staff.post(f"/producers/{khady.id}", {**form, "name": "Khady Sow Diop", "products": ["savon", "yaourt"]})
    [edited] = rows(db, Producer, Producer.id == khady.id)
    assert edited.name == "Khady Sow Diop" and product_codes(db, edited.phone) == ["savon", "yaourt"]
    assert staff.post(f"/producers/{khady.id}", {**form, "phone": "12"}).status_code == 422


def test_the_producer_list_shows_the_opt_out_state_and_last_message(staff, db):
    staff.post("/simulator", {"phone": MARIAMA, "channel": "sms", "body": "STOP"})
    page = staff.get("/producers").text
    mariama = page[page.index("Mariama Diallo"):].split("</tr>")[0]
    assert "désabonné" in mariama and "→" in mariama  # the last message is the bot's confirmation
    assert staff.get("/producers?cooperative_id=abc").status_code == 422


# --- CSV import ---------------------------------------------------------------------------------------------

def upload(staff, content: bytes, filename="producers.csv"):
    """The import form posted without JavaScript: the file becomes an import job and the answer a redirect to its
    page, which imports a file this small in one load and shows the report."""
    data = {"csrf_token": staff.token(), "file": (io.BytesIO(content), filename)}
    return staff.client.post("/producers/import", data=data, content_type="multipart/form-data",
                             follow_redirects=True)


GOOD_AND_BAD = (
    "phone,name,cooperative,language,channel,products\n"
    "77 123 45 67,Awa Diop,GIE Takku Liggéey,wo,whatsapp,yaourt\n"
    "12,Mauvais Numéro,GIE Takku Liggéey,fr,sms,\n"
    "76 555 44 33,Inconnue,Coopérative qui n'existe pas,fr,sms,\n"
    "+221 77 000 01 01,Doublon Awa,,fr,sms,\n"
    "77 123 45 67,Doublon dans le fichier,,fr,sms,\n"
    "78 111 22 33,Langue,,klingon,sms,\n"
    "70 111 22 33,Trop,de,valeurs,ici,x,y\n"
    "\n"
    "70 222 33 44,Sans coopérative,,,,\n")


def test_the_import_reports_every_row(staff, db):
    response = upload(staff, GOOD_AND_BAD.encode())
    assert response.status_code == 200
    report = [(int(line), kind) for kind, line in
              re.findall(r'data-kind="(\w+)"><td data-label="Ligne">(\d+)', response.text)]
    assert report == [(2, "created"), (3, "bad_phone"), (4, "unknown_cooperative"), (5, "duplicate"),
                      (6, "duplicate"), (7, "invalid"), (8, "too_many_values"), (10, "created")]
    assert "Ajoutés : 2 · Refusés : 6 · Lignes : 8" in response.text
    created = rows(db, Producer, Producer.phone.in_(["+221771234567", "+221702223344"]))
    assert sorted(p.name for p in created) == ["Awa Diop", "Sans coopérative"]
    assert product_codes(db, "+221771234567") == ["yaourt"]


def test_the_import_understands_french_headers_semicolons_and_windows_encoding(staff, db):
    content = "Téléphone;Nom;Coopérative;Langue;Canal;Produits;Remarque\r\n77 987 65 43;Ndèye Fall;gie takku liggeey;wolof;SMS;yaourt;x\r\n"
    response = upload(staff, content.encode("cp1252"))
    assert response.status_code == 200 and "Colonnes ignorées : Remarque" in response.text
    [ndeye] = rows(db, Producer, Producer.phone == "+221779876543")
    assert (ndeye.name, ndeye.language, ndeye.channel) == ("Ndèye Fall", "wo", "sms")


@pytest.mark.parametrize("content, message", [
    (b"", "Le fichier est vide."),
    (b"   \n\n", "Le fichier est vide."),
    (b"phone,name\n", "aucune ligne de producteur"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "pas un fichier texte CSV"),
    (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "classeur Excel"),
    (b"nom,ville\nAwa,Thies\n", "il faut une colonne"),
    (b"phone,telephone\n771234567,771234567\n", "apparaît deux fois"),
    (b"phone\n\"" + b"7" * 200_000 + b"\"\n", "CSV illisible"),
    ("phone\n771234567\n".encode("utf-16"), None),
    (b"phone\n" + b"771234567\n" * (csv_import.MAX_ROWS + 1), "Trop de lignes"),
], ids=["empty", "blank", "header-only", "png", "xlsx", "wrong-columns", "repeated", "huge-field", "utf16",
        "too-many-rows"])
def test_a_bad_file_is_reported_never_a_500(staff, db, content, message):
    response = upload(staff, content)
    if message is None:
        assert response.status_code == 200 and rows(db, Producer, Producer.phone == "+221771234567")
        return
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).replace("&#39;", "'")


def test_a_file_above_the_size_limit_is_refused_with_413(staff):
    response = upload(staff, b"phone\n" + b"7" * (6 * 1024 * 1024))
    assert response.status_code == 413 and "Fichier trop gros" in response.text
    assert staff.post("/producers/import", {}).status_code == 422  # no file at all
    assert staff.post("/orders", {"note": "x" * (2 * 1024 * 1024)}).status_code == 413


def test_the_chunked_import_reads_then_imports_in_chunks(staff, db):
    lines = "".join(f"77 300 {n // 100:02d} {n % 100:02d},P{n}\n" for n in range(250))
    checked = staff.client.post("/producers/import/check", data={"file": (io.BytesIO(("phone,name\n" + lines).encode()),
                                                                           "p.csv")},
                                content_type="multipart/form-data", headers={"X-CSRF-Token": staff.token(),
                                                                             "Accept": "application/json"})
    assert checked.status_code == 200
    answer = checked.get_json()
    assert answer["total"] == 250 and answer["chunk"] == csv_import.CHUNK
    created = 0
    for start in range(0, 250, answer["chunk"]):
        chunk = staff.post_json("/producers/import/rows", {"rows": answer["rows"][start:start + answer["chunk"]]})
        assert chunk.status_code == 200
        created += sum(report["ok"] for report in chunk.get_json()["reports"])
    assert created == 250
    assert staff.post_json("/producers/import/rows", {"rows": answer["rows"][:csv_import.CHUNK + 1]}).status_code == 400
    assert staff.post_json("/producers/import/rows", {"rows": "nope"}).status_code == 400
    assert staff.post_json("/producers/import/rows", [1, 2]).status_code == 400
    bad = staff.client.post("/producers/import/check", data={"file": (io.BytesIO(b""), "e.csv")},
                            content_type="multipart/form-data", headers={"X-CSRF-Token": staff.token(),
                                                                         "Accept": "application/json"})
    assert bad.status_code == 422 and bad.get_json()["error"] == "Le fichier est vide."


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=3000), st.text(max_size=2000).map(lambda t: ("phone,name\n" + t).encode())))
def test_reading_any_bytes_gives_rows_or_a_file_problem(content):
    try:
        parsed = csv_import.read(content)
    except csv_import.FileProblem as trouble:
        assert trouble.key in ui_text.FR
    else:
        assert parsed.rows and all(isinstance(row["line"], int) for row in parsed.rows)


# --- messages -----------------------------------------------------------------------------------------------

def test_the_message_log_filters_and_never_fails_on_a_bad_filter(staff, db):
    staff.post("/simulator", {"phone": AWA, "channel": "whatsapp", "body": "MENU"})
    staff.post("/simulator", {"phone": MARIAMA, "channel": "sms", "body": "aide"})
    everything = staff.get("/messages").text
    assert "MENU" in everything and "aide" in everything
    inbound_sms = staff.get("/messages?direction=in&channel=sms").text
    assert "aide" in inbound_sms and "MENU" not in inbound_sms
    awa = rows(db, Producer, Producer.phone == AWA)[0]
    assert "aide" not in staff.get(f"/messages?producer_id={awa.id}").text
    assert "MENU" in staff.get("/messages?phone=77+000+01+01&status=received").text
    for query in ("direction=sideways", "phone=12", "producer_id=-1", "channel=fax", "producer_id=99999999999"):
        assert staff.get(f"/messages?{query}").status_code == 422


# --- broadcasts ---------------------------------------------------------------------------------------------

def _demo_producers_made_real(db) -> None:
    """The demo producers are sandbox producers, left out of broadcasts: these tests want a real network."""
    with db.transaction() as session:
        session.execute(update(Producer).values(sandbox=False))


def test_the_live_preview_counts_the_audience_and_the_sms_cost(staff, db):
    sandbox_only = staff.post_json("/broadcasts/preview", {"text": {"fr": "x"}, "audience": {}}).get_json()
    assert sandbox_only["producers"] == 0  # the demo producers are sandbox producers
    _demo_producers_made_real(db)
    answer = staff.post_json("/broadcasts/preview", {"text": {"fr": "Réunion à Thiès… ça marche ?"},
                                                     "audience": {"language": "fr"}}).get_json()
    assert answer["producers"] == 3
    assert answer["languages"]["fr"]["sms_encoding"] == "GSM-7" and answer["languages"]["fr"]["sms_segments"] == 1
    only_audience = staff.post_json("/broadcasts/preview", {"text": {}, "audience": {"product": "yaourt"}})
    assert only_audience.get_json()["producers"] == 1
    refused = staff.post_json("/broadcasts/preview", {"text": {"fr": "x"}, "audience": {"product": "caviar"}})
    assert refused.status_code == 422 and "caviar" in refused.get_json()["error"]


def test_a_broadcast_sent_now_is_queued_and_one_for_later_waits(staff, db):
    _demo_producers_made_real(db)
    preview = staff.post("/broadcasts", {"text_fr": "Bonjour à tous", "action": "preview", "when": "now"})
    assert preview.status_code == 200 and "producteurs atteints : 6" in preview.text and not rows(db, Broadcast)
    sent = staff.post("/broadcasts", {"text_fr": "Bonjour à tous", "audience_language": "wo", "when": "now"})
    assert sent.status_code == 302
    assert sorted(item.recipient for item in rows(db, OutboxItem, OutboxItem.kind == "broadcast")) == \
        ["+221770000101", "+221780000104"]
    later = (clock.now() + timedelta(days=2)).strftime("%Y-%m-%dT09:00")
    staff.post("/broadcasts", {"text_fr": "Demain", "when": "later", "send_at": later})
    statuses = {b.text_fr: b.status for b in rows(db, Broadcast)}
    assert statuses == {"Bonjour à tous": "enqueued", "Demain": "scheduled"}
    assert "Diffusion programmée." in staff.get("/broadcasts").text


@pytest.mark.parametrize("form", [{"text_fr": "", "when": "now"}, {"text_fr": "x", "when": "later", "send_at": ""},
                                  {"text_fr": "x", "when": "later", "send_at": "2001-01-01T09:00"},
                                  {"text_fr": "x", "audience_cooperative_id": "abc"}])
def test_a_bad_broadcast_is_refused(staff, db, form):
    assert staff.post("/broadcasts", form).status_code == 422
    assert rows(db, Broadcast) == []


# --- charts -------------------------------------------------------------------------------------------------

def test_a_chart_escapes_its_words_and_copes_with_one_point_or_none():
    moment = datetime(2026, 12, 1, tzinfo=timezone.utc)
    svg = line_chart([Series("<script>alert(1)</script>", [(moment, 5.0)])], title="A & B", step=True)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "A &amp; B" in svg and "<path" in svg
    assert line_chart([], title="empty").startswith('<svg class="chart"')
    many = [Series(f"c{n}", [(moment, n), (moment + timedelta(days=1), n + 1)]) for n in range(10)]
    assert line_chart(many, title="x").count("<polyline") == 7
