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
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CDP = str(Path(sys.executable).with_name("cdp"))
LOCUST = str(Path(sys.executable).with_name("locust"))
KEY = "wk_bench"
TARGET_EVENTS_PER_SECOND = 5_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_collector(landing: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [CDP, "collect", "--landing", str(landing), "--port", str(port)],
        env={**os.environ, "CDP_WRITE_KEYS": f"bench={KEY}"},
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit("cdp collect exited before answering /health")
            time.sleep(0.1)
    sys.exit("cdp collect did not answer /health within 60 s")


def _phase(batch: int, users: int, seconds: int, work: Path) -> dict:
    landing = work / f"landing_{batch}"
    port = _free_port()
    collector = _start_collector(landing, port)
    report = work / f"locust_{batch}.json"
    try:
        with (work / f"locust_{batch}.log").open("w") as log:
            subprocess.run(
                [LOCUST, "-f", str(HERE / "locust_collector.py"), "--headless",
                 "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                 "--host", f"http://127.0.0.1:{port}", "--json-file", str(report.with_suffix("")),
                 "--skip-log"],
                env={**os.environ, "CDP_BENCH_WRITE_KEY": KEY, "CDP_BENCH_BATCH": str(batch)},
                check=False,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
    finally:
        collector.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(collector.pid, 0)
    [stats] = json.loads(report.read_text())
    requests, failures = stats["num_requests"], stats["num_failures"]
    seconds_sent = stats["last_request_timestamp"] - stats["start_time"]
    times = sorted((int(ms), n) for ms, n in stats["response_times"].items())
    stored = sum(
        len(p.read_bytes().splitlines()) for p in (landing / "web").glob("events-collected-*")
    )
    return {
        "batch": batch,
        "rps": requests / seconds_sent,
        "events_s": requests * batch / seconds_sent,
        "p50": _percentile(times, 0.50),
        "p99": _percentile(times, 0.99),
        "requests": requests,
        "failures": failures,
        "answered_events": (requests - failures) * batch,
        "stored_events": stored,
        "peak_mib": usage.ru_maxrss / 1024,
    }


def _percentile(counts: list[tuple[int, int]], share: float) -> int:
    """The response time (ms, as Locust rounds it) below which `share` of requests fall."""
    total, seen = sum(n for _, n in counts), 0
    for ms, n in counts:
        seen += n
        if seen >= share * total:
            return ms
    return counts[-1][0]


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
