"""A loopback fake of Twilio's REST Messages API, driven by the REAL twilio client.

Tests never mock our own code: they start a ``FakeTwilio`` and point the real
``twilio.rest.Client`` at it::

    from twilio.rest import Client
    from twilio.http.http_client import TwilioHttpClient

    with FakeTwilio() as fake:
        client = Client(fake.account_sid, fake.auth_token,
                        http_client=TwilioHttpClient(timeout=2))
        client.api.base_url = fake.base_url
        msg = client.messages.create(to="whatsapp:+573001234567",
                                     from_="whatsapp:+14155238886", body="hola",
                                     status_callback="http://app/cb?outbox=42")
        assert fake.accepted_by(FakeTwilio.query_param("outbox")) == {"42": 1}

What is faked (checked against twilio-python 9.13):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with the form fields
  ``To``, ``From``, ``Body``, ``ContentSid``, ``ContentVariables``,
  ``StatusCallback``, ``MessagingServiceSid`` (others are recorded, ignored).
  Success answers ``201`` with a Message resource (``sid`` = "SM" + 32 hex,
  ``status`` "queued", or "accepted" when only a MessagingServiceSid is given,
  as Twilio does; RFC 2822 ``date_created``; ``error_code`` null, ...).
* ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` returns an
  accepted message (404 / 20404 otherwise).
* ``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` lists accepted
  messages newest first, filtered by ``To``, ``From``, ``DateSent``,
  ``DateSent<`` and ``DateSent>`` (a date ``YYYY-MM-DD`` compares days, a
  date-time compares instants; both bounds inclusive), in pages of
  ``PageSize`` (default 50) followed through ``next_page_uri``.
* Like Twilio, an accepted message stays "queued" (or "accepted") with an empty
  ``date_sent`` until ``mark_sent`` says it left; a ``DateSent`` filter leaves
  such a message out, exactly as Twilio does.
* A ContentSid message is stored with a rendered body, as Twilio's resource
  shows it: ``"[template HX…] "`` followed by its ContentVariables' values.
* Timestamps come from ``clock`` (default: the wall clock), so a test that sets
  its own clock can hand it over: ``FakeTwilio(clock=ovop.core.clock.now)``.
* Errors use Twilio's legacy JSON ``{"code", "message", "more_info", "status"}``
  so the client raises ``TwilioRestException`` with ``.status`` and ``.code``.

Order in which a create request is judged (first match answers):

1. HTTP Basic auth must be ``account_sid:auth_token`` -> else 401 / 20003;
   the AccountSid in the path must match -> else 404 / 20404.
2. Scripted behaviour queued with ``fail_next`` / ``hang_next`` (one FIFO queue,
   so the effects happen in the order they were scripted).
3. Random faults from ``set_fault_rates`` (seeded, one draw per request).
4. Validation: To missing 21604, To not E.164 (optionally "whatsapp:") 21211,
   From and MessagingServiceSid missing 21603, Body and ContentSid missing 21619.
5. Per-number behaviour: ``opt_out`` -> 21610; ``outside_window`` -> 63016 for a
   free-form Body to "whatsapp:"+number (a ContentSid template succeeds).
   Note: real Twilio usually reports 63016 asynchronously (the create succeeds
   and the status callback says "failed", ErrorCode 63016); this fake answers
   it synchronously, so code should cope with both.
6. Otherwise the message is ACCEPTED and appended to ``messages``.

Media (what a producer's photo or voice note looks like to us): ``add_media(content, content_type)``
returns a MediaUrl as Twilio gives it,
``{base_url}/2010-04-01/Accounts/{AccountSid}/Messages/{MM…}/Media/{ME…}``. A GET of it needs the same
Basic auth (401 / 20003 otherwise, 404 for an unknown one) and, like Twilio, answers ``307`` to a CDN: a second
loopback server on another host (127.0.0.2 when it can bind there) serving the bytes with their type, no auth.
``cdn_requests`` records what reached the CDN (its headers, to check no credentials were sent there).
``add_media(..., redirect=False)`` serves the bytes directly; ``declared_length`` overrides Content-Length
(-1 leaves it out: the body ends when the connection closes, as a streamed answer may).

A HANG (``hang_next`` or a random hang) sleeps and then answers 503 / 20503
WITHOUT accepting the message: the client is expected to time out first, and a
retry after that timeout is therefore NOT a duplicate. ``stop()`` wakes hangs.

Only loopback; the server is quiet (no per-request logging).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, deque
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Hashable, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

API_VERSION = "2010-04-01"

_CREATE_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_FETCH_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)
_MEDIA_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<sid>[^/]+)$"
)
_E164 = re.compile(r"^(?:whatsapp:)?\+[1-9]\d{1,14}$")

# Default error code when fail_next() is given only an HTTP status.
_DEFAULT_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}

_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21619: "A text message body or media urls must be specified.",
    63016: (
        "Failed to send freeform message because you are outside the allowed "
        "window. If you are using WhatsApp, please use a Message Template."
    ),
}

# Rough GSM-7 basic character set, enough to pick 160/153 vs 70/67 segments.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    "^{}\\[~]|€"
)


def _bare(number: str) -> str:
    """Return a number without its "whatsapp:" channel prefix."""
    return number[len("whatsapp:"):] if number.startswith("whatsapp:") else number


def _num_segments(body: str) -> int:
    """Count SMS segments the way carriers do (GSM-7 160/153, else UCS-2 70/67)."""
    if not body:
        return 1
    single, multi = (160, 153) if set(body) <= _GSM7 else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


def _when(value: str):
    """A DateSent filter value: a date (``YYYY-MM-DD``) or an ISO 8601 instant (``…T…Z``)."""
    if "T" not in value:
        return datetime.strptime(value, "%Y-%m-%d").date()
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _matches(date_sent: Optional[datetime], op: str, when) -> bool:
    """Does a message sent at ``date_sent`` pass the filter? Never when it has not been sent yet."""
    if date_sent is None:
        return False
    value = date_sent.astimezone(timezone.utc)
    left = value.date() if not isinstance(when, datetime) else value
    return {"=": left == when, ">": left >= when, "<": left <= when}[op]


def _render_template(content_sid: str, variables: Optional[str]) -> str:
    """What the fake shows as a template message's body: the template's sid and its variables' values."""
    try:
        values = json.loads(variables or "{}")
    except ValueError:
        values = {}
    shown = [str(values[key]) for key in sorted(values, key=lambda k: (len(k), k))] if isinstance(values, dict) else []
    return " ".join([f"[template {content_sid}]", *shown])


