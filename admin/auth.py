"""Signing in to the dashboard: one user `admin`, a password hash, CSRF tokens, and a cap on failed logins.

The password is compared with a werkzeug hash made when the app is built. Every POST to the dashboard carries
the session's CSRF token (a form field, or the X-CSRF-Token header for the few fetch() calls), checked before
anything else runs. Failed logins are counted per client address in this process's memory: with several
gunicorn workers each counts on its own, so a guesser gets at most LIMIT × workers tries per window — a few
dozen an hour instead of thousands, which is the point — and a restart forgets them.
"""
from __future__ import annotations

import functools
import hmac
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, jsonify, redirect, request, session, url_for
from markupsafe import Markup, escape
from werkzeug.security import check_password_hash, generate_password_hash

from admin import ui_text
from admin.dashboard import _, bp, page, wants_json

USER = "admin"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
LIMIT, WINDOW_SECONDS = 5, 15 * 60
# Pages anyone may open: the login page, the language switch, the stylesheet and script.
PUBLIC = frozenset({"dashboard.login", "dashboard.set_language", "dashboard.static"})
UPLOAD_ENDPOINTS = frozenset({"dashboard.import_producers", "dashboard.import_check"})
MAX_UPLOAD, MAX_POST = 5 * 1024 * 1024, 1024 * 1024


class FailedLogins:
    """Failed sign-ins per client in a sliding window; `retry_after` says how long a client must wait."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW_SECONDS, clock=time.monotonic,
                 max_clients: int = 10_000):
        self.limit, self.window, self.clock, self.max_clients = limit, window, clock, max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int:
        """0 when `client` may try again, else the seconds until its oldest failure leaves the window."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            self._failures[client] = times = self._recent(client, now)
            times.append(now)
            if len(self._failures) > self.max_clients:  # many addresses: forget those with nothing recent
                for key in [key for key, old in self._failures.items() if not self._recent(key, now)]:
                    del self._failures[key]

    def forget(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


@dataclass
class Guard:
    password_hash: str
    failures: FailedLogins


@functools.lru_cache(maxsize=4)
def _hash(password: str) -> str:
    # Cached per process: the test suite builds hundreds of apps with one password, and scrypt takes ~0.2 s.
    return generate_password_hash(password)


@bp.record_once
def _setup(state) -> None:
    """Hash the password and make the session cookie HttpOnly, SameSite=Lax, Secure behind https."""
    app = state.app
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = str(app.config.get("PUBLIC_BASE_URL") or "").lower().startswith("https:")
    app.extensions["dashboard"] = Guard(_hash(app.config["ADMIN_PASSWORD"]), FailedLogins())


def guard() -> Guard:
    return current_app.extensions["dashboard"]


def signed_in() -> bool:
    return session.get("user") == USER


# --- CSRF ---------------------------------------------------------------------------------------------------

def csrf_token() -> str:
    """The session's token, made on first use (the login form already carries one)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token())}">')


def csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


@bp.before_request
def _check_request():
    """Size limit, CSRF on every POST, then sign-in for everything but the public pages."""
    if request.endpoint == "dashboard.static":
        return None
    request.max_content_length = MAX_UPLOAD if request.endpoint in UPLOAD_ENDPOINTS else MAX_POST
    if request.method == "POST" and not csrf_ok():
        message = _("csrf.refused")
        if wants_json():
            return jsonify(error=message), 400
        return page("error.html", 400, message=message)
    if request.endpoint not in PUBLIC and not signed_in():
        if request.method == "GET":
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        if wants_json():
            return jsonify(error=_("login.required")), 401
        return redirect(url_for("dashboard.login"))
    return None


@bp.after_request
def _headers(response):
    """No framing, scripts only from our own file, and nothing cached of a signed-in page."""
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "dashboard.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- pages --------------------------------------------------------------------------------------------------

def safe_next(target: str | None) -> str | None:
    """A local path to go back to after signing in; anything pointing elsewhere is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


@bp.route("/", methods=["GET", "POST"])
def login():
    """The first page: sign in as admin."""
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if signed_in():
            return redirect(target or url_for("dashboard.overview"))
        return page("login.html", next=target)
    client = request.remote_addr or "unknown"
    wait = guard().failures.retry_after(client)
    if wait:
        body, status = page("login.html", 429, next=target, error="login.too_many",
                            minutes=math.ceil(wait / 60))
        return body, status, {"Retry-After": str(wait)}
    user = request.form.get("username") or ""
    password = request.form.get("password") or ""
    right_user = hmac.compare_digest(user.strip().encode(), USER.encode())
    # The hash is checked even for a wrong user name, so the answer takes as long either way.
    right_password = check_password_hash(guard().password_hash, password)
    if not (right_user and right_password):
        guard().failures.failed(client)
        current_app.logger.warning("dashboard: failed sign-in from %s", client)
        return page("login.html", 401, next=target, error="login.wrong", username=user[:80])
    guard().failures.forget(client)
    chosen = session.get("lang")
    session.clear()  # a new session (and CSRF token) for the signed-in user
    session["user"] = USER
    if chosen in ui_text.LANGUAGES:
        session["lang"] = chosen
    csrf_token()
    return redirect(target or url_for("dashboard.overview"))


@bp.post("/logout")
def logout():
    chosen = session.get("lang")
    session.clear()
    if chosen in ui_text.LANGUAGES:
        session["lang"] = chosen
    return redirect(url_for("dashboard.login"))


@bp.get("/lang/<code>")
def set_language(code: str):
    """Switch the interface language and come back to the page."""
    if code in ui_text.LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")) or url_for("dashboard.login"))
