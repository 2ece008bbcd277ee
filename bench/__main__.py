"""`make bench` (python -m bench [NAME …]): every benchmark in one run, one table, bench/results.json.

NAME is any of webhook, fanout, outbox, understand, memory (default: all, in that order). Every comparison
(full path / bare Flask, job / bulk insert, limited / unthrottled) is measured within the same run.
PostgreSQL is measured too when BENCH_DATABASE_URL points at a database the benchmarks may wipe.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from datetime import datetime, timezone

from bench import bench_fanout, bench_memory, bench_outbox, bench_understand, bench_webhook, common


def _understand_rows(result: dict) -> list[tuple[str, str, str, str]]:
    return [("understanding: µs per message", f"mean {result['mean_us']} µs, p99 {result['p99_us']} µs over "
             f"{result['messages']} msgs x {result['rounds']}", f"< {result['target_mean_us']:.0f} µs",
             common.verdict(result["mean_us"] < result["target_mean_us"]))]


BENCHMARKS = {
    "webhook": (bench_webhook.run, bench_webhook.rows),
    "fanout": (bench_fanout.run, bench_fanout.rows),
    "outbox": (bench_outbox.run, bench_outbox.rows),
    "understand": (bench_understand.run, _understand_rows),
    "memory": (bench_memory.run, bench_memory.rows),
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)  # the sender logs every injected fault; the table is what matters here
    if "postgresql" not in common.database_urls():
        print("BENCH_DATABASE_URL is not set: PostgreSQL is not measured (it will be wiped: use a database of "
              "its own, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/ovop_bench)", file=sys.stderr)
    results = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average_at_start": os.getloadavg()},
               "benchmarks": {}}
    table = []
    for name in names:
        run, rows = BENCHMARKS[name]
        started = time.monotonic()
        print(f"bench {name}…", file=sys.stderr, flush=True)
        result = run()
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        results["benchmarks"][name] = result
        table += rows(result)
    common.print_table(table)
    if argv and common.RESULTS.exists():
        # A selection updates its own entries and keeps the rest of the last full run.
        previous = json.loads(common.RESULTS.read_text(encoding="utf-8"))
        results["benchmarks"] = {**previous.get("benchmarks", {}), **results["benchmarks"]}
    common.RESULTS.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"written {common.RESULTS.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
