"""Command-line tools: `flask --app app db upgrade|downgrade|current|revision | demo load | jobs list|run |
outbox drain | worker | serve | chat PHONE`."""
from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections import Counter

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from ovop.cli.jobs import jobs_cli, moment
from ovop.conversation.inbound import InboundMessage, receive
from ovop.core import clock, migrate
from ovop.core.localtime import quiet_until
from ovop.core.phones import InvalidPhone, to_e164
from ovop.domain import demo
from ovop.messaging import smsgate
from ovop.messaging.outbox import Sender
from ovop.models import Producer, Product
from ovop.worker import start_scheduler

log = logging.getLogger(__name__)
db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
demo_cli = AppGroup("demo", help="Demo data for trying the service.")
outbox_cli = AppGroup("outbox", help="The queue of messages the service starts.")
# On SIGTERM (every deploy) or SIGINT the sender stops claiming; its calls in flight finish and are recorded
# within this many seconds (Twilio's own timeout is 10 s), then the process exits.
STOP_SECONDS = 30.0


def services():
    return current_app.extensions["ovop"]


def make_sender(app: Flask, stop: threading.Event | None = None, **options):
    """An outbox sender configured from the app's settings (the SMS gateway's pace and daily cap when it carries
    SMS); setting `stop` stops it. `options` override Sender fields (tests hand in a sleep that counts)."""
    config = app.config
    rates = {"sms": config["OUTBOX_RATE_SMS"], "whatsapp": config["OUTBOX_RATE_WHATSAPP"]}
    return Sender(db=app.extensions["ovop"].db, transport=app.extensions["ovop"].transport,
                  status_callback_base=config.get("PUBLIC_BASE_URL"),
                  quiet_until=lambda moment: quiet_until(moment, config),
                  max_attempts=config["OUTBOX_MAX_ATTEMPTS"], stop=stop or threading.Event(),
                  **{"prices": config["MESSAGE_PRICES"], **smsgate.pace(config, rates), **options})


def stop_on_signals(stop: threading.Event, wake: threading.Event | None = None) -> None:
    """Make SIGTERM and SIGINT set `stop` (and `wake`) instead of ending the process mid-call."""
    def handler(_signum, _frame):
        # Only events are set here: the main thread says what happens, outside the signal handler.
        stop.set()
        if wake is not None:
            wake.set()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, handler)


def run_sender(target, stop: threading.Event) -> int:
    """Run `target` (the sender's loop) in a thread until it returns or `stop` is set; then give its calls in
    flight STOP_SECONDS to finish and be recorded. Returns the exit status: 0, or 1 when they did not."""
    wake = threading.Event()
    failed: list[BaseException] = []

    def body():
        try:
            target()
        except BaseException as error:  # reported by the main thread
            failed.append(error)
        finally:
            wake.set()

    stop_on_signals(stop, wake)
    thread = threading.Thread(target=body, name="outbox-sender", daemon=True)
    thread.start()
    while not wake.wait(1.0):
        pass
    if stop.is_set() and thread.is_alive():
        click.echo(f"stopping: nothing more is claimed; finishing the calls in flight (at most {STOP_SECONDS:.0f} s)")
    return finish_sender(thread, failed)


def finish_sender(thread: threading.Thread, failed: list[BaseException] | None = None) -> int:
    """Wait at most STOP_SECONDS for the sender thread; 0 when it finished cleanly."""
    thread.join(STOP_SECONDS)
    if thread.is_alive():
        # Safe, only slower: what it still holds stays claimed, its lease lapses within seconds, and the next
        # sender asks Twilio before sending any of it again.
        log.error("outbox sender: calls still unfinished after %.0f s; exiting, their claims will lapse", STOP_SECONDS)
        return 1
    for error in failed or ():
        log.error("outbox sender stopped on an error", exc_info=error)
        return 1
    return 0


def _where(database) -> str:
    """The database's URL without its password, for the lines the db commands print."""
    return database.url.render_as_string(hide_password=True)


