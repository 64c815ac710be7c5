"""Benchmark: event-to-profile freshness while events arrive at a steady rate.

A DuckDB warehouse of N generated customers is built by `cdp run` (predictions off: they
do not take part in the live path), then `cdp collect`, `cdp stream` and `cdp serve` run
side by side, each in its own process, as in production. Locust (headless, its own
process, bench/locust_freshness.py) sends `--rate` events a second in batches of 100 to
the collector, from the known devices of the warehouse's customers. Meanwhile a probe
sends one event every 2 s from the device of one of 10 other customers, and asks the
profile API for that device (by anonymous_id) every half second until the event is among
the profile's recent events: the time from the collector's 200 to that answer is the
event's freshness.

Printed: the probes' freshness p50/p95/max against the target (p95 at most 60 s at 500
events a second), probes never seen, the stream's cycles (count, mean and longest
seconds, from its own lines) and the load Locust sent. All processes share this
machine's cores.

    python bench/bench_freshness.py [--customers 2000] [--rate 500] [--seconds 180]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from locust_run import (  # noqa: E402
    CDP,
    build_warehouse,
    locust_figures,
    start_locust,
    start_server,
    stop,
    write_key_headers,
)

from orchestration.warehouse import resolve_warehouse  # noqa: E402

KEY, TOKEN = "wk_bench", "tok_bench"
BATCH = 100
PROBE_EVERY = 2.0
PROBE_CUSTOMERS = 10
TARGET_P95_S = 60
CYCLE_LINE = re.compile(r"^\d\d:\d\d:\d\d (.+): ([\d,]+) rows .* ([\d.]+) s$")


def _devices(db: Path) -> list[tuple[str, str]]:
    """(customer_id, anonymous_id): one device of each customer that has one."""
    return resolve_warehouse("duckdb", duckdb_path=db).fetch_all(
        "select customer_id, min(identifier_value) from marts.bdg_customer_identifiers "
        "where identifier_type = 'anonymous_id' group by customer_id order by hash(customer_id)"
    )


class Probe:
    """Sends an event from a probe device every PROBE_EVERY s and times its arrival."""

    def __init__(self, collector: int, api: int, devices: list[str]) -> None:
        self.collector = httpx.Client(
            base_url=f"http://127.0.0.1:{collector}", headers=write_key_headers(KEY)
        )
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{api}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        self.devices = devices
        self.pending: dict[str, tuple[str, float]] = {}  # event id -> (device, answered at)
        self.freshness: list[float] = []

    def send(self, n: int) -> None:
        device, message = self.devices[n % len(self.devices)], str(uuid.uuid4())
        event = {"type": "track", "event": "Freshness Probe", "anonymousId": device,
                 "messageId": message,
                 "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}  # fmt: skip
        self.collector.post("/v1/track", json=event).raise_for_status()
        self.pending[f"web_events:{message}"] = (device, time.monotonic())

    def look(self) -> None:
        for device in {d for d, _ in self.pending.values()}:
            answer = self.api.get(f"/v1/profiles/anonymous_id/{device}")
            if answer.status_code != 200:
                continue
            now = time.monotonic()
            for event in answer.json()["recent_events"]:
                sent = self.pending.pop(event["event_id"], None)
                if sent is not None:
                    self.freshness.append(now - sent[1])


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--rate", type=int, default=500, help="events a second")
    parser.add_argument("--seconds", type=int, default=180, help="how long the load runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdp-bench-freshness-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        db = build_warehouse(work, args.customers, CDP_PREDICTIONS="0")
        built = time.perf_counter() - started
        devices = _devices(db)
        probes = [d for _, d in devices[:PROBE_CUSTOMERS]]
        (work / "devices.txt").write_text("\n".join(d for _, d in devices[PROBE_CUSTOMERS:]))
        env = {"CDP_DUCKDB_PATH": str(db), "DAGSTER_HOME": str(work / "dagster"),
               "CDP_WRITE_KEYS": f"web={KEY}", "CDP_API_TOKENS": f"bench={TOKEN}"}  # fmt: skip
        landing = str(work / "landing")
        stream_log = (work / "stream.log").open("w")
        stream = subprocess.Popen([CDP, "stream", "--landing", landing],
                                  env={**os.environ, **env}, stdout=stream_log,
                                  stderr=subprocess.STDOUT)  # fmt: skip
        while not any(map(CYCLE_LINE.match, (work / "stream.log").read_text().splitlines())):
            if stream.poll() is not None:
                sys.exit(f"cdp stream ended:\n{(work / 'stream.log').read_text()[-2000:]}")
            time.sleep(0.5)  # until the first cycle (every source) is done
        collector, collector_port = start_server(["collect", "--landing", landing], env)
        api, api_port = start_server(["serve"], env)
        probe = Probe(collector_port, api_port, probes)
        report = work / "locust.json"
        with (work / "locust.log").open("w") as locust_log:
            locust = start_locust("locust_freshness.py", args.rate // BATCH, args.seconds,
                                  collector_port, report,
                                  {"CDP_BENCH_WRITE_KEY": KEY, "CDP_BENCH_BATCH": str(BATCH),
                                   "CDP_BENCH_DEVICES": str(work / "devices.txt")},
                                  locust_log)  # fmt: skip
            load_started = time.monotonic()
            sent, deadline = 0, load_started + args.seconds
            while time.monotonic() < deadline + 120 and (time.monotonic() < deadline
                                                         or probe.pending):  # fmt: skip
                if (
                    time.monotonic() < deadline
                    and time.monotonic() >= load_started + sent * PROBE_EVERY
                ):
                    probe.send(sent)
                    sent += 1
                probe.look()
                time.sleep(0.5)
            locust.wait()
        for process in (api, collector):
            stop(process)
        stream_peak = stop(stream)
        lines = (work / "stream.log").read_text().splitlines()
        cycles = [m for m in map(CYCLE_LINE.match, lines) if m][1:]  # after the first
        failed = [line for line in lines if ": failed" in line]
        load = locust_figures(report)
    seconds = [float(m.group(3)) for m in cycles]
    print(f"{args.customers:,} customers (built in {built:.0f} s); {args.rate} events/s "
          f"offered for {args.seconds} s; 1 probe event every {PROBE_EVERY:g} s\n")  # fmt: skip
    rows = [
        ("events/s sent (Locust)", f"{load['rps'] * BATCH:,.0f}"),
        ("collector p99 (ms)", f"{load['p99']:,}"),
        ("failed requests", f"{load['failures']:,}"),
        ("probe events sent", f"{sent:,}"),
        ("probes never seen", f"{len(probe.pending):,}"),
        ("freshness p50 (s)", f"{_percentile(probe.freshness, 0.50):.1f}"),
        ("freshness p95 (s)", f"{_percentile(probe.freshness, 0.95):.1f}"),
        ("freshness max (s)", f"{max(probe.freshness, default=float('nan')):.1f}"),
        ("stream cycles", f"{len(seconds):,} ({len(failed)} failed)"),
        ("cycle mean / longest (s)",
         f"{sum(seconds) / max(len(seconds), 1):.1f} / {max(seconds, default=0):.1f}"),
        ("stream peak RSS (MiB)", f"{stream_peak:,.0f}"),
    ]  # fmt: skip
    for name, value in rows:
        print(f"{name:<30}{value:>16}")
    p95 = _percentile(probe.freshness, 0.95)
    verdict = "met" if p95 <= TARGET_P95_S and not probe.pending else "MISSED"
    print(f"\ntarget: freshness p95 at most {TARGET_P95_S} s at 500 events/s: {verdict}")


if __name__ == "__main__":
    main()
