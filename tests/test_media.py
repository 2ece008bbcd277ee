"""Photos, voice notes, documents and locations, end to end through real HTTP: a signed webhook names Twilio's
media URLs, the worker's job fetches them from the fake Twilio (Basic auth, then a redirect to its CDN on another
host) into a temporary MEDIA_DIR, the producer is thanked, staff see the files; forged addresses, big files and
types we do not keep are refused."""
from __future__ import annotations

import base64
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from app import create_app
from ovop.core import clock
from ovop.jobs.jobs import registry
from ovop.models import ConversationState, Message, MessageMedia, Producer, StaffConversation, StockReport
from tests.conftest import TOKEN, app_config
from tests.fake_twilio import FakeTwilio
from tests.helpers import add_producer, inbound_form, live_server, sign

PUBLIC = "https://ovop.example.org"
PHONE = "+221770000101"
NOW = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)  # a Tuesday morning in Dakar
VOICE = b"OggS\x00\x02" + os.urandom(3000)
PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(2000)
PDF = b"%PDF-1.4\n" + os.urandom(1000)
MAX_BYTES = 8192


@pytest.fixture
def service(database_url, tmp_path, fake):
    """The service in signed mode on loopback, its Twilio account being the fake's, media under tmp_path."""
    media_dir = tmp_path / "media"
    app = create_app(app_config(database_url, TWILIO_ACCOUNT_SID=fake.account_sid,
                                TWILIO_AUTH_TOKEN=fake.auth_token, TWILIO_API_BASE_URL=fake.base_url,
                                PUBLIC_BASE_URL=PUBLIC, MEDIA_DIR=str(media_dir), MEDIA_MAX_BYTES=MAX_BYTES))
    db = app.extensions["ovop"].db
    with db.transaction() as session:
        add_producer(session, PHONE, channel="whatsapp")
    with clock.frozen_at(NOW, all_threads=True), live_server(app) as base:
        yield app, db, base, media_dir
    db.dispose()


_sids = iter(range(1, 10_000))


def post(service, body: str = "", media: list[tuple[str, str]] = (), **extra) -> str:
    """A signed Twilio webhook over HTTP; returns the TwiML answer."""
    app, _db, base, _dir = service
    form = inbound_form(PHONE, body, f"SM{next(_sids):032d}", channel="whatsapp")
    form["NumMedia"] = str(len(media))
    for number, (url, content_type) in enumerate(media):
        form[f"MediaUrl{number}"], form[f"MediaContentType{number}"] = url, content_type
    form.update(extra)
    answer = requests.post(f"{base}/twilio/inbound", data=form, timeout=10,
                           headers={"X-Twilio-Signature": sign(app.config["TWILIO_AUTH_TOKEN"],
                                                               f"{PUBLIC}/twilio/inbound", form)})
    assert answer.status_code == 200, answer.text
    return answer.text


def fetch(service) -> int:
    app, db, _base, _dir = service
    return registry()["media-fetch"].run(db, app.config, clock.now())


def media_rows(db) -> list[MessageMedia]:
    with db.transaction() as session:
        return list(session.scalars(select(MessageMedia).order_by(MessageMedia.id)))


def files(media_dir: Path) -> list[Path]:
    return sorted(p for p in media_dir.rglob("*") if p.is_file()) if media_dir.exists() else []


