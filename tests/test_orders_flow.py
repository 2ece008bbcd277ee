"""Golden transcripts of producers answering orders, in French (Binta, SMS) and Wolof (Awa, WhatsApp), through
the real webhook: POST /twilio/inbound in, TwiML replies and database rows out."""
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
from ovop.models import ConversationState, Order, OrderNotification, OutboxItem, Product, StockReport
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

    def outbox(self, kind: str) -> list[OutboxItem]:
        with self.db.transaction() as session:
            return list(session.scalars(select(OutboxItem).where(OutboxItem.kind == kind).order_by(OutboxItem.id)))

    def state(self, phone: str) -> tuple:
        with self.db.transaction() as session:
            state = session.scalar(select(ConversationState).where(ConversationState.phone == phone))
            return state.flow, state.step


@pytest.fixture
def shop(app, api, db):
    with clock.frozen_at(NOW, all_threads=True):
        yield Shop(app, api, db)


# --- alerts ---------------------------------------------------------------------------------------------

def test_each_producer_is_alerted_in_their_language_and_told_how_to_answer(shop):
    shop.order()
    awa, binta = shop.outbox("order_alert")
    assert (awa.recipient, awa.channel, awa.body) == (AWA, "whatsapp", (
        "Komand OVOP CMD-0001: soow 40 pot, ngir Alt, 7 Des. Tontul WAAW walla DÉEDÉET. "
        "Su nga amul lépp: WAAW ak lim bi nga am."))
    assert (binta.recipient, binta.channel, binta.body) == (BINTA, "sms", (
        "Commande OVOP CMD-0001 : yaourt 40 pot, pour le lun. 7 déc. "
        "Répondez OUI, NON, ou OUI et la quantité si vous en avez moins."))
    assert sms_segments(binta.body) == 1


# --- yes, a part, no ------------------------------------------------------------------------------------

def test_french_yes_takes_the_order_and_the_wolof_yes_after_it_hears_it_is_taken(shop):
    order = shop.order()
    assert shop.say(BINTA, "oui") == ["Merci ! La commande CMD-0001 est pour vous : yaourt 40 pot, pour le lun. 7 déc."]
    assert shop.say(AWA, "waaw") == ["Baal ma, keneen jël na komand CMD-0001. Jërëjëf!"]
    row = shop.row(order["id"])
    assert (row.status, row.accepted_by_id, row.accepted_quantity) == ("accepted", shop.binta, 40)
    assert row.answers == {shop.binta: ("accepted", 40), shop.awa: ("too_late", None)}
    assert shop.state(BINTA) == (None, None)


def test_wolof_yes_takes_the_order_and_the_french_yes_after_it_hears_it_is_taken(shop):
    shop.order()
    assert shop.say(AWA, "Waaw") == ["Jërëjëf! Komand CMD-0001 yaa ko jël: soow 40 pot, ngir Alt, 7 Des."]
    assert shop.say(BINTA, "oui") == [
        "Désolé, la commande CMD-0001 est déjà prise par un autre producteur. Merci quand meme !"]  # ê folded
    assert shop.say(AWA, "waaw") == ["Komand CMD-0001 yaa ko jël ba pare (40 pot). Jërëjëf!"]


FR_PARTIAL = "Merci ! Commande CMD-0001 (yaourt) : vous livrez 20 pot sur 40, pour le lun. 7 déc."
WO_PARTIAL = "Jërëjëf! Dinga indi 20 pot ci 40 ngir komand CMD-0001 (soow), ngir Alt, 7 Des."


@pytest.mark.parametrize("phone, text, reply", [
    (BINTA, "je peux 20", FR_PARTIAL), (BINTA, "20 seulement", FR_PARTIAL),
    (AWA, "ñaar fukk rekk", WO_PARTIAL), (AWA, "waaw 20", WO_PARTIAL),
])
def test_a_smaller_quantity_is_a_partial_acceptance(shop, phone, text, reply):
    order = shop.order()
    assert shop.say(phone, text) == [reply]
    row = shop.row(order["id"])
    assert (row.status, row.accepted_quantity) == ("partial", 20)


def test_the_order_is_declined_once_both_said_no(app, shop):
    app.config["STAFF_PHONES"] = ["+221770009999"]
    order = shop.order()
    assert shop.say(AWA, "déedéet") == ["Bind naa ko: jëluloo komand CMD-0001. Jërëjëf!"]
    assert shop.row(order["id"]).status == "pending"
    assert shop.say(BINTA, "non") == ["C'est noté : vous ne prenez pas la commande CMD-0001. Merci !"]
    assert shop.row(order["id"]).status == "declined"
    [staff] = shop.outbox("staff_order")
    assert staff.body == "OVOP CMD-0001 (yaourt 40 pot) refusée par tous les producteurs de GIE Takku Liggéey."


