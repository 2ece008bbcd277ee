"""The channel policy for messages the service starts: WhatsApp text in the window, a template outside it, SMS
as the fallback, undeliverable when nothing is allowed, nothing at all to opted-out producers. Where sending
matters, the real outbox Sender drains the rows through the real TwilioTransport into a fake Twilio."""
from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from ovop.core import clock
from ovop.core.config import defaults
from ovop.messaging import notify as notifying
from ovop.language.i18n import is_gsm7, sms_segments
from ovop.models import OutboxItem, Producer
from ovop.messaging.transport import TwilioTransport
from ovop.messaging.outbox import Sender
from tests.fake_twilio import FakeTwilio
from tests.helpers import add_producer

pytestmark = pytest.mark.clock  # reads dates or times of day: .ci/run also runs it at other hours

AWA = "+221770000101"
PARAMS = {"reference": "CMD-0007", "product": "soow"}  # order.thanks: {{1}} reference, {{2}} product


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


def twilio_config(fake=None, **overrides) -> dict:
    """Settings of a production-like service: Twilio with a WhatsApp sender and an SMS sender."""
    return defaults(**{"OUTBOUND_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": fake.account_sid if fake else "AC1",
                       "TWILIO_AUTH_TOKEN": fake.auth_token if fake else "token",
                       "TWILIO_WHATSAPP_FROM": "+14155238886", "TWILIO_SMS_FROM": "+15005550006", **overrides})


def sender(db, fake, config) -> Sender:
    transport = TwilioTransport(fake.account_sid, fake.auth_token, sms_from=config.get("TWILIO_SMS_FROM"),
                                whatsapp_from=config.get("TWILIO_WHATSAPP_FROM"), api_base_url=fake.base_url,
                                timeout=2.0)
    return Sender(db=db, transport=transport, rates={}, rng=random.Random(3))


def producer(db, *, last_message_hours_ago=None, channel="whatsapp", language="wo", **changes) -> int:
    with db.transaction() as session:
        made = add_producer(session, AWA, language=language, channel=channel)
        if last_message_hours_ago is not None:
            made.last_inbound_at = clock.now() - timedelta(hours=last_message_hours_ago)
        for name, value in changes.items():
            setattr(made, name, value)
        return made.id


def notify(db, config, producer_id, key="order-thanks:order=7", kind="order_thanks", **options):
    with db.transaction() as session:
        return notifying.notify(session, config, session.get(Producer, producer_id), kind, dedupe_key=key,
                                key="order.thanks", params=PARAMS, **options)


def rows(db) -> list[OutboxItem]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def test_it_sends_free_whatsapp_text_inside_the_window(db, fake):
    config = twilio_config(fake)
    notice = notify(db, config, producer(db, last_message_hours_ago=2))
    assert (notice.status, notice.via, notice.channel, notice.added) == ("pending", "whatsapp", "whatsapp", True)
    assert sender(db, fake, config).run_once() == 1
    [sent] = fake.messages
    assert sent["to"] == f"whatsapp:{AWA}" and sent["content_sid"] is None
    assert "CMD-0007" in sent["body"] and "Jërëjëf" in sent["body"]  # Wolof, accents kept on WhatsApp
    assert rows(db)[0].status == "sent"


@pytest.mark.parametrize("hours_ago", [None, 30, 23.9])
def test_it_sends_the_approved_template_outside_the_window(db, fake, hours_ago):
    # 23.9 h: the window closes before the sender can be sure to reach Twilio, so the template is used.
    config = twilio_config(fake, TWILIO_TEMPLATES={"order_thanks": {"wo": "HXwolof", "fr": "HXfrench"}})
    fake.outside_window(AWA)  # free text would be refused with 63016
    notice = notify(db, config, producer(db, last_message_hours_ago=hours_ago))
    assert (notice.via, notice.channel) == ("template", "whatsapp")
    assert sender(db, fake, config).run_once() == 1
    [sent] = fake.messages
    assert sent["content_sid"] == "HXwolof" and sent["body"] is None
    assert json.loads(sent["content_variables"]) == {"1": "CMD-0007", "2": "soow"}
    assert all("Body" not in request["form"] for request in fake.requests)  # never free text outside


