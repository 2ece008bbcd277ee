"""WhatsApp quick-reply buttons and list pickers, end to end through real HTTP: orders and workshops made through
the staff API, alerts and list pickers drained by the real sender through the real twilio client into the fake
Twilio, and taps posted to the signed webhook as Twilio posts them (ButtonPayload, ButtonText, Body = the label).

The phone is played by `Phone`: it renders what the fake Twilio received with the templates as staff create them in
Twilio's Content Template Builder (TEMPLATES below, as the README describes them), so a tap carries exactly the
payload that was sent, and the label in the producer's language.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from app import create_app
from ovop.core import clock
from ovop.domain import orders
from ovop.messaging.outbox import Sender
from ovop.models import Message, Order, OutboxItem, Producer, Registration
from tests.conftest import TOKEN, app_config
from tests.fake_twilio import FakeTwilio
from tests.helpers import add_producer, inbound_form, live_server, sign

pytestmark = pytest.mark.clock  # sets times of day

PUBLIC = "https://ovop.example.org"
START = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)  # a Wednesday, 10:00 in Dakar
AWA, BINTA, COUMBA, DIOR = "+221770000101", "+221770000102", "+221770000103", "+221770000104"

# The templates as created in the Content Template Builder: an order alert's buttons take their ids from the
# variables {{6}} and {{7}}; the menu's items have fixed ids; a workshop list of n items has, for item i, the
# label {{3i-2}}, the id {{3i-1}} and the description {{3i}}.
TEMPLATES = {
    "HXalertfr": {"body": "Commande OVOP {{1}} : {{2}} {{3}} {{4}}, pour le {{5}}.",
                  "actions": [("Accepter", "{{6}}"), ("Refuser", "{{7}}")]},
    "HXalertwo": {"body": "Komand OVOP {{1}}: {{2}} {{3}} {{4}}, ngir {{5}}.",
                  "actions": [("Waaw", "{{6}}"), ("Déedéet", "{{7}}")]},
    "HXreminderfr": {"body": "Rappel OVOP {{1}} : {{2}} {{3}} {{4}}, pour le {{5}}.",
                     "actions": [("Accepter", "{{6}}"), ("Refuser", "{{7}}")]},
    "HXmenufr": {"body": "Menu OVOP", "items": [("Stock", "menu:stock"), ("Commandes", "menu:orders"),
                                                ("Ateliers", "menu:workshops"), ("Prix", "menu:prices"),
                                                ("Langue", "menu:language")]},
    "HXworkshops2fr": {"body": "Ateliers OVOP", "items": [("{{1}}", "{{2}}"), ("{{4}}", "{{5}}")]},
}
TWILIO_TEMPLATES = {"order_alert": {"fr": "HXalertfr", "wo": "HXalertwo"}, "order_reminder": {"fr": "HXreminderfr"},
                    "menu": {"fr": "HXmenufr"},
                    "workshop_list": {"fr:2": "HXworkshops2fr"}}


class Phone:
    """What producers see of the fake Twilio, and how they tap."""

    def __init__(self, fake: FakeTwilio, base: str):
        self.fake, self.base = fake, base
        self.sids = (f"SMtap{n:04d}" for n in range(10_000))

    def received(self, phone: str) -> list[dict]:
        return [message for message in self.fake.messages if message["to"] in (phone, f"whatsapp:{phone}")]

    @staticmethod
    def choices(message: dict) -> list[tuple[str, str]]:
        """(label, payload) of each button or list item of a template message, its variables filled in."""
        values = json.loads(message["content_variables"] or "{}")
        template = TEMPLATES[message["content_sid"]]

        def fill(text: str) -> str:
            return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m[1], ""), text)
        return [(fill(label), fill(ident)) for label, ident in template.get("actions") or template.get("items")]

    def tap(self, phone: str, message: dict, label: str, sid: str | None = None) -> list[str]:
        """Tap the button or item labelled `label` of `message`: what Twilio posts, signed."""
        payload = dict(self.choices(message))[label]
        return self.post(phone, label, payload, sid)

    def post(self, phone: str, body: str, payload: str | None = None, sid: str | None = None,
             channel: str = "whatsapp") -> list[str]:
        """A message (a tap when `payload` is given) to the signed webhook; the TwiML replies."""
        form = inbound_form(phone, body, sid or next(self.sids), channel)
        if payload is not None:
            form.update(ButtonPayload=payload, ButtonText=body)
        signature = sign(self.fake.auth_token, f"{PUBLIC}/twilio/inbound", form)
        response = requests.post(f"{self.base}/twilio/inbound", data=form, timeout=30,
                                 headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200, response.text
        return [message.text or "" for message in ElementTree.fromstring(response.content).iter("Message")]


@pytest.fixture
def service(database_url, fake):
    """The service as deployed: signed webhook, Twilio for WhatsApp and SMS, the templates configured."""
    application = create_app(app_config(
        database_url, OUTBOUND_BACKEND="twilio", TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token, TWILIO_API_BASE_URL=fake.base_url, PUBLIC_BASE_URL=PUBLIC,
        TWILIO_WHATSAPP_FROM="+14155238886", TWILIO_SMS_FROM="+15005550006", TWILIO_TEMPLATES=TWILIO_TEMPLATES))
    yield application
    application.extensions["ovop"].db.dispose()


@pytest.fixture
def world(service, fake):
    """Awa (Wolof, WhatsApp), Binta (French, WhatsApp), Coumba (French, SMS) of one cooperative; Dior of another;
    the clock at 10:00; the service on a loopback port."""
    db = service.extensions["ovop"].db
    with clock.frozen_at(START, all_threads=True):
        with db.transaction() as session:
            add_producer(session, AWA, name="Awa", language="wo", channel="whatsapp")
            add_producer(session, BINTA, name="Binta", language="fr", channel="whatsapp")
            add_producer(session, COUMBA, name="Coumba", language="fr", channel="sms")
            add_producer(session, DIOR, name="Dior", language="fr", channel="whatsapp", cooperative="GIE Dior")
        with live_server(service) as base:
            yield World(service, fake, base)


class World:
    def __init__(self, app, fake, base):
        self.app, self.fake, self.base = app, fake, base
        self.db = app.extensions["ovop"].db
        self.phone = Phone(fake, base)
        self.sender = Sender(db=self.db, transport=app.extensions["ovop"].transport, rates={})

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, f"{self.base}/api/v1{path}", json=body if body is not None else {},
                                    headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def order(self, quantity: float = 40, cooperative: str = "GIE Takku Liggéey") -> dict:
        with self.db.transaction() as session:
            cooperative_id = session.scalar(select(Producer.cooperative_id).join(Producer.cooperative)
                                            .where(Producer.cooperative.has(name=cooperative)).limit(1))
        return self.api("POST", "/orders", {"cooperative_id": cooperative_id, "product": "yaourt",
                                            "quantity": quantity, "due_date": "2026-12-07"})

    def drain(self) -> int:
        sent = 0
        while (handled := self.sender.run_once()):
            sent += handled
        return sent

    def alert(self, phone: str, reference: str) -> dict:
        [message] = [m for m in self.phone.received(phone) if m["content_sid"]
                     and json.loads(m["content_variables"])["1"] == reference]
        return message

    def scalar(self, query):
        with self.db.transaction() as session:
            return session.scalar(query)

    def order_row(self, reference: str) -> tuple:
        with self.db.transaction() as session:
            order = session.scalar(select(Order).where(Order.reference == reference))
            answers = {note.producer.name: note.answer for note in order.notifications}
            return order.status, order.accepted_by.name if order.accepted_by else None, order.revision, answers

    def service_job(self, name: str) -> None:
        """Run a scheduled job at the frozen clock, as the worker would."""
        result = self.app.test_cli_runner().invoke(args=["jobs", "run", name])
        assert result.exit_code == 0, result.output

    def outbox_count(self) -> int:
        return self.scalar(select(func.count()).select_from(OutboxItem))


# --- order alerts with buttons --------------------------------------------------------------------------------

def test_the_alert_leaves_as_the_buttons_template_and_a_tap_answers_exactly_that_order(world):
    assert world.phone.post(AWA, "salaam aleekum")  # Awa's 24 h window is open; Binta's is not
    first, second = world.order()["reference"], world.order()["reference"]
    assert world.drain() == 6
    # Inside the window or not, a WhatsApp producer gets the buttons template in their language; SMS stays text.
    awa = world.alert(AWA, second)
    assert awa["content_sid"] == "HXalertwo" and awa["body"] is None
    assert json.loads(awa["content_variables"]) == {
        "1": second, "2": "yaourt", "3": "40", "4": "pot", "5": json.loads(awa["content_variables"])["5"],
        "6": "order:2:r1:accept", "7": "order:2:r1:decline"}
    assert world.phone.choices(awa) == [("Waaw", "order:2:r1:accept"), ("Déedéet", "order:2:r1:decline")]
    assert world.alert(BINTA, first)["content_sid"] == "HXalertfr"
    [sms, _] = world.phone.received(COUMBA)
    assert sms["content_sid"] is None and "OUI" in sms["body"] and first in sms["body"]

    # Two orders wait for Awa: the tap answers the one its button belongs to, without asking which.
    replies = world.phone.tap(AWA, awa, "Waaw", sid="SMtapAwa")
    assert replies == [f"Jërëjëf! Komand {second} yaa ko jël: yaourt 40 pot, ngir Alt, 7 Des."]
    assert world.order_row(second)[:3] == ("accepted", "Awa", 2)
    assert world.order_row(second)[3]["Awa"] == "accepted"
    assert world.order_row(first) == ("pending", None, 1, {"Awa": None, "Binta": None, "Coumba": None})
    staff_alerts = world.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.kind == "staff_order"))

    # The same tap delivered twice (a Twilio retry): handled once, the same answer.
    assert world.phone.tap(AWA, awa, "Waaw", sid="SMtapAwa") == replies
    assert world.scalar(select(func.count()).select_from(Message).where(Message.provider_sid == "SMtapAwa")) == 1
    assert world.order_row(second)[:3] == ("accepted", "Awa", 2)
    assert world.scalar(select(func.count()).select_from(OutboxItem)
                        .where(OutboxItem.kind == "staff_order")) == staff_alerts

    # Binta declines the first order by its button: recorded as her typed NON would be.
    assert world.phone.tap(BINTA, world.alert(BINTA, first), "Refuser") == [
        f"C'est noté : vous ne prenez pas la commande {first}. Merci !"]
    assert world.order_row(first)[3]["Binta"] == "declined"


def test_the_reminder_carries_the_buttons_too_and_a_tap_on_it_answers_the_order(world):
    reference = world.order()["reference"]
    world.drain()
    later = START + orders.REMIND_AFTER + timedelta(minutes=5)
    with clock.frozen_at(later, all_threads=True):
        world.service_job("order-followups")
        world.drain()
        [reminder] = [m for m in world.phone.received(BINTA) if m["content_sid"] == "HXreminderfr"]
        assert json.loads(reminder["content_variables"])["1"] == reference
        assert world.phone.choices(reminder) == [("Accepter", "order:1:r1:accept"), ("Refuser", "order:1:r1:decline")]
        assert world.phone.tap(BINTA, reminder, "Accepter")[0].startswith("Merci")
    assert world.order_row(reference)[:2] == ("accepted", "Binta")


@pytest.mark.parametrize("label", ["Waaw", "Déedéet", "NON", "STOP", ""])
def test_the_payload_routes_never_the_label(world, label):
    reference = world.order()["reference"]
    world.drain()
    payload = dict(world.phone.choices(world.alert(AWA, reference)))["Waaw"]
    replies = world.phone.post(AWA, label, payload)
    assert replies[0].startswith(f"Jërëjëf! Komand {reference} yaa ko jël")
    assert world.order_row(reference)[:2] == ("accepted", "Awa")
    assert world.scalar(select(Producer.opted_out).where(Producer.phone == AWA)) is False


def test_a_wolof_and_a_french_label_route_the_same_way(world):
    first, second = world.order()["reference"], world.order()["reference"]
    world.drain()
    world.phone.tap(AWA, world.alert(AWA, first), "Déedéet")
    world.phone.tap(BINTA, world.alert(BINTA, second), "Refuser")
    assert world.order_row(first)[3]["Awa"] == "declined" and world.order_row(second)[3]["Binta"] == "declined"


def _change(world, reference):
    with world.db.transaction() as session:
        orders.change(session, world.app.config, session.scalar(select(Order).where(Order.reference == reference)),
                      quantity=30)


def _take(world, reference):
    assert world.phone.post(BINTA, f"oui {reference}")[0].startswith("Merci ! La commande")


def _cancel(world, reference):
    world.api("POST", f"/orders/{int(reference.split('-')[1])}/cancel")


def _expire(world, reference):
    with world.db.transaction() as session:
        orders.expire(session, session.scalar(select(Order).where(Order.reference == reference)),
                      clock.now())


@pytest.mark.parametrize("what, told", [
    (_change, "Bouton bii jàll na: komand {ref} soppiku na. Léegi mooy: yaourt 30 pot, ngir Alt, 7 Des. "
              "Dara bindu wul. Tontul WAAW {ref} walla DÉEDÉET {ref}."),
    (_take, "Bouton bii jàll na: keneen jël na komand {ref}. Dara bindu wul. Jërëjëf!"),
    (_cancel, "Bouton bii jàll na: bitik bi neenal na komand {ref}. Dara bindu wul, amul dara lu ngay indi."),
    (_expire, "Bouton bii jàll na: bésu komand {ref} jàll na. Dara bindu wul."),
], ids=["changed", "taken", "cancelled", "expired"])
def test_a_stale_button_is_told_so_and_changes_nothing(world, what, told):
    reference = world.order()["reference"]
    world.drain()
    alert = world.alert(AWA, reference)
    what(world, reference)
    world.drain()
    before, queued = world.order_row(reference), world.outbox_count()
    assert before[2] == 2  # the change made a new revision
    for label in ("Waaw", "Déedéet"):
        assert world.phone.tap(AWA, alert, label) == [told.format(ref=reference)]
    assert world.order_row(reference) == before  # no answer recorded, not even "too late"
    assert world.outbox_count() == queued  # nobody told anything


def test_a_tap_on_an_order_already_taken_by_the_producer_says_it_is_theirs(world):
    reference = world.order()["reference"]
    world.drain()
    alert = world.alert(BINTA, reference)
    world.phone.tap(BINTA, alert, "Accepter")
    assert world.phone.tap(BINTA, alert, "Accepter") == [f"La commande {reference} est déjà à vous (40 pot). Merci !"]
    assert world.order_row(reference)[:3] == ("accepted", "Binta", 2)


@pytest.mark.parametrize("payload, told", [
    ("order:999:r1:accept", "button.unknown"),  # no such order
    ("order:{other}:r1:accept", "button.unknown"),  # another cooperative's order
    ("order:{mine}:r1:acceptx", "button.unknown"),  # malformed
    ("order:{mine}:r0:accept", "button.unknown"),
    ("order:{mine}:r2:accept", "button.unknown"),  # a revision never sent
    ("order:99999999999999999999:r1:accept", "button.unknown"),  # would not fit the id column
    ("order:{mine}:r1:accept ; drop table orders", "button.unknown"),
    ("menu:nothing", "button.unknown_item"),
    ("workshop:424242", "button.unknown_item"),
    ("yes", "button.unknown_item"),
], ids=["unknown", "other-cooperative", "malformed", "revision-0", "revision-never-sent", "huge", "junk", "menu",
        "workshop", "bare"])
def test_a_forged_or_foreign_payload_is_told_and_changes_nothing(world, payload, told):
    mine, other = world.order()["id"], world.order(cooperative="GIE Dior")["id"]
    world.drain()
    queued = world.outbox_count()
    replies = world.phone.post(BINTA, "Accepter", payload.format(mine=mine, other=other))
    assert replies == [{"button.unknown": "Ce bouton ne correspond à aucune commande qui vous a été envoyée : rien "
                                          "n'a été enregistré. Envoyez 2 pour voir vos commandes.",
                        "button.unknown_item": "Ce choix n'est plus valable : rien n'a été enregistré. Envoyez MENU "
                                               "pour voir le menu."}[told]]
    assert world.order_row("CMD-0001")[:2] == ("pending", None) and world.order_row("CMD-0002")[:2] == ("pending", None)
    assert not any(world.order_row("CMD-0001")[3].values()) and not any(world.order_row("CMD-0002")[3].values())
    assert world.outbox_count() == queued


def test_a_producer_who_was_not_alerted_cannot_answer_by_button(world):
    reference = world.order()["reference"]
    world.drain()
    payload = dict(world.phone.choices(world.alert(BINTA, reference)))["Accepter"]
    with world.db.transaction() as session:  # joined the cooperative after the alert
        add_producer(session, "+221770000105", name="Fatou", language="fr", channel="whatsapp")
    replies = world.phone.post("+221770000105", "Accepter", payload)
    assert replies[0].startswith("Ce bouton ne correspond à aucune commande")
    assert world.order_row(reference)[:2] == ("pending", None)


def test_a_stale_tap_leaves_the_open_question_open(world):
    reference = world.order()["reference"]
    world.drain()
    alert = world.alert(BINTA, reference)
    _cancel(world, reference)
    asked = world.phone.post(BINTA, "stock")  # "how many pots of yaourt?"
    assert world.phone.tap(BINTA, alert, "Accepter")[0].startswith("Ce bouton n'est plus valable")
    assert world.phone.post(BINTA, "25")[0].startswith("Enregistré : yaourt 25 pot"), asked


def test_stop_typed_while_buttons_are_out_still_wins(world):
    reference = world.order()["reference"]
    world.drain()
    world.phone.post(BINTA, "STOP")
    assert world.scalar(select(Producer.opted_out).where(Producer.phone == BINTA)) is True
    assert world.order_row(reference)[:2] == ("pending", None)


def test_without_templates_the_alert_is_plain_text_with_oui_non(world):
    world.app.config["TWILIO_TEMPLATES"] = {}
    world.phone.post(BINTA, "bonjour")
    reference = world.order()["reference"]
    world.drain()
    [alert] = [m for m in world.phone.received(BINTA) if m["body"] and reference in m["body"]]
    assert alert["content_sid"] is None and "Répondez OUI, NON" in alert["body"]
    assert world.phone.post(BINTA, "oui")[0].startswith(f"Merci ! La commande {reference} est pour vous")


# --- list pickers ---------------------------------------------------------------------------------------------

MENU_TEXT = ("Menu OVOP :\n1 Stock\n2 Commandes\n3 Ateliers\n4 Prix\n5 Langue\n"
             "Répondez par un chiffre. AIDE pour de l'aide.")


def test_the_menu_is_a_list_picker_in_the_window_and_a_tapped_item_is_routed_on_its_payload(world):
    assert world.phone.post(BINTA, "menu", sid="SMmenu") == []  # no TwiML text: the list leaves by REST
    assert world.drain() == 1
    [menu] = world.phone.received(BINTA)
    assert menu["content_sid"] == "HXmenufr" and menu["body"] is None
    with world.db.transaction() as session:  # the reply's row, as every reply has, filled in by the sender
        reply = session.scalar(select(Message).where(Message.direction == "out", Message.phone == BINTA))
        assert reply.body == MENU_TEXT and reply.in_reply_to_id is not None
        assert reply.provider_sid == menu["sid"] and reply.outbox_item_id is not None
    # The same message again (same MessageSid): nothing more queued.
    assert world.phone.post(BINTA, "menu", sid="SMmenu") == [] and world.drain() == 0

    for number, title in enumerate(["Vendre en boutique", "Hygiène et qualité du lait caillé"], start=1):
        world.api("POST", "/workshops", {"title": {"fr": title}, "location": "Boutique OVOP, Dakar", "capacity": 5,
                                         "starts_at": (START + timedelta(days=number + 5)).isoformat()})
    assert world.phone.tap(BINTA, menu, "Ateliers") == []
    world.drain()
    workshops = world.phone.received(BINTA)[-1]
    assert workshops["content_sid"] == "HXworkshops2fr"
    choices = world.phone.choices(workshops)
    assert choices[0][0] == "Vendre en boutique" and choices[1][0] == "Hygiène et qualité du l…"  # 24 characters
    assert [payload for _, payload in choices] == ["workshop:1", "workshop:2"]
    replies = world.phone.tap(BINTA, workshops, "Hygiène et qualité du l…")
    assert replies[0].startswith("Inscrit(e) : Hygiène et qualité du lait caillé")
    assert world.scalar(select(Registration.workshop_id).join(Producer).where(Producer.phone == BINTA)) == 2


def test_the_menu_stays_text_with_digits_on_sms_or_without_a_template_in_the_language(world):
    assert world.phone.post(COUMBA, "menu", channel="sms") == [MENU_TEXT]
    assert world.phone.post(AWA, "menu")[0].startswith("Menu OVOP:\n1 Stock")  # no Wolof menu template
    world.app.config["TWILIO_TEMPLATES"] = {}
    assert world.phone.post(BINTA, "menu") == [MENU_TEXT]
    assert world.drain() == 0 and world.fake.messages == []
    assert world.phone.post(BINTA, "3")[0].startswith("Pas d'atelier ouvert")


def test_the_revision_goes_up_whenever_what_a_producer_would_answer_changes(world):
    reference = world.order()["reference"]
    order_id = int(reference.split("-")[1])
    assert world.order_row(reference)[2] == 1
    with world.db.transaction() as session:
        order = session.get(Order, order_id)
        orders.change(session, world.app.config, order, quantity=40, note="")  # nothing changes: same revision
        assert order.revision == 1
        orders.change(session, world.app.config, order, due_date=order.due_date + timedelta(days=1))
        assert order.revision == 2
    world.phone.post(BINTA, f"oui {reference}")  # taken
    assert world.order_row(reference)[:3] == ("accepted", "Binta", 3)
    world.api("POST", f"/orders/{order_id}/delivered")
    assert world.order_row(reference)[:3] == ("delivered", "Binta", 4)
    with world.db.transaction() as session, pytest.raises(orders.WrongStatus):
        orders.change(session, world.app.config, session.get(Order, order_id), quantity=10)
    # Declined by everyone alerted is a new status, so a new revision as well.
    other = world.order()["reference"]
    for phone in (AWA, BINTA, COUMBA):
        world.phone.post(phone, f"non {other}", channel="sms" if phone == COUMBA else "whatsapp")
    assert world.order_row(other)[0::2] == ("declined", 2)


def test_the_menu_is_a_list_picker_during_the_quiet_hours_too(world):
    with clock.frozen_at(START.replace(hour=22), all_threads=True):  # a reply: it leaves at night as well
        assert world.phone.post(BINTA, "menu") == []
        assert world.drain() == 1
    assert world.phone.received(BINTA)[0]["content_sid"] == "HXmenufr"
