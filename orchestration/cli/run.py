"""cdp run and cdp demo: the whole pipeline as one Dagster job, and its summary."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

import click
from rich.table import Table as RichTable

from orchestration.cli.app import (
    LANDING_OPTION,
    TARGET_OPTION,
    CliError,
    app,
    console,
    customers_option,
    prepare,
    settings_for,
)
from orchestration.cli.generate import generate_files
from orchestration.warehouse import PROJECT_DIR

DEMO_DIR = PROJECT_DIR / "demo"
RUN_LOG_DIR = PROJECT_DIR / "logs" / "runs"


@app.command()
@TARGET_OPTION
@LANDING_OPTION
@click.option(
    "--syncs", "with_syncs", is_flag=True, help="Then run every sync the checks let through."
)
def run(target: str, landing: Path | None, with_syncs: bool) -> None:
    """Materialise everything: load landing files, build and test every dbt model."""
    settings = prepare(target, landing)
    summary = _execute(settings, "cdp_all_and_syncs" if with_syncs else "cdp_all")
    _print_summary(settings.warehouse, summary)
    if not summary["success"]:
        raise CliError(f"run {summary['run_id']} failed: {summary['failure']}")


@app.command()
@customers_option(2_000)
@click.option("--seed", "-s", type=int, default=42, show_default=True)
def demo(customers: int, seed: int) -> None:
    """Generate a small data set, run the whole pipeline on DuckDB and print a summary."""
    landing = DEMO_DIR / "landing"
    demo_warehouse = DEMO_DIR / "cdp.duckdb"  # unless the user names one
    settings = settings_for("duckdb", landing, duckdb_default=demo_warehouse)
    if settings.warehouse.path == demo_warehouse:  # the demo's own: built afresh
        for stale in (demo_warehouse, demo_warehouse.with_suffix(".duckdb.wal")):
            stale.unlink(missing_ok=True)
    if landing.exists():
        shutil.rmtree(landing)
    os.environ["CDP_LANDING_SETTLE_SECONDS"] = "0"  # written whole just below
    started = time.perf_counter()
    generate_files(customers, seed, landing)
    generated = time.perf_counter() - started
    settings = prepare("duckdb", landing, duckdb_default=demo_warehouse)
    summary = _execute(settings)
    summary["stages"].insert(0, ("generate", generated))
    _print_summary(settings.warehouse, summary)
    if not summary["success"]:
        raise CliError(f"run {summary['run_id']} failed: {summary['failure']}")


def _execute(settings, job_name: str = "cdp_all") -> dict:
    """Run a job (`cdp_all` by default) in this process, recorded in the Dagster instance."""
    from dagster import DagsterInstance

    from orchestration.activation.spec import SyncSpecError
    from orchestration.definitions import build_definitions

    try:
        defs = build_definitions(settings)
    except SyncSpecError as exc:  # a sync declared wrongly in the segments' YAML
        raise CliError(str(exc)) from None

    instance = DagsterInstance.get()
    job = defs.resolve_job_def(job_name)
    RUN_LOG_DIR.mkdir(parents=True, exist_ok=True)
    run_log = RUN_LOG_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    started = time.perf_counter()
    # dbt's own console lines go to the run log; the terminal gets one line per step.
    with run_log.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    elapsed = time.perf_counter() - started
    stats = instance.get_run_step_stats(result.run_id)
    stages = [
        (s.step_key, (s.end_time or s.start_time or 0) - (s.start_time or 0))
        for s in sorted(stats, key=lambda s: s.start_time or 0)
    ]
    from orchestration.run_report import run_failure

    # every failed step and why; a dbt step names each failed model, its file and dbt's message
    failure = run_failure(result.all_events, run_log)
    loaded: dict[str, tuple[int, int]] = {}
    suppressed: dict[str, int] = {}
    identity: dict = {}
    records = [e.step_materialization_data.materialization for e in result.all_events
               if e.is_step_materialization]  # fmt: skip
    records += [
        e.asset_observation_data.asset_observation
        for e in result.all_events
        if e.is_asset_observation
    ]  # fmt: skip (a table whose file was refused)
    for mat in records:
        meta = mat.metadata
        if mat.asset_key.path == ["marts", "identity_quality"]:
            identity = {name: value.value for name, value in meta.items()}
        if "rows_loaded" in meta:
            key = "/".join(mat.asset_key.path[1:])
            loaded[key] = (meta["rows_loaded"].value, meta["rows_quarantined"].value)
            if "rows_suppressed" in meta and meta["rows_suppressed"].value:
                suppressed[key] = meta["rows_suppressed"].value
    return {
        "run_id": result.run_id,
        "success": result.success,
        "failure": failure,
        "stages": stages,
        "elapsed": elapsed,
        "loaded": loaded,
        "suppressed": suppressed,
        "identity": identity,
        "log": run_log,
    }


def _print_summary(target, summary: dict) -> None:
    from orchestration.loading.loader import quarantine_by_reason, raw_row_counts
    from orchestration.warehouse import WarehouseError

    console.print(f"\nrun {summary['run_id']} on {target.label}")
    try:
        totals = raw_row_counts(target)
        reasons = quarantine_by_reason(target)
    except WarehouseError as exc:
        raise CliError(str(exc)) from exc
    except Exception:  # raw tables may not exist when the first load failed
        totals, reasons = {}, []
    rows = RichTable(title="rows loaded per source", title_justify="left")
    for col in ("source table", "loaded this run", "quarantined this run", "raw total"):
        rows.add_column(col, justify="left" if col == "source table" else "right")
    for key, (loaded, quarantined) in sorted(summary["loaded"].items()):
        raw_name = key.replace("/", "_")
        rows.add_row(key, f"{loaded:,}", f"{quarantined:,}", f"{totals.get(raw_name, 0):,}")
    console.print(rows)
    for key, n in sorted(summary.get("suppressed", {}).items()):
        console.print(f"{key}: {n:,} rows suppressed (identifiers of erased people)")
    quarantine = RichTable(title="quarantined rows by reason (all loads)", title_justify="left")
    for col in ("raw table", "reason", "rows"):
        quarantine.add_column(col, justify="right" if col == "rows" else "left")
    for table, kind, n in reasons:
        quarantine.add_row(table, kind, f"{n:,}")
    console.print(quarantine)
    stages = RichTable(title="time per stage", title_justify="left")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for name, seconds in summary["stages"]:
        stages.add_row(name, f"{seconds:.1f}")
    stages.add_row("total (run)", f"{summary['elapsed']:.1f}")
    console.print(stages)
    if summary.get("identity"):
        _print_identity(summary["identity"])
    console.print(f"dbt output: {summary['log']}")


IDENTITY_LABELS = {
    "precision": "pairwise precision",
    "recall": "pairwise recall",
    "recall_ceiling": "recall ceiling of the data",
    "f1": "pairwise F1",
    "truth_records": "truth records scored",
    "customers_spanning_people": "customers holding records of >1 person",
    "people_split": "people split over >1 customer",
    "customers": "customers",
    "records_matched": "source records with a customer",
    "largest_customer_records": "largest customer (records)",
    "largest_customer_identifiers": "largest customer (identifiers)",
    "identifiers_per_customer_avg": "identifiers per customer (mean)",
    "identifiers_per_customer_p99": "identifiers per customer (p99)",
}


def _print_identity(identity: dict) -> None:
    table = RichTable(title="identity resolution", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, label in IDENTITY_LABELS.items():
        if name in identity:
            value = identity[name]
            shown = f"{value:.5f}" if isinstance(value, float) and value <= 1 else f"{value:,}"
            table.add_row(label, shown)
    sizes = identity.get("records_per_customer") or {}
    if sizes:
        table.add_row("customers by records", ", ".join(f"{k}: {v:,}" for k, v in sizes.items()))
    console.print(table)
