"""Benchmark: the event collector's throughput under a real load generator (Locust).

`cdp collect` runs in its own process on a fresh landing folder; Locust (headless, in its
own process, bench/locust_collector.py) sends from N users without pause for D seconds:
  1. batches of 100 track events to /v1/batch, as the server SDKs send (target: 5,000
     events/s or more on this machine);
  2. one event a request to /v1/track, as a browser sends, side by side.
Printed for each: requests and events per second, latency percentiles (Locust's), failures,
the collector's peak RSS, and a check that the landing files hold every event answered 200
(the collector is stopped first, so every file is published).

Client and collector share this machine's cores; the figures are the pair's.

    python bench/bench_collector.py [--users 20] [--seconds 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from locust_run import run_against

KEY = "wk_bench"
TARGET_EVENTS_PER_SECOND = 5_000


def _phase(batch: int, users: int, seconds: int, work: Path) -> dict:
    landing = work / f"landing_{batch}"
    figures = run_against(
        ["collect", "--landing", str(landing)], {"CDP_WRITE_KEYS": f"bench={KEY}"},
        "locust_collector.py", users, seconds,
        {"CDP_BENCH_WRITE_KEY": KEY, "CDP_BENCH_BATCH": str(batch)}, work, f"batch_{batch}",
    )  # fmt: skip
    stored = sum(
        len(p.read_bytes().splitlines()) for p in (landing / "web").glob("events-collected-*")
    )
    return {
        **figures,
        "batch": batch,
        "events_s": figures["rps"] * batch,
        "answered_events": (figures["requests"] - figures["failures"]) * batch,
        "stored_events": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdp-bench-collector-") as tmp:
        phases = [_phase(batch, args.users, args.seconds, Path(tmp)) for batch in (100, 1)]
    print(f"{args.users} Locust users for {args.seconds} s each, against `cdp collect`\n")
    print(f"{'':<28}{'batches of 100':>16}{'single events':>16}")
    rows = [
        ("requests/s", "rps", "{:,.0f}"),
        ("events/s", "events_s", "{:,.0f}"),
        ("latency p50 (ms)", "p50", "{:,.0f}"),
        ("latency p99 (ms)", "p99", "{:,.0f}"),
        ("requests failed", "failures", "{:,}"),
        ("events answered 200", "answered_events", "{:,}"),
        ("events in landing files", "stored_events", "{:,}"),
        ("collector peak RSS (MiB)", "peak_mib", "{:,.0f}"),
    ]
    for label, key, fmt in rows:
        print(f"{label:<28}" + "".join(f"{fmt.format(p[key]):>16}" for p in phases))
    lost = [p["batch"] for p in phases if p["stored_events"] < p["answered_events"]]
    batched = phases[0]["events_s"]
    verdict = "met" if batched >= TARGET_EVENTS_PER_SECOND else "MISSED"
    print(f"\nthroughput with batches of 100: {batched:,.0f} events/s "
          f"(target >= {TARGET_EVENTS_PER_SECOND:,}) {verdict}")  # fmt: skip
    if lost:
        sys.exit(f"answered events missing from the landing files (batch sizes {lost})")
    print("every answered event is in the landing files")


if __name__ == "__main__":
    main()
