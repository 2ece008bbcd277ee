"""The `db` commands as an operator types them (Flask's CLI runner), on a scratch SQLite file or PostgreSQL schema:
upgrade, current, downgrade, revision; and every migration undone and done again."""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, String, Table, inspect

from app import create_app
from ovop.core import migrate
from ovop.domain.demo import load
from ovop.models import Base
from tests.conftest import app_config


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    return [script.revision for script in reversed(list(migrate.scripts().walk_revisions()))]


class Cli:
    """`flask --app app …` against one app: each call returns the exit code and what was printed."""

    def __init__(self, app):
        self.app, self.runner = app, app.test_cli_runner()

    def __call__(self, *args: str) -> tuple[int, str]:
        result = self.runner.invoke(args=list(args))
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
            f"{args} raised {result.exception!r}"
        return result.exit_code, result.output.strip()

    @property
    def db(self):
        return self.app.extensions["ovop"].db

    def tables(self) -> set[str]:
        with self.db.engine.connect() as connection:
            return set(inspect(connection).get_table_names()) - {"alembic_version"}


@contextlib.contextmanager
def cli_on(url: str):
    app = create_app(app_config(url))
    try:
        yield Cli(app)
    finally:
        app.extensions["ovop"].db.dispose()


def test_upgrade_current_downgrade_one_step_current_and_upgrade_again(scratch_url):
    head, previous = revisions()[-1], revisions()[-2]
    with cli_on(scratch_url) as cli:
        assert cli("db", "current") == (0, f"no migration applied (the head is {head}: run `flask --app app db "
                                           f"upgrade`): {cli.db.url.render_as_string(hide_password=True)}")
        status, said = cli("db", "upgrade")
        assert status == 0 and said.startswith(f"database at {head}: ")
        everything = cli.tables()
        assert cli("db", "current")[1].startswith(f"{head} (head): ")

        status, said = cli("db", "downgrade", "-1")
        assert status == 0 and said.startswith(f"database at {previous}: ")
        status, said = cli("db", "current")
        assert status == 0 and said.startswith(f"{previous} (the head is {head}: run `flask --app app db upgrade`)")
        assert cli.db.revision() == previous

        status, said = cli("db", "upgrade")
        assert status == 0 and said.startswith(f"database at {head}: ")
        assert cli("db", "current")[1].startswith(f"{head} (head): ")
        assert cli.tables() == everything


def test_downgrade_to_a_named_revision_and_to_base(scratch_url):
    first, third = revisions()[0], revisions()[2]
    with cli_on(scratch_url) as cli:
        cli("db", "upgrade")
        assert cli("db", "downgrade", third)[1].startswith(f"database at {third}: ")
        assert cli("db", "downgrade", "-2")[1].startswith(f"database at {first}: ")
        assert cli("db", "downgrade", "base")[1].startswith("database at base (no migration applied): ")
        assert cli.tables() == set() and cli.db.revision() is None
        assert cli("db", "upgrade", third)[1].startswith(f"database at {third}: ")


def refusals() -> list[tuple[tuple[str, ...], str]]:
    """Commands with a REV the database cannot go to, and the reason each one prints (at the third revision)."""
    known, third = revisions(), revisions()[2]
    return [
        (("db", "downgrade", "nope"), f"Error: no migration 'nope': the revisions are {', '.join(sorted(known))}"),
        (("db", "downgrade", "-0"), f"Error: -0: the database is at {third}, 3 migration(s) above base; "
                                    "give -1 to -3, a revision, or base"),
        (("db", "downgrade", "-4"), f"Error: -4: the database is at {third}, 3 migration(s) above base; "
                                    "give -1 to -3, a revision, or base"),
        (("db", "downgrade", "-x"), "Error: no migration '-x'"),
        (("db", "downgrade", known[-1]), f"Error: {known[-1]} is not below the database's revision {third}: "
                                         f"use `db upgrade {known[-1]}`"),
        (("db", "upgrade", known[0]), f"Error: the database is at {third}, above {known[0]}: "
                                      f"use `db downgrade {known[0]}`"),
        (("db", "upgrade", "0x"), "Error: no migration '0x'"),
        (("db", "revision", "-m", "too early"), f"Error: the database is at {third}, not at the head {known[-1]}: "
                                                "run `db upgrade` first"),
    ]


@pytest.mark.parametrize("args, reason", refusals(), ids=lambda value: " ".join(value) if isinstance(value, tuple)
                         else None)
