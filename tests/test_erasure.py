"""Erasure: after DELETE /api/v1/producers/{id} no name or phone number of that producer is left anywhere in the
database; anonymous facts (stock lines, orders, registrations) stay."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ovop.core import clock
from ovop.language.i18n import fold_gsm7
from ovop.models import Base, ImportJob, Order, OutboxItem, Product, Registration, StockReport, Workshop
from ovop.messaging.transport import ConsoleTransport
from ovop.messaging.outbox import Sender
from tests.helpers import add_producer, inbound_form

pytestmark = pytest.mark.clock  # reads dates: .ci/run also runs it at other hours

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)  # a Tuesday, 10:00 in Dakar: not quiet hours
PHONE, NAME = "+221770000777", "Aïssatou Ndèye Faye"
OTHER = "+221770000778"
STAFF = "+221770009999"


def leftovers(db, needles: list[str]) -> list[str]:
    """Every (table.column = value) of every table whose text holds one of `needles`."""
    found = []
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()).mappings():
                for column, value in row.items():
                    if value is None or isinstance(value, (int, float, bool, datetime)):
                        continue
                    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
                    if any(needle in text for needle in needles):
                        found.append(f"{table.name}.{column} = {text!r}")
    return found


def drain(db) -> None:
    Sender(db=db, transport=ConsoleTransport(), rates={"sms": 0, "whatsapp": 0}, rng=random.Random(7)).drain()


def test_nothing_of_an_erased_producer_is_left_after_a_whole_life(app, api, db):
    app.config["STAFF_PHONES"] = [STAFF]
    with clock.frozen_at(NOW, all_threads=True):
        with db.transaction() as session:
            session.add(Product(code="yaourt", unit="pot", name_fr="yaourt", name_wo="soow", low_stock_threshold=20))
            session.flush()
            her = add_producer(session, PHONE, name=NAME, language="fr", channel="sms")
            add_producer(session, OTHER, name="Binta Sarr", language="fr", channel="sms")
            session.add(Workshop(title_fr="Hygiène", starts_at=NOW + timedelta(days=10), location="Dakar",
                                 capacity=5))
            producer_id, cooperative_id = her.id, her.cooperative_id
        client = app.test_client()

        def say(text: str, n: int) -> None:
            response = client.post("/twilio/inbound", data=inbound_form(PHONE, text, f"SM{n:032d}", "sms"))
            assert response.status_code == 200

        say("bonjour", 1)
        say("yaourt 5", 2)  # a stock line, and a low-stock alert to the staff
        status, order = api.post("/orders", {"cooperative_id": cooperative_id, "product": "yaourt", "quantity": 10,
                                             "due_date": (NOW + timedelta(days=6)).date().isoformat()})
        assert status == 201
        drain(db)  # the order alert goes out: a message to her in the log
        say("oui", 3)  # she takes it: the staff alert reads "… acceptée par <name> (<phone>)"
        say("atelier", 4)
        say("1", 5)  # a seat at the workshop
        say("menu", 6)  # a conversation left open
        drain(db)
        with db.transaction() as session:  # something still waiting for her when she asks to be erased
            session.add(OutboxItem(dedupe_key="tip:later", kind="price_tip", recipient=PHONE, producer_id=producer_id,
                                   channel="sms", body="Prix du yaourt: 500 F CFA", not_before=NOW + timedelta(days=1)))

        needles = [NAME, fold_gsm7(NAME), PHONE, PHONE.lstrip("+"), PHONE[4:]]
        before = leftovers(db, needles)
        assert any(line.startswith("outbox_items.body") and "accept" in line for line in before), before
        assert any(line.startswith("messages.body") and "accept" in line for line in before), before

        assert api.delete(f"/api/v1/producers/{producer_id}".removeprefix("/api/v1"))[0] == 204

        assert leftovers(db, needles) == []
        status, log = api.get("/messages?limit=500")
        assert status == 200 and not any(needle in json.dumps(log, ensure_ascii=False) for needle in needles)
        # Anonymous facts stay: her stock line, the order she took, her seat; the alert still says what happened.
        with db.transaction() as session:
            assert session.scalar(select(StockReport.producer_id)) == producer_id
            assert session.scalar(select(Order.accepted_by_id)) == producer_id
            assert session.scalar(select(Registration.producer_id)) == producer_id
            alert = session.scalar(select(OutboxItem).where(OutboxItem.kind == "staff_order"))
            assert alert.recipient == STAFF and f"producteur n°{producer_id}" in alert.body
            assert session.scalar(select(OutboxItem.status).where(OutboxItem.dedupe_key == "tip:later")) == "cancelled"
        assert "Binta Sarr" in json.dumps(api.get("/producers")[1], ensure_ascii=False)  # the others are untouched


def test_an_erased_producer_leaves_no_trace_in_csv_imports(api, db):
    """A producer imported from a CSV file: the finished import's report and an unfinished import's file name
    her; after erasure neither holds her name or number, and another staff member's import goes on."""
    with db.transaction() as session:
        her = add_producer(session, PHONE, name=NAME)
        session.add_all([
            ImportJob(created_by="admin", filename="villages.csv", total=2, done=2, created=2,
                      content=b"", reports=json.dumps([1, "created", NAME, "+221 77 000 07 77"]) + "\n",
                      finished_at=NOW),
            ImportJob(created_by="admin", filename="suite.csv", total=2, done=0,
                      content="phone,name\n77 000 07 77,Aïssatou\n77 000 08 88,Binta\n".encode()),
            ImportJob(created_by="admin", filename="autre.csv", total=1, done=0,
                      content=b"phone,name\n77 000 09 99,Coumba\n")])
        producer_id = her.id
    assert api.delete(f"/producers/{producer_id}")[0] in (200, 204)
    assert leftovers(db, [NAME, "Aïssatou", "000 07 77", "770000777", PHONE]) == []
    with db.transaction() as session:
        assert [job.filename for job in session.scalars(select(ImportJob))] == ["autre.csv"]
