"""Enqueueing the weekly price tip for 100 000 producers: `python -m bench.bench_fanout`.

Three figures on the same rows, in the same run:
  job         ovop.jobs.jobs.price_tips as the worker runs it (load producers, build each tip, notify → enqueue);
  enqueue     the same rows again through ovop.messaging.outbox.enqueue one by one (the per-row INSERT … ON CONFLICT);
  bulk        the same rows as one plain multi-row INSERT (the floor), and the same with ON CONFLICT DO NOTHING
              RETURNING id (what a bulk `enqueue_many` would issue).
"""
from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bench import common
from ovop.core.config import defaults
from ovop.core import clock
from ovop.models import OutboxItem, PriceObservation, Product
from ovop.messaging.outbox import enqueue
from ovop.jobs import jobs

PRODUCERS = int(os.environ.get("BENCH_FANOUT_PRODUCERS") or 100_000)
MONDAY_8 = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)  # Dakar is UTC+0: the job's weekly slot
AIM_SECONDS = 30.0
COLUMNS = ("dedupe_key", "kind", "recipient", "channel", "body", "content_sid", "content_variables", "producer_id",
           "not_before", "status", "attempts", "created_at")
CONFIG = defaults(OUTBOUND_BACKEND="twilio", TWILIO_SMS_FROM="+15005550006",
                  TWILIO_WHATSAPP_FROM="whatsapp:+14155238886", BOT_TIMEZONE="Africa/Dakar", QUIET_HOURS="off")


def _prices(database) -> None:
    """Two weeks of boutique prices for every product, so each tip says up/down/same."""
    with database.transaction() as session:
        for n, product in enumerate(session.scalars(select(Product).order_by(Product.id))):
            for days, price in ((14, 500 + 50 * n), (7, 550 + 40 * n)):
                session.add(PriceObservation(product_id=product.id, price=price, unit=product.unit,
                                             market="Boutique OVOP Dakar",
                                             observed_on=date(2026, 12, 7) - timedelta(days=days)))


def _rows(database) -> list[dict]:
    with database.transaction() as session:
        items = session.scalars(select(OutboxItem).order_by(OutboxItem.id))
        return [{column: getattr(item, column) for column in COLUMNS} for item in items]


def _clear(database) -> None:
    with database.transaction() as session:
        session.execute(delete(OutboxItem))


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_backend(backend: str, url: str) -> dict:
    database = common.fresh_database(url)
    common.load_demo(database)
    seeded = _timed(lambda: common.seed_producers(database, PRODUCERS))
    _prices(database)
    result = {"backend": backend, "producers": PRODUCERS, "seed_s": round(seeded, 1)}

    with clock.frozen_at(MONDAY_8, all_threads=True):
        added = []
        result["job_s"] = round(_timed(lambda: added.append(jobs.price_tips(database, CONFIG, MONDAY_8))), 2)
    result["enqueued"] = added[0]
    rows = _rows(database)
    result["by_channel"] = {channel: sum(1 for r in rows if r["channel"] == channel) for channel in ("sms", "whatsapp")}

    _clear(database)

    def per_row():
        with database.transaction() as session:
            for row in rows:
                enqueue(session, **{k: row[k] for k in ("dedupe_key", "kind", "recipient", "channel", "body",
                                                         "content_sid", "content_variables", "producer_id",
                                                         "not_before")})
    result["enqueue_per_row_s"] = round(_timed(per_row), 2)
    _clear(database)

    def bulk():
        with database.transaction() as session:
            session.execute(insert(OutboxItem), rows)
    result["bulk_insert_s"] = round(_timed(bulk), 2)
    _clear(database)

    make_insert = pg_insert if database.dialect == "postgresql" else sqlite_insert

    def bulk_upsert():
        with database.transaction() as session:
            statement = (make_insert(OutboxItem).on_conflict_do_nothing(index_elements=["dedupe_key"])
                         .returning(OutboxItem.id))
            for start in range(0, len(rows), 5000):
                session.execute(statement, rows[start:start + 5000]).all()
    result["bulk_upsert_s"] = round(_timed(bulk_upsert), 2)
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == len(rows)
    result["ratio_job_to_bulk"] = round(result["job_s"] / result["bulk_insert_s"], 1)
    result["ratio_enqueue_to_bulk"] = round(result["enqueue_per_row_s"] / result["bulk_insert_s"], 1)
    database.dispose()
    return result


def run() -> dict:
    return {"name": "fanout", "job": "ovop.jobs.jobs.price_tips", "aim_s": AIM_SECONDS,
            "backends": {backend: run_backend(backend, url) for backend, url in common.database_urls().items()}}


def rows(result: dict) -> list[tuple[str, str, str, str]]:
    table = []
    for backend, r in result["backends"].items():
        table += [
            (f"fan-out {backend}: price-tips job", f"{r['job_s']:.1f} s for {r['enqueued']} tips",
             f"< {AIM_SECONDS:.0f} s", common.verdict(r["job_s"] < AIM_SECONDS)),
            (f"fan-out {backend}: per-row enqueue", f"{r['enqueue_per_row_s']:.1f} s", "", ""),
            (f"fan-out {backend}: plain bulk insert", f"{r['bulk_insert_s']:.1f} s (job {r['ratio_job_to_bulk']}x, "
             f"enqueue {r['ratio_enqueue_to_bulk']}x)", "(baseline)", ""),
            (f"fan-out {backend}: bulk ON CONFLICT", f"{r['bulk_upsert_s']:.1f} s", "(enqueue_many)", ""),
        ]
    return table


if __name__ == "__main__":
    common.print_table(rows(run()))
