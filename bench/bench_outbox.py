"""The outbox sender against the loopback fake Twilio: `python -m bench.bench_outbox`.

Four runs per database: limited to 10/s and unthrottled, each clean and with 10 % 500s + 5 % 429s injected.
"Attempts/s" is every create request the fake received (what the rate limit paces); "accepted/s" only those it
accepted. Retries wait for their backoff (15 s and more): after the first pass the clock is moved past them so
that the run also checks that every item ends accepted exactly once.
"""
from __future__ import annotations

import random
import time
from datetime import timedelta

from sqlalchemy import func, select

from bench import common
from ovop.core import clock
from ovop.models import OutboxItem
from ovop.messaging.transport import TwilioTransport
from ovop.messaging.outbox import PENDING, SENDING, Sender, enqueue
from tests.fake_twilio import FakeTwilio

LIMIT = 10.0
OUTBOX = FakeTwilio.query_param("outbox")
CASES = [  # (label, configured rate, items, 500 rate, 429 rate)
    ("10/s", LIMIT, 100, 0.0, 0.0),
    ("unthrottled", 0.0, 500, 0.0, 0.0),
    ("10/s + faults", LIMIT, 100, 0.10, 0.05),
    ("unthrottled + faults", 0.0, 500, 0.10, 0.05),
]


def _fill(database, count: int, run: str) -> None:
    with database.transaction() as session:
        for n in range(count):
            enqueue(session, dedupe_key=f"bench:{run}:{n}", kind="price_tip", recipient=common.phone(n),
                    channel="sms", body=f"Prix du yaourt cette semaine : 500 F CFA le pot (message {n}).")


def _left(database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(OutboxItem)
                              .where(OutboxItem.status.in_((PENDING, SENDING))))


def _drain(sender: Sender, deadline: float) -> None:
    while time.monotonic() < deadline and sender.run_once():
        pass


def run_case(database, fake: FakeTwilio, label: str, rate: float, count: int, error_500: float,
             error_429: float) -> dict:
    fake.reset()
    fake.set_fault_rates(error_500=error_500, error_429=error_429, seed=11)
    _fill(database, count, label)
    transport = TwilioTransport(fake.account_sid, fake.auth_token, sms_from="+15005550006",
                                api_base_url=fake.base_url, timeout=5)
    sender = Sender(db=database, transport=transport, status_callback_base="https://ovop.example.org",
                    rates={"sms": rate, "whatsapp": rate}, rng=random.Random(3))
    started = time.monotonic()
    _drain(sender, started + 120)  # the first pass: every item tried once
    first_pass = time.monotonic() - started
    requests = [r for r in fake.requests if r["method"] == "POST"]
    span = requests[-1]["received_at"] - requests[0]["received_at"] if len(requests) > 1 else 0.0
    attempts_rate = (len(requests) - 1) / span if span else float("inf")
    accepted_first = fake.accepted_count()
    accepted_rate = fake.achieved_rate()
    # Retries are due 7.5–15 s (then 15–30 s, …) later: step the clock past them instead of waiting.
    later = clock.now()
    for _ in range(10):
        if not _left(database):
            break
        later += timedelta(hours=2)
        with clock.frozen_at(later, all_threads=True):
            _drain(sender, time.monotonic() + 120)
    result = {
        "label": label, "configured_rate": rate, "items": count, "error_500": error_500, "error_429": error_429,
        "first_pass_s": round(first_pass, 2), "attempts_per_s": round(attempts_rate, 1),
        "accepted_per_s": round(accepted_rate, 1), "accepted_first_pass": accepted_first,
        "attempts_total": len([r for r in fake.requests if r["method"] == "POST"]),
        "accepted_total": fake.accepted_count(), "duplicates": len(fake.duplicates(OUTBOX)),
        "left_unsent": _left(database),
    }
    if rate:
        result["share_of_limit"] = round(attempts_rate / rate, 3)
    return result


def run_backend(backend: str, url: str) -> dict:
    database = common.fresh_database(url)
    with FakeTwilio() as fake:
        cases = [run_case(database, fake, *case) for case in CASES]
    database.dispose()
    return {"backend": backend, "cases": cases}


def run() -> dict:
    return {"name": "outbox", "limit": LIMIT,
            "backends": {backend: run_backend(backend, url) for backend, url in common.database_urls().items()}}


def rows(result: dict) -> list[tuple[str, str, str, str]]:
    table = []
    for backend, r in result["backends"].items():
        for case in r["cases"]:
            figure = (f"{case['attempts_per_s']:.1f} attempts/s, {case['accepted_per_s']:.1f} accepted/s; "
                      f"{case['accepted_total']}/{case['items']} sent once, {case['duplicates']} dup")
            if case["configured_rate"]:
                figure += f" ({100 * case['share_of_limit']:.0f}% of limit)"
                table.append((f"outbox {backend}: {case['label']}", figure, ">= 95% of 10/s",
                              common.verdict(case["share_of_limit"] >= 0.95)))
            else:
                table.append((f"outbox {backend}: {case['label']}", figure, "", ""))
    return table


if __name__ == "__main__":
    common.print_table(rows(run()))
