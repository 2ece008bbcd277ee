"""Fixtures: every database test runs on SQLite and, with TEST_DATABASE_URL set, on PostgreSQL too."""
from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from ovop.core import clock, migrate
from ovop.core.db import Database
from ovop.models import Base
from tests.fake_twilio import FakeTwilio

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
TOKEN = "test-admin-token"
_prepared: dict[str, Database] = {}


def pytest_addoption(parser):
    parser.addoption(
        "--now", default=os.environ.get("OVOP_TEST_NOW") or None, metavar="ISO-8601",
        help="run the suite as if the project clock started at this moment (or set OVOP_TEST_NOW), "
             "e.g. 2026-12-01T22:30:00+00:00; tests that need a time of day set their own")


def pytest_configure(config):
    """Shift the project clock for the whole run when --now / OVOP_TEST_NOW asks for it."""
    value = config.getoption("--now")
    if not value:
        return
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"--now / OVOP_TEST_NOW: {value!r} is not an ISO-8601 date and time") from None
    if moment.tzinfo is None:
        raise pytest.UsageError(f"--now / OVOP_TEST_NOW: {value!r} needs an offset, e.g. +00:00")
    clock.shift_to(moment)


def pytest_report_header(config):
    value = config.getoption("--now")
    return f"project clock shifted to {value}" if value else None


def _empty(database: Database) -> None:
    """Remove every row so each test starts from an empty, migrated database."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path_factory) -> str:
    """The URL of an empty, migrated database of each backend under test."""
    backend = request.param
    if backend not in _prepared:
        if backend == "sqlite":
            path = Path(tmp_path_factory.mktemp("db")) / "test.sqlite3"
            url = f"sqlite:///{path}"
        else:
            url = os.environ["TEST_DATABASE_URL"]
        _prepared[backend] = migrate.fresh(url)
    database = _prepared[backend]
    _empty(database)
    return database.url.render_as_string(hide_password=False)


@pytest.fixture
def scratch_url(database_url, tmp_path):
    """An empty database of the backend under test: a new SQLite file, or a new PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    schema = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = Database(database_url)
    with admin.engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{database_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def app_config(database_url: str, **overrides) -> dict:
    """Settings for a test app: local mode, a known admin token, nothing taken from the developer's shell."""
    config = {
        "TESTING": True, "DATABASE_URL": database_url, "ADMIN_TOKEN": TOKEN, "ADMIN_PASSWORD": "test-password",
        "SECRET_KEY": "test-secret", "TWILIO_ACCOUNT_SID": None, "TWILIO_AUTH_TOKEN": None,
        "TWILIO_SMS_FROM": None, "TWILIO_WHATSAPP_FROM": None, "TWILIO_MESSAGING_SERVICE_SID": None,
        "TWILIO_API_BASE_URL": None, "PUBLIC_BASE_URL": None, "OUTBOUND_BACKEND": "console",
        "STAFF_PHONES": [],
    }
    config.update(overrides)
    return config


@pytest.fixture
def app(database_url):
    """The service in local mode (no Twilio signature required) on the database under test."""
    application = create_app(app_config(database_url))
    yield application
    application.extensions["ovop"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app) -> Database:
    return app.extensions["ovop"].db


class Api:
    """The staff JSON API as a test sees it: authorised calls returning (status, json)."""

    def __init__(self, client):
        self.client = client
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def _call(self, method: str, path: str, body=None):
        response = self.client.open(f"/api/v1{path}", method=method, json=body, headers=self.headers)
        return response.status_code, response.get_json(silent=True)

    def get(self, path):
        return self._call("GET", path)

    def post(self, path, body=None):
        return self._call("POST", path, body if body is not None else {})

    def patch(self, path, body):
        return self._call("PATCH", path, body)

    def delete(self, path):
        return self._call("DELETE", path)


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def demo(app):
    """The demo catalogue, cooperatives, producers, workshops and prices, loaded as `demo load` does."""
    from ovop.domain.demo import load
    with app.extensions["ovop"].db.transaction() as session:
        load(session)
    return app


@pytest.fixture
def fake():
    """A fake Twilio on loopback that stamps messages with the clock the test sets (a module may define its own)."""
    with FakeTwilio(clock=clock.now) as server:
        yield server
