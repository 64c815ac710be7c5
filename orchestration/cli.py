"""The `cdp` command line: generate sample data, run the pipeline, open the UI."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table as RichTable

from orchestration.warehouse import PROJECT_DIR

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DEMO_DIR = PROJECT_DIR / "demo"
RUN_LOG_DIR = PROJECT_DIR / "logs" / "runs"


def _target_choices() -> list[str]:
    from orchestration.warehouse import TARGETS

    return list(TARGETS)


TARGET_OPTION = click.option(
    "--target",
    "-t",
    type=click.Choice(_target_choices()),
    default=None,
    help="Warehouse target (default: CDP_TARGET, else duckdb).",
)
LANDING_OPTION = click.option(
    "--landing",
    "-l",
    type=click.Path(path_type=Path),
    default=None,
    help="Landing folder (default: ./landing or CDP_LANDING_DIR).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Warehouse-native customer data platform."""


class CliError(click.ClickException):
    """An error for the user: printed as one line, exit status 1."""


@app.command()
@click.option(
    "--customers",
    "-n",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="People to simulate.",
)
@click.option(
    "--seed",
    "-s",
    type=int,
    default=42,
    show_default=True,
    help="Random seed; same seed, same files.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=Path("landing"),
    show_default=True,
    help="Landing folder to write.",
)
@click.option(
    "--plant-problems",
    is_flag=True,
    help="Also write deliveries with the problems data quality must catch "
    "(listed in truth/planted_problems.json).",
)
def generate(customers: int, seed: int, out: Path, plant_problems: bool) -> None:
    """Write sample landing files of a fictional omnichannel retailer (eight sources)."""
    from orchestration.sources import all_tables

    present = sorted(p for t in all_tables() for p in out.glob(t.pattern)) if out.is_dir() else []
    if present:  # a loaded delivery rewritten under its name would be refused as changed
        raise CliError(
            f"{out} already holds landing files ({present[0].relative_to(out)} and "
            f"{len(present) - 1:,} more); generate into a new folder, or remove them first"
        )
    _generate(customers, seed, out)
    if plant_problems:
        from orchestration.generator.problems import plant_problems as plant

        for problem in plant(out, seed):
            console.print(f"planted {problem['problem']}: {problem['file']} -> {problem['trips']}")


def _generate(customers: int, seed: int, out: Path) -> None:
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    from orchestration.generator import generate as run_generator

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed:,}/{task.total:,} customers",
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("generating", total=customers)
        try:
            result = run_generator(
                customers, seed, out, progress=lambda done, total: bar.update(task, completed=done)
            )
        except (ValueError, OSError) as exc:
            raise CliError(str(exc)) from exc
    rows = sum(f.rows for f in result.files)
    console.print(
        f"generated {customers:,} customers, {rows:,} rows in {len(result.files)} files "
        f"under {out} in {result.seconds:.1f} s"
    )


def _settings(target: str | None, landing: Path | None = None, **defaults):
    """The settings of this command, resolved once (written out for dbt and Dagster)."""
    from orchestration.settings import Settings
    from orchestration.warehouse import WarehouseError

    try:
        return Settings.resolve(target, landing, **defaults).export()
    except WarehouseError as exc:
        raise CliError(str(exc)) from None


def _prepare(target: str | None, landing: Path | None, **defaults):
    from orchestration.warehouse import WarehouseError

    if landing is not None and not landing.is_dir():
        raise CliError(
            f"landing folder {landing} does not exist (try `cdp generate --out {landing}`)"
        )
    settings = _settings(target, landing, **defaults)
    try:  # fail early, in one line, when the warehouse cannot be reached
        settings.warehouse.check_reachable()
    except WarehouseError as exc:
        raise CliError(str(exc)) from exc
    from orchestration.dbt_project import ensure_manifest

    try:
        ensure_manifest()
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    return settings


@app.command()
@TARGET_OPTION
@LANDING_OPTION
@click.option(
    "--syncs", "with_syncs", is_flag=True, help="Then run every sync the checks let through."
)
def run(target: str, landing: Path | None, with_syncs: bool) -> None:
    """Materialise everything: load landing files, build and test every dbt model."""
    settings = _prepare(target, landing)
    summary = _execute(settings, "cdp_all_and_syncs" if with_syncs else "cdp_all")
    _print_summary(settings.warehouse, summary)
    if not summary["success"]:
        raise CliError(f"run {summary['run_id']} failed: {summary['failure']}")