def test_a_revision_the_database_cannot_go_to_is_refused_in_one_line(scratch_url, args, reason):
    third = revisions()[2]
    with cli_on(scratch_url) as cli:
        cli("db", "upgrade", third)
        status, said = cli(*args)
        assert status == 1
        assert said.startswith(reason) and "\n" not in said and "Traceback" not in said
        assert cli.db.revision() == third


def test_downgrading_a_database_never_migrated_says_there_is_nothing_to_undo(scratch_url):
    with cli_on(scratch_url) as cli:
        assert cli("db", "downgrade", "-1") == (1, "Error: the database has no migration applied: there is "
                                                   "nothing to downgrade")


@contextlib.contextmanager
def written_revisions():
    """Remove the migration files (and their bytecode) a test writes, whatever happens."""
    before = set(Path(migrate.MIGRATIONS, "versions").glob("*.py"))
    try:
        yield
    finally:
        for path in set(Path(migrate.MIGRATIONS, "versions").glob("*.py")) - before:
            path.unlink()
            for compiled in path.parent.glob(f"__pycache__/{path.stem}.*"):
                compiled.unlink()


@contextlib.contextmanager
def model_table(name: str):
    """A table the models gain for the length of the block, as a developer's edit to ovop/models.py would."""
    table = Table(name, Base.metadata, Column("id", Integer, primary_key=True), Column("label", String(40)))
    try:
        yield table
    finally:
        Base.metadata.remove(table)


def test_revision_writes_the_next_numbered_file_from_the_models_and_upgrade_applies_it(scratch_url):
    head = revisions()[-1]
    number = f"{int(head) + 1:04d}"
    with cli_on(scratch_url) as cli, written_revisions():
        cli("db", "upgrade")
        with model_table("revision_probes"):
            status, said = cli("db", "revision", "-m", "Revision probes")
        path = Path(migrate.MIGRATIONS, "versions", f"{number}_revision_probes.py")
        assert (status, said) == (0, f"migrations/versions/{path.name}: revision {number}, generated from the "
                                     "models; read it, then `db upgrade`")
        source = path.read_text(encoding="utf-8")
        assert f"revision = '{number}'" in source and f"down_revision = '{head}'" in source
        assert "op.create_table('revision_probes'" in source and "op.drop_table('revision_probes')" in source

        assert cli("db", "current")[1].startswith(f"{head} (the head is {number}")
        assert cli("db", "upgrade")[1].startswith(f"database at {number}: ")
        assert "revision_probes" in cli.tables()
        assert cli("db", "current")[1].startswith(f"{number} (head)")
        assert cli("db", "downgrade", "-1")[1].startswith(f"database at {head}: ")
        assert "revision_probes" not in cli.tables()


def test_revision_says_when_the_models_hold_nothing_new_and_empty_writes_a_blank_one(scratch_url):
    number = f"{int(revisions()[-1]) + 1:04d}"
    with cli_on(scratch_url) as cli, written_revisions():
        cli("db", "upgrade")
        status, said = cli("db", "revision", "-m", "nothing")
        assert (status, said) == (0, f"migrations/versions/{number}_nothing.py: revision {number}; the models and "
                                     "the database already agree, so it is empty: write its upgrade() and "
                                     "downgrade()")
        Path(migrate.MIGRATIONS, "versions", f"{number}_nothing.py").unlink()
        cli("db", "downgrade", "-1")  # --empty asks nothing of the database
        status, said = cli("db", "revision", "-m", "by hand", "--empty")
        assert (status, said) == (0, f"migrations/versions/{number}_by_hand.py: revision {number}; write its "
                                     "upgrade() and downgrade()")


def schema_differences(database) -> list:
    """What the models hold that the database does not, or the reverse (empty when they agree)."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_every_migration_downgrades_and_upgrades_again_with_data_in_the_tables(scratch_url):
    """Each revision undone right after it is applied and applied again; then, with the demo data in, all of
    them undone down to base and done again up to the head, which matches the models."""
    with cli_on(scratch_url) as cli:
        db = cli.db
        for number, revision in enumerate(revisions()):
            migrate.upgrade(db, revision)
            below = migrate.downgrade(db, "-1")
            assert below == (revisions()[number - 1] if number else None)
            assert migrate.upgrade(db, revision) == revision == db.revision()
        with db.transaction() as session:
            load(session)
        assert migrate.downgrade(db, "base") is None
        assert cli.tables() == set()
        assert migrate.upgrade(db) == revisions()[-1]
        assert schema_differences(db) == []
