"""cdp serve: the profile API on a port of this machine."""

from __future__ import annotations

import os

import click

from orchestration.cli.app import TARGET_OPTION, CliError, app, check_free, console, settings_for


@app.command()
@TARGET_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=8089, show_default=True)
def serve(target: str | None, host: str, port: int) -> None:
    """Answer profile lookups by any identifier (tokens: CDP_API_TOKENS)."""
    import uvicorn

    from orchestration.dbt_project import ensure_manifest
    from orchestration.live.api import TOKENS_ENV, ApiError, create_app, tokens_from

    try:
        tokens = tokens_from(os.environ.get(TOKENS_ENV))
    except ApiError as exc:
        raise CliError(str(exc)) from None
    check_free(host, port)
    settings = settings_for(target)
    try:
        manifest = ensure_manifest()
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    served = settings.warehouse.serving()
    console.print(
        f"profiles on http://{host}:{port}/v1/profiles/<type>/<value> from {served.label} "
        "(Ctrl-C stops it)",
        soft_wrap=True,
    )
    api = create_app(settings.warehouse, tokens, manifest)
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)
