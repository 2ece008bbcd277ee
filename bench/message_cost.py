"""The cost of one inbound message, in-process: `python -m bench.message_cost [--show] [URL]`.

Each message goes through the real signed webhook (Flask's test client, the signature checked, the full app
as deployed but without an HTTP server) from a producer with a conversation already on record: a stock report
("yaourt 41") and a menu reply ("menu"). For each: the SQL statements sent (a `before_cursor_execute` listener
on the engine: BEGIN IMMEDIATE counts on SQLite, PostgreSQL's implicit BEGIN and COMMIT do not) and the CPU
milliseconds of this Python process (time.process_time around the request; the PostgreSQL server's own CPU is
not in it, SQLite's is). `--show` prints the statements of one message of each kind.
"""
from __future__ import annotations

import statistics
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event, func, select

from app import create_app
from bench import common
from bench import webhook_load as load
from ovop.models import StockReport

SAMPLES = 100  # messages of each kind measured (each from its own producer)
WARM_UP = 20  # messages of each kind before measuring: imports, caches, the pool's connections
# Seeded producer n is in cooperative n % 10; the demo's 1st and 9th cooperatives (Thiès, Kolda) make only yaourt.
COOPERATIVES, YAOURT_ONLY = 10, (0, 8)
KINDS = {"stock report": "yaourt {n}", "menu reply": "menu"}


@contextmanager
def counting(engine, into: list[str]) -> Iterator[list[str]]:
    """Every statement `engine` sends while the block runs is appended to `into`."""

    def _count(_connection, _cursor, statement, _parameters, _context, _executemany):
        into.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield into
    finally:
        event.remove(engine, "before_cursor_execute", _count)


def _app(database_url: str):
    env = load.app_environment(database_url)
    config = {"DATABASE_URL": database_url, "TWILIO_AUTH_TOKEN": env["TWILIO_AUTH_TOKEN"],
              "TWILIO_ACCOUNT_SID": env["TWILIO_ACCOUNT_SID"], "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"],
              "OUTBOUND_BACKEND": "console", "ADMIN_TOKEN": env["ADMIN_TOKEN"],
              "ADMIN_PASSWORD": env["ADMIN_PASSWORD"], "SECRET_KEY": env["SECRET_KEY"], "STAFF_PHONES": []}
    return create_app(config)


def _post(client, phone: str, text: str, sid: str):
    signature, body = load.signed(load.form(phone, "whatsapp", text, sid))
    return client.post("/twilio/inbound", data=body, headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})


def measure(database, producers: int, *, samples: int = SAMPLES, show: bool = False) -> dict:
    """Statements and CPU ms per message of each kind, on a seeded database (`producers` seeded ones)."""
    app = _app(database.url.render_as_string(hide_password=False))
    engine = app.extensions["ovop"].db.engine
    client = app.test_client()
    # Producers of the yaourt cooperatives, from the end of the seeded list.
    phones = [common.phone(n) for n in range(producers - 1, -1, -1) if n % COOPERATIVES in YAOURT_ONLY]
    needed = (WARM_UP + samples) * len(KINDS)
    if len(phones) < needed:
        raise RuntimeError(f"{needed} producers of the yaourt cooperatives are needed, {len(phones)} seeded")
    result: dict = {"samples": samples}
    sid = 0
    for kind, template in KINDS.items():
        mine, phones = phones[:WARM_UP + samples], phones[WARM_UP + samples:]
        for n, phone in enumerate(mine):  # a conversation (and a level) on record for each of them
            sid += 1
            _post(client, phone, template.format(n=40), f"SMcost{sid:08d}")
        with database.transaction() as session:
            reports_before = session.scalar(select(func.count()).select_from(StockReport))
        statements, cpu_ms, printed = [], [], not show
        for n, phone in enumerate(mine):
            sid += 1
            seen: list[str] = []
            with counting(engine, seen):
                started = time.process_time()
                answer = _post(client, phone, template.format(n=41), f"SMcost{sid:08d}")
                spent = time.process_time() - started
            if answer.status_code != 200 or "<Message>" not in answer.text:
                raise RuntimeError(f"{kind}: {answer.status_code} {answer.text[:300]}")
            if n < WARM_UP:
                continue
            statements.append(len(seen))
            cpu_ms.append(spent * 1000)
            if not printed:
                print(f"--- {kind} ({database.dialect}): {len(seen)} statements; reply {answer.text[:160]}")
                for statement in seen:
                    print("   ", " ".join(statement.split())[:220])
                printed = True
        with database.transaction() as session:
            recorded = session.scalar(select(func.count()).select_from(StockReport)) - reports_before
        expected = len(mine) if kind == "stock report" else 0
        if recorded != expected:
            raise RuntimeError(f"{kind}: {recorded} stock reports recorded, {expected} expected")
        result[kind] = {"statements": int(statistics.median(statements)), "statements_max": max(statements),
                        "cpu_ms_median": round(statistics.median(cpu_ms), 2),
                        "cpu_ms_mean": round(statistics.fmean(cpu_ms), 2),
                        "cpu_ms_p90": round(common.percentile(cpu_ms, 0.9), 2)}
    app.extensions["ovop"].db.dispose()
    return result


def rows(backend: str, result: dict) -> list[tuple[str, str, str, str]]:
    table = []
    for kind in KINDS:
        r = result[kind]
        aim = "<= 10 statements" if kind == "stock report" else "(report only)"
        ok = r["statements_max"] <= 10 if kind == "stock report" else None
        spread = f" (max {r['statements_max']})" if r["statements_max"] != r["statements"] else ""
        table.append((f"webhook {backend}: one {kind}",
                      f"{r['statements']} statements{spread}, CPU {r['cpu_ms_median']:.1f} ms median, "
                      f"{r['cpu_ms_p90']:.1f} ms p90", aim, common.verdict(ok)))
    return table


def main(argv: list[str]) -> int:
    show = "--show" in argv
    urls = [arg for arg in argv if not arg.startswith("--")]
    backends = {name: url for name, url in common.database_urls().items()}
    if urls:
        backends = {("postgresql" if url.startswith("postgresql") else "sqlite"): url for url in urls}
    table = []
    for backend, url in backends.items():
        database = common.fresh_database(url)
        common.load_demo(database)
        common.seed_producers(database, 2000)
        table += rows(backend, measure(database, 2000, show=show))
        database.dispose()
    common.print_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