@contextlib.contextmanager
def _migration_errors():
    """A migration that cannot be done as asked ends the command with its one-line reason, not a traceback."""
    try:
        yield
    except migrate.MigrationError as error:
        raise click.ClickException(str(error)) from None


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision):
    """Apply the migrations up to REVISION (default: the latest)."""
    database = services().db
    with _migration_errors():
        reached = migrate.upgrade(database, revision)
    click.echo(f"database at {reached}: {_where(database)}")


# ignore_unknown_options: "-1" is the REVISION argument, not an option.
@db_cli.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
def db_downgrade(revision):
    """Undo migrations down to REVISION: a revision id, -1 (one step back), -N, or base (no tables)."""
    database = services().db
    with _migration_errors():
        reached = migrate.downgrade(database, revision)
    click.echo(f"database at {reached or 'base (no migration applied)'}: {_where(database)}")


@db_cli.command("current")
def db_current():
    """Print the database's revision and whether it is the head."""
    database = services().db
    with _migration_errors():
        at = migrate.position(database)
    if at.at_head:
        click.echo(f"{at.revision} (head): {_where(database)}")
    else:
        click.echo(f"{at.revision or 'no migration applied'} (the head is {at.head}: run `flask --app app db "
                   f"upgrade`): {_where(database)}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does; it names the file.")
@click.option("--empty", is_flag=True,
              help="Write upgrade() and downgrade() by hand instead of comparing the models with the database.")
def db_revision(message, empty):
    """Write the next migration (migrations/versions/NNNN_message.py), on top of the head.

    By default its operations are generated from what the models add to the database, which must be at the
    head (run `db upgrade` first); read them before committing the file.
    """
    with _migration_errors():
        written = migrate.revision(services().db, message, autogenerate=not empty)
    path = written.path.relative_to(migrate.ROOT)
    if empty:
        click.echo(f"{path}: revision {written.revision}; write its upgrade() and downgrade()")
    elif written.changes:
        click.echo(f"{path}: revision {written.revision}, generated from the models; read it, then `db upgrade`")
    else:
        click.echo(f"{path}: revision {written.revision}; the models and the database already agree, so it is "
                   "empty: write its upgrade() and downgrade()")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only load into a database that has no products yet.")
def demo_load(if_empty):
    """Load the demo catalogue, cooperatives and producers (safe to run twice)."""
    with services().db.transaction() as session:
        if if_empty and session.scalar(select(func.count()).select_from(Product)):
            click.echo("demo data skipped: the database already has products")
            return
        added = demo.load(session, config=current_app.config)
    click.echo("demo data loaded: " + ", ".join(f"{count} {kind}" for kind, count in added.items()))


@outbox_cli.command("drain")
@click.option("--at", "at", metavar="ISO-8601", default=None,
              help="Judge as if the clock said this time: what is due, quiet hours, claims that lapsed.")
def outbox_drain(at):
    """Send what is due now, once, and exit; prints how many were sent."""
    app = current_app._get_current_object()
    stop = threading.Event()
    sender = make_sender(app, stop)
    outcome: Counter[str] = Counter()
    pretend = clock.frozen_at(moment(at, app.config), all_threads=True) if at else contextlib.nullcontext()
    with pretend:
        quiet = sender.quiet_until(clock.now()) if sender.quiet_until else None
        if quiet is not None:
            click.echo(f"quiet hours until {quiet.isoformat()}: nothing but replies leaves now")
        status = run_sender(lambda: outcome.update(sender.drain()), stop)
    withdrawn = outcome["cancelled"] + outcome["undeliverable"]
    click.echo(f"outbox drain: {outcome['sent']} sent ({outcome['found']} of them already at Twilio, recorded, "
               f"not sent again), {outcome['pending']} to retry later, {outcome['failed']} failed, "
               f"{withdrawn} withdrawn, {outcome['released']} handed back unsent")
    if status:
        raise SystemExit(status)


