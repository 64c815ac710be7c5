"""cdp privacy: erase a person everywhere, export what is held about them, list requests."""

from __future__ import annotations

import json
from pathlib import Path

import click

from orchestration.cli.app import (
    LANDING_OPTION,
    TARGET_OPTION,
    CliError,
    app,
    console,
    settings_for,
)

BY_OPTION = click.option(
    "--by", "requested_by", default=None, help="Who asked (default: your user name)."
)


@app.group()
def privacy() -> None:
    """Privacy requests: erasure with a receipt, access exports, their status."""


def _warehouse(target):
    return settings_for(target).warehouse


@privacy.command()
@TARGET_OPTION
@BY_OPTION
@click.argument("identifier")
def erase(target: str | None, requested_by: str | None, identifier: str) -> None:
    """Erase the customer IDENTIFIER belongs to (any identifier, or a customer_id).

    Removes their rows from every table and landing file, erases what the syncs sent them
    at each destination, suppresses their identifiers (salted hashes) so the next load
    does not bring them back, then searches everything for their values and prints the
    receipt. Run it again, or `cdp privacy resume`, to finish an interrupted erasure.
    """
    from orchestration.privacy.erasure import ErasureError
    from orchestration.privacy.erasure import erase as run_erasure
    from orchestration.privacy.resolve import NotFound
    from orchestration.warehouse import WarehouseError

    warehouse = _warehouse(target)
    try:
        outcome = run_erasure(warehouse, identifier, requested_by=requested_by, progress=_progress)
    except (NotFound, ValueError, WarehouseError, ErasureError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    _print_outcome(outcome)


@privacy.command()
@TARGET_OPTION
@click.argument("request_id", required=False)
def resume(target: str | None, request_id: str | None) -> None:
    """Finish open erasures (all of them, or REQUEST_ID)."""
    from orchestration.privacy.erasure import ErasureError, open_requests, run_steps

    warehouse = _warehouse(target)
    pending = open_requests(warehouse)
    if request_id:
        if request_id not in pending:
            raise CliError(f"no open erasure {request_id} (see `cdp privacy status`)")
        pending = [request_id]
    if not pending:
        console.print("no open erasures")
        return
    for rid in pending:
        try:
            _print_outcome(run_steps(warehouse, rid, progress=_progress))
        except ErasureError as exc:
            raise CliError(str(exc)) from None


@privacy.command()
@TARGET_OPTION
@BY_OPTION
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("exports/privacy"),
    show_default=True,
    help="Folder for the export's JSON and zip (owner-only).",
)
@click.argument("identifier")
def export(target: str | None, requested_by: str | None, out: Path, identifier: str) -> None:
    """Export everything held about the customer IDENTIFIER belongs to (an access request)."""
    from orchestration.privacy.export import export as run_export
    from orchestration.privacy.resolve import NotFound
    from orchestration.warehouse import WarehouseError

    try:
        request_id, json_path, zip_path, doc = run_export(
            _warehouse(target), identifier, out, requested_by=requested_by
        )
    except (NotFound, ValueError, WarehouseError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    console.print(f"export {request_id}: {len(doc['source_records']):,} source records, "
                  f"{len(doc['identifiers']):,} identifiers, "
                  f"{sum(len(v) for v in doc['customer_tables'].values()):,} other rows")  # fmt: skip
    console.print(f"  {json_path}")
    console.print(f"  {zip_path}")


@privacy.command()
@TARGET_OPTION
@LANDING_OPTION
def intake(target: str | None, landing: Path | None) -> None:
    """Take the requests of <landing>/privacy/requests*.csv not taken yet.

    Columns: request_ref, kind (erase or export), identifier, requested_by. Each row is
    taken once; its identifier is then replaced in the file by the request's id.
    """
    from orchestration.privacy.intake import take
    from orchestration.warehouse import PROJECT_DIR, WarehouseError

    settings = settings_for(target, landing)
    try:
        taken = take(settings.warehouse, settings.landing_dir, PROJECT_DIR / "exports" / "privacy")
    except WarehouseError as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    for row in taken.rows:
        console.print(f"{row['request_ref']}: {row['kind']} {row['request_id'] or ''} "
                      f"{row['outcome']}")  # fmt: skip
    if not taken.rows and not taken.errors:
        console.print("no new requests")
    if taken.errors:
        raise CliError("; ".join(taken.errors))


@privacy.command()
@TARGET_OPTION
@click.option("--receipt", "receipt_of", default=None, help="Print this request's receipt.")
def status(target: str | None, receipt_of: str | None) -> None:
    """List privacy requests (newest first), or print one request's receipt."""
    from rich.table import Table as RichTable

    from orchestration.privacy import store

    warehouse = _warehouse(target)
    with warehouse.session(read_only=True) as session:
        if not store.exists(session.run):
            console.print("no privacy requests yet")
            return
        if receipt_of:
            rows = session.run(
                f"select receipt, status from {store.REQUESTS} where request_id = ?",
                [receipt_of],
            )
            if not rows:
                raise CliError(f"no request {receipt_of} (see `cdp privacy status`)")
            console.print_json(rows[0][0] or json.dumps({"status": rows[0][1]}))
            return
        rows = session.run(
            f"select request_id, kind, status, requested_by, requested_at, customers, records "
            f"from {store.REQUESTS} order by requested_at desc"
        )
    table = RichTable(title="privacy requests", title_justify="left")
    for col in ("request", "kind", "status", "by", "requested at", "records"):
        table.add_column(
            col,
            no_wrap=col in ("request", "requested at"),
            justify="right" if col == "records" else "left",
        )
    for rid, kind, state, by, at, _customers, records in rows:
        table.add_row(rid, kind, state, by or "", f"{at:%Y-%m-%d %H:%M}", f"{records or 0:,}")
    console.print(table)


def _progress(event: str, what: str) -> None:
    if event == "step":
        console.print(f"  {what} …")


def _print_outcome(outcome) -> None:
    receipt = outcome.receipt
    steps = receipt.get("steps", {})
    console.print(f"erasure {outcome.request_id}: {outcome.status}")
    if (wh := steps.get("warehouse")) is not None:
        console.print(f"  rows deleted: {wh.get('total', 0):,} in {len(wh['rows_deleted'])} tables")
    if (land := steps.get("landing")) is not None:
        lines = sum(f.get("lines_removed", 0) for f in land.get("files", []))
        console.print(f"  landing lines removed: {lines:,} in {len(land.get('files', []))} files")
        for item in land.get("not_rewritten", []):
            console.print(f"  not rewritten: {item['file']} ({item['why']})")
    for sync_name, entry in (steps.get("destinations", {}).get("syncs") or {}).items():
        answers = ", ".join(f"{status} {n}" for status, n in entry["by_status"].items())
        console.print(f"  sync {sync_name}: {entry['records']} records ({answers})")
    if (ver := steps.get("verify")) is not None:
        found = ver["found_in_tables"] + ver["found_in_files"]
        console.print(
            f"  verified: {ver['tables_searched']} tables and {ver['files_searched']} files "
            f"searched, {'nothing found' if not found else f'{len(found)} places still hold values'}"
        )
        for place in found:
            console.print(f"    still in {place.get('table') or place.get('file')}")
    for why in outcome.waiting:
        console.print(f"  waiting: {why} (then `cdp privacy resume`)")
    if outcome.status == "done":
        console.print(f"  receipt: cdp privacy status --receipt {outcome.request_id}")
