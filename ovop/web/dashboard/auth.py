"""Signing in to the dashboard: one user `admin`, a password hash, server-side sessions, CSRF tokens, and a
growing delay after failed logins.

The password is compared with a werkzeug hash made when the app is built. A sign-in creates a row in
staff_sessions and puts a random token in the (signed) cookie; every request looks the row up, so signing out,
which deletes it, revokes the session even for a copy of the cookie, and a session ends SESSION_LIFETIME after
it began. Every POST carries the session's CSRF token (a form field, or the X-CSRF-Token header for the few
fetch() calls), checked before anything else runs.

Failed sign-ins are counted in the database (login_throttles), so every web worker sees the same counts and a
restart forgets nothing: per account, and per client address (the socket's, unless TRUSTED_PROXIES says a
proxy in front writes X-Forwarded-For). The whole boutique shares one address, so nobody is locked out: after a
few free mistakes the next try waits a delay that doubles with each failure, up to MAX_DELAY. A try is counted
as failed when it starts and cleared when the password proves right, so parallel guesses cannot slip between
the count and the check.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app, g, jsonify, redirect, request, session, url_for
from markupsafe import Markup, escape
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError
from werkzeug.exceptions import BadRequest
from werkzeug.security import check_password_hash, generate_password_hash

from ovop.web import inputs
from ovop.web.dashboard import ui_text
from ovop.web.dashboard import _, bp, database, lang, page, wants_json
from ovop.core import clock
from ovop.core.errors import Invalid
from ovop.core.db import Database
from ovop.models import LoginThrottle, StaffSession
from ovop.web.request_limits import limit_body

USER = "admin"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=12)  # a working day; then sign in again
# Failures allowed before any wait, per account and per address (a shared address gets more), then a wait of
# FIRST_DELAY seconds doubling with each failure up to MAX_DELAY; counts are forgotten after FORGET_AFTER quiet.
FREE_FAILURES = {"account": 3, "address": 10}
FIRST_DELAY, MAX_DELAY = 1, 60
FORGET_AFTER = timedelta(hours=1)
# Pages anyone may open: the login page, the language switch, the stylesheet and script.
PUBLIC = frozenset({"dashboard.login", "dashboard.set_language", "dashboard.static"})
# Body caps: the CSV upload (csv_import.MAX_BYTES and the form around it), a chunk of its rows sent back by the
# page, and every other form (the largest, a broadcast in three languages, is under 50 KB percent-encoded).
UPLOAD_ENDPOINTS = frozenset({"dashboard.import_producers", "dashboard.import_check"})
CHUNK_ENDPOINTS = frozenset({"dashboard.import_rows"})
MAX_UPLOAD, MAX_CHUNK, MAX_POST = 5 * 1024 * 1024, 1024 * 1024, 256 * 1024


def delay_after(failures: int, free: int) -> int:
    """Seconds before the next try after `failures` in a row: 0 for the first `free`, then 1, 2, 4… up to MAX_DELAY."""
    if failures <= free:
        return 0
    return min(FIRST_DELAY * 2 ** min(failures - free - 1, 30), MAX_DELAY)


class LoginThrottles:
    """The failed-login counts of accounts and addresses, in the database."""

    def __init__(self, db: Database):
        self.db = db

    def _insert(self, session):
        return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert

    def claim(self, account: str, address: str, now: datetime) -> int:
        """0 when this try may go ahead (it is counted as failed until `succeeded`), else seconds to wait."""
        keys = (("account", account), ("address", address))  # always in this order: no lock-order deadlock
        with self.db.transaction() as session:
            session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < now - FORGET_AFTER))
            rows = []
            for kind, key in keys:
                session.execute(self._insert(session)(LoginThrottle)
                                .values(kind=kind, key=key, failures=0, updated_at=now)
                                .on_conflict_do_nothing(index_elements=["kind", "key"]))
                rows.append(session.scalars(
                    select(LoginThrottle).where(LoginThrottle.kind == kind, LoginThrottle.key == key)
                    .with_for_update().execution_options(populate_existing=True)).one())
            waits = [math.ceil((row.next_attempt_at - now).total_seconds()) for row in rows
                     if row.next_attempt_at is not None and row.next_attempt_at > now]
            if waits:
                return max(waits)
            for row in rows:
                row.failures += 1
                row.next_attempt_at = now + timedelta(seconds=delay_after(row.failures, FREE_FAILURES[row.kind]))
                row.updated_at = now
            return 0

    def succeeded(self, account: str, address: str) -> None:
        """The password was right: the account and the address start again from nothing."""
        with self.db.transaction() as session:
            session.execute(delete(LoginThrottle).where(or_(
                and_(LoginThrottle.kind == "account", LoginThrottle.key == account),
                and_(LoginThrottle.kind == "address", LoginThrottle.key == address))))

    def failures(self, kind: str, key: str) -> int:
        with self.db.transaction() as session:
            row = session.get(LoginThrottle, (kind, key))
            return row.failures if row is not None else 0


@dataclass
class Guard:
    password_hash: str


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
    # Flask also refuses a cookie signed longer ago than this (the server-side row is what counts).
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    app.extensions["dashboard"] = Guard(_hash(app.config["ADMIN_PASSWORD"]))


def guard() -> Guard:
    return current_app.extensions["dashboard"]


def throttles() -> LoginThrottles:
    return LoginThrottles(database())


# --- sessions -----------------------------------------------------------------------------------------------

def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(login: str) -> None:
    """A new server-side session for `login`, its token in the cookie (expired sessions are dropped on the way)."""
    token, now = secrets.token_urlsafe(32), clock.now()
    with database().transaction() as db_session:
        db_session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
        db_session.add(StaffSession(id=_session_id(token), login=login, created_at=now,
                                    expires_at=now + SESSION_LIFETIME))
    session["user"], session["sid"] = login, token
    g.staff_signed_in = True


def end_session() -> None:
    """Revoke this session on the server: a copy of the cookie opens nothing any more."""
    token = session.get("sid")
    if isinstance(token, str) and token:
        with database().transaction() as db_session:
            db_session.execute(delete(StaffSession).where(StaffSession.id == _session_id(token)))
    g.staff_signed_in = False


def signed_in() -> bool:
    """True when the cookie names a live server-side session of the user (looked up once per request)."""
    if "staff_signed_in" not in g:
        token, user = session.get("sid"), session.get("user")
        alive = False
        if user == USER and isinstance(token, str) and token:
            with database().transaction() as db_session:
                row = db_session.get(StaffSession, _session_id(token))
                alive = row is not None and row.login == user and row.expires_at > clock.now()
        g.staff_signed_in = alive
    return g.staff_signed_in


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


def _body_cap(endpoint: str | None) -> int:
    if endpoint in UPLOAD_ENDPOINTS:
        return MAX_UPLOAD
    return MAX_CHUNK if endpoint in CHUNK_ENDPOINTS else MAX_POST


def _unstorable_field() -> str | None:
    """The first query-string or form field holding text the database cannot store (a NUL byte); JSON nested
    too deeply is a BadRequest."""
    found = inputs.first_unstorable(request.args.lists())
    if found is None and request.method == "POST":
        if request.is_json:
            problem = inputs.json_problem(request.get_json(silent=True))
            if problem is not None and problem[1] != inputs.CODE:
                raise BadRequest(f"the JSON body is nested more than {inputs.MAX_DEPTH} levels deep")
            found = problem[0] if problem else None
        else:
            found = inputs.first_unstorable(request.form.lists())
    return found


@bp.before_request
def _check_request():
    """Size limit, storable text, CSRF on every POST, then sign-in for everything but the public pages."""
    if request.endpoint == "dashboard.static":
        return None
    limit_body(_body_cap(request.endpoint))  # before anything reads the body
    field = _unstorable_field()
    if field is not None:
        message = ui_text.refusal(lang(), Invalid(field, inputs.CODE))
        if wants_json():
            return jsonify(error=message, field=field), 422
        return page("error.html", 422, message=message)
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


@bp.errorhandler(BadRequest)
def _bad_request(error: BadRequest):
    """A malformed request (JSON nested too deeply…): 400 with what was wrong, never Werkzeug's bare page."""
    if wants_json():
        return jsonify(error=error.description), 400
    return page("error.html", 400, message=error.description)