@click.command("worker")
@click.option("--at", "at", metavar="ISO-8601", default=None, hidden=True,
              help="Start the clock at this time and let it run (drills and tests).")
def worker(at):
    """Run the outbox sender (and the scheduler) until SIGTERM or SIGINT: exactly one per deployment."""
    app = current_app._get_current_object()
    if at:
        clock.shift_to(moment(at, app.config))
    stop = threading.Event()
    sender = make_sender(app, stop)
    scheduler = start_scheduler(app)
    click.echo(f"worker started: scheduler and outbox sender via {services().transport.name}")
    try:
        status = run_sender(lambda: sender.run_forever(stop), stop)
    finally:
        scheduler.shutdown(wait=False)
    click.echo("worker stopped" if not status else "worker stopped with calls unfinished")
    if status:
        raise SystemExit(status)


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=None, help="Default: $PORT or 5000; 0 picks a free port.")
@click.option("--at", "at", metavar="ISO-8601", default=None, hidden=True,
              help="Start the clock at this time and let it run (drills and tests).")
def serve(host, port, at):
    """Everything in one process for a newcomer: web app and outbox sender."""
    app = current_app._get_current_object()
    if at:
        clock.shift_to(moment(at, app.config))
    port = app.config["PORT"] if port is None else port
    stop = threading.Event()
    sender = threading.Thread(target=make_sender(app, stop).run_forever, args=(stop,), name="outbox-sender",
                              daemon=True)
    sender.start()
    scheduler = start_scheduler(app)
    click.echo(f"OVOP service on http://{host}:{port}/  (webhook: POST /twilio/inbound, health: /healthz)")
    click.echo(f"phone simulator (start here): http://{host}:{port}/simulator")
    generated = app.config.get("GENERATED_SECRETS", [])  # what was given in the environment is never shown
    if "ADMIN_TOKEN" in generated:
        click.echo(f"API token (Authorization: Bearer …): {app.config['ADMIN_TOKEN']}")
    if "ADMIN_PASSWORD" in generated:
        click.echo(f"dashboard login: admin / {app.config['ADMIN_PASSWORD']}")
    from werkzeug.serving import run_simple

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt  # werkzeug's server loop ends on it, as on Ctrl-C

    # SIGINT too: a shell that starts `serve` in the background leaves SIGINT ignored otherwise.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, interrupt)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the finishing short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()
        scheduler.shutdown(wait=False)
        click.echo(f"stopping: finishing the outbox calls in flight (at most {STOP_SECONDS:.0f} s)")
        status = finish_sender(sender)
    if status:
        raise SystemExit(status)


def register(app: Flask) -> None:
    """Attach the commands to the app's `flask` CLI."""
    for command in (db_cli, demo_cli, jobs_cli, outbox_cli, worker, serve, chat):
        app.cli.add_command(command)


@click.command("chat")
@click.argument("phone")
@click.option("--channel", type=click.Choice(["whatsapp", "sms"]), default=None,
              help="Default: the producer's channel.")
def chat(phone, channel):
    """Talk to the bot in the terminal as PHONE, through the same path as the webhook (Ctrl-D to leave)."""
    import uuid

    try:
        phone = to_e164(phone)
    except InvalidPhone as error:
        raise click.BadParameter(str(error), param_hint="PHONE")
    db = services().db
    with db.transaction() as session:
        producer = session.scalar(select(Producer).where(Producer.phone == phone, Producer.deleted_at.is_(None)))
        label = f"{producer.name} ({producer.language}, {producer.channel})" if producer else "unregistered number"
        channel = channel or (producer.channel if producer else "sms")
    click.echo(f"chatting as {phone}, {label}; Ctrl-D to leave")
    while True:
        try:
            text = input("> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        result = receive(db, current_app.config,
                         InboundMessage(sid=f"chat-{uuid.uuid4().hex}", phone=phone, channel=channel, body=text))
        for reply in result.replies:
            click.echo(f"< {reply}")
