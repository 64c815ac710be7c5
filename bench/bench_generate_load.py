"""Benchmark: generate N customers, then load the landing files into a fresh DuckDB, and read
the same files plainly with DuckDB into another fresh file.

Each stage runs in its own child process so its wall time and peak memory (max RSS,
from wait4) are its own. The plain read is what the engine does alone: read_csv, read_json
and read_parquet of each table's files with its declared columns (CSV as text, JSON paths
as declared, bad lines skipped) into a table, without checks, row numbers, lineage or
quarantine; a JSON-lines table that keeps its payload is read as whole records
(read_ndjson_objects) with its declared values taken from them, as the loader stores it. Targets: generate 1M customers in <= 120 s; load >= 500,000 rows/s into DuckDB
with a bounded memory limit; the loader at 1/3 of the plain read's rows/s or better.

    python bench/bench_generate_load.py [--customers 1000000] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

GENERATE = """
import sys
from pathlib import Path
from orchestration.generator import generate
r = generate(int(sys.argv[1]), 42, Path(sys.argv[2]))
rows = sum(f.rows for f in r.files)
size = sum((Path(sys.argv[2]) / f.path).stat().st_size for f in r.files)
print("@@bench", rows, size)
"""

LOAD = """
import sys
from pathlib import Path
from orchestration.loading.loader import load_tables
from orchestration.sources import all_tables
from orchestration.warehouse import resolve_warehouse
results = load_tables(resolve_warehouse("duckdb"), all_tables(), Path(sys.argv[1]))
for r in results:
    secs = sum(f.seconds for f in r.files)
    print("@@bench", r.table.raw_name, r.rows_loaded, r.rows_quarantined, len(r.errors), secs)
"""

PLAIN = """
import sys, time
from pathlib import Path
import duckdb
from orchestration.loading.parse import sql_literal
from orchestration.sources import all_tables
landing = Path(sys.argv[1])
con = duckdb.connect(sys.argv[2])
con.execute(f"set memory_limit = {sql_literal(sys.argv[3])}")
con.execute("set enable_progress_bar = false")
def struct(pairs):
    return "{" + ", ".join(f"{sql_literal(n)}: {sql_literal(t)}" for n, t in pairs) + "}"
for t in all_tables():
    files = [str(p) for p in sorted(landing.glob(t.pattern)) if p.is_file()]
    if not files:
        continue
    listed = "[" + ", ".join(sql_literal(f) for f in files) + "]"
    if t.format == "csv":
        cols = struct((c.name, "VARCHAR") for c in t.columns)
        read = f"read_csv({listed}, columns = {cols}, header = true, auto_detect = false, ignore_errors = true)"
    elif t.format == "jsonl" and t.keep_payload:  # the declared values and the whole record
        paths = "[" + ", ".join(sql_literal("$." + (c.path or c.name)) for c in t.columns) + "]"
        values = ", ".join(f"v[{i + 1}] as {c.name}" for i, c in enumerate(t.columns))
        read = (
            f"(select {values}, json as payload from (select json, json_extract_string(json, "
            f"{paths}) as v from read_ndjson_objects({listed}, ignore_errors = true)))"
        )
    elif t.format == "jsonl":
        cols = struct((c.path or c.name, "JSON" if c.type == "json" else "VARCHAR") for c in t.columns)
        read = f"read_json({listed}, format = 'newline_delimited', columns = {cols}, ignore_errors = true)"
    else:
        read = f"read_parquet({listed})"
    started = time.perf_counter()
    rows = con.execute(f"create table {t.raw_name} as select * from {read}").fetchone()[0]
    print("@@bench", t.raw_name, rows, time.perf_counter() - started)
"""

MARK = "@@bench"


def _marked(out: str) -> list[list[str]]:
    """The fields of the lines a stage marked for us; anything else it printed is ignored."""
    return [line.split()[1:] for line in out.splitlines() if line.startswith(MARK + " ")]


def run_stage(code: str, *args: str, env: dict | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, stdout) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        text=True,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"stage failed with exit code {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit for the load")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()

    landing = args.out / "landing"
    db = args.out / "bench.duckdb"
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)

    gen_s, gen_rss, out = run_stage(GENERATE, str(args.customers), str(landing))
    [marked] = _marked(out)
    rows_written, bytes_written = (int(x) for x in marked)
    print(
        f"generate: {args.customers:,} customers -> {rows_written:,} rows, "
        f"{bytes_written / 2**30:.2f} GiB in {gen_s:.1f} s "
        f"({rows_written / gen_s:,.0f} rows/s), peak RSS {gen_rss:,.0f} MiB "
        f"[target <= 120 s at 1M: {'met' if args.customers < 1_000_000 or gen_s <= 120 else 'MISSED'}]"
    )

    env = {"CDP_DUCKDB_PATH": str(db), "CDP_DUCKDB_MEMORY_LIMIT": args.memory_limit}
    load_s, load_rss, load_out = run_stage(LOAD, str(landing), env=env)
    loaded = quarantined = 0
    for name, good, bad, errors, secs in _marked(load_out):
        loaded += int(good)
        quarantined += int(bad)
        print(
            f"  {name:<20} {int(good):>12,} loaded {int(bad):>8,} quarantined {errors} errors"
            f" {float(secs):7.1f} s"
        )
    total = loaded + quarantined
    rate = total / load_s
    print(
        f"load (DuckDB, memory_limit {args.memory_limit}): {total:,} rows "
        f"({quarantined:,} quarantined) in {load_s:.1f} s = {rate:,.0f} rows/s, "
        f"peak RSS {load_rss:,.0f} MiB, database {db.stat().st_size / 2**30:.2f} GiB "
        f"[target >= 500,000 rows/s: {'met' if rate >= 500_000 else 'MISSED'}]"
    )
    if total != rows_written:
        print(f"WARNING: rows written {rows_written:,} != loaded + quarantined {total:,}")

    # The same files, read plainly by the engine, in a fresh file of its own.
    plain_db = args.out / "plain.duckdb"
    plain_s, plain_rss, out = run_stage(PLAIN, str(landing), str(plain_db), args.memory_limit)
    loader_secs = {name: float(secs) for name, _, _, _, secs in _marked(load_out)}
    loader_rows = {name: int(good) + int(bad) for name, good, bad, _, _ in _marked(load_out)}
    print(f"  {'table':<20} {'loader rows/s':>14} {'plain rows/s':>13} {'ratio':>6}")
    plain_rows = 0
    for name, rows, secs in _marked(out):
        plain_rows += int(rows)
        mine = loader_rows.get(name, 0) / max(loader_secs.get(name, 0.0), 1e-9)
        theirs = int(rows) / max(float(secs), 1e-9)
        print(f"  {name:<20} {mine:>14,.0f} {theirs:>13,.0f} {mine / theirs:>6.2f}")
    plain_rate = plain_rows / plain_s
    ratio = rate / plain_rate
    print(
        f"plain read (DuckDB alone, memory_limit {args.memory_limit}): {plain_rows:,} rows in "
        f"{plain_s:.1f} s = {plain_rate:,.0f} rows/s, peak RSS {plain_rss:,.0f} MiB; the loader "
        f"at {ratio:.2f} of it [target >= 0.33: {'met' if ratio >= 1 / 3 else 'MISSED'}]"
    )
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
