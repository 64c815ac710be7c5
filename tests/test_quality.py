"""Great Expectations suites on both warehouses: a batch of invalid emails trips the raw
CRM contract, chunked validation on DuckDB counts exactly what one pass does, and Postgres
(validated in the database) finds the same."""

from __future__ import annotations

import dataclasses

import pytest
from support import execute

from orchestration.quality.suites import discover, validate

COLUMNS = [
    "contact_id", "first_name", "last_name", "email", "phone", "street", "city", "region",
    "postal_code", "country", "lifecycle_stage", "created_at", "updated_at",
    "_load_id", "_source_file", "_source_row", "_loaded_at",
]  # fmt: skip
ROWS, INVALID = 1000, 200


def _crm_suite():
    (suite,) = [s for s in discover() if s.table == "raw.crm_contacts"]
    return suite


def _plant(target) -> None:
    """raw.crm_contacts with a batch of invalid emails in rows 400-599."""
    text = ", ".join(f"{c} varchar" for c in COLUMNS)
    values = []
    for i in range(ROWS):
        email = f"not an email {i}" if 400 <= i < 400 + INVALID else f" person{i}@example.com "
        stage = "lead" if i % 2 else "customer"
        values.append(
            f"('c{i}', 'Ann', 'Lee', '{email}', '+1 555 010 {i:04d}', null, null, null, null, "
            f"'US', '{stage}', '2026-01-01', null, 'l1', 'crm/contacts.csv', '{i + 2}', "
            "'2026-01-02')"
        )
    execute(
        target,
        "create schema if not exists raw",
        f"create table raw.crm_contacts ({text})",
        f"insert into raw.crm_contacts values {', '.join(values)}",
    )


def _by_check(outcome) -> dict[str, tuple]:
    return {
        r["check"]: (r["success"], r["element_count"], r["unexpected_count"]) for r in outcome.rows
    }


def test_invalid_email_batch_fails_the_raw_contract_in_chunks(duckdb_target):
    _plant(duckdb_target)
    suite = _crm_suite()
    (whole,) = validate([suite], duckdb_target, run_id="whole")
    (chunked,) = validate([dataclasses.replace(suite, chunk_rows=100)], duckdb_target, "chunks")

    assert whole.error is None, whole.error
    results = _by_check(whole)
    assert results["email_format"] == (False, ROWS, INVALID)
    assert all(ok for check, (ok, _, _) in results.items() if check != "email_format"), results
    assert _by_check(chunked) == results
    sample = next(r["sample"] for r in whole.rows if r["check"] == "email_format")
    assert sample and all(v.startswith("not an email") for v in sample)

    stored = duckdb_target.fetch_all(
        "select run_id, check_name, severity, unexpected_count from quality.validation_results "
        "where success = false order by run_id",
    )
    assert stored == [
        ("chunks", "email_format", "warning", INVALID),
        ("whole", "email_format", "warning", INVALID),
    ]


@pytest.mark.postgres
def test_postgres_validates_in_the_database_with_the_same_counts(duckdb_target, pg_target):
    _plant(duckdb_target)
    _plant(pg_target)
    suite = _crm_suite()
    (duck,) = validate([suite], duckdb_target)
    (pg,) = validate([suite], pg_target)
    assert pg.error is None, pg.error
    assert _by_check(pg) == _by_check(duck)


def _load(target, load_id: str, first: int, rows: int, bad: int) -> None:
    """A load of `rows` CRM contacts (the first `bad` with an invalid email), in raw and in the
    loader's manifest."""
    from orchestration.loading.loader import MANIFEST_COLUMNS, MANIFEST_TABLE
    from orchestration.warehouse import RAW_SCHEMA

    text = ", ".join(f"{c} varchar" for c in COLUMNS)
    values = [
        f"('c{i}', 'Ann', 'Lee', '{'no email' if i < first + bad else f'p{i}@example.com'}', "
        f"null, null, null, null, null, 'US', 'lead', '2026-01-01', null, '{load_id}', "
        f"'crm/{load_id}.csv', '{i}', '2026-01-02')"
        for i in range(first, first + rows)
    ]
    execute(
        target,
        "create schema if not exists raw",
        f"create table if not exists raw.crm_contacts ({text})",
        f"insert into raw.crm_contacts values {', '.join(values)}",
    )
    manifest = dict.fromkeys((c for c, _ in MANIFEST_COLUMNS), None)
    manifest.update(load_id=load_id, table_name="crm_contacts", loaded_at=f"2026-01-0{first + 1}")
    target.append_rows(RAW_SCHEMA, MANIFEST_TABLE, MANIFEST_COLUMNS, [list(manifest.values())])


@pytest.mark.parametrize("which", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_raw_suites_check_each_load_once_and_count_the_whole_table(which, request):
    """Row-wise checks see only the loads not validated before; the row count sees the whole
    table; a run without a new load checks no rows."""
    target = request.getfixturevalue("pg_target" if which == "postgres" else "duckdb_target")
    suite = dataclasses.replace(
        _crm_suite(),
        expectations=[
            *_crm_suite().expectations,
            {
                "check": "three_rows_at_most",
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"max_value": 3},
                "severity": "warning",
            },
        ],
    )
    _load(target, "l1", first=0, rows=3, bad=1)
    (first,) = validate([suite], target, run_id="first")
    _load(target, "l2", first=3, rows=4, bad=2)
    (second,) = validate([suite], target, run_id="second")
    (third,) = validate([suite], target, run_id="third")

    assert first.error is None and second.error is None and third.error is None
    assert _by_check(first)["email_format"] == (False, 3, 1)
    assert _by_check(second)["email_format"] == (False, 4, 2)  # only l2's rows
    assert _by_check(third)["email_format"] == (True, 0, 0)
    assert [_by_check(o)["three_rows_at_most"][0] for o in (first, second, third)] == [
        True, False, False,
    ]  # fmt: skip
    assert (first.loads, second.loads, third.loads) == (["l1"], ["l2"], [])
    assert target.fetch_all(
        "select load_id, run_id from quality.validated_loads order by load_id"
    ) == [("l1", "first"), ("l2", "second")]


