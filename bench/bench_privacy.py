"""Benchmark: an erasure on a built warehouse, and what the suppression list costs a load.

On a DuckDB warehouse built by `cdp run` from N generated customers (or --warehouse with its
landing folder), the customer with the most source records is erased (`erase()`, timed per
step: deletes in every table, landing files rewritten, the verification's search). Then a
new delivery of the web events file (every event under a new message id) is loaded twice,
side by side, into two copies of the erased warehouse: one with the suppression list, one
with it emptied. Printed: seconds per step, rows and lines removed, and the load's seconds
and rows with and without the list.

    python bench/bench_privacy.py [--customers 10000] [--warehouse PATH.duckdb]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from locust_run import build_warehouse  # noqa: E402

from orchestration.warehouse import resolve_warehouse  # noqa: E402


def _heaviest_email(target) -> str:
    return target.fetch_all(
        "select c.email from marts.dim_customers c join marts.bdg_customer_source_records r "
        "using (customer_id) where c.email is not null group by c.email "
        "order by count(*) desc limit 1"
    )[0][0]


def _new_delivery(landing: Path) -> Path:
    """The web events file again, every event with a new message id: a new delivery."""
    source = sorted((landing / "web").glob("events*.jsonl"))[0]
    out = landing / "web" / "events_part-9001.jsonl"
    with source.open("rb") as src, out.open("wb") as dst:
        for line in src:
            try:
                event = json.loads(line)
            except ValueError:  # the generator's planted defects stay as they are
                dst.write(line)
                continue
            if isinstance(event, dict):
                event["messageId"] = str(uuid.uuid4())
            dst.write(json.dumps(event).encode() + b"\n")
    return out


def _load(db: Path, landing: Path) -> tuple[float, int, int]:
    from orchestration.loading.loader import load_tables
    from orchestration.sources import all_tables

    target = resolve_warehouse("duckdb", duckdb_path=db)
    web = [t for t in all_tables() if t.raw_name == "web_events"]
    started = time.perf_counter()
    [result] = load_tables(target, web, landing)
    return time.perf_counter() - started, result.rows_loaded, result.rows_suppressed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--warehouse", type=Path, help="a built DuckDB warehouse (it is changed)")
    args = parser.parse_args()
    os.environ.setdefault("CDP_PRIVACY_SALT", "bench-salt")
    os.environ["CDP_LANDING_SETTLE_SECONDS"] = "0"
    with tempfile.TemporaryDirectory(prefix="cdp-bench-privacy-") as tmp:
        work = Path(tmp)
        db = args.warehouse.resolve() if args.warehouse else build_warehouse(work, args.customers)
        target = resolve_warehouse("duckdb", duckdb_path=db)
        [(landing,)] = target.fetch_all("select min(landing_dir) from raw.load_manifest")
        landing = Path(landing)
        customers = target.fetch_all("select count(*) from marts.dim_customers")[0][0]
        email = _heaviest_email(target)

        from orchestration.privacy import erasure

        times: dict[str, float] = {}
        last = [time.perf_counter(), None]

        def timed(event: str, what: str) -> None:
            if event == "step":
                now = time.perf_counter()
                if last[1]:
                    times[last[1]] = now - last[0]
                last[:] = [now, what]

        started = time.perf_counter()
        outcome = erasure.erase(target, email, requested_by="bench", progress=timed, syncs=[])
        total = time.perf_counter() - started
        times[last[1]] = time.perf_counter() - last[0]
        steps = outcome.receipt["steps"]

        _new_delivery(landing)
        plain = work / "plain.duckdb"
        shutil.copy(db, plain)
        with resolve_warehouse("duckdb", duckdb_path=plain).session() as session:
            session.run("delete from privacy.suppressed_identifiers")
        listed = work / "listed.duckdb"
        shutil.copy(db, listed)
        loads = {"empty list": _load(plain, landing), "with the list": _load(listed, landing)}
        (landing / "web" / "events_part-9001.jsonl").unlink()

    print(f"erasure on DuckDB ({customers:,} customers): {outcome.status} in {total:.1f} s")
    print(f"  records {outcome.receipt['records']:,}, rows deleted "
          f"{steps['warehouse']['total']:,}, landing lines removed "
          f"{sum(f.get('lines_removed', 0) for f in steps['landing']['files']):,}")  # fmt: skip
    for step, seconds in times.items():
        print(f"  {step:<14}{seconds:>8.2f} s")
    print(f"\nload of a new web events file ({loads['empty list'][1]:,} rows)")
    print(f"{'':<26}{'empty list':>14}{'with the list':>16}")
    print(f"{'seconds':<26}" + "".join(f"{v[0]:>14.2f}  " for v in loads.values()))
    print(f"{'rows loaded':<26}" + "".join(f"{v[1]:>14,}  " for v in loads.values()))
    print(f"{'rows suppressed':<26}" + "".join(f"{v[2]:>14,}  " for v in loads.values()))


if __name__ == "__main__":
    main()
