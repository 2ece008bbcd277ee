"""The full inbound path against bare Flask, same gunicorn, same wrk: `python -m bench.bench_webhook`.

Per database: the cost of one message in-process (SQL statements and CPU ms, bench/message_cost.py), bare Flask
at full load, the full app at full load, then the full app at about half its own maximum (each connection paced
by the Lua script's delay) for the p99 the aim is about.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import common, message_cost
from bench import webhook_load as load

PRODUCERS = 2000
BODIES = 60_000  # more than the full app can take in one run, so every request is a new MessageSid
SECONDS = 10
CONNECTIONS = 16


def _half_load(url: str, bodies: Path, target_rps: float) -> dict:
    """Offer about `target_rps`: each connection waits C/target between requests, less the latency seen."""
    delay_ms = 1000.0 * CONNECTIONS / max(target_rps, 1.0)
    result = load.wrk(url, bodies, connections=CONNECTIONS, seconds=SECONDS, delay_ms=delay_ms)
    # wrk is closed-loop: the latency adds to the pause. One correction brings the offered rate close to target.
    delay_ms = max(0.0, delay_ms - result["mean_us"] / 1000.0)
    result = load.wrk(url, bodies, connections=CONNECTIONS, seconds=SECONDS, delay_ms=delay_ms)
    result["target_rps"] = round(target_rps, 1)
    return result


def run_backend(backend: str, database_url: str, workdir: Path) -> dict:
    """Seed one database, then measure bare Flask and the full app on it."""
    database = common.fresh_database(database_url)
    common.load_demo(database)
    common.seed_producers(database, PRODUCERS)
    senders = [(common.phone(n), ("whatsapp", "sms")[n % 2]) for n in range(PRODUCERS)]
    started = time.perf_counter()
    bodies = load.write_bodies(workdir / f"bodies-{backend}.tsv", senders, common.corpus(), BODIES, backend[:2])
    signing_s = time.perf_counter() - started
    env = load.app_environment(database.url.render_as_string(hide_password=False))
    result = {"backend": backend, "worker_class": "gthread", "workers": load.WORKERS, "threads": load.THREADS,
              "producers": PRODUCERS,
              "signing_us_per_body": round(signing_s / BODIES * 1e6, 1)}
    result["per_message"] = message_cost.measure(database, PRODUCERS)

    port = common.free_port()
    with load.gunicorn("app:create_app()", env, port):
        answer = load.preflight(port, load.form(common.phone(0), "whatsapp", "yaourt 40", "SMpreflight"))
        if answer.status_code != 200 or "<Message>" not in answer.text:
            raise RuntimeError(f"the full app refused the benchmark's signed request: {answer.status_code}")
        twiml = workdir / f"twiml-{backend}.xml"
        twiml.write_text(answer.text, encoding="utf-8")
        before = load.inbound_count(database)
        result["full"] = load.wrk(f"http://127.0.0.1:{port}/twilio/inbound", bodies, connections=CONNECTIONS,
                                  seconds=SECONDS)
        result["full"]["stored"] = load.inbound_count(database) - before
        result["full_half_load"] = _half_load(f"http://127.0.0.1:{port}/twilio/inbound", bodies,
                                              result["full"]["rps"] / 2)

    port = common.free_port()
    with load.gunicorn("bench.bare_app:create_app()", {**env, "BENCH_TWIML": str(twiml)}, port):
        result["bare"] = load.wrk(f"http://127.0.0.1:{port}/twilio/inbound", bodies, connections=CONNECTIONS,
                                  seconds=SECONDS)
    result["ratio_full_to_bare"] = round(result["full"]["rps"] / result["bare"]["rps"], 3)
    database.dispose()
    return result


def run() -> dict:
    """Every backend available (SQLite, and PostgreSQL with BENCH_DATABASE_URL)."""
    if load.wrk_path() is None:
        return {"name": "webhook", "skipped": "wrk is not installed (apt-get install wrk)"}
    with tempfile.TemporaryDirectory(prefix="ovop-bench-") as workdir:
        backends = {name: run_backend(name, url, Path(workdir)) for name, url in common.database_urls().items()}
    return {"name": "webhook", "load_generator": "wrk", "connections": CONNECTIONS, "seconds": SECONDS,
            "backends": backends}


def rows(result: dict) -> list[tuple[str, str, str, str]]:
    if "skipped" in result:
        return [("webhook", "skipped", result["skipped"], "")]
    table = []
    for backend, r in result["backends"].items():
        full, bare, half = r["full"], r["bare"], r["full_half_load"]
        aim = 0.15 if backend == "postgresql" else None
        table += message_cost.rows(backend, r["per_message"]) if "per_message" in r else []
        table += [
            (f"webhook {backend}: bare Flask", f"{bare['rps']:.0f} req/s, p50 {bare['p50_us'] / 1000:.1f} ms, "
             f"p99 {bare['p99_us'] / 1000:.1f} ms", "", ""),
            (f"webhook {backend}: full path", f"{full['rps']:.0f} req/s, p50 {full['p50_us'] / 1000:.1f} ms, "
             f"p99 {full['p99_us'] / 1000:.1f} ms, {full['non_2xx']} non-2xx", "", ""),
            (f"webhook {backend}: full / bare", f"{r['ratio_full_to_bare']:.2f}",
             f">= {aim} on PostgreSQL" if aim else "(report only)",
             common.verdict(r["ratio_full_to_bare"] >= aim if aim else None)),
            (f"webhook {backend}: p99 at half load", f"{half['p99_us'] / 1000:.1f} ms at {half['rps']:.0f} req/s "
             f"(target {half['target_rps']:.0f})", "< 100 ms", common.verdict(half["p99_us"] < 100_000)),
        ]
    return table


if __name__ == "__main__":
    outcome = run()
    common.print_table(rows(outcome))
