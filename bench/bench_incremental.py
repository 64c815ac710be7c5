"""Benchmark: an incremental run after one new day of data against the full run.

1. Generate N customers (seed 7) and split every text file: the first (1 - 1/730) of its
   rows is the history, the rest is "one new day" (a two-year history, so one day's volume),
   written as new files (orchestration/generator/split.py). The new rows include late events
   and records that merge customers seen before.
2. `cdp run` on a fresh DuckDB file over the history: the full run.
3. Copy the new day in and `cdp run` again: the incremental run.
4. On a copy of the warehouse, `dbt run --full-refresh --select tag:incremental`: the same
   models rebuilt from scratch over the same data. Every table is compared with the
   incremental one row for row (EXCEPT ALL both ways).

Figures: wall time of both `cdp run`s, and each incremental model's build time (from dbt's
log) in the full run, the incremental run and the full refresh. Target: the incremental
models' build after the new day costs at most a fifth of their full refresh.

    python bench/bench_incremental.py [--customers 100000] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
sys.path.insert(0, str(PROJECT_DIR))

from orchestration.dbt_project import full_refresh_stamps  # noqa: E402
from orchestration.generator import generate  # noqa: E402
from orchestration.generator.split import split_landing  # noqa: E402

CDP = str(Path(sys.executable).with_name("cdp"))
DBT = str(Path(sys.executable).with_name("dbt"))
TARGET_RATIO = 0.2
SCOPE_MODEL = re.compile(r"\.int_identity_(scope_\w+|state)$")
MODEL_TIME = re.compile(r"OK created sql \w+ model (\S+) \.*\s*\[.*?OK.*? in ([\d.]+)s\]")


def model_times(text: str) -> dict[str, float]:
    return {name: float(sec) for name, sec in MODEL_TIME.findall(text)}


def cdp_run(landing: Path, env: dict[str, str]) -> tuple[float, dict[str, float], str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [CDP, "run", "--landing", str(landing)], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"cdp run failed: {proc.stderr.strip().splitlines()[-1]}")
    log = re.search(r"dbt output: (\S+)", proc.stdout)
    if not log:
        sys.exit("cdp run printed no dbt log path: no model times to compare")
    return (
        seconds,
        model_times(Path(log.group(1)).read_text()),
        proc.stdout + proc.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--work", type=Path, help="folder to keep (default: a temp folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cdp-bench-incremental-"))
    work.mkdir(parents=True, exist_ok=True)
    full, history, new_day = work / "generated", work / "landing", work / "new_day"
    for folder in (full, history, new_day):
        shutil.rmtree(folder, ignore_errors=True)

    start = time.perf_counter()
    generate(args.customers, 7, full)
    split_landing(full, history, new_day, share=1 - 1 / 730)
    new_rows = sum(
        max(len(p.read_bytes().splitlines()) - (p.suffix == ".csv"), 0)
        for p in new_day.rglob("*")
        if p.is_file()
    )
    print(
        f"generated {args.customers:,} customers and split off one day "
        f"({new_rows:,} new rows) in {time.perf_counter() - start:.1f} s"
    )

    db = work / "cdp.duckdb"
    db.unlink(missing_ok=True)
    (work / "dagster_home").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "CDP_DUCKDB_PATH": str(db),
        "CDP_TARGET": "duckdb",
        "DAGSTER_HOME": str(work / "dagster_home"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    full_seconds, full_models, full_output = cdp_run(history, env)
    for line in full_output.splitlines():  # the run log (stdout and stderr)
        if re.search(r"customer_predictions\s+predictions:", line):
            print("full run:", line.split("predictions:", 1)[1].strip())
    shutil.copytree(new_day, history, dirs_exist_ok=True)
    incr_seconds, incr_models, _ = cdp_run(history, env)

    rebuilt = work / "rebuilt.duckdb"
    shutil.copy(db, rebuilt)
    proc = subprocess.run(
        [DBT, "run", "--full-refresh", "--select", "tag:incremental"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={**env, "CDP_DUCKDB_PATH": str(rebuilt)},
    )
    if proc.returncode != 0:
        sys.exit(f"full refresh failed: {proc.stdout[-2000:]}")
    refresh_models = model_times(proc.stdout)

    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    con.execute("attach ? as rebuilt (read_only)", [str(rebuilt)])
    print(
        f"\n{'model':<32}{'full run':>10}{'incremental':>13}{'full refresh':>14}"
        f"{'rows':>12}{'differing':>11}"
    )
    totals = [0.0, 0.0, 0.0]
    stamps = full_refresh_stamps()
    for table in sorted(refresh_models, key=lambda t: (t.split(".")[0] != "staging", t)):
        schema, name = table.split(".")
        rows = con.execute(f"select count(*) from {table}").fetchone()[0]
        columns = ", ".join(
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = "
                "current_database() and table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [schema, name],
            ).fetchall()
            if c not in stamps.get(table, [])
        )
        differing = con.execute(
            f"select (select count(*) from (select {columns} from {table} except all "
            f"select {columns} from rebuilt.{table})) + (select count(*) from (select "
            f"{columns} from rebuilt.{table} except all select {columns} from {table}))"
        ).fetchone()[0]
        missing = [
            n for n, t in (("full", full_models), ("incremental", incr_models)) if table not in t
        ]
        if missing:
            sys.exit(f"{table}: no build time in the {' and '.join(missing)} run's log")
        times = [full_models[table], incr_models[table], refresh_models[table]]
        totals = [a + b for a, b in zip(totals, times, strict=True)]
        print(
            f"{table:<32}{times[0]:>9.2f}s{times[1]:>12.2f}s{times[2]:>13.2f}s"
            f"{rows:>12,}{differing:>11,}"
        )
        if differing:
            sys.exit(f"{table}: the incremental build differs from a full refresh")
    con.close()
    print(
        f"{'incremental models, total':<32}{totals[0]:>9.2f}s{totals[1]:>12.2f}s{totals[2]:>13.2f}s"
    )
    # the identity build's scope and state tables are rebuilt by every incremental run
    scope = {t: sec for t, sec in incr_models.items() if SCOPE_MODEL.search(t)}
    print(
        f"{'+ scope and state (' + str(len(scope)) + ' tables)':<32}{'':>10}"
        f"{sum(scope.values()):>12.2f}s"
    )
    incremental_total = totals[1] + sum(scope.values())
    ratio = incremental_total / totals[2]
    print(
        f"\nincremental models after one new day: {incremental_total:.2f} s vs "
        f"{totals[2]:.2f} s for a full refresh = {ratio:.3f} (target <= {TARGET_RATIO}) "
        f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'}"
    )
    print(
        f"whole `cdp run`: full {full_seconds:.1f} s, after one new day {incr_seconds:.1f} s "
        f"= {incr_seconds / full_seconds:.3f} (loading, the golden record, traits, segments, "
        "quality checks and predictions run in full each time)"
    )
    slowest = sorted(incr_models.items(), key=lambda kv: -kv[1])[:8]
    print(
        "slowest models in the incremental run: "
        + ", ".join(f"{name} {sec:.1f} s" for name, sec in slowest)
    )
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
