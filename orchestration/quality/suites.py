"""Expectation suites under expectations/, validated on either warehouse.

A suite file names the table it validates and the Dagster asset it checks:

    {
      "table": "raw.crm_contacts",           (or "tables_from": "segments": every segment model)
      "asset": ["raw", "crm", "contacts"],
      "gate": false,                         (true: failed critical checks block downstream assets)
      "duckdb": {"chunk_rows": 100000},      (how DuckDB tables are read: chunked, bounded memory)
      "expectations": [{"check": "...", "type": "expect_...", "kwargs": {...},
                        "severity": "critical" | "warning" | "info",
                        "quarantine": true}]   (raw suites, row-wise checks: failing rows are
    }                                           quarantined at load, see loading/row_contract.py)

Raw suites (expectations/raw/<raw table>.json) follow from the source contract (the dbt
sources YAML, see orchestration/sources.py): every contract table has one, named
raw.<source>_<table> and checking the asset ["raw", source, table], whose first checks are
built at read time: `columns` (the raw table's exact column set) and `<column>_present` (not
null) for each required column. The file, optional, holds only the rest ("gate", "duckdb",
"description" and the other expectations); it names no table or asset.

Allowed values that are declared elsewhere are not copied into a suite: an
expect_column_values_to_be_in_set item may give `"value_set_from"` instead of `value_set`,
resolved each time the suites are read:
    "seed:<seed>.<column>"   the column of a seed CSV under seeds/ (e.g. the identifier types
                             of seeds/identity/identity_identifier_types.csv)
    "contract:raw_tables"    the raw table names of the source contract (<source>_<table>)
A GX check is kept (rather than a dbt accepted_values test) because these suites gate the
syncs, and the gate reads GX results.

Raw suites check each load once. Their row-wise and schema checks (formats, allowed values,
not null, the column set) run on the rows of the loads the suite has not validated yet (raw
tables are append-only, so older rows cannot have changed); the other checks (row counts)
run on the whole table, which stays cheap. The loads each validation covered are kept in
quality.validated_loads; a run with no new load for a table checks zero new rows (element
count 0) and the table's row count.

The suites of the customer-scoped marts (the bridges and dim_customers, which rebuild only
the customers an identity build changed) check each change once in the same way: their
row-wise and schema checks run on the rows of the customers listed in
int_identity_scope_customers by the identity builds since the suite's last passing
validation, the rest on the whole table. The newest build each passing validation covered is kept in
quality.validated_identity_builds (after a critical failure the same customers are checked
again, with the next builds' changes). After a full identity build, or when builds the suite
has not seen were pruned from that list, the whole table is checked. Other mart and
segment suites validate their whole table.

Every validation appends its results to quality.validation_results (one row per check).
Reading the files is cheap; great_expectations is imported only to validate.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestration.warehouse import (
    PROJECT_DIR,
    RAW_SCHEMA,
    Warehouse,
    csv_rows,
    qualified,
    quote_ident,
    sql_literal,
)

SUITES_DIR = PROJECT_DIR / "expectations"  # CDP_EXPECTATIONS_DIR overrides it
RESULTS_SCHEMA, RESULTS_TABLE = "quality", "validation_results"
DEFAULT_CHUNK_ROWS = 100_000
RESULT_COLUMNS = [
    ("run_id", "varchar"),
    ("validated_at", "timestamp"),
    ("suite", "varchar"),
    ("table_name", "varchar"),
    ("check_name", "varchar"),
    ("expectation_type", "varchar"),
    ("column_name", "varchar"),
    ("severity", "varchar"),
    ("success", "boolean"),
    ("element_count", "bigint"),
    ("unexpected_count", "bigint"),
    ("sample", "varchar"),
]
# the loads of a raw table that each suite has validated (see the module's docstring)
LOADS_TABLE = "validated_loads"
LOADS_COLUMNS = [
    ("suite", "varchar"),
    ("load_id", "varchar"),
    ("run_id", "varchar"),
    ("validated_at", "timestamp"),
]
# the newest identity build whose changed customers each customer-scoped mart suite checked
BUILDS_TABLE = "validated_identity_builds"
BUILDS_COLUMNS = [
    ("suite", "varchar"),
    ("built_through", "timestamp"),
    ("run_id", "varchar"),
    ("validated_at", "timestamp"),
]


@dataclass(frozen=True)
class Suite:
    """One suite applied to one table."""

    name: str
    table: str
    asset: tuple[str, ...]
    gate: bool
    chunk_rows: int
    expectations: list[dict]
    path: Path
    per_load: bool = False  # row-wise checks on the loads not yet validated (raw suites)
    # row-wise checks on the customers this list (schema.table) names since the last
    # validation (customer-scoped marts)
    changed_customers: str | None = None

    def checks(self) -> list[dict]:
        """Name, severity and description of every check, in file order (items that differ
        per backend share a check name)."""
        checks: dict[str, dict] = {}
        for item in self.expectations:
            checks.setdefault(
                item["check"],
                {
                    "name": item["check"],
                    "severity": item.get("severity", "critical"),
                    "description": item.get("description") or item["type"],
                },
            )
        return list(checks.values())


@dataclass
class Outcome:
    suite: Suite
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    loads: list[str] = field(default_factory=list)  # the loads validated (per-load suites)
    # the newest identity build validated (customer-scoped suites), kept only when no
    # critical check failed: failing rows are checked again until they are mended
    through: datetime | None = None


def segment_models(manifest_path: Path) -> list[str]:
    from orchestration import manifest

    return [m.name for m in manifest.read(manifest_path).segments()]


class SuiteSpecError(ValueError):
    """A suite file names something the project does not have."""


def _seed_column(seed: str, column: str) -> list[str]:
    from orchestration.seeds import SeedError, seed_rows

    try:
        rows = seed_rows(seed)
    except SeedError as exc:
        raise SuiteSpecError(f"value_set_from: {exc}") from exc
    if rows and column not in rows[0]:
        raise SuiteSpecError(f"value_set_from: seed {seed} has no column {column}")
    return sorted({r[column] for r in rows if r[column]})


def value_set(spec: str) -> list[str]:
    """The values a `value_set_from` names (see the module's docstring)."""
    kind, _, name = spec.partition(":")
    if kind == "seed" and "." in name:
        return _seed_column(*name.split(".", 1))
    if kind == "contract" and name == "raw_tables":
        from orchestration.sources import all_tables

        return sorted(t.raw_name for t in all_tables())
    raise SuiteSpecError(
        f"value_set_from {spec!r}: expected 'seed:<seed>.<column>' or 'contract:raw_tables'"
    )


def _resolved(expectations: list[dict]) -> list[dict]:
    out = []
    for item in expectations:
        kwargs = item.get("kwargs") or {}
        if "value_set_from" in kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k != "value_set_from"}
            kwargs["value_set"] = value_set(item["kwargs"]["value_set_from"])
            item = {**item, "kwargs": kwargs}
        out.append(item)
    return out


