"""The break-in findings, each replayed as its attack: forged X-Forwarded-For against the login limit, huge and
endless bodies, slow clients, a cookie copied before logout, NUL bytes and deep JSON, CR/LF in next=, signed
mode without a public URL, /healthz on a database that is not migrated, phone numbers in the logs."""
from __future__ import annotations

import io
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from contextlib import closing, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select

from ovop.web import api as api_module
from ovop.web.dashboard import auth
from app import create_app
from ovop.core import clock, config as settings, migrate
from ovop.web import webhook
from ovop.core.db import head_revision
from ovop.models import LoginThrottle, Message, StaffSession
from tests.conftest import TOKEN, app_config
from tests.helpers import inbound_form, live_server
from tests.test_dashboard import PASSWORD, Staff, with_dashboard

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
FREE = auth.FREE_FAILURES["account"]


@pytest.fixture
def dash(demo):
    return with_dashboard(demo)


@pytest.fixture
def visitor(dash) -> Staff:
    return Staff(dash.test_client())


@pytest.fixture
def staff(dash) -> Staff:
    signed = Staff(dash.test_client())
    assert signed.login().status_code == 302
    return signed


def build(database_url, **overrides):
    return with_dashboard(create_app(app_config(database_url, **overrides)))


@contextmanager
def built(database_url, **overrides):
    application = build(database_url, **overrides)
    try:
        yield application
    finally:
        application.extensions["ovop"].db.dispose()


def guess(client, password="wrong", user="admin", forwarded_for=None, remote=None):
    """One sign-in attempt as a script would send it, optionally with a forged X-Forwarded-For."""
    staff = client if isinstance(client, Staff) else Staff(client)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    if remote:
        staff.client.environ_base["REMOTE_ADDR"] = remote
    token = staff.token()
    return staff.client.post("/", data={"username": user, "password": password, "csrf_token": token},
                             headers=headers)


# --- 2. the login limit: X-Forwarded-For, shared counts, a delay instead of a lock-out ----------------------

def test_forty_guesses_with_forged_addresses_meet_the_limit(visitor):
    with clock.frozen_at(START):
        answers = [guess(visitor, f"guess-{n}", forwarded_for=f"198.51.100.{n}").status_code for n in range(40)]
    # The forged header is not believed (TRUSTED_PROXIES is 0): the account waits after its free tries.
    assert answers[:FREE + 1] == [401] * (FREE + 1)
    assert answers[FREE + 1:] == [429] * (40 - FREE - 1)


def test_the_forwarded_address_is_believed_from_the_trusted_proxies_only(database_url):
    with built(database_url, TRUSTED_PROXIES=1) as app, clock.frozen_at(START):
        spoofer = Staff(app.test_client())
        free = auth.FREE_FAILURES["address"]
        # One client behind the proxy, trying many user names: its address (the proxy's last entry) is counted,
        # whatever it wrote before it in the header.
        answers = [guess(spoofer, user=f"user{n}", forwarded_for=f"10.9.9.{n}, 203.0.113.7").status_code
                   for n in range(free + 2)]
        assert answers == [401] * (free + 1) + [429]
        colleague = Staff(app.test_client())
        assert guess(colleague, PASSWORD, forwarded_for="198.51.100.20").status_code == 302
        assert auth.LoginThrottles(app.extensions["ovop"].db).failures("address", "203.0.113.7") == free + 1


def test_wrong_passwords_sent_in_a_colleagues_name_only_slow_the_account_for_a_moment(visitor, dash):
    with clock.frozen_at(START):
        for n in range(5):
            assert guess(visitor, forwarded_for="10.0.0.9").status_code in (401, 429)
    real = Staff(dash.test_client())
    real.client.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    with clock.frozen_at(START):
        refused = guess(real, PASSWORD)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= auth.MAX_DELAY
    with clock.frozen_at(START + timedelta(seconds=int(refused.headers["Retry-After"]))):
        assert guess(real, PASSWORD).status_code == 302


def test_the_delay_grows_with_each_failure_and_a_success_starts_again(visitor, db):
    moment, failures, waits = START, 0, []
    for _ in range(2 * (FREE + 7)):  # a guesser waiting each time exactly as long as told
        if failures == FREE + 7:
            break
        with clock.frozen_at(moment):
            answer = guess(visitor)
        if answer.status_code == 429:
            waits.append(int(answer.headers["Retry-After"]))
            moment += timedelta(seconds=waits[-1])
        else:
            assert answer.status_code == 401
            failures += 1
    assert waits == [1, 2, 4, 8, 16, 32]
    with clock.frozen_at(moment + timedelta(seconds=auth.MAX_DELAY)):
        assert guess(visitor, PASSWORD).status_code == 302
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(LoginThrottle)) == 0


