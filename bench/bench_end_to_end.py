"""Benchmark: the whole pipeline, a full run and then a day of new data.

1. Generate N customers (seed 7) and split every text file: the first (1 - 1/730) of its
   rows is the history, the rest is "one new day" (a two-year history, so one day's volume),
   written as new files (orchestration/generator/split.py). The new rows include late events
   and records that merge customers seen before.
2. `cdp run` over the history on a fresh warehouse: the full run.
3. The new day copied in (and accepted with `cdp landing accept`: the volume contract
   refuses a file far smaller than a table's last loads), `cdp run` again: the incremental
   run.
4. On a copy of the warehouse (a copied DuckDB file, or a PostgreSQL database made from the
   first as a template), `dbt run --full-refresh --select tag:incremental`: every
   incremental model rebuilt from all the data. Each table is compared with the incremental
   one by its rows (count and sum of a hash of each row, without the columns a full refresh
   stamps otherwise: `meta.full_refresh_stamps`); a difference fails the bench.

Printed: for both runs the wall time, every stage's time (Dagster steps) and the peak memory
(max RSS of the largest process of the run, cdp or dbt, from wait4); for every incremental
model its build time in both runs and in the full refresh. The runs do not wait for the
files just written (CDP_LANDING_SETTLE_SECONDS=0).

Targets: at 1,000,000 customers on DuckDB a full run within 15 minutes, a new day within
2 minutes, peak memory within 8 GiB; at 100,000 customers a new day within 20 s.

    python bench/bench_end_to_end.py [--customers 100000] [--target duckdb|postgres]
                                     [--work DIR]
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
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
sys.path.insert(0, str(PROJECT_DIR))

from orchestration.dbt_project import (  # noqa: E402
    full_refresh_stamps,
    rebuildable_incremental_models,
)
from orchestration.generator import generate  # noqa: E402
from orchestration.generator.split import split_landing  # noqa: E402
from orchestration.warehouse import resolve_warehouse  # noqa: E402

CDP = str(Path(sys.executable).with_name("cdp"))
DBT = str(Path(sys.executable).with_name("dbt"))
# a model's line in dbt's log, on either warehouse ("[OK in 1.2s]", "[SELECT 10 in 1.2s]")
MODEL_TIME = re.compile(r"OK created sql \w+ model (\S+) \.*\s*\[[^\]]*? in ([\d.]+)s\]")
# a row of cdp's "time per stage" table
STAGE = re.compile(r"^│ (\S+)\s+│\s+([\d.]+) │$", re.M)
REFRESHED = "_refreshed"  # the copy of the warehouse the full refresh builds
SCOPE_MODEL = re.compile(r"\.int_identity_(scope_\w+|state)$")
TARGETS = {  # customers: (full run s, new day s, peak MiB); the figures
    1_000_000: (15 * 60, 120, 8 * 1024),
    100_000: (None, 20, None),
}


class Run:
    """One `cdp run`: wall time, peak RSS (MiB), stage times, model times."""

    def __init__(self, landing: Path, env: dict[str, str]):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [CDP, "run", "--landing", str(landing)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, "COLUMNS": "200"},
        )
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        self.seconds = time.perf_counter() - started
        self.peak_mib = usage.ru_maxrss / 1024
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("cdp run failed:\n" + "\n".join(out.splitlines()[-15:]))
        self.stages = {name: float(sec) for name, sec in STAGE.findall(out)}
        log = re.search(r"dbt output: (\S+)", out)
        if not log:
            sys.exit("cdp run printed no dbt log path: no model times to compare")
        self.models = {
            name: float(sec) for name, sec in MODEL_TIME.findall(Path(log.group(1)).read_text())
        }
        self.output = out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--target", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--work", type=Path, help="folder to keep (default: a temp folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cdp-bench-e2e-"))
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

    (work / "dagster_home").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "CDP_TARGET": args.target,
        "DAGSTER_HOME": str(work / "dagster_home"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "CDP_LANDING_SETTLE_SECONDS": "0",
    }
    # a fresh warehouse of the target's kind: a file in the work folder, or a new database
    target = resolve_warehouse(
        args.target,
        {**env, "PGDATABASE": f"cdp_bench_e2e_{uuid.uuid4().hex[:8]}"},
        duckdb_path=work / "cdp.duckdb",
    )
    target.drop()
    target.create()
    env |= target.dbt_env()
    print(f"warehouse: {target.label}")
    try:
        compare(args, history, new_day, env, target)
    finally:
        if not args.work:  # with --work, the warehouse stays for a look (a database too)
            target.drop()
            shutil.rmtree(work, ignore_errors=True)


def accept_day(landing: Path, new_day: Path, env: dict) -> None:
    """The day's files are a sliver of the history's loads, which the volume contract refuses
    once a table has had three (at 1,000,000 customers the history comes in four parts): they
    are accepted as an operator accepts the first daily delivery after a backfill."""
    files = sorted(str(p.relative_to(new_day)) for p in new_day.rglob("*") if p.is_file())
    reason = "the first daily delivery after the history backfill"
    cmd = [CDP, "landing", "accept", "--landing", str(landing), "--reason", reason, *files]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"cdp landing accept failed:\n{proc.stdout}{proc.stderr}")


def compare(args, history: Path, new_day: Path, env: dict, target) -> None:
    first = Run(history, env)
    shutil.copytree(new_day, history, dirs_exist_ok=True)
    accept_day(history, new_day, env)
    second = Run(history, env)

    copy = target.copy_as(REFRESHED)
    try:
        report(args, first, second, target, copy, env)
    finally:
        copy.drop()


def report(args, first: Run, second: Run, target, copy, env: dict) -> None:
    proc = subprocess.run(
        [DBT, "run", "--full-refresh", "--select", "tag:incremental"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={**env, **copy.dbt_env()},
    )
    if proc.returncode != 0:
        sys.exit(f"full refresh failed: {proc.stdout[-2000:]}")
    refresh = {name: float(sec) for name, sec in MODEL_TIME.findall(proc.stdout)}

    print(f"\n{'stage':<34}{'full run':>10}{'new day':>10}")
    for name in dict.fromkeys([*first.stages, *second.stages]):
        print(f"{name:<34}{first.stages.get(name, 0):>9.1f}s{second.stages.get(name, 0):>9.1f}s")
    print(f"{'cdp run, wall':<34}{first.seconds:>9.1f}s{second.seconds:>9.1f}s")
    print(
        f"{'peak memory (largest process)':<34}{first.peak_mib:>7,.0f}MiB{second.peak_mib:>7,.0f}MiB"
    )

    stamps = full_refresh_stamps()
    print(
        f"\n{'incremental model':<48}{'full run':>9}{'new day':>9}{'refresh':>9}{'rows':>12}  same"
    )
    totals = [0.0, 0.0, 0.0]
    differing = []
    for table in sorted(rebuildable_incremental_models().values()):
        schema, name = table.split(".")
        columns = [c for c in target.columns(schema, name) if c not in stamps.get(table, [])]
        rows, ours = target.fingerprint(table, columns)
        _, theirs = copy.fingerprint(table, columns)
        times = [first.models.get(table, 0), second.models.get(table, 0), refresh.get(table, 0)]
        totals = [a + b for a, b in zip(totals, times, strict=True)]
        same = ours == theirs
        if not same:
            differing.append(table)
        print(
            f"{table:<48}{times[0]:>8.2f}s{times[1]:>8.2f}s{times[2]:>8.2f}s{rows:>12,}"
            f"  {'yes' if same else 'NO'}"
        )
    scope = sum(sec for t, sec in second.models.items() if SCOPE_MODEL.search(t))
    print(f"{'+ identity scope and state tables':<48}{'':>9}{scope:>8.2f}s")
    print(
        f"{'incremental models, total':<48}{totals[0]:>8.2f}s{totals[1] + scope:>8.2f}s"
        f"{totals[2]:>8.2f}s"
    )
    slowest = sorted(second.models.items(), key=lambda kv: -kv[1])[:8]
    print(
        "\nslowest models after the new day: "
        + ", ".join(f"{name} {sec:.1f} s" for name, sec in slowest)
    )
    full_target, day_target, peak_target = TARGETS.get(args.customers, (None, None, None))
    verdicts = [
        ("full run", first.seconds, full_target, "s"),
        ("new day", second.seconds, day_target, "s"),
        ("peak memory", max(first.peak_mib, second.peak_mib), peak_target, "MiB"),
    ]
    for what, value, limit, unit in verdicts:
        if limit is not None:
            verdict = "met" if value <= limit else "MISSED"
            print(f"{what}: {value:,.1f} {unit} (target <= {limit:,} {unit}) {verdict}")
    if differing:
        sys.exit(f"the incremental build differs from a full refresh in: {', '.join(differing)}")
    print("every incremental table equals its full refresh")


if __name__ == "__main__":
    main()
