"""Benchmark: profile API latency at a steady request rate, under Locust.

On a warehouse built by `cdp run` (a generated landing folder of N customers, or the
warehouse given with --warehouse), `cdp serve` runs in its own process and Locust
(headless, its own process, bench/locust_profiles.py) asks for profiles by email, phone
and anonymous_id drawn from the warehouse (one email or phone in four written as a person
types it: upper case, spaces; `--typed-every`) at `--rate` requests a second in all, for
`--seconds`, with a token that may read PII and, side by side, one that may not.

Printed: requests a second reached, latency p50/p95/p99 (Locust's, per request, measured
at the client), failures and the server's peak RSS. Target: p99 at most 20 ms at 200
requests a second. Client and server share this machine's cores.

    python bench/bench_profiles.py [--customers 10000] [--rate 200] [--seconds 30]
                                   [--typed-every 4] [--warehouse PATH.duckdb]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from locust_run import build_warehouse, run_against  # noqa: E402

from orchestration.warehouse import resolve_warehouse  # noqa: E402

TOKENS = {"pii": "tok_bench_pii", "no_pii": "tok_bench_plain"}
USERS = 20
TARGET_P99_MS = 20


def _identifiers(db: Path, work: Path, typed_every: int) -> Path:
    target = resolve_warehouse("duckdb", duckdb_path=db)
    rows = target.fetch_all(
        "select identifier_type, identifier_value from marts.bdg_customer_identifiers "
        "where identifier_type in ('email', 'phone', 'anonymous_id') "
        "order by hash(identifier_value) limit 3000"
    )
    path = work / "ids.json"
    path.write_text(json.dumps([_typed(kind, value, i, typed_every) for i, (kind, value) in
                                enumerate(rows)]))  # fmt: skip
    return path


def _typed(kind: str, value: str, i: int, every: int) -> list:
    """[type, value, typed]: one email or phone in `every` as a person types it (the rule
    normalises it), the rest as stored."""
    if not every or i % every or kind not in ("email", "phone"):
        return [kind, value, False]
    typed = f" {value.upper()} " if kind == "email" else f"{value[:2]} {value[2:5]} {value[5:]}"
    return [kind, typed, True]


def _phase(db: Path, ids: Path, token: str, rate: float, seconds: int, work: Path) -> dict:
    tokens = ",".join(f"{k}={v}" + (":pii" if k == "pii" else "") for k, v in TOKENS.items())
    return run_against(
        ["serve"], {"CDP_DUCKDB_PATH": str(db), "CDP_API_TOKENS": tokens},
        "locust_profiles.py", USERS, seconds,
        {"CDP_BENCH_IDS": str(ids), "CDP_BENCH_TOKEN": token, "CDP_BENCH_RATE": str(rate / USERS)},
        work, token,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--typed-every", type=int, default=4, metavar="N",
                        help="one email or phone in N as a person types it (0: none)")  # fmt: skip
    parser.add_argument("--warehouse", type=Path, help="a built DuckDB warehouse to serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdp-bench-profiles-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        db = args.warehouse.resolve() if args.warehouse else build_warehouse(work, args.customers)
        built = time.perf_counter() - started
        ids = _identifiers(db, work, args.typed_every)
        phases = {k: _phase(db, ids, t, args.rate, args.seconds, work) for k, t in TOKENS.items()}
    what = (
        f"{db.name}" if args.warehouse else f"{args.customers:,} customers, built in {built:.0f} s"
    )
    print(f"profile API on DuckDB ({what}); {USERS} Locust users at {args.rate:,.0f}/s "
          f"for {args.seconds} s each\n")  # fmt: skip
    print(f"{'':<26}{'PII token':>14}{'no-PII token':>14}")
    for label, key, fmt in [("requests/s", "rps", "{:,.0f}"), ("latency p50 (ms)", "p50", "{}"),
                            ("latency p95 (ms)", "p95", "{}"), ("latency p99 (ms)", "p99", "{}"),
                            ("requests", "requests", "{:,}"), ("failed", "failures", "{:,}"),
                            ("server peak RSS (MiB)", "peak_mib", "{:,.0f}")]:  # fmt: skip
        print(f"{label:<26}" + "".join(f"{fmt.format(p[key]):>14}" for p in phases.values()))
    names = sorted({n for p in phases.values() for n in p["p99_by_name"]} - {"Aggregated"})
    for name in names:
        print(f"{'  p99 ' + name + ' (ms)':<26}"
              + "".join(f"{p['p99_by_name'].get(name, '-'):>14}" for p in phases.values()))  # fmt: skip
    worst = max(p["p99"] for p in phases.values())
    verdict = "met" if worst <= TARGET_P99_MS else "MISSED"
    print(
        f"\np99 at {args.rate:,.0f} requests/s: {worst} ms (target <= {TARGET_P99_MS} ms) {verdict}"
    )
    if any(p["failures"] for p in phases.values()):
        sys.exit("some lookups failed")


if __name__ == "__main__":
    main()