@app.command()
@click.option(
    "--customers",
    "-n",
    type=click.IntRange(min=1),
    default=2_000,
    show_default=True,
    help="People to simulate.",
)
@click.option("--seed", "-s", type=int, default=42, show_default=True)
def demo(customers: int, seed: int) -> None:
    """Generate a small data set, run the whole pipeline on DuckDB and print a summary."""
    landing = DEMO_DIR / "landing"
    demo_warehouse = DEMO_DIR / "cdp.duckdb"  # unless the user names one
    settings = _settings("duckdb", landing, duckdb_default=demo_warehouse)
    if settings.warehouse.path == demo_warehouse:  # the demo's own: built afresh
        for stale in (demo_warehouse, demo_warehouse.with_suffix(".duckdb.wal")):
            stale.unlink(missing_ok=True)
    if landing.exists():
        shutil.rmtree(landing)
    os.environ["CDP_LANDING_SETTLE_SECONDS"] = "0"  # written whole just below
    started = time.perf_counter()
    _generate(customers, seed, landing)
    generated = time.perf_counter() - started
    settings = _prepare("duckdb", landing, duckdb_default=demo_warehouse)
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
    return {
        "run_id": result.run_id,
        "success": result.success,
        "failure": failure,
        "stages": stages,
        "elapsed": elapsed,
        "loaded": loaded,
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


@app.command()
@TARGET_OPTION
@click.option("--all", "show_all", is_flag=True, help="Show passed checks too.")
def quality(target: str, show_all: bool) -> None:
    """Print the data quality results of the last run (Great Expectations suites)."""
    from orchestration.quality.suites import (
        RESULTS_SCHEMA,
        RESULTS_TABLE,
        docs_dir,
        docs_index,
        last_run_results,
    )
    from orchestration.warehouse import WarehouseError

    resolved = _settings(target).warehouse
    try:
        if RESULTS_TABLE not in resolved.existing_tables(RESULTS_SCHEMA):
            raise CliError(f"no quality results on {resolved.label}: run `cdp run` first")
        rows = last_run_results(resolved)
    except WarehouseError as exc:
        raise CliError(str(exc)) from None
    failed = [r for r in rows if not r[3]]
    suites = {r[0] for r in rows}
    when = max(r[7] for r in rows) if rows else None
    console.print(
        f"last run {when:%Y-%m-%d %H:%M} on {resolved.label}: {len(rows) - len(failed)} of "
        f"{len(rows)} checks passed in {len(suites)} suites"
        + (f"; {len(failed)} failed" if failed else "")
    )
    docs = docs_dir()
    if docs and docs_index(docs).exists():
        console.print(f"Data Docs: {docs_index(docs)}")
    shown = rows if show_all else failed
    if not shown:
        return
    table = RichTable(title_justify="left")
    for col in ("suite", "check", "severity", "result", "rows", "unexpected", "sample"):
        table.add_column(col, justify="right" if col in ("rows", "unexpected") else "left")
    for suite, check, severity, success, elements, unexpected, sample, _ in shown:
        table.add_row(
            suite,
            check,
            severity,
            "passed" if success else "FAILED",
            "" if elements is None else f"{elements:,}",
            "" if unexpected is None else f"{unexpected:,}",
            (sample or "")[:60],
        )
    console.print(table)


def _sync_target(target: str | None):
    settings = _settings(target)
    from orchestration.dbt_project import ensure_manifest

    try:
        manifest = ensure_manifest()
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    return settings.warehouse, manifest


@app.command()
@TARGET_OPTION
def syncs(target: str) -> None:
    """List the syncs declared in the project with their last run."""
    from orchestration.activation.spec import SyncSpecError, load_syncs
    from orchestration.activation.state import SCHEMA
    from orchestration.warehouse import WarehouseError

    resolved, manifest = _sync_target(target)
    try:
        specs = load_syncs(manifest)
        last: dict[str, tuple] = {}
        if "sync_log" in resolved.existing_tables(SCHEMA):
            for row in resolved.fetch_all(
                f"select sync_name, started_at, status, added, changed, removed, failed, seconds "
                f"from {SCHEMA}.sync_log l where started_at = (select max(started_at) from "
                f"{SCHEMA}.sync_log m where m.sync_name = l.sync_name)",
            ):
                last[row[0]] = row[1:]
    except (SyncSpecError, WarehouseError) as exc:
        raise CliError(str(exc)) from None
    table = RichTable(title=f"syncs on {resolved.label}", title_justify="left")
    table.add_column("sync", no_wrap=True)
    table.add_column("segment -> destination")
    table.add_column("mode / on leave / consent")
    table.add_column("last run")
    table.add_column("added, changed, removed, failed")
    for spec in specs:
        run = last.get(spec.name)
        table.add_row(
            spec.name,
            f"{spec.model} -> {spec.kind}",
            f"{spec.mode} / {spec.on_leave} / {spec.consent or 'none'}",
            f"{run[0]:%Y-%m-%d %H:%M} {run[1]}" if run else "never",
            f"+{run[2]:,} ~{run[3]:,} -{run[4]:,} !{run[5]:,}" if run else "",
        )
    console.print(table)


@app.command()
@TARGET_OPTION
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.option("--force", is_flag=True, help="Send even though a blocking quality check is failing.")
def sync(target: str, name: str, dry_run: bool, force: bool) -> None:
    """Run one sync: send what changed in its segment since the last run."""
    from orchestration.activation.destinations.base import ConfigError
    from orchestration.activation.engine import preview, run_sync
    from orchestration.activation.gate import SyncBlocked, ensure_open
    from orchestration.activation.spec import SyncSpecError, find_sync
    from orchestration.activation.state import SyncBusy
    from orchestration.warehouse import WarehouseError

    resolved, manifest = _sync_target(target)
    try:
        spec = find_sync(manifest, name)
        if dry_run:
            report = preview(spec, resolved)
        else:
            if not force:
                ensure_open(resolved, manifest)
            report = run_sync(spec, resolved)
    except (SyncSpecError, SyncBlocked, ConfigError, WarehouseError, SyncBusy) as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # a destination or warehouse error: one line, the rest in logs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CliError(f"sync {name} failed: {type(exc).__name__}: {first}") from None
    verb = "would send" if dry_run else "sent"
    console.print(
        f"{spec.name} ({spec.model} -> {spec.kind}, {spec.mode}): {verb} "
        f"{report.added:,} added, {report.changed:,} changed, {report.removed:,} removed"
        + (
            f", {report.identities_removed:,} old identities removed"
            if report.identities_removed
            else ""
        )
        + (
            f", {report.identities_kept:,} removals kept back (other records hold them)"
            if report.identities_kept
            else ""
        )
        + ("" if dry_run else f", {report.failed:,} failed")
        + (f"; {report.forgotten:,} left without a removal" if report.forgotten else "")
        + f" in {report.seconds:.1f} s"
    )
    for bucket, rows in report.samples.items():
        table = RichTable(title=f"sample {bucket}", title_justify="left")
        columns = list(dict.fromkeys(k for r in rows for k in r))
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        console.print(table)
    if not dry_run and report.failed:
        raise CliError(
            f"{report.failed:,} records not delivered; see syncs.sync_dead_letter "
            "(they are sent again at the next run)"
        )


@app.command()
@TARGET_OPTION
def segments(target: str) -> None:
    """List the segments with their current size and the change at their last build."""
    from orchestration.warehouse import WarehouseError

    resolved = _settings(target).warehouse
    sql = """
        select r.segment_name, r.run_at, r.size, r.entered, r.exited,
               (select count(*) from segments.segment_runs p where p.segment_name = r.segment_name)
        from segments.segment_runs r
        where r.run_at = (select max(l.run_at) from segments.segment_runs l
                          where l.segment_name = r.segment_name)
        order by r.segment_name
    """
    try:
        built = "segment_runs" in resolved.existing_tables("segments")
        rows = resolved.fetch_all(sql) if built else []
    except WarehouseError as exc:
        raise CliError(str(exc)) from None
    if not built:
        raise CliError(f"no segments built yet on {resolved.label}: run `cdp run` first")
    owners = _segment_owners()
    table = RichTable(title=f"segments on {resolved.label}", title_justify="left")
    for col in ("segment", "owner", "members", "entered", "exited", "last built", "builds"):
        table.add_column(
            col, justify="left" if col in ("segment", "owner", "last built") else "right"
        )
    for name, run_at, size, entered, exited, builds in rows:
        table.add_row(
            name,
            owners.get(name, ""),
            f"{size:,}",
            f"+{entered:,}",
            f"-{exited:,}",
            f"{run_at:%Y-%m-%d %H:%M}",
            f"{builds:,}",
        )
    console.print(table)


def _segment_owners() -> dict[str, str]:
    """Owner of each segment model, from the dbt manifest (empty when there is none)."""
    from orchestration import manifest
    from orchestration.dbt_project import MANIFEST

    return manifest.read(MANIFEST).segment_owners() if MANIFEST.exists() else {}


@app.command()
@TARGET_OPTION
@click.argument("query")
def explain(target: str, query: str) -> None:
    """Show the customer behind an identifier or customer_id, and why its records are one.

    Prints the golden record, the chain of source records and identifiers that joined
    them, the identifiers a guard kept out (with the rule) and the customer's id history.
    """
    from orchestration.identity.explain import explain as build_explanation
    from orchestration.identity.explain import render
    from orchestration.warehouse import WarehouseError

    warehouse = _settings(target).warehouse
    try:
        render(build_explanation(warehouse, query), console)
    except (ValueError, WarehouseError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None


@app.group()
def landing() -> None:
    """Decide about a landing file the batch contract refuses (by its content)."""


def _decide(decision: str, target: str, landing_dir: Path | None, files, reason: str) -> None:
    from orchestration.loading.loader import LoadError, decide
    from orchestration.warehouse import WarehouseError

    settings = _settings(target, landing_dir)
    for file in files:
        try:
            table, rel, digest = decide(
                settings.warehouse, settings.landing_dir, file, decision, reason
            )
        except (LoadError, WarehouseError) as exc:
            raise CliError(str(exc)) from None
        what = (
            "is accepted: the volume and changed-file rules let it load at the next run"
            if decision == "accept"
            else "is left out of every load"
        )
        known = (
            "by its kind, size and time"
            if digest.startswith("entry:")
            else (f"sha256 {digest[:12]}")
        )
        console.print(f"{rel} ({table.source}.{table.name}, {known}) {what}")


_REASON = click.option(
    "--reason", "-r", required=True, help="Why; kept with the decision in raw.load_decisions."
)


_DECISION_HELP = {
    "accept": "Load FILES at the next run although they break the volume or changed-file "
    "rule (a changed file loads as a new version). FILES: landing paths as messages name them.",
    "skip": "Leave FILES out of every load without refusing them (as long as their content "
    "is the same). FILES: landing paths as messages name them.",
}


def _decision_command(decision: str):
    def command(target: str, landing: Path | None, reason: str, files) -> None:
        _decide(decision, target, landing, files, reason)

    for option in (click.argument("files", nargs=-1, required=True), _REASON, LANDING_OPTION,
                   TARGET_OPTION):  # fmt: skip
        command = option(command)
    return landing.command(decision, help=_DECISION_HELP[decision])(command)


landing_accept, landing_skip = (_decision_command(d) for d in ("accept", "skip"))


@app.command()
@TARGET_OPTION
@LANDING_OPTION
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=3000, show_default=True)
def ui(target: str, landing: Path | None, port: int) -> None:
    """Start the Dagster UI on 127.0.0.1 (Ctrl-C stops it)."""
    _prepare(target, landing)
    cmd = [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-m",
        "orchestration.code_location",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    console.print(f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    from orchestration.processes import watch_group

    proc = subprocess.Popen(
        cmd,
        cwd=PROJECT_DIR,
        start_new_session=True,
        preexec_fn=lambda: (
            signal.signal(signal.SIGINT, signal.SIG_DFL),
            signal.signal(signal.SIGTERM, signal.SIG_DFL),
        ),
    )
    # `dagster dev` runs in a session of its own, which nothing else stops: the watcher stops
    # it as below when this process ends without getting there (killed).
    watcher = watch_group(proc.pid, grace=20)
    try:
        proc.wait()
    except KeyboardInterrupt:
        console.print("stopping the Dagster UI")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        watcher.stdin.close()  # the group is gone: the watcher ends
        watcher.wait()


def main() -> None:
    from orchestration.permissions import restrict

    try:
        restrict()  # first: every file cdp and its children write is owner-only
    except ValueError as exc:  # CDP_UMASK is not a mask
        err.print(f"cdp: error: {exc}", soft_wrap=True, markup=False)
        sys.exit(1)
    try:
        app.main(prog_name="cdp", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("cdp: aborted")
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help())
        sys.exit(0)
    except click.ClickException as exc:
        err.print(f"cdp: error: {exc.format_message()}", soft_wrap=True, markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("cdp: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
