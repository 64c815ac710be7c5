"""cdp quality: the data quality results of the last run."""

from __future__ import annotations

import click
from rich.table import Table as RichTable

from orchestration.cli.app import TARGET_OPTION, CliError, app, console, settings_for


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

    resolved = settings_for(target).warehouse
    try:
        if RESULTS_TABLE not in resolved.existing_tables(RESULTS_SCHEMA):
            raise CliError(
                f"no quality results on {resolved.label}: run {resolved.build_command} first"
            )
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
