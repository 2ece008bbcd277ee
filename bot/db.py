"""Database engine and sessions: one object built from a URL, shared by the web app, the worker and the CLI."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent


def default_url() -> str:
    """The newcomer's database: a SQLite file under instance/."""
    (ROOT / "instance").mkdir(exist_ok=True)
    return f"sqlite:///{ROOT / 'instance' / 'ovop.sqlite3'}"


def _make_sqlite_safe(engine: Engine) -> None:
    """Give SQLite what concurrent webhooks need: WAL, a busy timeout and write transactions taken up front.

    With the driver's deferred BEGIN, two transactions that both read and then write deadlock and one
    fails at once with "database is locked"; BEGIN IMMEDIATE makes them queue behind the busy timeout.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str | None = None, **engine_options):
        self.url = make_url(url or default_url())
        if self.url.drivername == "postgresql":  # plain postgresql:// means psycopg 3 here
            self.url = self.url.set(drivername="postgresql+psycopg")
        if self.dialect == "sqlite":
            engine_options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        else:
            engine_options.setdefault("pool_pre_ping", True)  # survive a database restart
            engine_options.setdefault("connect_args", {"connect_timeout": 5})
        self.engine = create_engine(self.url, **engine_options)
        if self.dialect == "sqlite":
            _make_sqlite_safe(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed when the block ends, rolled back on error."""
        with self.Session() as session, session.begin():
            yield session

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure means "not healthy"; the caller answers 503
            return False

    def dispose(self) -> None:
        self.engine.dispose()