def test_a_missing_template_in_the_producers_language_falls_back_to_the_french_one(db):
    config = twilio_config(TWILIO_TEMPLATES={"order_thanks": {"fr": "HXfrench"}})
    notify(db, config, producer(db, last_message_hours_ago=48))
    assert rows(db)[0].content_sid == "HXfrench"


def test_it_falls_back_to_sms_folded_to_gsm7_without_a_template(db, fake):
    config = twilio_config(fake)
    notice = notify(db, config, producer(db, last_message_hours_ago=30))
    assert (notice.via, notice.channel) == ("sms", "sms")
    assert sender(db, fake, config).run_once() == 1
    [sent] = fake.messages
    assert sent["to"] == AWA and sent["from"] == "+15005550006"
    assert "Jerejef" in sent["body"] and is_gsm7(sent["body"]) and sms_segments(sent["body"]) == 1


def test_an_sms_producer_gets_sms_even_inside_a_window(db):
    notify(db, twilio_config(), producer(db, channel="sms", last_message_hours_ago=1))
    assert rows(db)[0].channel == "sms"


def test_a_messaging_service_counts_as_an_sms_sender(db):
    config = twilio_config(TWILIO_SMS_FROM=None, TWILIO_WHATSAPP_FROM=None, TWILIO_MESSAGING_SERVICE_SID="MG1")
    notice = notify(db, config, producer(db))
    assert (notice.via, notice.status) == ("sms", "pending")


def test_it_marks_the_message_undeliverable_when_no_channel_is_allowed(db, fake):
    config = twilio_config(fake, TWILIO_SMS_FROM=None)  # WhatsApp only, window closed, no template
    notice = notify(db, config, producer(db, last_message_hours_ago=30))
    assert (notice.status, notice.via) == ("undeliverable", "undeliverable")
    [row] = rows(db)
    assert row.status == "undeliverable" and "window" in row.last_error and row.body
    assert sender(db, fake, config).run_once() == 0  # never claimed, never sent
    assert fake.requests == []


def test_the_window_is_judged_when_the_message_will_leave(db):
    config = twilio_config()
    producer_id = producer(db, last_message_hours_ago=20)
    # A tip judged at 23:00 waits for 07:00, when the window (opened 20 h ago) will have closed.
    late_evening = clock.now().replace(hour=23, minute=0, second=0, microsecond=0)
    notice = notify(db, config, producer_id, kind="price_tip", now=late_evening)
    assert notice.via == "sms"


def test_the_console_backend_delivers_everything_on_a_newcomers_machine(db):
    notice = notify(db, defaults(OUTBOUND_BACKEND="console"), producer(db, last_message_hours_ago=30))
    assert (notice.via, notice.status) == ("sms", "pending")


@pytest.mark.parametrize("changes", [{"opted_out": True}, {"phone": None, "deleted_at": clock.now()}])
def test_opted_out_or_erased_producers_get_nothing(db, changes):
    assert notify(db, twilio_config(), producer(db, last_message_hours_ago=1, **changes)) is None
    assert rows(db) == []


def test_a_dedupe_key_is_queued_once(db):
    config = twilio_config()
    producer_id = producer(db, last_message_hours_ago=1)
    first, second = notify(db, config, producer_id), notify(db, config, producer_id)
    assert first.added and not second.added and second.via == "whatsapp"
    assert len(rows(db)) == 1


def test_staff_get_a_french_sms_each(db):
    config = twilio_config(STAFF_PHONES=["+221770009999", "+221770009998"])
    with db.transaction() as session:
        added = notifying.notify_staff(session, config, "staff_order", "staff:order=7:accepted",
                                    "staff.order_declined", {"reference": "CMD-0007", "product": "yaourt",
                                                             "quantity": "40", "unit": "pot",
                                                             "cooperative": "GIE Takku Liggéey"})
    assert added == 2
    assert [(row.recipient, row.channel) for row in rows(db)] == [("+221770009999", "sms"), ("+221770009998", "sms")]
    assert all("refusée par tous" in row.body and is_gsm7(row.body) for row in rows(db))


def test_staff_messages_without_an_sms_sender_are_undeliverable(db):
    config = twilio_config(TWILIO_SMS_FROM=None, STAFF_PHONES=["+221770009999"])
    with db.transaction() as session:
        notifying.notify_staff(session, config, "staff_order", "staff:x", "order.thanks", PARAMS)
    assert [row.status for row in rows(db)] == ["undeliverable"]