def test_a_missing_table_fails_every_check_with_the_error(duckdb_target):
    execute(duckdb_target, "create schema if not exists raw")
    (outcome,) = validate([_crm_suite()], duckdb_target)
    assert outcome.error and "crm_contacts" in outcome.error
    assert outcome.rows and not any(r["success"] for r in outcome.rows)


def test_data_docs_index_every_suite_validated(duckdb_target, tmp_path):
    from orchestration.quality.suites import docs_index

    _plant(duckdb_target)
    docs = tmp_path / "docs"
    validate([_crm_suite()], duckdb_target, run_id="first", docs=docs)
    validate([_crm_suite()], duckdb_target, run_id="second", docs=docs)
    index = docs_index(docs)
    assert index.exists()
    pages = sorted(p.name for p in index.parent.rglob("*.html") if "validations" in p.parts)
    assert pages == ["first.html", "second.html"]
    assert "raw.crm_contacts" in index.read_text()


def test_a_failed_blocking_check_names_its_suite_file_check_and_finding(duckdb_target, tmp_path):
    """The check step fails with the suite file, the check and what it found, and `cdp run`
    prints that (Dagster alone would say only the asset and check names)."""
    from dagster import AssetSelection, materialize

    from orchestration.assets.quality import _stage_check
    from orchestration.resources import CdpSettings
    from orchestration.run_report import run_failure

    _plant(duckdb_target)
    suite = _crm_suite()
    gated = dataclasses.replace(
        suite,
        gate=True,  # as a gate, with email_format critical: it blocks
        expectations=[
            {**item, "severity": "critical"} if item["check"] == "email_format" else item
            for item in suite.expectations
        ],
    )
    result = materialize(
        [_stage_check("raw", [gated])],
        resources={"cdp": CdpSettings(target="duckdb", landing_dir=str(tmp_path))},
        selection=AssetSelection.all_asset_checks(),
        raise_on_error=False,
    )
    assert not result.success
    failure = run_failure(result.all_events, tmp_path / "run.log")
    assert failure == (
        "gx_raw:\n1 blocking check failed; what is downstream does not run\n"
        f"  expectations/raw/crm_contacts.json: email_format ({INVALID} of {ROWS:,} rows)"
    )


@pytest.mark.parametrize("which", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_customer_scoped_marts_check_the_changed_customers_until_they_pass(which, request):
    """A customer-scoped mart's row-wise checks see the customers the identity builds since
    the last passing validation changed; a critical failure keeps them in the next batch; a
    full build checks every row again."""
    from orchestration.quality.suites import Suite

    target = request.getfixturevalue("pg_target" if which == "postgres" else "duckdb_target")
    scope = "intermediate.int_identity_scope_customers"
    suite = Suite(
        name="marts.scoped_mart",
        table="marts.scoped_mart",
        asset=("marts", "scoped_mart"),
        gate=False,
        chunk_rows=100,
        expectations=[
            {
                "check": "count_range",
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "source_count", "min_value": 1, "max_value": 10},
            },
            {
                "check": "three_rows_at_most",
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"max_value": 3},
                "severity": "warning",
            },
        ],
        path=request.path,
        changed_customers=scope,
    )
    execute(
        target,
        "create schema if not exists intermediate",
        "create schema if not exists marts",
        f"create table {scope} (customer_id varchar, full_build boolean, built_at timestamp)",
        "create table marts.scoped_mart (customer_id varchar, source_count integer)",
        f"insert into {scope} values (null, true, '2026-01-01 00:00:00')",
        "insert into marts.scoped_mart values ('c1', 1), ('c2', 2)",
    )

    def check(run_id: str) -> tuple:
        (outcome,) = validate([suite], target, run_id=run_id)
        assert outcome.error is None, outcome.error
        return _by_check(outcome)["count_range"], _by_check(outcome)["three_rows_at_most"][0]

    assert check("full") == ((True, 2, 0), True)
    execute(
        target,
        f"insert into {scope} values ('c3', false, '2026-01-02 00:00:00')",
        "insert into marts.scoped_mart values ('c3', 20)",
    )
    assert check("changed") == ((False, 1, 1), True)  # c3 only
    assert check("again") == ((False, 1, 1), True)  # failed: c3 is checked again
    execute(target, "update marts.scoped_mart set source_count = 3 where customer_id = 'c3'")
    assert check("mended") == ((True, 1, 0), True)
    assert check("nothing new") == ((True, 0, 0), True)
    execute(
        target,
        f"insert into {scope} values (null, true, '2026-01-03 00:00:00')",
        "insert into marts.scoped_mart values ('c4', 4)",
    )
    assert check("full again") == ((True, 4, 0), False)
    assert target.fetch_all(
        "select run_id from quality.validated_identity_builds order by built_through, run_id"
    ) == [("full",), ("mended",), ("nothing new",), ("full again",)]
