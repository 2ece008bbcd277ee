"""A person when the bot cannot help: the staff inbox end to end through real HTTP. A voice note (or asking for a
person, or two messages in a row not understood) opens a conversation; while it is open the bot answers only the
global words and keeps the rest for staff; staff read it through the API and the dashboard, answer through the
outbox and the fake Twilio, and close it to give the producer back to the bot."""
from __future__ import annotations

import random
import re
from datetime import datetime, timezone
from html import unescape

import pytest
import requests
from sqlalchemy import func, select

from app import create_app
from ovop.core import clock
from ovop.messaging.outbox import Sender
from ovop.messaging.transport import TwilioTransport
from ovop.jobs.jobs import registry
from ovop.models import ConversationState, Message, MessageMedia, OutboxItem, Producer, StaffConversation
from tests.conftest import TOKEN, app_config
from tests.helpers import add_producer, inbound_form, live_server, sign

PUBLIC = "https://ovop.example.org"
PHONE = "+221770000101"
OTHER = "+221770000102"
NOW = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)  # a Tuesday morning in Dakar
PASSWORD = "test-password"


@pytest.fixture
def service(database_url, tmp_path, fake):
    """Signed mode on loopback; messages leave through the fake Twilio (WhatsApp and SMS senders set)."""
    app = create_app(app_config(database_url, TWILIO_ACCOUNT_SID=fake.account_sid,
                                TWILIO_AUTH_TOKEN=fake.auth_token, TWILIO_API_BASE_URL=fake.base_url,
                                PUBLIC_BASE_URL=PUBLIC, MEDIA_DIR=str(tmp_path / "media"),
                                OUTBOUND_BACKEND="twilio", TWILIO_SMS_FROM="+15005550006",
                                TWILIO_WHATSAPP_FROM="whatsapp:+14155238886"))
    db = app.extensions["ovop"].db
    with db.transaction() as session:
        awa = add_producer(session, PHONE, channel="whatsapp")
        fatou = add_producer(session, OTHER, name="Fatou Sarr", channel="sms")
        ids = {"awa": awa.id, "fatou": fatou.id}
    with clock.frozen_at(NOW, all_threads=True), live_server(app) as base:
        yield Service(app, db, base, fake, ids)
    db.dispose()


_sids = iter(range(1, 10_000))


class Service:
    def __init__(self, app, db, base, fake, ids):
        self.app, self.db, self.base, self.fake, self.ids = app, db, base, fake, ids

    def send(self, body: str = "", phone: str = PHONE, media: tuple = (), channel="whatsapp") -> list[str]:
        """The producer writes (a signed webhook over HTTP); returns the replies in the TwiML answer."""
        form = inbound_form(phone, body, f"SM{next(_sids):032d}", channel=channel)
        form["NumMedia"] = str(len(media))
        for number, (url, content_type) in enumerate(media):
            form[f"MediaUrl{number}"], form[f"MediaContentType{number}"] = url, content_type
        answer = requests.post(f"{self.base}/twilio/inbound", data=form, timeout=10, headers={
            "X-Twilio-Signature": sign(self.fake.auth_token, f"{PUBLIC}/twilio/inbound", form)})
        assert answer.status_code == 200, answer.text
        return [unescape(m) for m in re.findall(r"<Message>(.*?)</Message>", answer.text, re.S)]

    def api(self, method: str, path: str, body=None, **kwargs):
        answer = requests.request(method, f"{self.base}/api/v1{path}", json=body, timeout=10,
                                  headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)
        return answer.status_code, answer.json() if answer.content else None

    def drain(self) -> int:
        transport = TwilioTransport(self.fake.account_sid, self.fake.auth_token, sms_from="+15005550006",
                                    whatsapp_from="whatsapp:+14155238886", api_base_url=self.fake.base_url,
                                    timeout=2.0)
        return Sender(db=self.db, transport=transport, rates={"sms": 0, "whatsapp": 0},
                      rng=random.Random(7)).drain()["sent"]

    def conversation(self, producer_id: int | None = None) -> StaffConversation | None:
        with self.db.transaction() as session:
            return session.scalar(select(StaffConversation).where(
                StaffConversation.producer_id == (producer_id or self.ids["awa"]))
                .order_by(StaffConversation.id.desc()).limit(1))

    def opted_out(self, producer_id: int | None = None) -> bool:
        with self.db.transaction() as session:
            return session.get(Producer, producer_id or self.ids["awa"]).opted_out

    def close(self, producer_id: int | None = None) -> None:
        status, _ = self.api("POST", f"/conversations/{producer_id or self.ids['awa']}/close")
        assert status == 200

    def handoff_id(self, phone: str = PHONE) -> int | None:
        with self.db.transaction() as session:
            return session.scalar(select(ConversationState.handoff_id).where(ConversationState.phone == phone))


