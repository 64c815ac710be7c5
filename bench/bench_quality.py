"""Benchmark: the dim_customers suite (expectations/marts/dim_customers.json) on a
1,000,000-row table, in bounded memory.

The table is synthesised in DuckDB with the columns and value shapes of marts.dim_customers
(normalised emails, E.164 phones, counts), with 0.5% malformed emails and phones so the
row-wise checks have something to count. Each run validates in a fresh process with the
given chunk size (rounded down to DuckDB's 2,048-row vectors: 100,000 reads 98,304 at a
time) and reports wall time and the process's peak memory (RSS), which includes
DuckDB's and Great Expectations' own. A full table in one frame (chunk = all rows) is the
comparison.

    python bench/bench_quality.py [--rows 1000000] [--chunks 50000,100000,200000,0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent

SYNTHESISE = """
create schema marts;
create table marts.dim_customers as
select
    'cus_' || md5(i::varchar)[1:20] as customer_id,
    timestamp '2024-01-01' + to_seconds(i % 60000000) as customer_id_created_at,
    case when i % 200 = 0 then 'broken email ' || i
         when i % 7 = 0 then null
         else 'person' || i || '@example.com' end as email,
    case when i % 200 = 1 then '555-' || i
         when i % 5 = 0 then null
         else '+1' || (2000000000 + i)::varchar end as phone,
    'Ann' as first_name, 'Lee' as last_name, null::varchar as street, 'Town' as city,
    'CA' as region, '90001' as postal_code, 'US' as country, null::date as birth_date,
    timestamp '2024-01-01' as first_seen_at, timestamp '2026-01-01' as last_seen_at,
    'crm,shop' as sources, 1 + i % 4 as source_count, 4 + i % 9 as source_record_count,
    2 + i % 6 as identifier_count, i % 3 as email_count, i % 2 as phone_count,
    i % 4 as anonymous_id_count, 1 as user_id_count, 0 as loyalty_card_count
from range({rows}) as t(i);
"""

VALIDATE = """
import json, os, resource, sys, time, dataclasses
from orchestration.quality.suites import discover, validate
from orchestration.warehouse import resolve_target
start = time.perf_counter()
(suite,) = [s for s in discover() if s.table == "marts.dim_customers"]
chunk = int(sys.argv[1])
suite = dataclasses.replace(suite, chunk_rows=chunk or 10**9)
(outcome,) = validate([suite], resolve_target("duckdb"))
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "error": outcome.error,
    "failed": [(r["check"], r["unexpected_count"]) for r in outcome.rows if not r["success"]],
    "unexpected": {r["check"]: r["unexpected_count"] for r in outcome.rows if r["unexpected_count"]},
    "rows": max((r["element_count"] or 0) for r in outcome.rows),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunks", default="50000,100000,200000,0")
    args = parser.parse_args()
    import duckdb

    with tempfile.TemporaryDirectory(prefix="cdp-bench-quality-") as tmp:
        db = Path(tmp) / "bench.duckdb"  # a file named quality.duckdb would shadow the schema
        start = time.perf_counter()
        con = duckdb.connect(str(db))
        con.execute(SYNTHESISE.format(rows=args.rows))
        con.close()
        print(
            f"synthesised marts.dim_customers, {args.rows:,} rows, in "
            f"{time.perf_counter() - start:.1f} s"
        )
        env = {**os.environ, "CDP_DUCKDB_PATH": str(db), "CDP_TARGET": "duckdb"}
        print(
            f"\n{'chunk rows':>12}{'seconds':>10}{'peak RSS MiB':>15}  failed checks; rows each row-wise check flagged"
        )
        for chunk in (int(c) for c in args.chunks.split(",")):
            proc = subprocess.run(
                [sys.executable, "-c", VALIDATE, str(chunk)],
                capture_output=True,
                text=True,
                env=env,
                cwd=PROJECT_DIR,
            )
            if proc.returncode != 0:
                sys.exit(proc.stderr[-2000:])
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            if out["rows"] != args.rows:
                sys.exit(f"validated {out['rows']:,} rows, not {args.rows:,}")
            label = f"{chunk:,}" if chunk else "all (1 frame)"
            print(
                f"{label:>12}{out['seconds']:>10.1f}{out['peak_mib']:>15,.0f}  "
                f"{out['failed'] or 'none'}; {out['unexpected']}"
                f"{' ERROR ' + out['error'] if out['error'] else ''}"
            )


if __name__ == "__main__":
    main()