def test_accepting_more_than_the_last_reported_stock_is_allowed_and_said(shop):
    with shop.db.transaction() as session:
        product_id = session.scalar(select(Product.id).where(Product.code == "yaourt"))
        session.add(StockReport(cooperative_id=shop.cooperative_id, product_id=product_id, producer_id=shop.awa,
                                quantity=30, unit="pot", reported_at=NOW - timedelta(days=1)))
    order = shop.order()
    assert shop.say(AWA, "waaw") == [
        "Jërëjëf! Komand CMD-0001 yaa ko jël: soow 40 pot, ngir Alt, 7 Des. Xoolal: sa stock bu mujj 30 pot la woon."]
    assert shop.row(order["id"]).status == "accepted"


def test_after_annuler_an_acceptance_reads_the_level_the_undo_restored(shop):
    assert shop.say(BINTA, "yaourt 30") == ["Enregistré : yaourt 30 pot. ANNULER pour annuler."]
    shop.say(BINTA, "yaourt 5")
    assert shop.say(BINTA, "annuler") == ["Annulé : yaourt. Envoyez le bon stock, par ex. yaourt 40."]
    shop.order()
    # The level is 30 again: the undone 5 (and the undo line that repeats it) is not the stock.
    assert shop.say(BINTA, "oui") == ["Merci ! La commande CMD-0001 est pour vous : yaourt 40 pot, pour le lun. "
                                      "7 déc. Attention : votre dernier stock est de 30 pot."]


# --- which order ----------------------------------------------------------------------------------------

def test_french_a_bare_yes_with_two_orders_asks_which_and_a_digit_answers(shop):
    shop.order(), shop.order(quantity=10)
    assert shop.say(BINTA, "oui") == [
        "Quelle commande ?\n1) CMD-0001 yaourt 40 pot 2) CMD-0002 yaourt 10 pot\nRépondez par le numéro."]
    assert shop.state(BINTA) == ("orders", "CHOOSE_ORDER")
    assert shop.say(BINTA, "2") == ["Merci ! La commande CMD-0002 est pour vous : yaourt 10 pot, pour le lun. 7 déc."]
    assert shop.state(BINTA) == (None, None)
    assert shop.say(BINTA, "oui") == ["Merci ! La commande CMD-0001 est pour vous : yaourt 40 pot, pour le lun. 7 déc."]


def test_wolof_a_bare_yes_with_two_orders_asks_which_and_the_reference_answers(shop):
    shop.order(), shop.order(quantity=10)
    assert shop.say(AWA, "waaw") == [
        "Ban komand?\n1) CMD-0001 soow 40 pot 2) CMD-0002 soow 10 pot\nTontul ak nimero bi."]
    assert shop.say(AWA, "cmd 2") == ["Jërëjëf! Komand CMD-0002 yaa ko jël: soow 10 pot, ngir Alt, 7 Des."]


def test_the_quantity_of_a_bare_answer_is_kept_while_asking_which(shop):
    first = shop.order()
    shop.order(quantity=10)
    assert shop.say(BINTA, "oui 25")[0].startswith("Quelle commande ?")
    assert shop.say(BINTA, "1") == [
        "Merci ! Commande CMD-0001 (yaourt) : vous livrez 25 pot sur 40, pour le lun. 7 déc."]
    assert shop.row(first["id"]).accepted_quantity == 25


def test_an_answer_with_its_reference_needs_no_question(shop):
    shop.order(), shop.order(quantity=10)
    assert shop.say(AWA, "déedéet CMD-0002") == ["Bind naa ko: jëluloo komand CMD-0002. Jërëjëf!"]
    assert shop.say(BINTA, "OUI CMD-0001") == [
        "Merci ! La commande CMD-0001 est pour vous : yaourt 40 pot, pour le lun. 7 déc."]


def test_commande_and_a_number_answers_which_order(shop):
    shop.order(), shop.order(quantity=10)
    assert shop.say(BINTA, "oui")[0].startswith("Quelle commande ?")
    assert shop.say(BINTA, "commande 2") == [
        "Merci ! La commande CMD-0002 est pour vous : yaourt 10 pot, pour le lun. 7 déc."]
    assert shop.state(BINTA) == (None, None)


def test_commande_n_is_the_line_of_the_list_or_the_reference_and_asked_again_when_they_differ(api, shop):
    first = shop.order()
    shop.order(quantity=10), shop.order(quantity=20)
    assert api.post(f"/orders/{first['id']}/cancel")[0] == 200
    question = shop.say(BINTA, "oui")
    assert question == ["Quelle commande ?\n1) CMD-0002 yaourt 10 pot 2) CMD-0003 yaourt 20 pot\n"
                        "Répondez par le numéro."]
    assert shop.say(BINTA, "commande 2") == question  # line 2 is CMD-0003, but CMD-0002 is listed too: asked
    assert shop.say(BINTA, "Commande n° 1") == [  # line 1, and not a listed reference
        "Merci ! La commande CMD-0002 est pour vous : yaourt 10 pot, pour le lun. 7 déc."]
    assert [shop.row(n).status for n in (2, 3)] == ["accepted", "pending"]