def contract_expectations(table) -> list[dict]:
    """The checks of a raw table that its contract gives: its exact column set and a
    not-null check per required column (critical)."""
    items = [
        {
            "check": "columns",
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": [c for c, _ in table.raw_columns()], "exact_match": True},
            "severity": "critical",
            "description": "The raw table has the contract's columns, and no others.",
        }
    ]
    for column in table.required:
        items.append(
            {
                "check": f"{column}_present",
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": column},
                "severity": "critical",
                "description": f"{column} is required by the contract.",
            }
        )
    return items


def _raw_suites(folder: Path) -> list[Suite]:
    """One suite per contract table: its contract's checks, then those of its file."""
    from orchestration.sources import all_tables

    tables = {t.raw_name: t for t in all_tables()}
    files = {p.stem: p for p in sorted((folder / "raw").glob("*.json"))}
    unknown = sorted(set(files) - set(tables))
    if unknown:
        raise SuiteSpecError(
            f"{files[unknown[0]]}: no raw table {unknown[0]} in the source contract "
            "(a raw suite is named after its table, <source>_<table>.json)"
        )
    suites = []
    for raw_name, table in tables.items():
        path = files.get(raw_name)
        spec = json.loads(path.read_text()) if path else {}
        if "table" in spec or "asset" in spec:
            raise SuiteSpecError(f"{path}: a raw suite takes its table and asset from its name")
        suites.append(
            Suite(
                name=f"raw.{raw_name}",
                table=f"raw.{raw_name}",
                asset=tuple(table.asset_key),
                gate=bool(spec.get("gate", False)),
                chunk_rows=int(spec.get("duckdb", {}).get("chunk_rows", DEFAULT_CHUNK_ROWS)),
                expectations=contract_expectations(table) + _resolved(spec.get("expectations", [])),
                path=path or table.path,
                per_load=True,
            )
        )
    return suites


