"""Benchmark: syncs of a 1,000,000-member segment, each run in a process of its own.

The segment (segments.high_value_customers, with the columns the real model has) is
synthesised in a fresh DuckDB file by a child process; every member has email and ads
consent. Each run is `run_sync` in a child process, which reports the run's counts, its own
clock (`report.seconds`: from opening the state to the sync log's last row) and its peak RSS.

Webhook (`high_value_to_webhook`), to the receiver of the tests (tests/receiver.py) in its
own process, which checks every batch's HMAC signature and counts records by idempotency key:
  1. first sync: every member is added; target 20,000 records a second or more;
  2. rerun with no change: must send nothing;
  3. rerun after 1% of the members changed a field: must send exactly those.
The receiver's count of new changes must equal what each run delivered, with no repeats.

Meta custom audience (`high_value_to_meta`), to the fake Meta of the tests
(tests/vendor_fakes.py) in its own process: the destination knows people by email and phone,
so removals go through the identity check (the holders of each leaving value are looked up
in the sync's state):
  4. first sync of every member;
  5. 20% withdraw ads consent: exactly they are removed; the audience must hold the rest;
     the run's peak RSS must stay under 1,024 MiB.

    python bench/bench_syncs.py [--members 1000000] [--batch-size 1000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "tests"))

from vendor_fakes import AUDIENCE_ID, META_TOKEN  # noqa: E402 - the fake's own credentials

SECRET = "bench-signing-secret"

# Its one bound parameter is the number of members.
SYNTHESISE = """
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
from range(?) as t(i)
"""


# argv: sync name, destination settings (JSON). Prints the report and the peak RSS.
RUN = """
import dataclasses, json, resource, sys
from orchestration.activation.engine import run_sync
from orchestration.activation.spec import find_sync
from orchestration.dbt_project import MANIFEST
from orchestration.warehouse import resolve_warehouse
spec = find_sync(MANIFEST, sys.argv[1])
spec = dataclasses.replace(spec, destination={**spec.destination, **json.loads(sys.argv[2])})
report = run_sync(spec, resolve_warehouse("duckdb"))
print(json.dumps({
    **{k: v for k, v in vars(report).items() if isinstance(v, int | float)},
    "delivered": report.added + report.changed + report.removed,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""

# A fake Meta audience in its own process: prints its URL; GET /count gives the audience size.
META = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from vendor_fakes import FakeServer, MetaFake

class Counted(MetaFake):
    def handle(self, method, path, query, headers, body):
        if path == "/count":
            return 200, {"users": len(self.users)}
        return super().handle(method, path, query, headers, body)

server = FakeServer(Counted())
print(server.url, flush=True)
threading.Event().wait()
"""


def child(code: str, *args: str) -> str:
    """Run `code` in a fresh Python process; its last line of output (or "")."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=PROJECT_DIR
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench_syncs: child failed: {proc.stderr.strip()[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def duckdb_sql(sql: str, *params) -> None:
    """One statement on the bench file, in a child process; `params` bound to its `?`s."""
    child(
        "import duckdb, json, os, sys; duckdb.connect(os.environ['CDP_DUCKDB_PATH'])"
        ".execute(sys.argv[1], json.loads(sys.argv[2]))",
        sql,
        json.dumps(params),
    )


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def serve(*argv: str) -> tuple[subprocess.Popen, str]:
    """A server in its own process; it prints its URL first."""
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cdp-bench-syncs-"))
    os.environ["CDP_DUCKDB_PATH"] = str(work / "bench.duckdb")
    os.environ["CDP_WEBHOOK_SECRET"] = SECRET
    os.environ["META_ACCESS_TOKEN"] = META_TOKEN

    from orchestration.dbt_project import ensure_manifest

    ensure_manifest()
    started = time.perf_counter()
    duckdb_sql("create schema segments")
    duckdb_sql(SYNTHESISE, args.members)
    print(
        f"segment of {args.members:,} members synthesised in {time.perf_counter() - started:.1f} s"
    )
    failures: list[str] = []
    print(f"{'run':<30}{'delivered':>11}{'seconds':>9}{'records/s':>11}{'peak MiB':>10}  check")

    def timed(label: str, sync: str, settings: dict, count) -> dict:
        """One sync run in a child process; `count()` reads the destination's side."""
        before = count()
        report = json.loads(child(RUN, sync, json.dumps(settings)))
        seen = count() - before
        rate = report["delivered"] / report["seconds"] if report["seconds"] else 0
        print(
            f"{label:<30}{report['delivered']:>11,}{report['seconds']:>9.1f}{rate:>11,.0f}"
            f"{report['peak_mib']:>10,.0f}  destination {seen:+,}"
        )
        if report["failed"]:
            failures.append(f"{label}: {report['failed']:,} failed")
        report["seen"], report["rate"] = seen, rate
        return report

    receiver, url = serve(str(PROJECT_DIR / "tests" / "receiver.py"), SECRET)
    meta, meta_url = serve("-c", META, str(PROJECT_DIR / "tests"))
    try:
        os.environ["CDP_WEBHOOK_URL"] = url
        webhook = {"batch_size": args.batch_size, "concurrency": args.concurrency}
        stats_url = url.rsplit("/", 2)[0] + "/stats"

        def changes() -> int:
            return get_json(stats_url)["changes"]

        first = timed("webhook: first sync", "high_value_to_webhook", webhook, changes)
        if first["delivered"] != args.members or first["seen"] != args.members:
            failures.append(f"first sync delivered {first['delivered']:,}, seen {first['seen']:,}")
        if first["rate"] < 20_000:
            failures.append(f"first sync at {first['rate']:,.0f} records/s, under 20,000")
        again = timed("webhook: rerun, no change", "high_value_to_webhook", webhook, changes)
        if again["delivered"] or again["failed"] or again["seen"]:
            failures.append(f"a rerun with no change delivered {again['delivered']:,}")
        changed = args.members // 100
        duckdb_sql(
            "update segments.high_value_customers set orders_count = orders_count + 1 "
            "where customer_id in (select customer_id from segments.high_value_customers "
            "order by random() limit ?)",
            changed,
        )
        one = timed("webhook: rerun, 1% changed", "high_value_to_webhook", webhook, changes)
        if one["delivered"] != changed or one["seen"] != changed:
            failures.append(f"1% changed ({changed:,}) delivered {one['delivered']:,}")
        if (stats := get_json(stats_url))["repeats"] or stats["bad_requests"]:
            failures.append(f"receiver: {stats['repeats']} repeats, {stats['bad_requests']} bad")

        meta_settings = {"base_url": meta_url, "audience_id": AUDIENCE_ID}

        def audience() -> int:
            return get_json(meta_url + "/count")["users"]

        timed("meta: first sync", "high_value_to_meta", meta_settings, audience)
        leaving = args.members // 5
        duckdb_sql(
            "update segments.high_value_customers set consent_ads = 'withdrawn' "
            "where cast(substr(customer_id, 2) as bigint) % 5 = 0"
        )
        leave = timed("meta: 20% leave", "high_value_to_meta", meta_settings, audience)
        if leave["removed"] != leaving or -leave["seen"] != leaving:
            failures.append(f"meta leave removed {leave['removed']:,}, audience {leave['seen']:+,}")
        if leave["peak_mib"] > 1024:
            failures.append(f"meta leave peaked at {leave['peak_mib']:,.0f} MiB, over 1,024")
    finally:
        for proc in (receiver, meta):
            proc.terminate()
            proc.wait()
    if failures:
        raise SystemExit("bench_syncs: " + "; ".join(failures))


if __name__ == "__main__":
    main()
