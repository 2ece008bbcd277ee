"""Command-line tools: `flask --app app db upgrade | demo load | jobs list|run | worker | serve | chat PHONE`."""
from __future__ import annotations

import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from bot import migrate
from bot.models import Product

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
demo_cli = AppGroup("demo", help="Demo data for trying the service.")


def services():
    return current_app.extensions["ovop"]


def make_sender(app: Flask):
    """An outbox sender configured from the app's settings."""
    from bot.outbox import Sender
    config = app.config
    from scheduler.notify import quiet_until
    return Sender(db=app.extensions["ovop"].db, transport=app.extensions["ovop"].transport,
                  status_callback_base=config.get("PUBLIC_BASE_URL"),
                  quiet_until=lambda moment: quiet_until(moment, config),
                  rates={"sms": config["OUTBOX_RATE_SMS"], "whatsapp": config["OUTBOX_RATE_WHATSAPP"]},
                  max_attempts=config["OUTBOX_MAX_ATTEMPTS"])


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision):
    """Apply the migrations up to REVISION (default: the latest)."""
    migrate.upgrade(services().db, revision)
    click.echo(f"database at {revision}: {services().db.url.render_as_string(hide_password=True)}")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only load into a database that has no products yet.")
def demo_load(if_empty):
    """Load the demo catalogue, cooperatives and producers (safe to run twice)."""
    from bot.demo import load
    with services().db.transaction() as session:
        if if_empty and session.scalar(select(func.count()).select_from(Product)):
            click.echo("demo data skipped: the database already has products")
            return
        added = load(session)
    click.echo("demo data loaded: " + ", ".join(f"{count} {kind}" for kind, count in added.items()))


@click.command("worker")
def worker():
    """Run the outbox sender (and the scheduler) until interrupted: exactly one per deployment."""
    from scheduler.worker import start_scheduler
    app = current_app._get_current_object()
    stop = threading.Event()
    sender = make_sender(app)
    scheduler = start_scheduler(app)
    click.echo(f"worker started: scheduler and outbox sender via {services().transport.name}")
    try:
        sender.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        scheduler.shutdown(wait=False)


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=None, help="Default: $PORT or 5000.")
def serve(host, port):
    """Everything in one process for a newcomer: web app and outbox sender."""
    from scheduler.worker import start_scheduler
    app = current_app._get_current_object()
    port = port or app.config["PORT"]
    stop = threading.Event()
    threading.Thread(target=make_sender(app).run_forever, args=(stop,), name="outbox-sender", daemon=True).start()
    scheduler = start_scheduler(app)
    click.echo(f"OVOP service on http://{host}:{port}/  (webhook: POST /twilio/inbound, health: /healthz)")
    click.echo(f"phone simulator (start here): http://{host}:{port}/simulator")
    generated = app.config.get("GENERATED_SECRETS", [])  # what was given in the environment is never shown
    if "ADMIN_TOKEN" in generated:
        click.echo(f"API token (Authorization: Bearer …): {app.config['ADMIN_TOKEN']}")
    if "ADMIN_PASSWORD" in generated:
        click.echo(f"dashboard login: admin / {app.config['ADMIN_PASSWORD']}")
    from werkzeug.serving import run_simple
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()
        scheduler.shutdown(wait=False)


def register(app: Flask) -> None:
    """Attach the commands to the app's `flask` CLI."""
    from scheduler.cli import jobs_cli
    for command in (db_cli, demo_cli, jobs_cli, worker, serve, chat):
        app.cli.add_command(command)


@click.command("chat")
@click.argument("phone")
@click.option("--channel", type=click.Choice(["whatsapp", "sms"]), default=None,
              help="Default: the producer's channel.")
def chat(phone, channel):
    """Talk to the bot in the terminal as PHONE, through the same path as the webhook (Ctrl-D to leave)."""
    import uuid

    from bot.inbound import InboundMessage, receive
    from bot.models import Producer
    from bot.phones import InvalidPhone, to_e164
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
