"""A loopback fake of SMS Gateway for Android ("SMSGate"), driven by the REAL `android-sms-gateway` client, which
also plays the phone's side: it posts signed webhook events to our app.

    with FakeSmsGate(clock=clock.now) as gateway:
        transport = SmsGateTransport(gateway.base_url, gateway.username, gateway.password, timeout=2)
        transport.send("+221770000101", "sms", body="Bonjour", key="outbox:1")
        gateway.receive_sms(app_url, "+221770000101", "stock yaourt 30")   # a producer's SMS, signed
        gateway.report(app_url, gateway.messages[0]["id"], "delivered")     # its delivery report

What is faked (checked against the app's local server and the cloud API, /3rdparty/v1):

* HTTP Basic auth `username:password` on every call, else 401 `{"message": …}`.
* `POST /3rdparty/v1/messages` (and `/message`, the older path) with `textMessage: {text}` or `message`,
  `phoneNumbers`, an optional client-chosen `id`, `withDeliveryReport`: 202 with the message state
  (`id`, `deviceId`, `state` "Pending", `recipients` [{`phoneNumber`, `state`, `error`}], `isHashed`,
  `isEncrypted`, `states`). An `id` the gateway already has: 409. No text, no number, both kinds of text: 400.
* `GET /3rdparty/v1/messages/{id}`: the state, or 404.
* Scripted trouble, first in first out: `fail_next(status)` answers an error without accepting;
  `hang_next(seconds)` sleeps then answers 503 without accepting (the client times out first);
  `accept_then_hang_next(seconds)` accepts the message, then sleeps before answering (the client times out
  after the gateway has it: a retry must not send it twice).
* Webhook events as the app posts them: `{"deviceId", "event", "id", "payload", "webhookId"}`, JSON in UTF-8,
  signed: `X-Timestamp` (Unix seconds, from `clock`) and `X-Signature` (lowercase hex HMAC-SHA256 of the raw body
  followed by the timestamp, key `signing_key`). `sms:received` carries a content-based `messageId` (the same
  text from the same phone gets the same one, as on a real phone) and the event `id` is unique.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sys
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

import requests

PREFIX = "/3rdparty/v1"
_SEND = re.compile(rf"^{PREFIX}/messages?/?$")
_STATE = re.compile(rf"^{PREFIX}/messages?/(?P<id>[^/?]+)$")


def sign(key: str, body: bytes, timestamp: str) -> str:
    """The gateway's X-Signature (its own computation, written here apart from the service's)."""
    return hmac.new(key.encode("utf-8"), body + timestamp.encode("utf-8"), hashlib.sha256).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, fake: "FakeSmsGate"):
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeSmsGate/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, TimeoutError):
            pass


class FakeSmsGate:
    """Fake SMSGate API on 127.0.0.1, and the phone that posts webhook events; a context manager."""

    def __init__(self, username: str = "gateway-user", password: str = "gateway-password",
                 signing_key: str = "gateway-signing-key", clock: Optional[Callable[[], datetime]] = None):
        self.username, self.password, self.signing_key = username, password, signing_key
        self.device_id = "fake" + uuid.uuid4().hex[:17]
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.messages: list[dict] = []  # accepted, in order
        self.requests: list[dict] = []  # every API call: method, path, status
        self._script: deque[tuple] = deque()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeSmsGate":
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-smsgate", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeSmsGate":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_port}{PREFIX}"

    # ------------------------------------------------------------------ scripting and reading

    def fail_next(self, status: int, message: str = "scripted failure", times: int = 1) -> None:
        with self._lock:
            self._script.extend([("fail", status, message)] * times)

    def hang_next(self, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._script.extend([("hang", seconds)] * times)

    def accept_then_hang_next(self, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._script.extend([("accept_hang", seconds)] * times)

    def accepted_count(self) -> int:
        with self._lock:
            return len(self.messages)

    def accepted_ids(self) -> list[str]:
        with self._lock:
            return [message["id"] for message in self.messages]

    def wait_for_accepted(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def set_state(self, message_id: str, state: str) -> None:
        """Move an accepted message on (Sent, Delivered, Failed), as the phone does."""
        with self._lock:
            message = next(m for m in self.messages if m["id"] == message_id)
            message["state"] = state
            message["states"][state] = self.clock().isoformat()

    # ------------------------------------------------------------------ the API

    def _authorised(self, handler: _Handler) -> bool:
        header = handler.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return hmac.compare_digest(header, expected)

    def _handle(self, handler: _Handler) -> None:
        path = handler.path.split("?", 1)[0]
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        status, payload = self._answer(handler, path, raw)
        with self._lock:
            self.requests.append({"method": handler.command, "path": path, "status": status})
        if status is not None:
            handler.send_json(status, payload)

    def _answer(self, handler: _Handler, path: str, raw: bytes) -> tuple[Optional[int], dict]:
        if not self._authorised(handler):
            return 401, {"message": "Unauthorized"}
        if handler.command == "GET":
            found = _STATE.match(path)
            if not found:
                return 404, {"message": "Not Found"}
            with self._lock:
                message = next((m for m in self.messages if m["id"] == found["id"]), None)
                return (404, {"message": "message not found"}) if message is None else (200, self._state(message))
        if not _SEND.match(path):
            return 404, {"message": "Not Found"}
        try:
            request = json.loads(raw)
        except ValueError:
            return 400, {"message": "invalid JSON"}
        text = (request.get("textMessage") or {}).get("text") if isinstance(request.get("textMessage"), dict) else None
        numbers = request.get("phoneNumbers")
        if (text is not None) == (request.get("message") is not None):
            return 400, {"message": "Must specify exactly one of: textMessage, dataMessage, or message"}
        text = text if text is not None else request.get("message")
        if not text:
            return 400, {"message": "Text message is empty"}
        if not isinstance(numbers, list) or not numbers:
            return 400, {"message": "Empty phone numbers list"}
        with self._lock:
            step = self._script.popleft() if self._script else None
        if step and step[0] == "fail":
            return step[1], {"message": step[2]}
        if step and step[0] == "hang":
            self._stopping.wait(step[1])
            return 503, {"message": "Service Unavailable"}
        with self._changed:
            identifier = request.get("id") or uuid.uuid4().hex[:21]
            if any(m["id"] == identifier for m in self.messages):
                return 409, {"message": f"message with id {identifier} already exists"}
            message = {"id": identifier, "text": text, "phoneNumbers": list(numbers), "state": "Pending",
                       "withDeliveryReport": request.get("withDeliveryReport", True),
                       "states": {"Pending": self.clock().isoformat()}}
            self.messages.append(message)
            self._changed.notify_all()
            state = self._state(message)
        if step and step[0] == "accept_hang":
            self._stopping.wait(step[1])
        return 202, state

    def _state(self, message: dict) -> dict:
        return {"id": message["id"], "deviceId": self.device_id, "state": message["state"], "isHashed": False,
                "isEncrypted": False, "states": dict(message["states"]),
                "recipients": [{"phoneNumber": number, "state": message["state"], "error": None}
                               for number in message["phoneNumbers"]]}

    # ------------------------------------------------------------------ the phone's webhook events

    def event(self, kind: str, payload: dict, event_id: Optional[str] = None) -> dict:
        return {"deviceId": self.device_id, "event": kind, "id": event_id or uuid.uuid4().hex[:21],
                "payload": payload, "webhookId": "wh" + uuid.uuid4().hex[:10]}

    def post(self, url: str, event: dict | bytes, *, at: Optional[float] = None, key: Optional[str] = None,
             signature: Optional[str] = None, headers: Optional[dict] = None) -> requests.Response:
        """POST an event to `url`, signed with `key` (default: the signing key) at `at` (default: the clock)."""
        body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode("utf-8")
        timestamp = str(int(self.clock().timestamp() if at is None else at))
        sent = {"Content-Type": "application/json; charset=utf-8", "X-Timestamp": timestamp,
                "X-Signature": signature if signature is not None else sign(key or self.signing_key, body, timestamp)}
        sent.update(headers or {})
        return requests.post(url, data=body, headers={k: v for k, v in sent.items() if v is not None}, timeout=60)

    def received(self, phone: str, text: str, event_id: Optional[str] = None) -> dict:
        """An `sms:received` event: the phone got `text` from `phone`."""
        content_id = hashlib.sha256(f"{phone}|{text}".encode()).hexdigest()[:16]  # content-based, not unique
        return self.event("sms:received", {"messageId": content_id, "message": text, "phoneNumber": phone,
                                           "sender": phone, "simNumber": 1,
                                           "receivedAt": self.clock().isoformat()}, event_id)

    def receive_sms(self, url: str, phone: str, text: str, **options) -> requests.Response:
        return self.post(url, self.received(phone, text), **options)

    def status_event(self, message_id: str, status: str, event_id: Optional[str] = None) -> dict:
        """An `sms:sent` / `sms:delivered` / `sms:failed` event about a message the gateway accepted."""
        with self._lock:
            message = next((m for m in self.messages if m["id"] == message_id), None)
        phone = message["phoneNumbers"][0] if message else "+221770000000"
        payload: dict[str, Any] = {"messageId": message_id, "phoneNumber": phone, "recipient": phone,
                                   "simNumber": 1, f"{status}At": self.clock().isoformat()}
        if status == "sent":
            payload["partsCount"] = 1
        if status == "failed":
            payload["reason"] = "RESULT_ERROR_GENERIC_FAILURE"
        return self.event(f"sms:{status}", payload, event_id)

    def report(self, url: str, message_id: str, status: str, **options) -> requests.Response:
        if any(m["id"] == message_id for m in self.messages):
            self.set_state(message_id, status.capitalize())
        return self.post(url, self.status_event(message_id, status), **options)