def discover(manifest_path: Path | None = None, folder: Path | None = None) -> list[Suite]:
    """Every suite: one per contract table (raw/), one per other suite file and table
    (templates expand to each segment model)."""
    import os

    from orchestration import manifest

    folder = folder or Path(os.environ.get("CDP_EXPECTATIONS_DIR") or SUITES_DIR)
    scoped = manifest.read(manifest_path).customer_scoped() if manifest_path else {}
    suites = _raw_suites(folder)
    for path in sorted(folder.rglob("*.json")):
        if path.parent == folder / "raw":
            continue
        spec = json.loads(path.read_text())
        if "expectations" not in spec:
            continue  # not a suite (identity/health.json has its own checks)
        if spec.get("tables_from") == "segments":
            if manifest_path is None:
                continue
            tables = [(f"segments.{m}", ("segments", m)) for m in segment_models(manifest_path)]
        else:
            tables = [(spec["table"], tuple(spec["asset"]))]
        for table, asset in tables:
            suites.append(
                Suite(
                    name=table,
                    table=table,
                    asset=asset,
                    gate=bool(spec.get("gate", False)),
                    chunk_rows=int(spec.get("duckdb", {}).get("chunk_rows", DEFAULT_CHUNK_ROWS)),
                    expectations=_resolved(spec["expectations"]),
                    path=path,
                    changed_customers=scoped.get(table),
                )
            )
    return suites


def docs_dir() -> Path | None:
    """Where GX Data Docs are built: CDP_QUALITY_DOCS_DIR, default quality_docs/ in the
    project; CDP_QUALITY_DOCS=0 turns them off (about 0.5 s a suite)."""
    import os

    if os.environ.get("CDP_QUALITY_DOCS") == "0":
        return None
    return Path(os.environ.get("CDP_QUALITY_DOCS_DIR") or PROJECT_DIR / "quality_docs")


