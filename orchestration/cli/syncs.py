"""cdp syncs and cdp sync: the declared syncs, and one sync run."""

from __future__ import annotations

import click
from rich.table import Table as RichTable

from orchestration.cli.app import TARGET_OPTION, CliError, app, console, settings_for


def _sync_target(target: str | None):
    settings = settings_for(target)
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
    from orchestration.activation.state import last_runs
    from orchestration.warehouse import WarehouseError

    resolved, manifest = _sync_target(target)
    try:
        specs = load_syncs(manifest)
        last = last_runs(resolved)
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