class _Server(ThreadingHTTPServer):
    """Threading HTTP server with a deep backlog that swallows client hang-ups."""

    daemon_threads = True
    request_queue_size = 256  # benchmarks open many connections at once

    def __init__(self, fake: "FakeTwilio", host: str = "127.0.0.1", handler: type = None):
        self.fake = fake
        super().__init__((host, 0), handler or _Handler)

    def handle_error(self, request, client_address):
        """Ignore clients that went away (e.g. timed out during a hang)."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the owning FakeTwilio."""

    server: _Server
    server_version = "FakeTwilio/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_POST(self) -> None:
        """Handle a create."""
        self.server.fake._handle(self)

    def do_GET(self) -> None:
        """Handle a fetch."""
        self.server.fake._handle(self)

    def send_bytes(self, status: int, data: bytes, headers: dict) -> None:
        """Write a raw response (media, redirects), tolerating a client that already left."""
        try:
            self.send_response(status)
            for name, value in headers.items():
                if value is not None:  # None: leave the header out
                    self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, TimeoutError):
            pass

    def send_json(self, status: int, payload: dict) -> None:
        """Write a JSON response, tolerating a client that already left."""
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, TimeoutError):
            pass


class _CdnHandler(_Handler):
    """The CDN Twilio redirects media to: serves the bytes, asks for no credentials."""

    server_version = "FakeTwilioCdn/1.0"

    def do_POST(self) -> None:
        self.send_json(405, {"error": "method not allowed"})

    def do_GET(self) -> None:
        self.server.fake._serve_cdn(self)


