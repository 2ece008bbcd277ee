"""The SQL statements one message costs through the signed webhook, counted as `make bench` counts them
(bench/message_cost.py: a before_cursor_execute listener on the engine). Not timed: a count only, so that a
change that adds a query to every message shows here.

SQLite counts one more statement than PostgreSQL: its BEGIN IMMEDIATE (ovop/core/db.py) goes through the
driver as a statement, where PostgreSQL's BEGIN is implicit.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from bench.message_cost import counting
from ovop.models import StockReport
from tests.conftest import app_config
from tests.helpers import add_producer, inbound_form, sign

AUTH = "test-auth-token-0123456789abcdef"
PUBLIC = "https://ovop.example.org"
PHONE = "+221770000101"
# The statements of one stock report from a producer whose conversation is on record, PostgreSQL's count:
# lock and count the conversation (1), the producer with what they make (1), the message (1), the producer's
# last_inbound_at (1), pending orders (1), the catalogue with its aliases (1), the level before (1), the report
# (1), the reply's TwiML kept on the message (1), the reply (1). The product is the one the producer makes,
# already loaded with them.
STOCK_REPORT = 10
MENU_REPLY = 7
EXTRA = {"postgresql": 0, "sqlite": 1}  # SQLite's BEGIN IMMEDIATE


@pytest.fixture
def signed_app(database_url):
    application = create_app(app_config(database_url, TWILIO_AUTH_TOKEN=AUTH, TWILIO_ACCOUNT_SID="AC" + "1" * 32,
                                        PUBLIC_BASE_URL=PUBLIC))
    with application.extensions["ovop"].db.transaction() as session:
        add_producer(session, PHONE)
    yield application
    application.extensions["ovop"].db.dispose()


def _post_signed(client, text: str, sid: str):
    form = inbound_form(PHONE, text, sid, channel="whatsapp")
    return client.post("/twilio/inbound", data=form,
                       headers={"X-Twilio-Signature": sign(AUTH, f"{PUBLIC}/twilio/inbound", form)})


def _statements_of(app, text: str, sid: str) -> tuple[str, list[str]]:
    seen: list[str] = []
    with counting(app.extensions["ovop"].db.engine, seen):
        response = _post_signed(app.test_client(), text, sid)
    assert response.status_code == 200
    return response.get_data(as_text=True), seen


def test_a_stock_report_costs_at_most_its_pinned_statements(signed_app):
    db = signed_app.extensions["ovop"].db
    _post_signed(signed_app.test_client(), "yaourt 40", "SMfirst")  # the conversation and a level on record
    answer, seen = _statements_of(signed_app, "yaourt 41", "SMsecond")
    assert "yaourt 41 pot" in answer and "avant 40" in answer
    with db.transaction() as session:
        assert [r.quantity for r in session.scalars(select(StockReport).order_by(StockReport.id))] == [40.0, 41.0]
    limit = STOCK_REPORT + EXTRA[db.dialect]
    assert len(seen) <= limit, f"{len(seen)} statements (at most {limit}):\n" + "\n".join(
        " ".join(statement.split())[:160] for statement in seen)


def test_a_menu_reply_costs_at_most_its_pinned_statements(signed_app):
    db = signed_app.extensions["ovop"].db
    _post_signed(signed_app.test_client(), "yaourt 40", "SMfirst")
    answer, seen = _statements_of(signed_app, "menu", "SMmenu")
    assert "1 Stock" in answer
    limit = MENU_REPLY + EXTRA[db.dialect]
    assert len(seen) <= limit, f"{len(seen)} statements (at most {limit}):\n" + "\n".join(
        " ".join(statement.split())[:160] for statement in seen)
