"""The scheduler of the `worker` process: runs each job of ovop.jobs.jobs on its schedule, in local time.

Exactly one worker runs per deployment, but nothing breaks if two do (or one restarts mid-run): jobs only
enqueue under dedupe keys. A job missed while the worker was down runs once when it comes back, within an hour
(misfire_grace_time, coalesce); the weekly jobs also catch up by themselves within their window.
"""
from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from ovop.core import clock
from ovop.jobs.jobs import Job, registry
from ovop.core.localtime import timezone_of

log = logging.getLogger(__name__)
MISFIRE_GRACE_SECONDS = 3600


def run_job(app: Flask, job: Job) -> int:
    """Run one job now against the app's database; an error is logged, never allowed to stop the scheduler."""
    try:
        added = job.run(app.extensions["ovop"].db, app.config, clock.now())
    except Exception:
        log.exception("job %s failed; it runs again at its next time", job.name)
        return 0
    if added:
        log.info("job %s enqueued %d message(s)", job.name, added)
    return added


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler holding every job under its name, not started."""
    config = app.config
    scheduler = BackgroundScheduler(timezone=timezone_of(config))
    for job in registry().values():
        scheduler.add_job(run_job, trigger=job.trigger(config), args=(app, job), id=job.name, name=job.name,
                          replace_existing=True, misfire_grace_time=MISFIRE_GRACE_SECONDS, coalesce=True,
                          max_instances=1)
    return scheduler


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Build and start the scheduler in background threads; call .shutdown() on what it returns to stop it."""
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler started: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    return scheduler
