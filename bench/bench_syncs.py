"""Benchmark: a sync of a 1,000,000-member segment to a local webhook receiver.

The segment (segments.high_value_customers, with the columns the real model has) is
synthesised in a fresh DuckDB file; every member has email consent. The declared sync
`high_value_to_webhook` (models/segments/_segments__models.yml) sends it to the receiver of
the tests (tests/receiver.py), run in its own process so it does not share the sync's CPU
time slice; it checks every batch's HMAC signature and counts records by idempotency key.

Three runs, each `run_sync` in this process, timed from the diff to the last confirmed batch:
  1. first sync: every member is added;
  2. rerun with no change: must send nothing;
  3. rerun after 1% of the members changed a field: must send about 1%.
Target: the first sync at 20,000 records a second or more.

    python bench/bench_syncs.py [--members 1000000] [--batch-size 1000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
sys.path.insert(0, str(PROJECT_DIR))

SECRET = "bench-signing-secret"

SYNTHESISE = """
create schema segments;
create table segments.high_value_customers as
select
    'C' || lpad(cast(i as varchar), 8, '0') as customer_id,
    'person' || i || '@example.com' as email,
    '+1415' || lpad(cast(i % 10000000 as varchar), 7, '0') as phone,
    'Ann' as first_name,
    'Smith' || i as last_name,
    'granted' as consent_email,
    'granted' as consent_ads,
    cast(1000 + i % 5000 + 0.5 as decimal(18, 2)) as revenue_total,
    cast(2 + i % 7 as bigint) as orders_count,
    'champions' as rfm_segment
from range({n}) as t(i);
"""


def stats(url: str) -> dict:
    with urllib.request.urlopen(url.rsplit("/", 2)[0] + "/stats") as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cdp-bench-syncs-"))
    os.environ["CDP_DUCKDB_PATH"] = str(work / "bench.duckdb")
    os.environ["CDP_WEBHOOK_SECRET"] = SECRET

    import duckdb

    from orchestration.activation.engine import run_sync
    from orchestration.activation.spec import find_sync
    from orchestration.dbt_project import MANIFEST, ensure_manifest
    from orchestration.warehouse import resolve_target

    started = time.perf_counter()
    with duckdb.connect(os.environ["CDP_DUCKDB_PATH"]) as con:
        con.execute(SYNTHESISE.format(n=args.members))
    print(
        f"segment of {args.members:,} members synthesised in {time.perf_counter() - started:.1f} s"
    )

    ensure_manifest()
    spec = find_sync(MANIFEST, "high_value_to_webhook")
    spec = dataclasses.replace(
        spec,
        destination={
            **spec.destination,
            "batch_size": args.batch_size,
            "concurrency": args.concurrency,
        },
    )
    target = resolve_target("duckdb")
    receiver = subprocess.Popen(
        [sys.executable, str(PROJECT_DIR / "tests" / "receiver.py"), SECRET],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = receiver.stdout.readline().strip()
        os.environ["CDP_WEBHOOK_URL"] = url
        print(
            f"sync {spec.name}: batches of {args.batch_size:,}, {args.concurrency} at once, "
            f"to {url} (receiver in its own process)"
        )
        print(f"{'run':<22}{'sent':>12}{'seconds':>10}{'records/s':>12}  receiver")
        failures = []

        def timed(label: str) -> int:
            before = stats(url)["changes"]
            report = run_sync(spec, target)
            after = stats(url)
            sent = report.sent
            rate = sent / report.seconds if report.seconds else 0
            print(
                f"{label:<22}{sent:>12,}{report.seconds:>10.1f}{rate:>12,.0f}  "
                f"+{after['changes'] - before:,} changes, {after['repeats']:,} repeats, "
                f"{after['bad_requests']} bad requests"
            )
            if report.failed or after["bad_requests"]:
                failures.append(f"{label}: {report.failed} failed, {after['bad_requests']} bad")
            return sent, rate

        first, rate = timed("first sync")
        if first != args.members:
            failures.append(f"first sync sent {first:,} of {args.members:,}")
        if rate < 20_000:
            failures.append(f"first sync at {rate:,.0f} records/s, under 20,000")
        again, _ = timed("rerun, no change")
        if again != 0:
            failures.append(f"a rerun with no change sent {again:,}")
        changed = args.members // 100
        with duckdb.connect(os.environ["CDP_DUCKDB_PATH"]) as con:
            con.execute(
                "update segments.high_value_customers set orders_count = orders_count + 1 "
                f"where customer_id in (select customer_id from segments.high_value_customers "
                f"using sample {changed} rows)"
            )
        one_percent, _ = timed("rerun, 1% changed")
        if one_percent != changed:
            failures.append(f"1% changed ({changed:,}) sent {one_percent:,}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the sync process: {peak:,.0f} MiB")
    finally:
        receiver.terminate()
        receiver.wait()
    if failures:
        raise SystemExit("bench_syncs: " + "; ".join(failures))


if __name__ == "__main__":
    main()
