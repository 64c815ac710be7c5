"""Benchmark: the dim_customers suite (expectations/marts/dim_customers.json) on a
1,000,000-row table, on DuckDB in bounded memory and on PostgreSQL in the database.

The table is synthesised with the columns and value shapes of marts.dim_customers
(normalised emails, E.164 phones, counts), with 0.5% out-of-range source and identifier
counts so the row-wise checks have something to count (the suite leaves email and phone
formats to the dbt test is_normalised_identifier); the counts they report must equal the planted
ones, or the bench fails. Each run validates in a fresh process with the project's own
code (orchestration.quality.suites.validate, no Data Docs) and reports wall time and the
process's peak memory (RSS).

DuckDB: the table is synthesised in a temporary DuckDB file and validated once per chunk
size (rounded down to DuckDB's 2,048-row vectors: 100,000 reads 98,304 at a time); the
RSS includes DuckDB's and Great Expectations' own. A full table in one frame (chunk = all
rows) is the comparison.

PostgreSQL: the same table is synthesised with generate_series in a dedicated database,
cdp_bench_quality (created, then dropped at the end), on the server the libpq variables
name (PGHOST, PGPORT, PGUSER; default postgres@127.0.0.1:5432). GX validates it in the
database through its SQL datasource, so the RSS is the Python process's only: the
PostgreSQL backend that runs the queries is a separate process, not counted.

    python bench/bench_quality.py [--rows 1000000] [--chunks 50000,100000,200000,0]
                                  [--warehouses duckdb,postgres]
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
EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
WAREHOUSES = ("duckdb", "postgres")
PG_DATABASE = "cdp_bench_quality"

# Row i has no source when i % 200 == 0 and too many identifiers when i % 200 == 1 (0.5%
# each); every 7th email and every 5th phone is null. One statement for both
# warehouses, so both validate the same rows; only the row source differs. The row count is
# its one bound parameter.
SYNTHESISE = """
create table marts.dim_customers as
select
    'cus_' || substr(md5(cast(i as varchar)), 1, 20) as customer_id,
    timestamp '2024-01-01' + (i % 60000000) * interval '1 second' as customer_id_created_at,
    case when i % 7 = 0 then null else 'person' || i || '@example.com' end as email,
    case when i % 5 = 0 then null else '+1' || cast(2000000000 + i as varchar) end as phone,
    cast('Ann' as varchar) as first_name, cast('Lee' as varchar) as last_name,
    cast(null as varchar) as street, cast('Town' as varchar) as city,
    cast('CA' as varchar) as region, cast('90001' as varchar) as postal_code,
    cast('US' as varchar) as country, cast(null as date) as birth_date,
    timestamp '2024-01-01' as first_seen_at, timestamp '2026-01-01' as last_seen_at,
    cast('crm,shop' as varchar) as sources,
    case when i % 200 = 0 then 0 else 1 + i % 4 end as source_count,
    4 + i % 9 as source_record_count,
    case when i % 200 = 1 then 51 else 2 + i % 6 end as identifier_count, i % 3 as email_count,
    i % 2 as phone_count, i % 4 as anonymous_id_count, 1 as user_id_count,
    0 as loyalty_card_count
from {rows_source}
"""
ROWS_SOURCE = {
    "duckdb": "range(?) as t(i)",
    "postgres": "generate_series(0::bigint, %s - 1) as t(i)",
}


def synthesise_sql(warehouse: str) -> str:
    """The statement for the warehouse's driver (psycopg2 takes `%` for its placeholders, so
    the statement's own modulo signs are doubled for it)."""
    sql = SYNTHESISE if warehouse == "duckdb" else SYNTHESISE.replace("%", "%%")
    return sql.format(rows_source=ROWS_SOURCE[warehouse])


# argv: target, chunk rows (0: the whole table in one frame; DuckDB only), suites folder.
VALIDATE = """
import dataclasses, json, resource, sys, time
from pathlib import Path
from orchestration.quality.suites import discover, validate
from orchestration.warehouse import resolve_warehouse
start = time.perf_counter()
target, chunk, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
(suite,) = [s for s in discover(folder=folder) if s.table == "marts.dim_customers"]
suite = dataclasses.replace(suite, chunk_rows=chunk or 10**9)
(outcome,) = validate([suite], resolve_warehouse(target), docs=None)
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "error": outcome.error,
    "failed": [(r["check"], r["unexpected_count"]) for r in outcome.rows if not r["success"]],
    "unexpected": {r["check"]: r["unexpected_count"] for r in outcome.rows if r["unexpected_count"]},
    "rows": max((r["element_count"] or 0) for r in outcome.rows),
}))
"""


