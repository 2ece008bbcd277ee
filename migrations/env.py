"""Alembic environment: migrates the database given by ovop.core.migrate (or DATABASE_URL)."""
from alembic import context

from ovop.core.db import Database
from ovop.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run the migrations on a live connection (the only mode we use)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    database = Database(config.get_main_option("sqlalchemy.url") or None)
    with database.engine.connect() as connection:
        _run(connection)
        connection.commit()
    database.dispose()


def _run(connection) -> None:
    # render_as_batch lets ALTER TABLE migrations work on SQLite too.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
