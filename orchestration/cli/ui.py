"""cdp ui: the Dagster UI for the project."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from orchestration.cli.app import LANDING_OPTION, TARGET_OPTION, app, console, prepare
from orchestration.warehouse import PROJECT_DIR


@app.command()
@TARGET_OPTION
@LANDING_OPTION
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=3000, show_default=True)
def ui(target: str, landing: Path | None, port: int) -> None:
    """Start the Dagster UI on 127.0.0.1 (Ctrl-C stops it)."""
    prepare(target, landing)
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
