"""What every benchmark shares: throw-away databases, seeded producers, percentiles and the printed table."""
from __future__ import annotations

import json
import os
import random
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert, select

from ovop.core import migrate
from ovop.core.db import ROOT, Database
from ovop.models import Cooperative, Producer, producer_products

RESULTS = Path(__file__).resolve().parent / "results.json"
DATA = ROOT / "tests" / "data"
LANGUAGES = ("fr", "wo", "en")


def database_urls() -> dict[str, str]:
    """{backend: URL} to benchmark: a fresh SQLite file always, PostgreSQL when BENCH_DATABASE_URL is set.

    The PostgreSQL database is WIPED (schema dropped) by every benchmark, like TEST_DATABASE_URL by the tests:
    give it a database of its own.
    """
    urls = {"sqlite": f"sqlite:///{tempfile.mkdtemp(prefix='ovop-bench-')}/bench.sqlite3"}
    if os.environ.get("BENCH_DATABASE_URL"):
        urls["postgresql"] = os.environ["BENCH_DATABASE_URL"]
    return urls


def fresh_database(url: str) -> Database:
    """An empty database with the real migrations applied (a SQLite file is replaced, a PG schema dropped)."""
    return migrate.fresh(url)


def load_demo(database: Database) -> None:
    """The demo catalogue, cooperatives, workshops and prices, as `flask demo load` does."""
    from ovop.domain.demo import load
    with database.transaction() as session:
        load(session)


def phone(n: int) -> str:
    """The n-th benchmark producer's number: +221 77 5xx xx xx, E.164 (clear of the demo producers)."""
    return f"+22177{5_000_000 + n:07d}"


def seed_producers(database: Database, count: int, *, channel_mix=("whatsapp", "sms"), seed: int = 7) -> list[int]:
    """`count` producers spread over the demo cooperatives, inserted in bulk; returns their ids in order."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    with database.transaction() as session:
        cooperatives = list(session.scalars(select(Cooperative).order_by(Cooperative.id)))
        made = {coop.id: [p.id for p in coop.products] for coop in cooperatives}
        start = session.scalar(select(Producer.id).order_by(Producer.id.desc()).limit(1)) or 0
        rows = []
        for n in range(count):
            coop = cooperatives[n % len(cooperatives)]
            rows.append(dict(phone=phone(n), name=f"Productrice {n}", cooperative_id=coop.id,
                             language=LANGUAGES[rng.randrange(3)], channel=channel_mix[n % len(channel_mix)],
                             opted_out=False, created_at=now))
        for chunk in range(0, len(rows), 5000):
            session.execute(insert(Producer), rows[chunk:chunk + 5000])
        ids = list(session.scalars(select(Producer.id).where(Producer.id > start).order_by(Producer.id)))
        links = []
        for n, producer_id in enumerate(ids):
            coop = cooperatives[n % len(cooperatives)]
            links += [dict(producer_id=producer_id, product_id=product_id) for product_id in made[coop.id]]
        for chunk in range(0, len(links), 10000):
            session.execute(insert(producer_products), links[chunk:chunk + 10000])
    return ids


def corpus() -> list[str]:
    """The texts of tests/data/messages.jsonl: what producers really write."""
    lines = (DATA / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (sorted or not)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    """One table: what was measured, the figure, the aim, and whether the aim was met."""
    header = ("measurement", "figure", "aim", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * width for width in widths)
    print(line)
    print("  ".join(str(cell).ljust(width) for cell, width in zip(header, widths)))
    print(line)
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print(line)
