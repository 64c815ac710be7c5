"""The `cdp` command line: generate sample data, run the pipeline, look at its results,
open the UI. One module per command (or group of close commands); `app` holds the group."""

from __future__ import annotations

import sys

import click

from orchestration.cli import (  # noqa: F401 - each registers its commands on the group
    collect,
    explain,
    generate,
    landing,
    privacy,
    quality,
    run,
    segments,
    serve,
    stream,
    syncs,
    ui,
)
from orchestration.cli.app import app, err


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
