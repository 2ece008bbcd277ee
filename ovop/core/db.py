"""Database engine and sessions: one object built from a URL, shared by the web app, the worker and the CLI."""
from __future__ import annotations

import contextlib
import functools
from typing import Iterator

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ovop.core.paths import INSTANCE, ROOT

# Connections a process may open beyond its pool (the worker's sender and scheduler threads in `serve`).
POOL_OVERFLOW = 2


def default_url() -> str:
    """The newcomer's database: a SQLite file under instance/."""
    INSTANCE.mkdir(exist_ok=True)
    return f"sqlite:///{INSTANCE / 'ovop.sqlite3'}"


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

    def __init__(self, url: str | None = None, *, pool_size: int | None = None, **engine_options):
        """`pool_size`: connections kept open, one per thread that may run a request at the same time."""
        self.url = make_url(url or default_url())
        if self.url.drivername == "postgresql":  # plain postgresql:// means psycopg 3 here
            self.url = self.url.set(drivername="postgresql+psycopg")
        if pool_size and self.url.database not in (None, "", ":memory:"):
            engine_options.setdefault("pool_size", pool_size)
            engine_options.setdefault("max_overflow", POOL_OVERFLOW)
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

    def revision(self) -> str | None:
        """The migration the database is at (None when it was never migrated)."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        return ",".join(sorted(found)) or None

    def health(self) -> str | None:
        """None when the database answers and is at the migrations' head, else what is wrong, in a few words."""
        try:
            at = self.revision()
        except Exception:  # any failure means "not healthy"; the caller answers 503
            return "database unreachable"
        head = head_revision()
        if at != head:
            return f"database at migration {at or 'none'}, the code needs {head}: run `flask --app app db upgrade`"
        return None

    def dispose(self) -> None:
        self.engine.dispose()


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration under migrations/ (several heads, which Alembic allows, are joined with commas)."""
    from alembic.script import ScriptDirectory  # only the health check needs Alembic at run time
    return ",".join(sorted(ScriptDirectory(str(ROOT / "migrations")).get_heads()))