def _context(docs: Path | None):
    """In memory; with `docs`, a GX file context there, so results of every suite and run
    accumulate and the Data Docs site indexes them all."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from orchestration.quality.gx_engine import ephemeral_context, file_context

    return file_context(docs) if docs else ephemeral_context()


def docs_index(docs: Path) -> Path:
    return docs / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


@dataclass(frozen=True)
class Batch:
    """The rows a per-load or customer-scoped suite validates: `where` selects them (None:
    every row, e.g. the suite's first validation), `loads` are the loads they come from,
    `through` the newest identity build whose changes they hold."""

    where: str | None
    loads: list[str]
    through: datetime | None = None


def new_loads(suite: Suite, target: Warehouse) -> Batch:
    """The loads of the suite's raw table that it has not validated yet (from the loader's
    manifest, read before the rows, so a load committed meanwhile waits for the next run)."""
    from orchestration.loading.loader import MANIFEST_TABLE

    raw_table = suite.table.split(".", 1)[1]
    if MANIFEST_TABLE not in target.existing_tables(RAW_SCHEMA):
        return Batch(None, [])  # rows written by hand, not by the loader: all of them
    with target.read_session() as run:
        loads = [
            r[0]
            for r in run(
                f"select load_id from {qualified(RAW_SCHEMA, MANIFEST_TABLE)} "
                "where table_name = ? order by loaded_at, load_id",
                [raw_table],
            )
        ]
        if LOADS_TABLE not in target.existing_tables(RESULTS_SCHEMA):
            return Batch(None, loads)
        done = {
            r[0]
            for r in run(
                f"select load_id from {qualified(RESULTS_SCHEMA, LOADS_TABLE)} where suite = ?",
                [suite.name],
            )
        }
    if not done:
        return Batch(None, loads)
    todo = [load for load in loads if load not in done]
    if not todo:
        return Batch("1 = 0", [])
    return Batch(f"_load_id in ({', '.join(sql_literal(load) for load in todo)})", todo)


def changed_customers(suite: Suite, target: Warehouse) -> Batch:
    """The rows of the customers the identity builds since the suite's last passing
    validation changed (the list read before the rows: a build committed meanwhile waits for the next
    run); every row after a full build, on the first validation, or when the list no longer
    holds every build since."""
    scope = suite.changed_customers
    schema, table = scope.split(".")
    if table not in target.existing_tables(schema):
        return Batch(None, [])
    with target.read_session() as run:
        ((earliest, newest),) = run(f"select min(built_at), max(built_at) from {scope}")
        if newest is None:
            return Batch(None, [])
        through = None
        if BUILDS_TABLE in target.existing_tables(RESULTS_SCHEMA):
            ((through,),) = run(
                f"select max(built_through) from {qualified(RESULTS_SCHEMA, BUILDS_TABLE)} "
                "where suite = ?",
                [suite.name],
            )
        since = f"cast({sql_literal(str(through))} as timestamp)" if through else None
        if through is None or earliest > through:
            return Batch(None, [], newest)
        if run(f"select count(*) from {scope} where full_build and built_at > {since}")[0][0]:
            return Batch(None, [], newest)
    if newest <= through:
        return Batch("1 = 0", [], through)
    changed = f"select customer_id from {scope} where built_at > {since}"
    return Batch(f"customer_id in ({changed} and customer_id is not null)", [], newest)


def _whole_table(item) -> bool:
    """An expectation a per-load suite runs on the whole table, not on the new rows."""
    from orchestration.quality.gx_engine import PER_CHUNK_AND, ROW_WISE

    return item.expectation_type not in ROW_WISE | PER_CHUNK_AND


def _validate_frames(ctx, suite: Suite, gx_suite, target: Warehouse, batch: Batch | None):
    """With GX's pandas engine: row-wise checks on chunks of at most `chunk_rows` rows of
    only their columns, schema checks once on the table's columns, the rest (row counts,
    uniqueness) once on frames of only their columns."""
    from orchestration.quality.gx_engine import row_wise_columns, validate_chunks

    table = qualified(*suite.table.split("."))
    where = f" where {batch.where}" if batch and batch.where else ""
    columns = ", ".join(quote_ident(c) for c in row_wise_columns(gx_suite)) or "1 as no_column"
    with target.session(read_only=True) as session:

        def load_columns(names: list[str], count: int):
            quoted = ", ".join(quote_ident(c) for c in names)
            return session.frame(f"select {quoted} from {table}")

        table_rows = session.run(f"select count(*) from {table}")[0][0]
        schema = session.frame(f"select * from {table} limit 0")
        chunks = session.frames(f"select {columns} from {table}{where}", suite.chunk_rows)
        return validate_chunks(
            ctx,
            gx_suite,
            chunks,
            load_columns,
            asset_name="chunks",
            table_rows=table_rows,
            schema_frame=schema,
        )


def _validate_in_database(ctx, suite: Suite, gx_suite, url: str, batch: Batch | None):
    """With GX's SQL engine, in the warehouse (SQLAlchemy URL `url`). A per-load batch is a
    query asset for the row-wise checks and the table for the whole-table ones."""
    from orchestration.quality.gx_engine import combine, split_suite

    schema, table = suite.table.split(".")
    name = f"pg_{uuid.uuid4().hex[:8]}"
    source = ctx.data_sources.add_postgres(name, connection_string=url)
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": 10}

    def run(asset, expectations):
        return (
            asset.add_batch_definition_whole_table("whole")
            .get_batch()
            .validate(expectations, result_format=result_format)
        )

    try:
        whole = source.add_table_asset(table, table_name=table, schema_name=schema)
        if not (batch and batch.where):
            return run(whole, gx_suite)
        rows = source.add_query_asset(
            f"{table}_new_loads",
            query=f"select * from {qualified(schema, table)} where {batch.where}",
        )
        on_table, on_rows = split_suite(gx_suite, _whole_table)
        results = [run(rows, on_rows)] + ([run(whole, on_table)] if on_table.expectations else [])
        return combine(gx_suite, results)
    finally:
        source.get_execution_engine().engine.dispose()
        ctx.data_sources.delete(name)


def validate(
    suites: list[Suite], target: Warehouse, run_id: str | None = None, docs: Path | None = None
) -> list[Outcome]:
    """Validate each suite on the target and append the results to quality.validation_results
    (and, with `docs`, build GX Data Docs there). A suite whose table cannot be read fails as
    a whole, with the error."""
    from orchestration.quality.gx_engine import build_suite, store_for_docs, summary_rows

    run_id = run_id or uuid.uuid4().hex
    ctx = _context(docs)
    outcomes = []
    rendered = []  # the Data Docs pages of this validation: its results and their suites
    for suite in suites:
        start = time.perf_counter()
        outcome = Outcome(suite)
        try:
            url = target.sqlalchemy_url()
            backend = target.name if url else "pandas"
            gx_suite = build_suite(suite.expectations, backend, suite.name)
            batch = (
                new_loads(suite, target)
                if suite.per_load
                else changed_customers(suite, target)
                if suite.changed_customers
                else None
            )
            if url:
                result = _validate_in_database(ctx, suite, gx_suite, url, batch)
            else:
                result = _validate_frames(ctx, suite, gx_suite, target, batch)
            outcome.rows = summary_rows(result, n=5)
            outcome.loads = batch.loads if batch else []
            passed = all(r["success"] or r["severity"] != "critical" for r in outcome.rows)
            outcome.through = batch.through if batch and passed else None
            if docs:
                ctx.suites.add_or_update(gx_suite)
                rendered.append(store_for_docs(ctx, result, batch_name=run_id))
                rendered.append(rendered[-1].expectation_suite_identifier)
        except Exception as exc:  # a missing table, a bad suite: report, do not crash the run
            outcome.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            outcome.rows = [
                {
                    "check": c["name"],
                    "type": "table could not be validated",
                    "column": None,
                    "severity": c["severity"],
                    "success": False,
                    "element_count": None,
                    "unexpected_count": None,
                    "sample": [],
                    "error": outcome.error,
                }
                for c in suite.checks()
            ]
        outcome.seconds = time.perf_counter() - start
        outcomes.append(outcome)
    store(outcomes, target, run_id)
    if docs:  # the pages of earlier runs are written already; the index lists them all
        ctx.build_data_docs(resource_identifiers=rendered)
    return outcomes


def _sample(row: dict) -> str | None:
    value = row.get("error") or row.get("sample") or row.get("observed")
    return json.dumps(value, default=str)[:1000] if value else None


def store(outcomes: list[Outcome], target: Warehouse, run_id: str) -> None:
    """Append the results, and the loads they cover, in one transaction."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (
            run_id,
            now,
            o.suite.name,
            o.suite.table,
            r["check"],
            r["type"],
            r["column"],
            r["severity"],
            bool(r["success"]),
            r["element_count"],
            r["unexpected_count"],
            _sample(r),
        )
        for o in outcomes
        for r in o.rows
    ]
    loads = [(o.suite.name, load, run_id, now) for o in outcomes for load in o.loads]
    builds = [(o.suite.name, o.through, run_id, now) for o in outcomes if o.through is not None]
    with target.session() as session, session.transaction():
        session.run(f"create schema if not exists {quote_ident(RESULTS_SCHEMA)}")
        for name, columns, values in (
            (RESULTS_TABLE, RESULT_COLUMNS, rows),
            (LOADS_TABLE, LOADS_COLUMNS, loads),
            (BUILDS_TABLE, BUILDS_COLUMNS, builds),
        ):
            table = qualified(RESULTS_SCHEMA, name)
            session.run(f"create table if not exists {table} ({target.column_ddl(columns)})")
            if values:
                session.copy_in(table, [c for c, _ in columns], csv_rows(values)[0])


def last_run_results(target: Warehouse, failed_only: bool = False) -> list[tuple]:
    """(suite, check, severity, success, rows, unexpected, sample, validated_at) of the
    newest run in quality.validation_results, failures first."""
    results = qualified(RESULTS_SCHEMA, RESULTS_TABLE)
    return target.fetch_all(
        f"select suite, check_name, severity, success, element_count, unexpected_count, "
        f"sample, validated_at from {results} where run_id = (select run_id from {results} "
        f"order by validated_at desc limit 1)"
        + (" and not success" if failed_only else "")
        + " order by success, suite, check_name",
    )
