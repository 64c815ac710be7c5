"""cdp segments: each segment's size and its change at the last build."""

from __future__ import annotations

from rich.table import Table as RichTable

from orchestration.cli.app import TARGET_OPTION, CliError, app, console, settings_for


@app.command()
@TARGET_OPTION
def segments(target: str) -> None:
    """List the segments with their current size and the change at their last build."""
    from orchestration.segments import latest_builds
    from orchestration.warehouse import WarehouseError

    resolved = settings_for(target).warehouse
    try:
        rows = latest_builds(resolved)
    except WarehouseError as exc:
        raise CliError(str(exc)) from None
    if rows is None:
        raise CliError(
            f"no segments built yet on {resolved.label}: run {resolved.build_command} first"
        )
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