def test_a_typed_reference_is_never_read_as_a_line_of_the_list(shop):
    shop.order(), shop.order(quantity=10)
    question = shop.say(BINTA, "oui")
    assert shop.say(BINTA, "cmd 9") == question  # CMD-0009 is not waiting: asked again, not line… of nothing
    assert shop.say(BINTA, "CMD-0001") == [
        "Merci ! La commande CMD-0001 est pour vous : yaourt 40 pot, pour le lun. 7 déc."]


def test_a_number_not_on_the_list_asks_again_and_menu_leaves(shop):
    shop.order(), shop.order(quantity=10)
    question = shop.say(BINTA, "oui")
    assert shop.say(BINTA, "7") == question
    shop.say(BINTA, "menu")
    assert shop.state(BINTA) != ("orders", "CHOOSE_ORDER")


# --- closed orders, unknown references, the menu ----------------------------------------------------------

def test_a_cancelled_order_cannot_be_accepted_and_the_producers_were_told(shop):
    order = shop.order()
    assert shop.api.post(f"/orders/{order['id']}/cancel")[0] == 200
    assert [row.body for row in shop.outbox("order_cancelled")] == [
        "Bitik OVOP neenal na komand CMD-0001 (soow 40 pot). Bul ko waajal.",
        "La boutique OVOP a annulé la commande CMD-0001 (yaourt 40 pot). Ne la préparez pas."]
    assert shop.say(BINTA, "oui") == ["La commande CMD-0001 a été annulée par la boutique : rien à livrer."]
    assert shop.say(AWA, "waaw CMD-0001") == ["Bitik bi neenal na komand CMD-0001: amul dara lu ngay indi."]
    assert shop.row(order["id"]).accepted_by_id is None


def test_an_order_past_its_due_date_cannot_be_accepted(shop):
    order = shop.order(due=NOW.date())
    with clock.frozen_at(NOW + timedelta(days=1), all_threads=True):
        assert shop.say(BINTA, "oui") == ["La commande CMD-0001 n'est plus ouverte : sa date est passée."]
        assert shop.say(AWA, "waaw") == ["Komand CMD-0001 tëju na: bés bi jàll na."]
    assert shop.row(order["id"]).status == "expired"


def test_a_yes_with_no_order_at_all(shop):
    assert shop.say(BINTA, "oui") == ["Vous n'avez aucune commande en attente."]
    assert shop.say(AWA, "waaw") == ["Amoo benn komand buy xaar sa tontu."]


def test_an_unknown_reference(shop):
    shop.order()
    assert shop.say(BINTA, "oui CMD-0099") == [
        "Je ne trouve pas la commande CMD-0099. Envoyez 2 pour voir vos commandes."]


def test_menu_2_lists_the_orders_waiting_for_an_answer(shop):
    assert shop.say(BINTA, "2") == ["Vous n'avez aucune commande en attente."]
    shop.order()
    assert shop.say(AWA, "2") == [
        "Komand OVOP CMD-0001: soow 40 pot, ngir Alt, 7 Des. Tontul WAAW walla DÉEDÉET. "
        "Su nga amul lépp: WAAW ak lim bi nga am."]
    shop.order(quantity=10)
    assert shop.say(BINTA, "2") == [
        "2 commandes en attente :\nCMD-0001 : yaourt 40 pot, pour le lun. 7 déc\n"
        "CMD-0002 : yaourt 10 pot, pour le lun. 7 déc\nRépondez OUI ou NON avec la référence, ex. OUI CMD-0001."]
    assert shop.say(AWA, "2") == [
        "2 komand yuy xaar:\nCMD-0001: soow 40 pot, ngir Alt, 7 Des\nCMD-0002: soow 10 pot, ngir Alt, 7 Des\n"
        "Tontul WAAW walla DÉEDÉET ak referaas bi, niki WAAW CMD-0001."]


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


# --- one order's whole life -----------------------------------------------------------------------------

def test_one_orders_whole_life(shop):
    order = shop.order()
    assert shop.say(AWA, "waaw") == ["Jërëjëf! Komand CMD-0001 yaa ko jël: soow 40 pot, ngir Alt, 7 Des."]
    status, body = shop.api.post(f"/orders/{order['id']}/delivered")
    assert (status, body["status"], body["accepted_by"]) == (200, "delivered", shop.awa)
    [thanks] = shop.outbox("order_thanks")
    assert (thanks.recipient, thanks.body) == (AWA, "Bitik OVOP jot na komand CMD-0001 (soow). Jërëjëf ci sa liggéey!")
    answers = {a["producer_id"]: a["answer"] for a in shop.api.get(f"/orders/{order['id']}")[1]["answers"]}
    assert answers == {shop.awa: "accepted", shop.binta: None}


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