def test_a_voice_note_reaches_staff_who_answer_and_give_the_producer_back_to_the_bot(service):
    voice = service.fake.add_media(b"OggS" + bytes(500), "audio/ogg")
    assert service.send(media=((voice, "audio/ogg"),)) == [
        "Merci, nous avons reçu votre note vocale. L'équipe vous répondra."]
    opened = service.conversation()
    assert (opened.status, opened.reason, opened.unread, opened.acknowledged) == ("open", "voice_note", 1, True)
    assert service.handoff_id() == opened.id

    # While a person has it, the bot keeps quiet: recorded, counted unread, no answer, no help text.
    assert service.send("allo? vous avez reçu mon audio?") == []
    assert service.send("yaourt 40") == []
    assert service.conversation().unread == 3

    status, inbox = service.api("GET", "/conversations?status=open")
    assert status == 200 and [(c["producer_id"], c["reason"], c["unread"]) for c in inbox["items"]] == [
        (service.ids["awa"], "voice_note", 3)]
    status, thread = service.api("GET", f"/conversations/{service.ids['awa']}")
    assert status == 200 and thread["status"] == "open"
    bodies = [(m["direction"], m["body"]) for m in thread["messages"]]
    assert bodies[-2:] == [("in", "allo? vous avez reçu mon audio?"), ("in", "yaourt 40")]
    assert thread["messages"][0]["media"][0]["content_type"] == "audio/ogg"
    assert service.conversation().unread == 0  # read

    status, sent = service.api("POST", f"/conversations/{service.ids['awa']}/reply",
                               {"text": "Bonjour Awa, je vous appelle à 11 h."})
    assert status == 201 and sent["body"] == "Bonjour Awa, je vous appelle à 11 h." and sent["channel"] == "whatsapp"
    assert service.drain() == 1
    [out] = service.fake.messages
    assert out["to"] == f"whatsapp:{PHONE}" and out["body"] == "Bonjour Awa, je vous appelle à 11 h."
    with service.db.transaction() as session:
        reply = session.scalar(select(Message).where(Message.kind == "staff_reply"))
        assert (reply.author, reply.status, reply.provider_sid) == ("api", "queued", out["sid"]) or \
            (reply.author, reply.provider_sid) == ("api", out["sid"])

    status, closed = service.api("POST", f"/conversations/{service.ids['awa']}/close")
    assert status == 200 and closed["status"] == "closed" and closed["closed_by"] == "api"
    assert service.handoff_id() is None
    assert any("yaourt 41 pot" in reply for reply in service.send("yaourt 41"))  # the bot answers again
    status, inbox = service.api("GET", "/conversations?status=open")
    assert inbox["items"] == []


def test_stop_during_an_open_conversation_opts_out_and_staff_can_no_longer_write(service):
    assert service.send("je veux parler a quelqu'un svp") == ["Merci. Un membre de l'équipe va vous répondre ici."]
    assert service.conversation().reason == "asked"
    [confirmed] = service.send("STOP")
    with service.db.transaction() as session:
        assert session.scalar(select(Producer.opted_out).where(Producer.phone == PHONE)) is True
    assert "STOP" in confirmed or "plus" in confirmed
    status, refused = service.api("POST", f"/conversations/{service.ids['awa']}/reply", {"text": "Bonjour"})
    assert status == 409 and "opted out" in refused["error"]
    with service.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)
                              .where(OutboxItem.kind == "staff_reply")) == 0
    # START, language and help still reach the bot.
    assert service.send("START") and service.send("AIDE")


