"""Peak RSS of one web worker after 10 000 messages: `python -m bench.bench_memory`.

One gunicorn worker (otherwise the Procfile's settings) takes signed webhooks from wrk until it has stored
MESSAGES inbound messages; its VmRSS is read along the way (to see growth) and its VmHWM (peak) at the end.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench import common
from bench import webhook_load as load

MESSAGES = int(os.environ.get("BENCH_MEMORY_MESSAGES") or 10_000)
PRODUCERS = 2000
AIM_MB = 150


def run_backend(backend: str, url: str, workdir: Path) -> dict:
    database = common.fresh_database(url)
    common.load_demo(database)
    common.seed_producers(database, PRODUCERS)
    senders = [(common.phone(n), ("whatsapp", "sms")[n % 2]) for n in range(PRODUCERS)]
    bodies = load.write_bodies(workdir / f"memory-{backend}.tsv", senders, common.corpus(), MESSAGES + 5000,
                               f"m{backend[:2]}")
    env = load.app_environment(database.url.render_as_string(hide_password=False))
    port = common.free_port()
    samples = []
    with load.gunicorn("app:create_app()", env, port, workers=1) as master:
        [worker] = load.workers_of(master)
        samples.append((0, load.memory_kib(worker)["VmRSS"]))
        started = time.monotonic()
        stored = 0
        while stored < MESSAGES and time.monotonic() - started < 600:
            load.wrk(f"http://127.0.0.1:{port}/twilio/inbound", _remaining(bodies, stored, workdir),
                     connections=4, threads=1, seconds=5)
            stored = load.inbound_count(database)
            samples.append((stored, load.memory_kib(worker)["VmRSS"]))
        peak = load.memory_kib(worker)
    database.dispose()
    growth = (samples[-1][1] - samples[1][1]) / max(1, samples[-1][0] - samples[1][0]) * 1000
    return {"backend": backend, "messages": stored, "rss_start_mb": _mb(samples[0][1]),
            "rss_end_mb": _mb(peak["VmRSS"]), "peak_rss_mb": _mb(peak["VmHWM"]),
            "growth_kb_per_1000_messages": round(growth * 1.024, 1),
            "samples_messages_rss_mb": [(n, _mb(kib)) for n, kib in samples]}


def _mb(kib: int) -> float:
    """KiB (what /proc says) in MB (what the aim says)."""
    return round(kib * 1024 / 1e6, 1)


def _remaining(bodies: Path, done: int, workdir: Path) -> Path:
    """The bodies not sent yet, so every request of the next wrk run carries a new MessageSid."""
    rest = workdir / "remaining.tsv"
    with bodies.open(encoding="utf-8") as source, rest.open("w", encoding="utf-8") as out:
        for n, line in enumerate(source):
            if n >= done:
                out.write(line)
    return rest


def run() -> dict:
    if load.wrk_path() is None:
        return {"name": "memory", "skipped": "wrk is not installed (apt-get install wrk)"}
    with tempfile.TemporaryDirectory(prefix="ovop-bench-") as workdir:
        backends = {name: run_backend(name, url, Path(workdir)) for name, url in common.database_urls().items()}
    return {"name": "memory", "aim_mb": AIM_MB, "backends": backends}


def rows(result: dict) -> list[tuple[str, str, str, str]]:
    if "skipped" in result:
        return [("memory", "skipped", result["skipped"], "")]
    return [(f"memory {backend}: one worker, {r['messages']} msgs",
             f"peak RSS {r['peak_rss_mb']:.0f} MB (start {r['rss_start_mb']:.0f}, "
             f"+{r['growth_kb_per_1000_messages']:.0f} kB/1000 msgs)", f"< {AIM_MB} MB",
             common.verdict(r["peak_rss_mb"] < AIM_MB)) for backend, r in result["backends"].items()]


if __name__ == "__main__":
    common.print_table(rows(run()))