def api_get(service, path: str):
    _app, _db, base, _dir = service
    return requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def test_a_voice_note_is_stored_with_the_accounts_credentials_and_the_producer_is_thanked(service, fake):
    app, db, base, media_dir = service
    url = fake.add_media(VOICE, "audio/ogg")
    answer = post(service, media=[(url, "audio/ogg")])
    assert "Merci, nous avons reçu votre note vocale. L'équipe vous répondra." in answer.replace("&#x27;", "'")
    assert media_rows(db)[0].status == "pending"

    assert fetch(service) == 1
    [row] = media_rows(db)
    assert row.status == "stored" and row.size == len(VOICE) and row.source_url is None
    [stored] = files(media_dir)
    assert stored.read_bytes() == VOICE and stored.suffix == ".ogg" and row.path.endswith(stored.name)
    # Twilio's host got our credentials; its CDN, another host, got none.
    [asked] = [r for r in fake.requests if "/Media/" in r["path"]]
    expected = "Basic " + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    assert asked["headers"]["Authorization"] == expected
    [cdn] = fake.cdn_requests
    assert "Authorization" not in cdn["headers"]
    assert fetch(service) == 0  # nothing fetched twice

    # Staff read it through the API: the message lists the file, served to the token holder only.
    listed = api_get(service, "/api/v1/messages?direction=in").json()["items"][0]
    assert listed["media"] == [{"url": f"/api/v1/media/{row.id}", "content_type": "audio/ogg", "status": "stored"}]
    got = api_get(service, listed["media"][0]["url"])
    assert got.status_code == 200 and got.content == VOICE
    assert got.headers["Content-Type"] == "audio/ogg" and got.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(f"{base}{listed['media'][0]['url']}", timeout=10).status_code == 401
    assert api_get(service, "/api/v1/media/99999").status_code == 404


def test_a_photo_a_document_and_a_location_are_thanked_for_not_answered_with_help(service, fake):
    _app, db, _base, media_dir = service
    assert "reçu votre photo" in post(service, media=[(fake.add_media(PHOTO, "image/jpeg"), "image/jpeg")])
    assert "reçu votre document" in post(service, media=[(fake.add_media(PDF, "application/pdf"),
                                                          "application/pdf")])
    assert "reçu votre position" in post(service, Latitude="14.6928", Longitude="-17.4467")
    assert fetch(service) == 2
    assert sorted(p.suffix for p in files(media_dir)) == [".jpg", ".pdf"]
    with db.transaction() as session:
        located = session.scalar(select(Message).where(Message.latitude.is_not(None)))
        assert (located.latitude, located.longitude) == (14.6928, -17.4467)
        assert session.scalar(select(StaffConversation)) is None  # only a voice note calls a person


def test_text_with_a_photo_is_handled_as_text_and_the_photo_kept(service, fake):
    _app, db, _base, _dir = service
    answer = post(service, "yaourt 40", media=[(fake.add_media(PHOTO, "image/jpeg"), "image/jpeg")])
    assert "yaourt 40 pot" in answer
    assert fetch(service) == 1
    with db.transaction() as session:
        report = session.scalar(select(StockReport))
        assert report.quantity == 40
        [row] = session.scalars(select(MessageMedia)).all()
        assert row.status == "stored"


def test_a_photo_sent_during_a_stock_report_is_attached_to_it(service, fake):
    _app, db, _base, _dir = service
    post(service, "1")  # the menu's stock entry: how many pots of yaourt?
    assert "jointe à votre rapport" in post(service, media=[(fake.add_media(PHOTO, "image/jpeg"), "image/jpeg")])
    assert "yaourt 30 pot" in post(service, "30")
    with clock.frozen_at(NOW + timedelta(minutes=3), all_threads=True):
        # Within minutes after a report, a photo belongs to that report too.
        assert "jointe" in post(service, media=[(fake.add_media(PHOTO, "image/png"), "image/png")])
    with clock.frozen_at(NOW + timedelta(hours=2), all_threads=True):
        assert "reçu votre photo" in post(service, media=[(fake.add_media(PHOTO, "image/jpeg"), "image/jpeg")])
    with db.transaction() as session:
        report = session.scalar(select(StockReport))
        attached = [row.stock_report_id for row in session.scalars(select(MessageMedia).order_by(MessageMedia.id))]
    assert report.quantity == 30 and attached == [report.id, report.id, None]


