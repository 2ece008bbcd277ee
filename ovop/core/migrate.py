"""Run Alembic migrations from code (the `db upgrade` command, `make run` and the tests)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from ovop.core.db import ROOT, Database


def alembic_config(database: Database) -> Config:
    """An Alembic configuration pointing at our migrations and at `database`."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema of `database` up to `revision`."""
    with database.engine.begin() as connection:
        config = alembic_config(database)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fresh(url: str) -> Database:
    """An empty database at the latest revision: a PostgreSQL schema dropped, a SQLite file replaced.

    For tests and benchmarks only: everything in that database is lost.
    """
    database = Database(url)
    if database.dialect == "postgresql":
        with database.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    elif database.url.database and Path(database.url.database).exists():
        database.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(database.url.database + suffix).unlink(missing_ok=True)
        database = Database(url)
    upgrade(database)
    return database