def planted(rows: int) -> dict[str, int]:
    """Rows each row-wise check must flag (the out-of-range counts)."""
    counts = {
        "source_count_range": len(range(0, rows, 200)),
        "identifiers_per_customer": len(range(1, rows, 200)),
    }
    return {check: n for check, n in counts.items() if n}


def print_header(label: str) -> None:
    print(
        f"\n{label:>14}{'seconds':>10}{'peak RSS MiB':>15}"
        "  failed checks; rows each row-wise check flagged"
    )


def measure(warehouse: str, chunk: int, label: str, rows: int, env: dict[str, str]) -> None:
    """Validate in a fresh process, print its line, and fail the bench unless it validated
    every row and the checks flagged exactly the planted rows."""
    proc = subprocess.run(
        [sys.executable, "-c", VALIDATE, warehouse, str(chunk), str(EXPECTATIONS_DIR)],
        capture_output=True,
        text=True,
        env={**env, "CDP_TARGET": warehouse, "CDP_QUALITY_DOCS": "0"},
        cwd=PROJECT_DIR,
    )
    if proc.returncode != 0:
        sys.exit(proc.stderr[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"{label:>14}{out['seconds']:>10.1f}{out['peak_mib']:>15,.0f}  "
        f"{out['failed'] or 'none'}; {out['unexpected']}"
    )
    if out["error"]:
        sys.exit(f"{warehouse}: the suite could not be validated: {out['error']}")
    if out["rows"] != rows:
        sys.exit(f"{warehouse}: validated {out['rows']:,} rows, not {rows:,}")
    if out["unexpected"] != planted(rows):
        sys.exit(
            f"{warehouse}: the checks flagged {out['unexpected']}, not the planted {planted(rows)}"
        )


def bench_duckdb(rows: int, chunks: list[int]) -> None:
    import duckdb

    with tempfile.TemporaryDirectory(prefix="cdp-bench-quality-") as tmp:
        db = Path(tmp) / "bench.duckdb"  # a file named quality.duckdb would shadow the schema
        start = time.perf_counter()
        con = duckdb.connect(str(db))
        con.execute("create schema marts")
        con.execute(synthesise_sql("duckdb"), [rows])
        con.close()
        print(
            f"\nDuckDB: synthesised marts.dim_customers, {rows:,} rows, in "
            f"{time.perf_counter() - start:.1f} s; peak RSS includes DuckDB's own memory"
        )
        env = {**os.environ, "CDP_DUCKDB_PATH": str(db)}
        print_header("chunk rows")
        for chunk in chunks:
            label = f"{chunk:,}" if chunk else "all (1 frame)"
            measure("duckdb", chunk, label, rows, env)


def bench_postgres(rows: int) -> None:
    from orchestration.warehouse import resolve_warehouse

    pg = resolve_warehouse("postgres")
    p = pg.params()
    with pg.connect("postgres") as admin:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {PG_DATABASE} with (force)")
            cur.execute(f"create database {PG_DATABASE}")
        try:
            start = time.perf_counter()
            with pg.connect(PG_DATABASE) as con:
                con.autocommit = True
                with con.cursor() as cur:
                    cur.execute("create schema marts")
                    cur.execute(synthesise_sql("postgres"), [rows])
                    # Set hint bits and statistics now, as a settled table would have them,
                    # so the first validating scan does not write them.
                    cur.execute("vacuum analyze marts.dim_customers")
            where = f"{p['user']}@{p['host']}:{p['port']}/{PG_DATABASE}"
            print(
                f"\nPostgreSQL ({where}): synthesised marts.dim_customers, {rows:,} rows, "
                f"in {time.perf_counter() - start:.1f} s"
            )
            print_header("run")
            env = {**os.environ, "PGDATABASE": PG_DATABASE}
            measure("postgres", 0, "in database", rows, env)
            print(
                "peak RSS is the Python process's only: the PostgreSQL backend that runs the "
                "queries is a separate process, and its memory is not in it"
            )
        finally:
            with admin.cursor() as cur:
                cur.execute(f"drop database if exists {PG_DATABASE} with (force)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunks", default="50000,100000,200000,0")
    parser.add_argument(
        "--warehouses",
        default=",".join(WAREHOUSES),
        help="comma-separated, run in this order (default: duckdb,postgres)",
    )
    args = parser.parse_args()
    warehouses = [w.strip().lower() for w in args.warehouses.split(",") if w.strip()]
    if unknown := sorted(set(warehouses) - set(WAREHOUSES)):
        parser.error(f"unknown warehouses {unknown}: choose from {', '.join(WAREHOUSES)}")
    for warehouse in warehouses:
        if warehouse == "duckdb":
            bench_duckdb(args.rows, [int(c) for c in args.chunks.split(",")])
        else:
            bench_postgres(args.rows)


if __name__ == "__main__":
    main()
