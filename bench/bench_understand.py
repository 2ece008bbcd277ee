"""How long understanding one producer message takes: `python -m bench.bench_understand`.

The catalogue is the demo one (8 products) built once, as a request does; the corpus is every message of
tests/data/messages.jsonl and tests/data/corpus/*.jsonl (first messages and follow-up answers), each
understood with its own cooperative products and pending orders.
Aim: under 200 µs per message on average and 1 ms at the 99th percentile.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from ovop.domain.demo import DEMO_FILE
from ovop.language.understand import Catalogue, CatalogueProduct, understand

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
ROUNDS = 200
TARGET_MEAN_US = 200.0
TARGET_P99_US = 1000.0


def _products() -> list[CatalogueProduct]:
    demo = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return [CatalogueProduct(code=p["code"], unit=p["unit"], names=p["names"], aliases=tuple(p["aliases"]))
            for p in demo["products"]]


def _corpus() -> list[tuple[str, list[str], list[str]]]:
    cases = []
    for path in [DATA / "messages.jsonl", *sorted((DATA / "corpus").glob("*.jsonl"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                orders = [f"CMD-{11 + n:04d}" for n in range(case.get("pending_orders", 0))]
                for text in [case["text"], *(follow["text"] for follow in case.get("then", []))]:
                    cases.append((text, case["products"], orders))
    return cases


def run(rounds: int = ROUNDS) -> dict:
    """Time understand() over the corpus `rounds` times; returns the figures (µs per message)."""
    products = _products()
    start = time.perf_counter()
    catalogue = Catalogue(products)
    build_us = (time.perf_counter() - start) * 1e6
    start = time.perf_counter()
    Catalogue(products)  # a second build, as every later request does (product words are cached)
    rebuild_us = (time.perf_counter() - start) * 1e6
    cases = _corpus()
    for text, products, orders in cases:  # warm up: imports, caches
        understand(text, catalogue, products, orders)

    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(rounds):
        for text, products, orders in cases:
            start = clock()
            understand(text, catalogue, products, orders)
            samples.append(clock() - start)
    samples.sort()
    us = [s * 1e6 for s in samples]
    return {
        "name": "understand",
        "messages": len(cases),
        "rounds": rounds,
        "mean_us": round(statistics.fmean(us), 1),
        "median_us": round(us[len(us) // 2], 1),
        "p99_us": round(us[min(len(us) - 1, int(len(us) * 0.99))], 1),
        "max_us": round(us[-1], 1),
        "catalogue_build_us": round(build_us, 1),
        "catalogue_rebuild_us": round(rebuild_us, 1),
        "target_mean_us": TARGET_MEAN_US,
        "target_p99_us": TARGET_P99_US,
    }


def main() -> dict:
    result = run()
    verdict = "ok" if result["mean_us"] <= TARGET_MEAN_US and result["p99_us"] <= TARGET_P99_US \
        else "SLOWER THAN TARGET"
    print(f"understand: {result['messages']} messages x {result['rounds']} rounds: "
          f"mean {result['mean_us']} µs, median {result['median_us']} µs, p99 {result['p99_us']} µs "
          f"(target mean <= {TARGET_MEAN_US:.0f} µs, p99 <= {TARGET_P99_US:.0f} µs: {verdict}); "
          f"catalogue build {result['catalogue_build_us']} µs, rebuild {result['catalogue_rebuild_us']} µs")
    return result


if __name__ == "__main__":
    main()
