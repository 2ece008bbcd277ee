"""Producers answering orders through the real webhook, where a transcript cannot say it: every order message
fits one SMS segment, and two yeses at the same moment make exactly one acceptance. The conversations themselves
are transcripts: tests/transcripts/{fr,wo}_orders*.txt."""
from __future__ import annotations

import threading
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ovop.core import clock
from ovop.language.i18n import for_channel, sms_segments, t
from ovop.models import Order, OrderNotification, Product
from tests.helpers import add_producer, inbound_form, live_server

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

AWA, BINTA = "+221770000101", "+221770000102"  # Awa writes Wolof on WhatsApp, Binta French by SMS
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)  # a Tuesday in Dakar (UTC+0)
DUE = date(2026, 12, 7)  # lun. 7 déc / Alt, 7 Des


class Shop:
    """The boutique's staff (API) and two producers (webhook) of GIE Takku Liggéey, which makes yoghurt."""

    def __init__(self, app, api, db):
        self.app, self.api, self.db, self.sent = app, api, db, 0
        with db.transaction() as session:
            session.add(Product(code="yaourt", unit="pot", name_fr="yaourt", name_wo="soow", name_en="yoghurt"))
            session.flush()
            awa = add_producer(session, AWA, name="Awa Ndiaye", language="wo", channel="whatsapp")
            awa.last_inbound_at = NOW - timedelta(hours=1)
            binta = add_producer(session, BINTA, name="Binta Sarr", language="fr", channel="sms")
            self.cooperative_id, self.awa, self.binta = awa.cooperative_id, awa.id, binta.id

    def order(self, quantity=40, due=DUE) -> dict:
        status, body = self.api.post("/orders", {"cooperative_id": self.cooperative_id, "product": "yaourt",
                                                 "quantity": quantity, "due_date": due.isoformat()})
        assert status == 201, body
        return body

    def say(self, phone: str, text: str) -> list[str]:
        """What the bot answers `text` from `phone`, as the TwiML Twilio would relay."""
        self.sent += 1
        channel = "whatsapp" if phone == AWA else "sms"
        response = self.app.test_client().post("/twilio/inbound", data=inbound_form(
            phone, text, f"SM{self.sent:032d}", channel))
        assert response.status_code == 200
        return [message.text for message in ElementTree.fromstring(response.data).iter("Message")]

    def row(self, order_id: int) -> Order:
        with self.db.transaction() as session:
            order = session.get(Order, order_id)
            order.answers = {note.producer_id: (note.answer, note.quantity) for note in order.notifications}
            return order


@pytest.fixture
def shop(app, api, db):
    with clock.frozen_at(NOW, all_threads=True):
        yield Shop(app, api, db)


# --- the length of every order message ----------------------------------------------------------------

SMS_KEYS = ("order.alert", "order.alert_ref", "order.reminder", "order.reminder_ref", "order.cancelled",
            "order.thanks", "order.accepted", "order.partial", "order.declined", "order.taken",
            "order.already_yours", "order.is_cancelled", "order.is_expired", "order.is_closed",
            "order.none_pending", "order.unknown", "order.quantity_unclear", "staff.order_accepted",
            "staff.order_partial", "staff.order_declined")
LONG_WORDS = {"reference": "CMD-10234", "quantity": "1500", "accepted": "1250", "stock": "1000", "unit": "sachet",
              "producer": "Mariama Diallo Ndiaye", "phone": "+221770000101",
              "cooperative": "Union des transformatrices de Kaolack"}
LONG_NAMES = {"fr": ("beurre d'arachide", "mer. 17 déc"), "wo": ("diwu gerte", "Àla, 17 Des"),
              "en": ("pickled clams", "Wed, 17 Dec")}


@pytest.mark.parametrize("lang", ["fr", "wo", "en"])
@pytest.mark.parametrize("keys", [(key,) for key in SMS_KEYS] + [("order.accepted", "order.over_stock"),
                                                                 ("order.partial", "order.over_stock")])
def test_every_order_message_fits_one_sms_segment_with_long_words(lang, keys):
    product, due = LONG_NAMES[lang]
    text = " ".join(t(key, lang, product=product, due_date=due, **LONG_WORDS) for key in keys)
    assert sms_segments(for_channel(text, "sms")) == 1, text


def test_french_sms_replies_fit_one_segment(shop):
    shop.order()
    replies = shop.say(BINTA, "je peux 20") + shop.say(BINTA, "oui") + shop.say(BINTA, "2")
    assert replies and all(sms_segments(reply) == 1 for reply in replies)


# --- two yeses at the same moment -------------------------------------------------------------------------

def test_two_yeses_at_the_same_moment_make_exactly_one_acceptance(shop):
    def post(phone, text, sid, replies):
        channel = "whatsapp" if phone == AWA else "sms"
        data = urllib.parse.urlencode(inbound_form(phone, text, sid, channel)).encode()
        barrier.wait(timeout=10)
        with urllib.request.urlopen(f"{base}/twilio/inbound", data=data, timeout=60) as response:
            replies[phone] = [m.text for m in ElementTree.fromstring(response.read()).iter("Message")]

    with live_server(shop.app) as base:
        for round_ in range(4):
            order = shop.order()
            barrier, replies = threading.Barrier(2), {}
            threads = [threading.Thread(target=post, args=(phone, text, f"SMrace{round_}{phone[-3:]}", replies))
                       for phone, text in ((AWA, "waaw"), (BINTA, "oui"))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=90)
            row = shop.row(order["id"])
            assert row.status == "accepted" and row.accepted_by_id in (shop.awa, shop.binta)
            assert sorted(answer for answer, _ in row.answers.values()) == ["accepted", "too_late"]
            winner, loser = (AWA, BINTA) if row.accepted_by_id == shop.awa else (BINTA, AWA)
            won = {AWA: "yaa ko jël", BINTA: "est pour vous"}
            lost = {AWA: "keneen jël na", BINTA: "déjà prise"}
            assert won[winner] in replies[winner][0] and lost[loser] in replies[loser][0], replies
    with shop.db.transaction() as session:
        accepted = session.scalars(select(OrderNotification.answer).where(OrderNotification.answer == "accepted"))
        assert len(accepted.all()) == 4
