"""Run Alembic migrations from code: the `db` commands, `make run` and the tests.

Revisions are numbered 0001, 0002, … in one line (no branches): `revision` names the next file that way, and
`downgrade` accepts a revision the database has passed, `base`, or `-N` (N steps back).
"""
from __future__ import annotations

import re
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import text

from ovop.core.db import ROOT, Database

MIGRATIONS = ROOT / "migrations"
BASE = "base"


class MigrationError(RuntimeError):
    """A migration command that cannot be done as asked; the message says why, in one line."""


@dataclass(frozen=True)
class Position:
    """Where a database stands: its revision (None before the first migration) and the migrations' head."""

    revision: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.revision == self.head


def alembic_config(database: Database | None = None) -> Config:
    """An Alembic configuration pointing at our migrations and, when given, at `database`."""
    # quiet: the commands print their own line ("Generating …" would come first otherwise).
    config = Config(str(ROOT / "alembic.ini"), cmd_opts=Namespace(quiet=True))
    config.set_main_option("script_location", str(MIGRATIONS))
    if database is not None:
        config.set_main_option("sqlalchemy.url",
                               database.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def scripts() -> ScriptDirectory:
    """The migration files as they are on disk now (read afresh: `revision` may just have added one)."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision; several heads are refused, the numbering being one line."""
    heads = scripts().get_heads()
    if len(heads) != 1:
        raise MigrationError(f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}); "
                             "give them one line of down_revision before going on")
    return heads[0]


def position(database: Database) -> Position:
    """The database's revision and the head."""
    return Position(database.revision(), head())


def _lineage(revision: str | None) -> list[str]:
    """`revision` and every revision below it, newest first ([] before the first migration)."""
    if revision is None:
        return []
    try:
        return [script.revision for script in scripts().iterate_revisions(revision, BASE)]
    except RevisionError:
        raise MigrationError(f"the database is at {revision}, which no file in migrations/versions names") from None


def _known(revision: str) -> str:
    """`revision` when it names a migration file exactly, else MigrationError listing what exists."""
    known = [script.revision for script in scripts().walk_revisions()]
    if revision not in known:
        raise MigrationError(f"no migration {revision!r}: the revisions are {', '.join(sorted(known))}")
    return revision


def _run(database: Database, action, *args, **options) -> None:
    """Run an Alembic command inside one transaction on `database`; its errors become MigrationError."""
    try:
        with database.engine.begin() as connection:
            config = alembic_config(database)
            config.attributes["connection"] = connection
            action(config, *args, **options)
    except (CommandError, RevisionError) as error:
        raise MigrationError(str(error)) from None


def upgrade(database: Database, revision: str = "head") -> str:
    """Bring the schema of `database` up to `revision` (default: the head); returns the revision reached."""
    target = head() if revision in ("head", "heads") else _known(revision)
    at = database.revision()
    if at != target and target in _lineage(at):
        raise MigrationError(f"the database is at {at}, above {target}: use `db downgrade {target}`")
    _run(database, command.upgrade, target)
    return target


def downgrade(database: Database, revision: str) -> str | None:
    """Take `database` down to `revision`: one it has passed, `base` (no tables), or `-N` (N migrations back).

    Returns the revision reached (None at base).
    """
    at = database.revision()
    applied = _lineage(at)
    if not applied:
        raise MigrationError("the database has no migration applied: there is nothing to downgrade")
    steps = re.fullmatch(r"-([0-9]+)", revision.strip())
    if steps:
        count = int(steps.group(1))
        if not 1 <= count <= len(applied):
            raise MigrationError(f"{revision}: the database is at {at}, {len(applied)} migration(s) above base; "
                                 f"give -1 to -{len(applied)}, a revision, or base")
        target = applied[count] if count < len(applied) else None
    elif revision.strip() == BASE:
        target = None
    else:
        target = _known(revision.strip())
        if target == at:
            return at
        if target not in applied:
            raise MigrationError(f"{target} is not below the database's revision {at}: use `db upgrade {target}`")
    _run(database, command.downgrade, target or BASE)
    return target


def next_revision_id() -> str:
    """The number after the highest revision, as the files are named: 0009 after 0008."""
    numbers = [int(script.revision) for script in scripts().walk_revisions() if script.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


@dataclass(frozen=True)
class NewRevision:
    """What `revision` wrote: the file, its id, and whether autogenerate found a difference to write in it."""

    path: Path
    revision: str
    changes: bool


def revision(database: Database, message: str, *, autogenerate: bool = True) -> NewRevision:
    """Write migrations/versions/<next number>_<message>.py on top of the head.

    With `autogenerate` the file holds what the models (ovop.models) add to the database's schema, which must
    be at the head: a database behind it would put the missing migrations' work into the new one as well.
    """
    if not message.strip():
        raise MigrationError("a revision needs a message (-m): it names the file")
    top, number = head(), next_revision_id()
    found: list[bool] = []

    def note_changes(_context, _revision, directives):
        found.append(not directives[0].upgrade_ops.is_empty())

    if autogenerate:
        at = database.revision()
        if at != top:
            raise MigrationError(f"the database is at {at or 'no migration'}, not at the head {top}: run "
                                 "`db upgrade` first, so that the new migration holds only what the models "
                                 "changed (or pass --empty)")
        _run(database, command.revision, message=message, autogenerate=True, rev_id=number,
             process_revision_directives=note_changes)
    else:
        try:
            command.revision(alembic_config(), message=message, rev_id=number)
        except CommandError as error:
            raise MigrationError(str(error)) from None
    written = scripts().get_revision(number)
    return NewRevision(Path(written.path), number, bool(found and found[0]))


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
