"""Identity health: signs of over-merging, with limits from expectations/identity/health.json.

Measured on the bridge of source records to customers after each build: the largest
customer (records and identifier values), identifier values per customer, the most records
one value held when the shared-value guard kept it out of the graph, the share of
source records that belong to a customer, and the change since the previous run (kept in
quality.identity_health).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orchestration.quality.suites import RESULT_COLUMNS, RESULTS_SCHEMA, RESULTS_TABLE, SUITES_DIR
from orchestration.warehouse import Warehouse

HEALTH_FILE = SUITES_DIR / "identity" / "health.json"
HISTORY_TABLE = "identity_health"
HISTORY_COLUMNS = [
    ("run_id", "varchar"),
    ("measured_at", "timestamp"),
    ("customers", "bigint"),
    ("records_matched", "bigint"),
    ("records_with_identifiers", "bigint"),
    ("largest_customer_records", "bigint"),
    ("largest_customer_identifiers", "bigint"),
    ("identifiers_per_customer_p99", "double"),
    ("largest_shared_value_records", "bigint"),
    ("metrics", "varchar"),  # every identity metric of the run (JSON), truth scores included
]
LATER_HISTORY_COLUMNS = HISTORY_COLUMNS[-1:]  # added to histories kept before them


@dataclass(frozen=True)
class HealthCheck:
    name: str
    severity: str
    description: str
    observed: float | None
    passed: bool
    limit: str


def load_spec() -> dict:
    return json.loads(HEALTH_FILE.read_text())


def measure(target: Warehouse, run_id: str, truth: Path | None = None) -> list[HealthCheck]:
    """Measure (scoring against `truth` when there is one), compare with the previous run,
    record this run (its metrics too, for the identity_quality asset); one result per
    check."""
    from orchestration.identity.metrics import compute

    metrics = compute(target, truth)
    with target.read_session() as run:  # one connection for the three reads
        with_identifiers = run(
            "select count(*) from (select distinct source, source_record_id "
            "from intermediate.int_identifiers_unioned) as records"
        )[0][0]
        shared = run(
            "select coalesce(max(record_count), 0) from marts.identity_guard_audit "
            "where guard_rule = ?",
            ["shared_value"],
        )[0][0]
        kept = run(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [RESULTS_SCHEMA, HISTORY_TABLE],
        )[0][0]
        rows = (
            run(
                f"select customers, largest_customer_records from {RESULTS_SCHEMA}.{HISTORY_TABLE} "
                "order by measured_at desc limit 1"
            )
            if kept
            else []
        )
    previous = rows[0] if rows else None
    observed = {
        "largest_customer_records": metrics.largest_customer_records,
        "largest_customer_identifiers": metrics.largest_customer_identifiers,
        "identifiers_per_customer_p99": metrics.identifiers_per_customer_p99,
        "largest_shared_value_records": shared,
        "records_matched_share": (
            metrics.records_matched / with_identifiers if with_identifiers else None
        ),
        "customers_change": (
            (metrics.customers - previous[0]) / previous[0] if previous and previous[0] else None
        ),
        "largest_customer_growth": (
            metrics.largest_customer_records / previous[1] if previous and previous[1] else None
        ),
    }
    _add_later_columns(target)
    target.append_rows(
        RESULTS_SCHEMA,
        HISTORY_TABLE,
        HISTORY_COLUMNS,
        [
            (
                run_id,
                datetime.now(UTC).replace(tzinfo=None),
                metrics.customers,
                metrics.records_matched,
                with_identifiers,
                metrics.largest_customer_records,
                metrics.largest_customer_identifiers,
                metrics.identifiers_per_customer_p99,
                shared,
                json.dumps(metrics.as_dict()),
            )
        ],
    )
    results = []
    spec = load_spec()
    for check in spec["checks"]:
        value = observed[check["check"]]
        low, high = check.get("min"), check.get("max")
        passed = value is None or (
            (low is None or value >= low) and (high is None or value <= high)
        )  # no previous run: nothing to compare with
        limit = " and ".join(
            part
            for part in (
                f">= {low}" if low is not None else "",
                f"<= {high}" if high is not None else "",
            )
            if part
        )
        results.append(
            HealthCheck(
                check["check"],
                check["severity"],
                check["description"],
                None if value is None else round(float(value), 4),
                passed,
                limit,
            )
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    target.append_rows(
        RESULTS_SCHEMA,
        RESULTS_TABLE,
        RESULT_COLUMNS,
        [
            (run_id, now, "identity_health", "marts.bdg_customer_source_records", r.name,
             "identity health limit", None, r.severity, r.passed, None, None,
             None if r.observed is None else f"observed {r.observed}, limit {r.limit}")
            for r in results
        ],
    )  # fmt: skip
    return results


def _add_later_columns(target: Warehouse) -> None:
    have = target.columns(RESULTS_SCHEMA, HISTORY_TABLE)
    if not have:
        return  # created with every column by the first append
    missing = [c for c in LATER_HISTORY_COLUMNS if c[0] not in have]
    with target.session() as session:
        for name, ctype in missing:
            session.run(
                f"alter table {RESULTS_SCHEMA}.{HISTORY_TABLE} "
                f"add column {target.column_ddl([(name, ctype)])}"
            )


def stored_metrics(target: Warehouse, run_id: str):
    """The identity metrics the health check measured in run `run_id`, or None."""
    from orchestration.identity.metrics import IdentityMetrics

    if "metrics" not in target.columns(RESULTS_SCHEMA, HISTORY_TABLE):
        return None
    rows = target.fetch_all(
        f"select metrics from {RESULTS_SCHEMA}.{HISTORY_TABLE} where run_id = ? "
        "order by measured_at desc limit 1",
        [run_id],
    )
    return IdentityMetrics(**json.loads(rows[0][0])) if rows and rows[0][0] else None
