"""Benchmark: generate N customers, then load the landing files into a fresh DuckDB.

Each stage runs in its own child process so its wall time and peak memory (max RSS,
from wait4) are its own. Targets: generate 1M customers in <= 120 s; load >= 500,000
rows/s into DuckDB with a bounded memory limit.

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
    load_s, load_rss, out = run_stage(LOAD, str(landing), env=env)
    loaded = quarantined = 0
    for name, good, bad, errors, secs in _marked(out):
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
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
