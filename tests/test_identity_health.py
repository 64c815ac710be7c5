"""Identity health: the over-merging checks trip on a customer glued together by a junk
identifier, on a junk value the guard kept out, and on a sudden drop in customers."""

from __future__ import annotations

from support import execute

from orchestration.quality.identity_health import measure


def _identity_tables(target, customers: int, glued: int, shared_value_records: int) -> None:
    """`customers` one-record customers plus one customer holding `glued` records."""
    execute(
        target,
        "create schema if not exists marts",
        "create schema if not exists intermediate",
        "create or replace table marts.bdg_customer_source_records as "
        "select 'crm_contacts' as source, 'r' || i as source_record_id, 'c' || i as customer_id "
        f"from range({customers}) t(i) union all "
        "select 'web_events', 'w' || i, 'c_glued' "
        f"from range({glued}) t(i)",
        "create or replace table marts.bdg_customer_identifiers as "
        "select 'email' as identifier_type, 'e' || customer_id as identifier_value, customer_id "
        "from (select distinct customer_id from marts.bdg_customer_source_records)",
        "create or replace table intermediate.int_identifiers_unioned as "
        "select source, source_record_id from marts.bdg_customer_source_records",
        "create or replace table marts.identity_guard_audit as "
        "select 'phone' as identifier_type, '5550000' as identifier_value, "
        f"'shared_value' as guard_rule, {shared_value_records} as record_count",
    )


def _results(target, run: str) -> dict[str, tuple[bool, float | None]]:
    return {r.name: (r.passed, r.observed) for r in measure(target, run)}


def test_over_merging_signs_trip_their_checks(duckdb_target):
    _identity_tables(duckdb_target, customers=500, glued=10, shared_value_records=12)
    first = _results(duckdb_target, "first")
    assert all(passed for passed, _ in first.values()), first
    assert first["customers_change"] == (True, None)  # nothing to compare with yet

    # a junk value glues 3,000 records into one customer, and 200 customers merge away
    _identity_tables(duckdb_target, customers=300, glued=3000, shared_value_records=4500)
    second = _results(duckdb_target, "second")
    assert second["largest_customer_records"] == (False, 3000)
    assert second["largest_shared_value_records"] == (False, 4500)
    assert second["customers_change"] == (False, round((301 - 501) / 501, 4))
    assert second["largest_customer_growth"] == (False, 300.0)
    assert second["records_matched_share"] == (True, 1.0)


def test_the_run_measures_identity_once_and_keeps_the_metrics(duckdb_target):
    """The health check keeps every metric of its run; the identity_quality asset reads them
    instead of measuring again. A history kept before the metrics column gets it."""
    from orchestration.identity.metrics import compute
    from orchestration.quality.identity_health import stored_metrics

    _identity_tables(duckdb_target, customers=40, glued=5, shared_value_records=2)
    execute(
        duckdb_target,
        "create schema if not exists quality",
        "create table quality.identity_health (run_id varchar, measured_at timestamp, "
        "customers bigint, records_matched bigint, records_with_identifiers bigint, "
        "largest_customer_records bigint, largest_customer_identifiers bigint, "
        "identifiers_per_customer_p99 double, largest_shared_value_records bigint)",
    )
    assert stored_metrics(duckdb_target, "run-1") is None
    measure(duckdb_target, "run-1")
    kept = stored_metrics(duckdb_target, "run-1")
    assert kept == compute(duckdb_target, None)
    assert kept.customers == 41 and kept.largest_customer_records == 5
    assert stored_metrics(duckdb_target, "another run") is None


def test_order_ids_do_not_count_as_a_customers_identifiers(duckdb_target):
    """A loyal customer holds an order id per order: the identifiers checks count only the
    types a person holds few of (max_per_customer in the types seed)."""
    _identity_tables(duckdb_target, customers=20, glued=5, shared_value_records=2)
    execute(
        duckdb_target,
        "insert into marts.bdg_customer_identifiers "
        "select 'order_id', 'ord_' || i, 'c_glued' from range(150) t(i)",
    )
    results = _results(duckdb_target, "orders")
    assert results["largest_customer_identifiers"] == (True, 1)
    execute(
        duckdb_target,
        "insert into marts.bdg_customer_identifiers "
        "select 'anonymous_id', 'anon_' || i, 'c_glued' from range(150) t(i)",
    )
    assert _results(duckdb_target, "devices")["largest_customer_identifiers"] == (False, 151)
