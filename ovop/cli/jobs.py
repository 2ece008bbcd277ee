"""`flask --app app jobs list` and `flask --app app jobs run NAME [--at ISO-8601]`."""
from __future__ import annotations

from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup

from ovop.core import clock
from ovop.jobs.jobs import registry
from ovop.core.localtime import timezone_of

jobs_cli = AppGroup("jobs", help="Scheduled jobs: reminders, price tips, stock reminders, broadcasts.")


def moment(value: str, config: dict) -> datetime:
    """An ISO 8601 date-time; without an offset it is taken in the service's time zone (BOT_TIMEZONE)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time such as 2026-12-07T08:00+00:00",
                                 param_hint="--at") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone_of(config))
    return parsed.astimezone(timezone.utc)


@jobs_cli.command("list")
def list_jobs():
    """Show every job, when the worker runs it, and what it does."""
    for job in registry().values():
        click.echo(f"{job.name:<20} {job.schedule(current_app.config):<14} {job.summary}")


@jobs_cli.command("run")
@click.argument("name")
@click.option("--at", "at", metavar="ISO-8601", default=None,
              help="Run as if the clock said this time (what is due and quiet hours are judged then).")
def run_job(name, at):
    """Run job NAME once and enqueue what is due; running it twice for one slot adds nothing."""
    jobs = registry()
    if name not in jobs:
        raise click.BadParameter(f"unknown job; one of: {', '.join(jobs)}", param_hint="NAME")
    when = moment(at, current_app.config) if at else clock.now()
    # Only the job's `now` is set: what it enqueues is stamped with the real clock, so the running sender
    # sends it without waiting for the pretended time.
    added = jobs[name].run(current_app.extensions["ovop"].db, current_app.config, when)
    click.echo(f"{name} at {when.isoformat()}: {added} {jobs[name].counted}")
