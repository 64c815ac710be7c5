"""cdp explain: the customer behind an identifier, and why its records are one."""

from __future__ import annotations

import click

from orchestration.cli.app import TARGET_OPTION, CliError, app, console, settings_for


@app.command()
@TARGET_OPTION
@click.argument("query")
def explain(target: str, query: str) -> None:
    """Show the customer behind an identifier or customer_id, and why its records are one.

    Prints the golden record, the chain of source records and identifiers that joined
    them, the identifiers a guard kept out (with the rule) and the customer's id history.
    """
    from orchestration.identity.explain import explain as build_explanation
    from orchestration.identity.render import render
    from orchestration.warehouse import WarehouseError

    warehouse = settings_for(target).warehouse
    try:
        render(build_explanation(warehouse, query), console)
    except (ValueError, WarehouseError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