def test_failed_logins_are_shared_by_every_worker_and_kept_across_a_restart(database_url):
    with clock.frozen_at(START, all_threads=True):
        with built(database_url) as first, built(database_url) as second:
            for worker in (first, second):
                for _ in range(2):
                    assert guess(worker.test_client()).status_code in (401, 429)
            assert guess(second.test_client(), PASSWORD).status_code == 429
        with built(database_url) as restarted:  # a new process: the counts are in the database
            assert guess(restarted.test_client(), PASSWORD).status_code == 429


def test_parallel_guesses_cannot_slip_past_the_count(dash):
    barrier, answers = threading.Barrier(12), []

    def attempt(base):
        with requests.Session() as browser:
            page = browser.get(f"{base}/", timeout=30).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
            barrier.wait()
            answers.append(browser.post(f"{base}/", data={"username": "admin", "password": "wrong",
                                                          "csrf_token": token}, timeout=30,
                                        allow_redirects=False).status_code)

    with clock.frozen_at(START, all_threads=True), live_server(dash) as base:
        threads = [threading.Thread(target=attempt, args=(base,)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers) == [401] * (FREE + 1) + [429] * (12 - FREE - 1)


def test_counts_are_forgotten_after_an_hour_without_failure(visitor):
    with clock.frozen_at(START):
        for _ in range(FREE + 1):
            guess(visitor)
        assert guess(visitor).status_code == 429
    with clock.frozen_at(START + auth.FORGET_AFTER + timedelta(seconds=1)):
        assert [guess(visitor).status_code for _ in range(FREE + 1)] == [401] * (FREE + 1)


# --- 3. body caps -------------------------------------------------------------------------------------------

class Endless(io.RawIOBase):
    """A request body of `length` bytes as the test client measures it, that gives `supply` bytes (by default
    without end), counting what the server read of it."""

    def __init__(self, length: int = 0, supply: int | None = None):
        self.read_bytes, self.length, self.position, self.supply = 0, length, 0, supply

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = self.length if whence == io.SEEK_END else offset
        return self.position

    def tell(self):
        return self.position

    def readinto(self, buffer):
        size = len(buffer) if self.supply is None else min(len(buffer), self.supply - self.read_bytes)
        buffer[:size] = b"a" * size
        self.read_bytes += size
        return size


HUGE = 200 * 1024 * 1024


@pytest.mark.parametrize("signed", [False, True], ids=["local", "signed"])
def test_a_huge_webhook_body_is_refused_before_a_byte_is_read(database_url, signed):
    extra = {"TWILIO_AUTH_TOKEN": "t" * 32, "PUBLIC_BASE_URL": "https://ovop.example.org"} if signed else {}
    with built(database_url, **extra) as app:
        body = Endless(HUGE)
        response = app.test_client().post("/twilio/inbound", input_stream=body,
                                          content_type="application/x-www-form-urlencoded")
        assert response.status_code == 413 and body.read_bytes == 0


def test_a_webhook_body_without_a_length_is_cut_at_the_cap(client, db):
    body = Endless(supply=32 * 1024 * 1024)  # a finite supply, so that a server reading it all still ends
    response = client.post("/twilio/inbound", input_stream=body, content_type="application/x-www-form-urlencoded",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert body.read_bytes <= webhook.MAX_BODY + 64 * 1024  # what one read ahead may take
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_real_message_fits_well_inside_the_webhook_cap(client):
    form = inbound_form("+221770000101", "🙏" * 1600, "SMbig")
    form.update({f"MediaUrl{n}": f"https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME{n:030d}"
                 for n in range(10)})
    assert len(urlencode(form)) < webhook.MAX_BODY
    assert client.post("/twilio/inbound", data=form).status_code == 200


def test_the_api_answers_413_in_json_above_its_cap(client):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = client.post("/api/v1/producers", data=b'{"name": "' + b"x" * api_module.MAX_BODY + b'"}',
                           headers=headers, content_type="application/json")
    assert response.status_code == 413 and "limit" in response.get_json()["error"]
    body = Endless(HUGE)
    response = client.post("/api/v1/producers", input_stream=body, headers=headers,
                           content_type="application/json")
    assert response.status_code == 413 and response.is_json and body.read_bytes == 0
    # Without the token nothing is read at all.
    assert client.post("/api/v1/producers", input_stream=Endless(HUGE)).status_code == 401


def test_healthz_and_unknown_paths_take_no_body(client):
    body = Endless(HUGE)
    assert client.post("/nothing-here", input_stream=body).status_code in (404, 405, 413)
    assert body.read_bytes == 0


def test_dashboard_forms_a_chunk_of_rows_and_the_csv_upload_each_have_their_cap(staff):
    assert staff.post("/prices", {"product": "yaourt", "price": "600", "market": "x" * auth.MAX_POST}).status_code \
        == 413
    rows = {"rows": [{"line": n, "phone": "77" + "1" * 7, "name": "x" * 400} for n in range(200)]}
    assert staff.post_json("/producers/import/rows", rows).status_code == 200  # a full chunk (~100 KB) fits
    assert staff.client.post("/producers/import/rows", data=b"[" + b" " * auth.MAX_CHUNK + b"]",
                             content_type="application/json",
                             headers={"X-CSRF-Token": staff.token(), "Accept": "application/json"}).status_code == 413


# --- 4. slow clients ----------------------------------------------------------------------------------------

def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def test_the_web_process_uses_threads_and_the_pool_matches_them(database_url):
    web = shlex.split(procfile()["web"])
    assert web[web.index("--worker-class") + 1] == "gthread"
    threads = web[web.index("--threads") + 1]
    assert threads == "${WEB_THREADS:-%d}" % settings.Settings().web_threads
    with built(database_url, WEB_THREADS=6) as app:
        assert app.extensions["ovop"].db.engine.pool.size() == 6


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.reliability
def test_clients_stalled_in_the_middle_of_their_headers_do_not_block_a_real_webhook(tmp_path):
    """The Procfile's web line, run as is (bound to loopback): three stalled clients, then Twilio's request."""
    url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    migrate.fresh(url).dispose()
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TWILIO_", "WEB_"))}
    env.update(DATABASE_URL=url, PORT=str(port), WEB_CONCURRENCY="1", WEB_THREADS="4", ADMIN_TOKEN=TOKEN,
               ADMIN_PASSWORD=PASSWORD, SECRET_KEY="test-secret", OUTBOUND_BACKEND="console",
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    command = procfile()["web"].replace("0.0.0.0", "127.0.0.1")
    server = subprocess.Popen(["sh", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    stalled = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):  # gunicorn takes a moment to import the app
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        for n in range(3):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(f"POST /twilio/inbound HTTP/1.1\r\nHost: x\r\nX-Slow-{n}: ".encode())
            stalled.append(connection)
        answer = requests.post(f"{base}/twilio/inbound", data=inbound_form("+221770000101", "menu", "SMslow"),
                               timeout=60)
        assert answer.status_code == 200 and "<Response>" in answer.text
        for connection in stalled:  # still connected, still waiting: nobody was killed to make room
            connection.setblocking(False)
            with pytest.raises(BlockingIOError):
                connection.recv(1)
    finally:
        for connection in stalled:
            connection.close()
        server.terminate()
        server.wait(timeout=30)


# --- 7. logout revokes, sessions end ------------------------------------------------------------------------

def cookie_of(staff: Staff) -> str:
    return staff.client.get_cookie("session").value


def test_a_cookie_copied_before_logout_opens_nothing_after_it(staff, dash):
    copied = cookie_of(staff)
    thief = dash.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/overview").status_code == 200
    assert staff.post("/logout").status_code == 302
    assert thief.get("/overview").status_code == 302
    assert thief.post("/prices", data={"product": "yaourt", "price": "1"}).status_code in (302, 400)


def test_signing_out_ends_that_session_only(dash, db):
    first, second = Staff(dash.test_client()), Staff(dash.test_client())
    assert first.login().status_code == second.login().status_code == 302
    first.post("/logout")
    assert first.get("/overview").status_code == 302 and second.get("/overview").status_code == 200
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StaffSession)) == 1


def test_a_session_ends_after_its_lifetime(dash):
    staff = Staff(dash.test_client())
    with clock.frozen_at(START):
        assert staff.login().status_code == 302
    with clock.frozen_at(START + auth.SESSION_LIFETIME - timedelta(seconds=1)):
        assert staff.get("/overview").status_code == 200
    with clock.frozen_at(START + auth.SESSION_LIFETIME):
        response = staff.get("/overview")
        assert response.status_code == 302 and response.headers["Location"].startswith("/?next=")


def test_the_cookie_holds_a_token_the_database_keeps_only_hashed(staff, db):
    with staff.client.session_transaction() as session:
        token = session["sid"]
    with db.transaction() as session:
        ids = list(session.scalars(select(StaffSession.id)))
    assert token not in ids and len(ids) == 1 and len(ids[0]) == 64


# --- 8. inputs that answered 500 ----------------------------------------------------------------------------

API_QUERIES = ["/prices?product=%00", "/prices?market=yaourt%00", "/products/ya%00ourt", "/producers?q=%00",
               "/messages?phone=%2B221%00", "/orders?status=%00", "/workshops?upcoming=%00", "/prices?%00=1",
               "/products/%ED%A0%80"]


@pytest.mark.parametrize("path", API_QUERIES)
def test_nul_bytes_in_api_query_strings_get_a_4xx(api, path):
    status, body = api.get(path)
    assert 400 <= status < 500 and "error" in body, (status, body)


API_BODIES = [("/orders", {"cooperative_id": 1, "product": "yaourt\x00", "quantity": 5, "due_date": "2099-01-01"}),
              ("/orders", {"cooperative_id": 1, "product": "\ud800", "quantity": 5, "due_date": "2099-01-01"}),
              ("/prices", {"product": "yaourt", "price": 500, "market": "Dakar\x00"}),
              ("/broadcasts/preview", {"text": {"fr": "x"}, "audience": {"product": "yaourt\x00"}}),
              ("/producers", {"phone": "771234567", "name": "Awa", "products": ["yaourt\x00"]}),
              ("/cooperatives", {"name\x00": "GIE"})]


@pytest.mark.parametrize("path, body", API_BODIES, ids=[f"{path}-{n}" for n, (path, _) in enumerate(API_BODIES)])
def test_nul_bytes_in_api_bodies_get_a_4xx(api, demo, path, body):
    status, answer = api.post(path, body)
    assert 400 <= status < 500 and "error" in answer, (status, answer)


def test_a_patch_with_a_nul_byte_gets_a_4xx(api, demo):
    status, answer = api.patch("/products/yaourt", {"aliases": ["soow\x00"]})
    assert status == 422 and answer["field"] == "aliases"


@pytest.mark.parametrize("depth", [25, 1_000, 100_000])
def test_deeply_nested_json_gets_a_400(client, depth):
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/api/v1/cooperatives", data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code in (400, 413) and response.is_json


DASHBOARD_FORMS = [("/prices", {"product": "yaourt\x00", "price": "600"}),
                   ("/orders", {"cooperative_id": "1", "product": "yaourt\x00", "quantity": "5",
                                "due_date": "2099-01-01"}),
                   ("/producers/new", {"phone": "771112233", "language": "fr", "channel": "sms",
                                       "products": "yaourt\x00"}),
                   ("/producers/1", {"phone": "770000101", "language": "fr", "channel": "sms", "products": "x\x00"}),
                   ("/workshops", {"title_fr": "X\x00", "starts_at": "2099-01-01T10:00", "location": "Dakar",
                                   "capacity": "3"}),
                   ("/simulator", {"phone": "+221770000101", "channel": "whatsapp", "body": "menu\x00"})]


@pytest.mark.parametrize("path, data", DASHBOARD_FORMS, ids=[path for path, _ in DASHBOARD_FORMS])
def test_nul_bytes_in_dashboard_forms_get_a_4xx(staff, path, data):
    response = staff.post(path, data)
    assert 400 <= response.status_code < 500
    assert "caractères interdits" in response.text


@pytest.mark.parametrize("path", ["/prices?product=%00", "/orders?status=%00", "/producers?q=%00",
                                  "/simulator/thread?phone=%2B221770000101%00", "/overview?attention=%00"])
def test_nul_bytes_in_dashboard_queries_get_a_4xx(staff, path):
    assert 400 <= staff.get(path).status_code < 500


@pytest.mark.parametrize("path", ["/broadcasts/preview", "/producers/import/rows"])
@pytest.mark.parametrize("depth", [25, 100_000])
def test_deeply_nested_json_on_the_dashboard_gets_a_400(staff, path, depth):
    response = staff.client.post(path, data='{"rows": ' + "[" * depth + "]" * depth + "}",
                                 content_type="application/json",
                                 headers={"X-CSRF-Token": staff.token(), "Accept": "application/json"})
    assert response.status_code == 400 and "nested" in response.get_json()["error"]


@pytest.mark.parametrize("target", ["/overview\r\nX-Evil: 1", "/overview\nSet-Cookie: a=b", "/overview\x7f",
                                    "/over\tview"])
def test_control_characters_in_next_are_dropped(visitor, target):
    signed_in = visitor.login(next=target)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/overview"
    assert visitor.get("/lang/en", query_string={"next": target}).headers["Location"] == "/"
    assert visitor.get("/", query_string={"next": target}).status_code == 302


def test_a_nul_byte_in_next_is_refused(visitor):
    assert visitor.login(next="/over\x00view").status_code == 422
    assert visitor.get("/lang/en?next=/over%00view").status_code == 422


# --- 9. signed mode needs its public URL --------------------------------------------------------------------

@pytest.mark.parametrize("base", [None, "", "ovop.example.org", "ftp://ovop.example.org", "https://"])
def test_signed_mode_refuses_to_start_without_a_usable_public_url(database_url, base):
    with pytest.raises(settings.ConfigError, match="PUBLIC_BASE_URL"):
        create_app(app_config(database_url, TWILIO_AUTH_TOKEN="t" * 32, PUBLIC_BASE_URL=base))


def test_the_cli_says_what_to_set(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TWILIO_", "PUBLIC_"))}
    env.update(TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="t" * 32,
               DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", ADMIN_TOKEN=TOKEN, ADMIN_PASSWORD=PASSWORD,
               SECRET_KEY="s")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "jobs", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL is required when TWILIO_AUTH_TOKEN is set" in result.stderr


def test_trusted_proxies_must_be_a_count():
    with pytest.raises(settings.ConfigError, match="TRUSTED_PROXIES"):
        settings.load(env={"TRUSTED_PROXIES": "yes"})
    assert settings.Settings().trusted_proxies == 0


# --- 10. /healthz and the migrations' head ------------------------------------------------------------------

def test_healthz_answers_503_until_the_database_is_at_the_head(scratch_url):
    with built(scratch_url) as app:
        client = app.test_client()
        empty = client.get("/healthz")
        assert empty.status_code == 503 and "db upgrade" in empty.get_json()["error"]
        migrate.upgrade(app.extensions["ovop"].db, "0004")
        behind = client.get("/healthz")
        assert behind.status_code == 503 and "0004" in behind.get_json()["error"]
        migrate.upgrade(app.extensions["ovop"].db)
        assert client.get("/healthz").get_json() == {"status": "ok"}
        assert app.extensions["ovop"].db.revision() == head_revision()


# --- 12. logs -----------------------------------------------------------------------------------------------

def test_the_twilio_client_is_quiet_and_phone_numbers_are_masked(database_url, caplog):
    from tests.fake_twilio import FakeTwilio
    caplog.set_level(logging.DEBUG)
    with FakeTwilio() as fake, built(database_url, OUTBOUND_BACKEND="twilio", TWILIO_ACCOUNT_SID=fake.account_sid,
                                     TWILIO_AUTH_TOKEN=fake.auth_token, TWILIO_API_BASE_URL=fake.base_url,
                                     TWILIO_SMS_FROM="+15005550006",
                                     PUBLIC_BASE_URL="https://ovop.example.org") as app:
        app.extensions["ovop"].transport.send("+221770000101", "sms", body="bonjour")
    assert not [record for record in caplog.records if record.name.startswith("twilio")
                and record.levelno < logging.WARNING]
    logging.getLogger("ovop.messaging.transport").info("console send to %s: accepted by Awa (%s)", "whatsapp:+221770000101",
                                           "+221770000101")
    logging.getLogger("werkzeug").info("GET /simulator/thread?phone=%2B221770000101 HTTP/1.1")
    try:
        raise ValueError("The 'To' number +221770000101 is not a valid phone number")
    except ValueError:
        logging.getLogger("ovop.messaging.outbox").exception("sending to %s failed", "+221770000101")
    assert "770000101" not in caplog.text
    assert "whatsapp:+221*******01" in caplog.text and "%2B221*******01" in caplog.text
