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

from orchestration.warehouse import PROJECT_DIR, Warehouse, qualified, quote_ident

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


def segment_models(manifest_path: Path) -> list[str]:
    from orchestration import manifest

    return [m.name for m in manifest.read(manifest_path).segments()]


def discover(manifest_path: Path | None = None, folder: Path | None = None) -> list[Suite]:
    """Every suite file, one Suite per table (templates expand to each segment model)."""
    import os

    folder = folder or Path(os.environ.get("CDP_EXPECTATIONS_DIR") or SUITES_DIR)
    suites = []
    for path in sorted(folder.rglob("*.json")):
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
                    expectations=spec["expectations"],
                    path=path,
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


def _validate_frames(ctx, suite: Suite, gx_suite, target: Warehouse):
    """With GX's pandas engine, on data frames of at most `chunk_rows` rows."""
    from orchestration.quality.gx_engine import validate_chunks

    table = qualified(*suite.table.split("."))
    with target.session(read_only=True) as session:

        def load_columns(columns: list[str], rows: int):
            quoted = ", ".join(quote_ident(c) for c in columns)
            return session.frame(f"select {quoted} from {table}")

        chunks = session.frames(f"select * from {table}", suite.chunk_rows)
        return validate_chunks(ctx, gx_suite, chunks, load_columns, asset_name="chunks")


def _validate_in_database(ctx, suite: Suite, gx_suite, url: str):
    """With GX's SQL engine, in the warehouse (SQLAlchemy URL `url`)."""
    schema, table = suite.table.split(".")
    name = f"pg_{uuid.uuid4().hex[:8]}"
    source = ctx.data_sources.add_postgres(name, connection_string=url)
    try:
        batch = (
            source.add_table_asset(table, table_name=table, schema_name=schema)
            .add_batch_definition_whole_table("whole")
            .get_batch()
        )
        return batch.validate(
            gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10}
        )
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
    for suite in suites:
        start = time.perf_counter()
        outcome = Outcome(suite)
        try:
            url = target.sqlalchemy_url()
            backend = target.name if url else "pandas"
            gx_suite = build_suite(suite.expectations, backend, suite.name)
            if url:
                result = _validate_in_database(ctx, suite, gx_suite, url)
            else:
                result = _validate_frames(ctx, suite, gx_suite, target)
            outcome.rows = summary_rows(result, n=5)
            if docs:
                ctx.suites.add_or_update(gx_suite)
                store_for_docs(ctx, result, batch_name=run_id)
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
    if docs:
        ctx.build_data_docs()
    return outcomes


def _sample(row: dict) -> str | None:
    value = row.get("error") or row.get("sample") or row.get("observed")
    return json.dumps(value, default=str)[:1000] if value else None


def store(outcomes: list[Outcome], target: Warehouse, run_id: str) -> None:
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
    target.append_rows(RESULTS_SCHEMA, RESULTS_TABLE, RESULT_COLUMNS, rows)


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
