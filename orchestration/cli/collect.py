"""cdp collect: the event collector (Segment HTTP Tracking API) on a port of this machine."""

from __future__ import annotations

import os
from pathlib import Path

import click

from orchestration.cli.app import LANDING_OPTION, CliError, app, check_free, console


@app.command()
@LANDING_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=8088, show_default=True)
@click.option(
    "--roll-seconds",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="How often the events written so far become a landing file the loads take.",
)
def collect(landing: Path | None, host: str, port: int, roll_seconds: float) -> None:
    """Take events from the Segment and RudderStack SDKs (write keys: CDP_WRITE_KEYS)."""
    import uvicorn

    from orchestration.live.collector import (
        WRITE_KEYS_ENV,
        CollectorError,
        create_app,
        write_keys_from,
    )
    from orchestration.settings import Settings

    try:
        keys = write_keys_from(os.environ.get(WRITE_KEYS_ENV))
    except CollectorError as exc:
        raise CliError(str(exc)) from None
    check_free(host, port)
    landing_dir = Settings.resolve(landing=landing).landing_dir
    landing_dir.mkdir(parents=True, exist_ok=True)
    sources = ", ".join(sorted(set(keys.values())))
    console.print(
        f"collecting on http://{host}:{port}/v1/ for {sources} into {landing_dir}/web/ "
        "(Ctrl-C stops it)",
        soft_wrap=True,
    )
    app_ = create_app(landing_dir, keys, roll_seconds=roll_seconds)
    uvicorn.run(app_, host=host, port=port, log_level="warning", access_log=False)