def test_stop_wins_over_a_request_for_a_person(service):
    service.send("STOP. si vous voulez quelque chose appelez moi directement")
    with service.db.transaction() as session:
        assert session.scalar(select(Producer.opted_out).where(Producer.phone == PHONE)) is True
    assert service.conversation() is None


def test_the_team_is_announced_once(service):
    assert service.send("appelez-moi svp") == ["Merci. Un membre de l'équipe va vous répondre ici."]
    assert service.send("woolu ma") == []  # still waiting: no second announcement
    voice = service.fake.add_media(b"OggS" + bytes(100), "audio/ogg")
    assert service.send(media=((voice, "audio/ogg"),)) == []
    photo = service.fake.add_media(b"\xff\xd8" + bytes(100), "image/jpeg")
    assert service.send(media=((photo, "image/jpeg"),)) == []  # kept for staff too, no thank-you from the bot
    assert service.send("   ") == []  # an empty message is no call for help here
    assert service.conversation().unread == 5


def test_two_messages_in_a_row_not_understood_hand_the_producer_to_a_person(service):
    [first] = service.send("kfjdkf sdlkfj")
    assert "pas compris" in first and service.conversation() is None
    assert service.send("xqwzt plop") == [
        "Je n'ai pas compris. Je transmets votre message à l'équipe : quelqu'un va vous répondre ici."]
    assert service.conversation().reason == "not_understood"


def test_while_a_person_has_the_conversation_the_service_s_own_questions_still_get_their_answers(service):
    """What a producer reviewing the inbox found: a "1) Oui, STOP" answer or an order's OUI kept for staff."""
    assert service.send("appelez-moi") == ["Merci. Un membre de l'équipe va vous répondre ici."]
    [asked] = service.send("vous envoyez trop de messages")
    assert "STOP" in asked
    assert service.send("1")[0].startswith("C'est noté")  # the "yes, stop" reaches the bot: opted out
    assert service.opted_out()
    # STOP closed the conversation: nobody may write to them now, and nothing is left open for staff.
    assert service.conversation().status == "closed"


def test_menu_gives_the_producer_back_to_the_bot_and_help_says_how(service):
    service.send("appelez-moi")
    assert service.send("aide") == [
        "Un membre de l'équipe va vous répondre ici. Envoyez MENU pour revenir au service automatique."]
    assert service.send("yaourt 40") == []  # kept for staff
    assert "1" in service.send("menu")[0]  # the menu, from the bot
    assert service.conversation().status == "closed" and service.conversation().closed_by == "producer (MENU)"
    assert service.send("yaourt 40")[0].startswith("Enregistr")


def test_an_old_question_is_forgotten_when_staff_close_the_conversation(service):
    service.send("appelez-moi")
    service.send("vous envoyez trop de messages")  # "stop? 1) Oui 2) Non", left unanswered
    service.close()
    assert service.send("ok") != [] and not service.opted_out()


def test_a_miss_then_an_understood_message_starts_the_count_again(service):
    service.send("kfjdkf sdlkfj")
    assert any("yaourt 40" in reply for reply in service.send("yaourt 40"))
    [again] = service.send("xqwzt plop")
    assert "pas compris" in again and service.conversation() is None


def test_a_staff_reply_outside_the_whatsapp_window_goes_by_sms_and_opens_a_conversation(service):
    """Fatou writes by SMS and never wrote: staff may still write to her (SMS), and her answer reaches them."""
    status, sent = service.api("POST", f"/conversations/{service.ids['fatou']}/reply", {"text": "Bonjour Fatou"})
    assert status == 201 and sent["channel"] == "sms"
    opened = service.conversation(service.ids["fatou"])
    assert (opened.reason, opened.status) == ("staff", "open")
    assert service.drain() == 1 and service.fake.messages[0]["to"] == OTHER
    assert service.send("merci, je passe demain", phone=OTHER, channel="sms") == []
    assert service.conversation(service.ids["fatou"]).unread == 1