def test_forged_media_addresses_are_never_fetched(service, fake):
    """In local mode a webhook can be forged: only our account's media on Twilio's media host is ever asked for."""
    _app, db, _base, media_dir = service
    with FakeTwilio(account_sid=fake.account_sid, auth_token=fake.auth_token) as elsewhere:
        real = fake.add_media(PHOTO, "image/jpeg")
        forged = [
            elsewhere.add_media(PHOTO, "image/jpeg"),  # the right path on another host
            real.replace(fake.account_sid, "AC" + "9" * 32),  # another account on the right host
            real.replace("http://", "http://user:pw@"),
            real + "?redirect=http://169.254.169.254/",
            f"{fake.base_url}/etc/passwd",
            "http://169.254.169.254/latest/meta-data/",
            "https://api.twilio.com.evil.example/2010-04-01/Accounts/" + fake.account_sid + "/Messages/MM1/Media/ME1",
        ]
        for url in forged:
            post(service, media=[(url, "image/jpeg")])
        assert fetch(service) == 0
        assert elsewhere.requests == [] and elsewhere.cdn_requests == []
    assert [r for r in fake.requests if "/Media/" in r["path"]] == []
    rows = media_rows(db)
    assert [row.status for row in rows] == ["refused"] * len(forged)
    assert all("not a Twilio media address" in row.error for row in rows)
    assert files(media_dir) == []


def test_files_over_the_limit_are_refused_and_nothing_of_them_stays(service, fake):
    _app, db, _base, media_dir = service
    big = os.urandom(MAX_BYTES + 1)
    post(service, media=[(fake.add_media(big, "image/jpeg"), "image/jpeg")])  # says its length: not read
    post(service, media=[(fake.add_media(big, "audio/ogg", declared_length=-1), "audio/ogg")])  # streamed
    post(service, media=[(fake.add_media(big, "image/png", redirect=False, declared_length=-1), "image/png")])
    assert fetch(service) == 0
    rows = media_rows(db)
    assert [row.status for row in rows] == ["refused"] * 3
    assert all(f"larger than {MAX_BYTES} bytes" in row.error and row.path is None for row in rows)
    assert files(media_dir) == []  # no partial file left


def test_types_we_do_not_keep_are_refused(service, fake):
    _app, db, _base, media_dir = service
    post(service, media=[(fake.add_media(b"<html>", "text/html"), "text/html")])
    post(service, media=[(fake.add_media(b"<script>", "text/html"), "image/jpeg")])  # declared a photo, served html
    post(service, media=[(fake.add_media(b"BEGIN:VCARD", "text/vcard"), "text/vcard")])
    assert fetch(service) == 0
    rows = media_rows(db)
    assert [row.status for row in rows] == ["refused"] * 3
    assert len([r for r in fake.requests if "/Media/" in r["path"]]) == 1  # the html and vcard were never asked
    assert files(media_dir) == []


def test_a_file_twilio_does_not_have_is_recorded_as_failed_never_a_crash(service, fake):
    _app, db, _base, _dir = service
    gone = fake.add_media(PHOTO, "image/jpeg").rsplit("/", 1)[0] + "/ME" + "0" * 32
    post(service, media=[(gone, "image/jpeg")])
    assert fetch(service) == 0
    [row] = media_rows(db)
    assert row.status == "failed" and "404" in row.error and row.attempts == 1


def test_an_unreachable_host_is_retried_a_bounded_number_of_times(service, fake):
    app, db, _base, _dir = service
    url = fake.add_media(PHOTO, "image/jpeg")
    post(service, media=[(url, "image/jpeg")])
    fake.stop()  # Twilio away: each run counts a try, then the row is given up
    for _ in range(10):
        fetch(service)
    [row] = media_rows(db)
    assert row.status == "failed" and row.attempts == 5 and "could not reach" in row.error


def test_erasing_a_producer_deletes_their_media_files(service, fake):
    _app, db, _base, media_dir = service
    post(service, media=[(fake.add_media(VOICE, "audio/ogg"), "audio/ogg")])
    post(service, media=[(fake.add_media(PHOTO, "image/jpeg"), "image/jpeg")])
    assert fetch(service) == 2 and len(files(media_dir)) == 2
    with db.transaction() as session:
        producer_id = session.scalar(select(Producer.id).where(Producer.phone == PHONE))
    _app2, _db2, base, _dir2 = service
    erased = requests.delete(f"{base}/api/v1/producers/{producer_id}", timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert erased.status_code == 204
    assert files(media_dir) == []
    assert all(row.path is None and row.source_url is None and row.status == "erased" for row in media_rows(db))
    with db.transaction() as session:
        assert session.scalar(select(ConversationState)) is None