@bp.errorhandler(DataError)
def _refused_by_database(_error: DataError):
    """Values are checked before they are written; this catches what slipped through, as a refusal."""
    message = ui_text.refusal(lang(), Invalid("value", "refused_by_database"))
    if wants_json():
        return jsonify(error=message), 422
    return page("error.html", 422, message=message)


# --- pages --------------------------------------------------------------------------------------------------

def safe_next(target: str | None) -> str | None:
    """A local path to go back to after signing in; anything pointing elsewhere, or holding a control character
    (CR/LF would split the Location header), is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
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
    user = request.form.get("username") or ""
    account = user.strip().lower()[:100]
    address = (request.remote_addr or "unknown")[:100]
    wait = throttles().claim(account, address, clock.now())
    if wait:
        body, status = page("login.html", 429, next=target, error="login.too_many", minutes=math.ceil(wait / 60))
        return body, status, {"Retry-After": str(wait)}
    password = request.form.get("password") or ""
    right_user = hmac.compare_digest(user.strip().encode(), USER.encode())
    # The hash is checked even for a wrong user name, so the answer takes as long either way.
    right_password = check_password_hash(guard().password_hash, password)
    if not (right_user and right_password):
        current_app.logger.warning("dashboard: failed sign-in from %s", address)
        return page("login.html", 401, next=target, error="login.wrong", username=user[:80])
    throttles().succeeded(account, address)
    chosen = session.get("lang")
    session.clear()  # a new session (and CSRF token) for the signed-in user
    start_session(USER)
    if chosen in ui_text.LANGUAGES:
        session["lang"] = chosen
    csrf_token()
    return redirect(target or url_for("dashboard.overview"))


@bp.post("/logout")
def logout():
    chosen = session.get("lang")
    end_session()
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