def _cdn_host() -> str:
    """Another loopback host than the API's, so a client comparing hosts sees a different one."""
    import socket

    probe = socket.socket()
    try:
        probe.bind(("127.0.0.2", 0))
        return "127.0.0.2"
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class FakeTwilio:
    """Fake Twilio Messages API on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(
        self,
        account_sid: Optional[str] = None,
        auth_token: str = "fake-auth-token",
        clock: Optional[Callable[[], datetime]] = None,
    ):
        self.account_sid = account_sid or "AC" + uuid.uuid4().hex
        self.auth_token = auth_token
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._cdn: Optional[_Server] = None
        self._cdn_thread: Optional[threading.Thread] = None
        self._media: dict[str, dict] = {}
        self._cdn_requests: list[dict] = []
        self._init_state()

    def _init_state(self) -> None:
        """Set recordings and behaviour to a fresh state (caller holds the lock or is __init__)."""
        self._requests: list[dict] = []
        self._messages: list[dict] = []
        self._by_sid: dict[str, dict] = {}
        self._clear_behaviour()

    def _clear_behaviour(self) -> None:
        """Forget scripted answers, fault rates and per-number behaviour."""
        self._script: deque[tuple] = deque()
        self._list_script: deque[tuple] = deque()
        self._opted_out: set[str] = set()
        self._outside_window: set[str] = set()
        self._rates = {"error_500": 0.0, "error_429": 0.0, "hang": 0.0}
        self._hang_seconds = 30.0
        self._rng = random.Random()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeTwilio":
        """Start serving in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeTwilio already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-twilio",
            daemon=True,
        )
        self._thread.start()
        self._cdn = _Server(self, _cdn_host(), _CdnHandler)
        self._cdn_thread = threading.Thread(target=self._cdn.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="fake-twilio-cdn", daemon=True)
        self._cdn_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any hanging handlers and close the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        cdn, self._cdn = self._cdn, None
        if cdn is not None:
            cdn.shutdown()
            cdn.server_close()
            if self._cdn_thread is not None:
                self._cdn_thread.join(timeout=5)
                self._cdn_thread = None

    def __enter__(self) -> "FakeTwilio":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Root URL to assign to ``client.api.base_url``, e.g. http://127.0.0.1:54321."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn_url(self) -> str:
        """Root URL of the fake CDN media is redirected to."""
        if self._cdn is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._cdn.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ media

    def add_media(self, content: bytes, content_type: str, *, redirect: bool = True,
                  declared_length: Optional[int] = None, message_sid: Optional[str] = None) -> str:
        """Keep a file as Twilio keeps a producer's media; returns its MediaUrl (see the module's notes)."""
        message_sid = message_sid or "MM" + uuid.uuid4().hex
        sid = "ME" + uuid.uuid4().hex
        with self._lock:
            self._media[sid] = {"content": content, "content_type": content_type, "redirect": redirect,
                                "declared_length": declared_length, "token": uuid.uuid4().hex}
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{sid}"

    @property
    def cdn_requests(self) -> list[dict]:
        """Every request the CDN received: path and headers."""
        with self._lock:
            return [dict(r) for r in self._cdn_requests]

    def _media_headers(self, media: dict) -> dict:
        length = media["declared_length"] if media["declared_length"] is not None else len(media["content"])
        return {"Content-Type": media["content_type"], "Content-Length": str(length) if length >= 0 else None}

    def _serve_media(self, handler: "_Handler", match: "re.Match") -> tuple[int, Optional[dict]]:
        """GET a MediaUrl: auth, then a 307 to the CDN (or the bytes themselves)."""
        if not self._authorized(handler.headers.get("Authorization")):
            return 401, self._error(401, 20003)
        with self._lock:
            media = self._media.get(match["sid"]) if match["account"] == self.account_sid else None
        if media is None:
            return 404, self._error(404, 20404, f"The requested resource {handler.path} was not found")
        if media["redirect"]:
            handler.send_bytes(307, b"", {"Location": f"{self.cdn_url}/media/{media['token']}"})
        else:
            handler.send_bytes(200, media["content"], self._media_headers(media))
        return 307 if media["redirect"] else 200, None

    def _serve_cdn(self, handler: "_Handler") -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self._cdn_requests.append({"path": path, "headers": dict(handler.headers)})
            media = next((m for m in self._media.values() if path == f"/media/{m['token']}"), None)
        if media is None:
            handler.send_bytes(404, b"not found", {"Content-Type": "text/plain"})
            return
        handler.send_bytes(200, media["content"], self._media_headers(media))

    # ------------------------------------------------------------------ scripting

    def fail_next(
        self, status: int, code: Optional[int] = None, times: int = 1, message: Optional[str] = None,
        listing: bool = False,
    ) -> None:
        """Answer the next ``times`` creates (with ``listing``: the next listings of Messages.json instead)
        with an error (code defaults per status, e.g. 429 -> 20429)."""
        if status < 400:
            raise ValueError("fail_next needs an error status (>= 400)")
        code = code if code is not None else _DEFAULT_CODES.get(status, status)
        with self._lock:
            (self._list_script if listing else self._script).extend([("fail", status, code, message)] * times)

    def accept_then_hang_next(self, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` creates ACCEPT the message, then sleep before answering: the client times out
        although Twilio has the message -- the case where a blind retry would send it twice."""
        with self._lock:
            self._script.extend([("accept_hang", seconds)] * times)

    def hang_next(self, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` creates sleep ``seconds`` then answer 503 -- never accepting."""
        with self._lock:
            self._script.extend([("hang", seconds)] * times)

    def set_fault_rates(
        self,
        error_500: float = 0.0,
        error_429: float = 0.0,
        hang: float = 0.0,
        hang_seconds: float = 30.0,
        seed: Optional[int] = None,
    ) -> None:
        """Inject random faults per create with the given probabilities (seeded for reproducibility)."""
        if min(error_500, error_429, hang) < 0 or error_500 + error_429 + hang > 1:
            raise ValueError("fault rates must be >= 0 and sum to <= 1")
        with self._lock:
            self._rates = {"error_500": error_500, "error_429": error_429, "hang": hang}
            self._hang_seconds = hang_seconds
            self._rng = random.Random(seed)

    def opt_out(self, number: str) -> None:
        """Every later send to ``number`` (with or without "whatsapp:") answers 400 / 21610."""
        with self._lock:
            self._opted_out.add(_bare(number))

    def opt_in(self, number: str) -> None:
        """Undo ``opt_out``."""
        with self._lock:
            self._opted_out.discard(_bare(number))

    def outside_window(self, number: str) -> None:
        """Free-form Body to "whatsapp:"+number answers 400 / 63016; ContentSid still succeeds."""
        with self._lock:
            self._outside_window.add(_bare(number))

    def inside_window(self, number: str) -> None:
        """Undo ``outside_window``."""
        with self._lock:
            self._outside_window.discard(_bare(number))

    def mark_sent(self, sid: Optional[str] = None, at: Optional[datetime] = None) -> int:
        """Let message ``sid`` (default: every one still queued) leave the queue: status "sent" and a
        ``date_sent`` (``at`` or now). Returns how many changed."""
        moment = at or self.clock()
        changed = 0
        with self._lock:
            for message in self._messages:
                if (sid is None or message["sid"] == sid) and message["date_sent"] is None:
                    resource = self._by_sid[message["sid"]]["resource"]
                    message["status"] = resource["status"] = "sent"
                    message["date_sent"] = moment
                    resource["date_sent"] = format_datetime(moment.astimezone(timezone.utc), usegmt=True)
                    resource["date_updated"] = resource["date_sent"]
                    changed += 1
        return changed

    def reset(self, *, behaviour: bool = True) -> None:
        """Clear recorded requests/messages and (unless behaviour=False) all scripted behaviour."""
        with self._lock:
            if behaviour:
                self._init_state()
            else:
                self._requests, self._messages, self._by_sid = [], [], {}

    # ------------------------------------------------------------------ observation

    @property
    def requests(self) -> list[dict]:
        """Snapshot of every request: method, path, form, received_at, status, code (status None while hanging)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def messages(self) -> list[dict]:
        """Snapshot of every ACCEPTED message, in acceptance order."""
        with self._lock:
            return [dict(m) for m in self._messages]

    def accepted_count(self) -> int:
        """Number of accepted messages."""
        with self._lock:
            return len(self._messages)

    def accepted_by(self, key_fn: Optional[Callable[[dict], Hashable]] = None) -> Counter:
        """Counter of accepted messages by ``key_fn(message)`` (default: the StatusCallback URL)."""
        key_fn = key_fn or (lambda m: m["status_callback"])
        return Counter(key_fn(m) for m in self.messages)

    def duplicates(self, key_fn: Optional[Callable[[dict], Hashable]] = None) -> dict:
        """Keys accepted more than once, with their counts (empty dict means exactly-once held)."""
        return {k: n for k, n in self.accepted_by(key_fn).items() if n > 1}

    @staticmethod
    def query_param(name: str) -> Callable[[dict], Optional[str]]:
        """Key function: the ``name`` query parameter of a message's StatusCallback URL."""

        def key(message: dict) -> Optional[str]:
            url = message.get("status_callback") or ""
            return parse_qs(urlsplit(url).query).get(name, [None])[0]

        return key

    def status_callbacks(self) -> list[tuple[str, str]]:
        """(status_callback_url, sid) for each accepted message that asked for callbacks."""
        return [(m["status_callback"], m["sid"]) for m in self.messages if m["status_callback"]]

    def wait_for_accepted(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` messages were accepted; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._messages) >= count, timeout)

    def achieved_rate(self) -> float:
        """Accepted messages per second between the first and last acceptance (0.0 if < 2)."""
        with self._lock:
            if len(self._messages) < 2:
                return 0.0
            span = self._messages[-1]["accepted_at"] - self._messages[0]["accepted_at"]
            n = len(self._messages)
        return (n - 1) / span if span > 0 else float("inf")

    # ------------------------------------------------------------------ serving

    @staticmethod
    def _error(status: int, code: int, message: Optional[str] = None, **fmt: str) -> dict:
        """Twilio's legacy error body (no RFC-9457 'type'/'title', so TwilioRestException)."""
        template = _MESSAGES.get(code, "Error")
        try:
            text = message or template.format(**fmt)
        except KeyError:  # a scripted failure names no number: keep the template's wording
            text = template
        return {
            "code": code,
            "message": text,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def _authorized(self, header: Optional[str]) -> bool:
        """Check HTTP Basic credentials against account_sid/auth_token."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(
            password, self.auth_token
        )

    def _handle(self, handler: _Handler) -> None:
        """Record, judge and answer one request."""
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8") if length else ""
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        path = urlsplit(handler.path).path
        record = {
            "method": handler.command,
            "path": path,
            "form": form,
            "headers": dict(handler.headers),
            "received_at": time.monotonic(),
            "status": None,
            "code": None,
        }
        with self._lock:
            self._requests.append(record)

        media = _MEDIA_PATH.match(path) if handler.command == "GET" else None
        if media:
            status, payload = self._serve_media(handler, media)
            with self._lock:
                record["status"] = status
                record["code"] = payload.get("code") if payload else None
            if payload is not None:
                handler.send_json(status, payload)
            return
        if handler.command == "GET":
            form = {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query, keep_blank_values=True).items()}
        status, payload = self._judge(handler.command, path, form, handler.headers)
        with self._lock:
            record["status"] = status
            record["code"] = payload.get("code") if status >= 400 else None
        handler.send_json(status, payload)

    def _judge(self, method: str, path: str, form: dict, headers: Any) -> tuple[int, dict]:
        """Decide the (status, JSON body) answer for a request."""
        if not self._authorized(headers.get("Authorization")):
            return 401, self._error(401, 20003)
        create = _CREATE_PATH.match(path) if method == "POST" else None
        fetch = _FETCH_PATH.match(path) if method == "GET" else None
        listing = _CREATE_PATH.match(path) if method == "GET" else None
        match = create or fetch or listing
        if not match or match["account"] != self.account_sid:
            return 404, self._error(404, 20404, f"The requested resource {path} was not found")
        if listing:
            with self._lock:
                scripted = self._list_script.popleft() if self._list_script else None
            if scripted is not None:
                _, status, code, message = scripted
                return status, self._error(status, code, message)
            try:
                return 200, self._list(form, path)
            except ValueError:
                return 400, self._error(400, 20001, "Invalid filter or paging parameter")
        if fetch:
            with self._lock:
                message = self._by_sid.get(fetch["sid"])
            if message is None:
                return 404, self._error(404, 20404, f"The requested resource {path} was not found")
            return 200, message["resource"]

        fault = self._next_fault()
        if fault is not None:
            if fault[0] == "accept_hang":
                with self._lock:
                    resource = self._accept(form)
                self._stopping.wait(fault[1])
                return 201, resource
            if fault[0] == "hang":
                self._stopping.wait(fault[1])
                return 503, self._error(503, 20503)
            _, status, code, message = fault
            return status, self._error(status, code, message)

        to = form.get("To", "")
        body = form.get("Body", "")
        content_sid = form.get("ContentSid", "")
        if not to:
            return 400, self._error(400, 21604)
        if not _E164.match(to):
            return 400, self._error(400, 21211, to=to)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, self._error(400, 21603)
        if not body and not content_sid:
            return 400, self._error(400, 21619)
        with self._lock:
            if _bare(to) in self._opted_out:
                return 400, self._error(400, 21610)
            if (
                to.startswith("whatsapp:")
                and _bare(to) in self._outside_window
                and body
                and not content_sid
            ):
                return 400, self._error(400, 63016)
            return 201, self._accept(form)

    def _next_fault(self) -> Optional[tuple]:
        """Pop a scripted answer, else draw a random fault; None means behave normally."""
        with self._lock:
            if self._script:
                return self._script.popleft()
            rates = self._rates
            if not any(rates.values()):
                return None
            draw = self._rng.random()
            if draw < rates["error_500"]:
                return ("fail", 500, 20500, None)
            draw -= rates["error_500"]
            if draw < rates["error_429"]:
                return ("fail", 429, 20429, None)
            draw -= rates["error_429"]
            if draw < rates["hang"]:
                return ("hang", self._hang_seconds)
            return None

    def _list(self, query: dict, path: str) -> dict:
        """GET Messages.json: accepted messages, newest first, filtered as Twilio filters, one page of them.

        A DateSent filter only ever matches messages that have a date_sent: one still queued has none.
        Raises ValueError on a filter or paging value Twilio would refuse.
        """
        bounds = [(op, _when(query[name])) for name, op in
                  (("DateSent", "="), ("DateSent>", ">"), ("DateSent<", "<")) if query.get(name)]
        size = max(1, min(1000, int(query.get("PageSize") or 50)))
        page = max(0, int(query.get("Page") or 0))
        with self._lock:
            found = [self._by_sid[m["sid"]]["resource"] for m in reversed(self._messages)
                     if (not query.get("To") or m["to"] == query["To"])
                     and (not query.get("From") or m["from"] == query["From"])
                     and all(_matches(m["date_sent"], op, when) for op, when in bounds)]
        chunk = found[page * size:(page + 1) * size]
        rest = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
        next_uri = (f"{path}?{urlencode({**rest, 'PageSize': size, 'Page': page + 1})}"
                    if (page + 1) * size < len(found) else None)
        return {"messages": chunk, "first_page_uri": f"{path}?{urlencode({**rest, 'PageSize': size, 'Page': 0})}",
                "next_page_uri": next_uri, "previous_page_uri": None, "page": page, "page_size": size,
                "start": page * size, "end": page * size + max(0, len(chunk) - 1), "uri": path}

    def _accept(self, form: dict) -> dict:
        """Store an accepted message and build its Message resource (caller holds the lock)."""
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(self.clock().astimezone(timezone.utc), usegmt=True)
        body = form.get("Body", "")
        shown = body or (_render_template(form["ContentSid"], form.get("ContentVariables"))
                         if form.get("ContentSid") else "")
        service = form.get("MessagingServiceSid") or None
        from_ = form.get("From") or None
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": shown,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(_num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {
                "media": uri.replace(".json", "/Media.json"),
                "feedback": uri.replace(".json", "/Feedback.json"),
            },
            "to": form["To"],
            "uri": uri,
        }
        message = {
            "sid": sid,
            "to": form["To"],
            "from": from_,
            "body": body or None,
            "content_sid": form.get("ContentSid") or None,
            "content_variables": form.get("ContentVariables") or None,
            "status_callback": form.get("StatusCallback") or None,
            "messaging_service_sid": service,
            "status": resource["status"],
            "date_sent": None,
            "accepted_at": time.monotonic(),
        }
        self._messages.append(message)
        self._by_sid[sid] = {"message": message, "resource": resource}
        self._changed.notify_all()
        return resource