def test_a_staff_reply_leaves_at_night_too(service):
    """Quiet hours hold back what the service starts on its own, not a person's answer to a producer."""
    service.send("appelez-moi")
    with clock.frozen_at(datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc), all_threads=True):
        status, _sent = service.api("POST", f"/conversations/{service.ids['awa']}/reply", {"text": "Demain 9 h ?"})
        assert status == 201
        with service.db.transaction() as session:
            row = session.scalar(select(OutboxItem).where(OutboxItem.kind == "staff_reply"))
            assert row.not_before <= clock.now()
        assert service.drain() == 1


@pytest.mark.parametrize("body, status, field", [
    ({}, 422, "text"), ({"text": ""}, 422, "text"), ({"text": "   "}, 422, "text"), ({"text": "x" * 1601}, 422, "text"),
    ({"text": 12}, 422, "text"), ({"text": "ok", "extra": 1}, 422, "extra"),
])
def test_a_bad_reply_is_refused_clearly(service, body, status, field):
    answer, refused = service.api("POST", f"/conversations/{service.ids['awa']}/reply", body)
    assert answer == status and refused["field"] == field


def test_unknown_or_erased_producers_and_closed_conversations_answer_4xx(service):
    assert service.api("GET", "/conversations/999999")[0] == 404
    assert service.api("GET", f"/conversations/{service.ids['awa']}")[0] == 404  # no conversation yet
    assert service.api("POST", "/conversations/999999/reply", {"text": "hi"})[0] == 404
    assert service.api("POST", f"/conversations/{service.ids['awa']}/close")[0] == 409
    assert service.api("GET", "/conversations?status=maybe")[0] == 422
    answer = requests.post(f"{service.base}/api/v1/conversations/{service.ids['awa']}/reply", data="text",
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 400
    service.send("appelez-moi", phone=OTHER, channel="sms")
    assert service.api("DELETE", f"/producers/{service.ids['fatou']}")[0] == 204
    assert service.conversation(service.ids["fatou"]).status == "closed"  # out of the inbox
    assert service.api("POST", f"/conversations/{service.ids['fatou']}/reply", {"text": "hi"})[0] == 404
    assert requests.get(f"{service.base}/api/v1/conversations", timeout=10).status_code == 401


# --- the dashboard --------------------------------------------------------------------------------------------

class Staff:
    """A browser: the service's cookies are Secure (its public address is https), so it speaks to the app as
    https through Flask's client, and the answers read as a browser reads them."""

    def __init__(self, app):
        self.client = app.test_client()
        self.client.environ_base["wsgi.url_scheme"] = "https"

    def token(self) -> str:
        self.get("/")  # the login page makes the session's token
        with self.client.session_transaction() as session:
            return session["csrf"]

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def login(self):
        answer = self.client.post("/", data={"username": "admin", "password": PASSWORD, "csrf_token": self.token()})
        assert answer.status_code in (200, 302)

    def post(self, path, data=None, token=True):
        data = dict(data or {})
        if token:
            data["csrf_token"] = self.token()
        answer = self.client.post(path, data=data)
        return self.get(answer.headers["Location"]) if answer.status_code == 302 else answer


def test_staff_answer_and_close_from_the_dashboard_inbox(service):
    voice = service.fake.add_media(b"OggS" + bytes(200), "audio/ogg")
    service.send(media=((voice, "audio/ogg"),))
    service.send("allo?")
    assert registry()["media-fetch"].run(service.db, service.app.config, clock.now()) == 1
    staff = Staff(service.app)
    assert "/?next=" in staff.get("/inbox").headers["Location"]  # signed-in staff only
    staff.login()
    inbox = staff.get("/inbox").text
    assert re.search(r'id="inbox-unread"[^>]*>2<', inbox)  # the count in the menu
    assert "note vocale" in inbox and "Awa Ndiaye" in inbox
    page = staff.get(f"/inbox/{service.ids['awa']}").text
    assert "allo?" in page and "<audio controls" in page
    assert 'id="inbox-unread"' not in staff.get("/inbox").text  # read now

    assert staff.post(f"/inbox/{service.ids['awa']}/reply", {"text": "Je vous rappelle."}, token=False
                      ).status_code == 400  # CSRF
    empty = staff.post(f"/inbox/{service.ids['awa']}/reply", {"text": "  "})
    assert empty.status_code == 422
    sent = staff.post(f"/inbox/{service.ids['awa']}/reply", {"text": "Je vous rappelle."})
    assert sent.status_code == 200 and "Réponse envoyée" in sent.text and "Je vous rappelle." in sent.text
    assert service.drain() == 1 and service.fake.messages[0]["body"] == "Je vous rappelle."
    with service.db.transaction() as session:
        assert session.scalar(select(Message.author).where(Message.kind == "staff_reply")) == "admin"
    closed = staff.post(f"/inbox/{service.ids['awa']}/close")
    assert closed.status_code == 200 and "Conversation fermée" in closed.text
    assert service.handoff_id() is None
    assert staff.post(f"/inbox/{service.ids['awa']}/close").status_code == 200  # told it is already closed
    assert staff.get("/inbox/999999").headers["Location"].endswith("/inbox")


def test_the_dashboard_serves_stored_media_to_signed_in_staff_only(service):
    photo = service.fake.add_media(b"\x89PNG\r\n\x1a\n" + bytes(300), "image/png")
    pdf = service.fake.add_media(b"%PDF-1.4\n" + bytes(300), "application/pdf")
    service.send(media=((photo, "image/png"), (pdf, "application/pdf")))
    assert registry()["media-fetch"].run(service.db, service.app.config, clock.now()) == 2
    anonymous = requests.get(f"{service.base}/media/1", timeout=10, allow_redirects=False)
    assert anonymous.status_code == 302
    staff = Staff(service.app)
    staff.login()
    image = staff.get("/media/1")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    document = staff.get("/media/2")
    assert document.headers["Content-Type"] == "application/pdf"
    assert document.headers["Content-Disposition"].startswith("attachment")
    for path in ("/media/3", "/media/..%2f..%2fetc%2fpasswd", "/media/0"):
        assert staff.get(path).status_code == 404
    with service.db.transaction() as session:  # a path that is not one the fetcher wrote is never served
        session.get(MessageMedia, 1).path = "../../../etc/passwd"
    assert staff.get("/media/1").status_code == 404
    listed = staff.get("/messages").text
    assert 'href="/media/2"' in listed and "Document PDF" in listed


def test_an_order_answer_reaches_the_order_while_a_person_has_the_conversation(service):
    service.send("appelez-moi")
    with service.db.transaction() as session:
        cooperative_id = session.get(Producer, service.ids["awa"]).cooperative_id
    status, order = service.api("POST", "/orders", {"cooperative_id": cooperative_id, "product": "yaourt",
                                                    "quantity": 10, "due_date": "2026-12-09"})
    assert status == 201
    [answer] = service.send("oui")
    assert order["reference"] in answer
    status, order = service.api("GET", f"/orders/{order['id']}")
    assert order["status"] == "accepted"
    assert service.conversation().status == "open"  # the person still has the rest of the conversation


def test_a_question_the_bot_asks_while_a_person_has_the_conversation_gets_its_answer(service):
    service.send("appelez-moi")
    [asked] = service.send("langue")  # which language? 1) … 2) … 3) …
    assert "1" in asked and "2" in asked
    assert service.send("2") != []  # the answer reaches the question, not the staff's pile
    with service.db.transaction() as session:
        assert session.get(Producer, service.ids["awa"]).language == "wo"
