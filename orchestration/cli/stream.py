"""cdp stream: the live micro-batch loop (orchestration/live/stream.py) in this process."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

import click

from orchestration.cli.app import LANDING_OPTION, TARGET_OPTION, CliError, app, console, prepare


@app.command()
@TARGET_OPTION
@LANDING_OPTION
@click.option(
    "--every",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="Seconds between looks at the landing folder (a cycle that runs longer is "
    "followed at once by the next).",
)
@click.option("--once", is_flag=True, help="Run one cycle over every source, then stop.")
def stream(target: str | None, landing: Path | None, every: float, once: bool) -> None:
    """Keep profiles fresh: load new landing files and build what they touch, every few
    seconds (the collector's events reach the profile API within a minute)."""
    from dagster import DagsterInstance

    from orchestration.activation.spec import SyncSpecError
    from orchestration.cli.run import RUN_LOG_DIR
    from orchestration.definitions import build_definitions
    from orchestration.live.stream import Changes, run_cycle

    settings = prepare(target, landing)
    _check_built(settings.warehouse)
    try:
        defs = build_definitions(settings)
    except SyncSpecError as exc:
        raise CliError(str(exc)) from None
    instance = DagsterInstance.get()
    RUN_LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = RUN_LOG_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-stream.log"
    changes = Changes(settings.landing_dir)
    console.print(
        f"streaming {settings.landing_dir} into {settings.warehouse.label} every {every:g} s; "
        f"dbt output: {log_path}" + ("" if once else " (Ctrl-C stops it)"),
        soft_wrap=True,
    )

    # SIGTERM stops the stream between cycles, or after the running one. Dagster installs
    # its own handlers while a run executes (and may keep a signal to itself), so the stream
    # learns of a signal from the wakeup pipe, which every handler writes to.
    signals = _signal_pipe()
    terminate = signal.SIGTERM.value.to_bytes(1, "little")
    last_failure = None
    with log_path.open("a", encoding="utf-8") as log:
        while True:
            started = time.monotonic()
            scanned = changes.scan()
            names = changes.changed(scanned)
            if names:
                cycle = run_cycle(defs, instance, names, log)
                signal.signal(signal.SIGTERM, _noted)  # Dagster leaves its own in place
                if cycle.interrupted:
                    raise KeyboardInterrupt
                stamp = time.strftime("%H:%M:%S")
                if cycle.success:
                    changes.commit(scanned, names)
                    last_failure = None
                    console.print(
                        f"{stamp} {', '.join(names)}: {cycle.rows_loaded:,} rows "
                        f"({cycle.rows_quarantined:,} quarantined), {cycle.models_built} "
                        f"built, {cycle.seconds:.1f} s",
                        soft_wrap=True,
                    )
                elif cycle.failure != last_failure:  # said once, tried again each cycle
                    last_failure = cycle.failure
                    console.print(
                        f"{stamp} {', '.join(names)}: failed, tried again next cycle "
                        f"(run {cycle.run_id}):\n{cycle.failure}",
                        soft_wrap=True,
                        markup=False,
                    )
                console.file.flush()
                if terminate in _drain(signals):
                    console.print("stopped (SIGTERM) after the cycle")
                    return
                if once:
                    if not cycle.success:
                        raise CliError(f"run {cycle.run_id} failed")
                    return
            elif once:
                return
            pause = max(0.0, every - (time.monotonic() - started))
            if select.select([signals], [], [], pause)[0] and terminate in _drain(signals):
                console.print("stopped (SIGTERM)")
                return


def _check_built(warehouse) -> None:
    """A cycle builds only what new files touch: the rest must be there (seeds, every
    model) from a full run."""
    from orchestration.live.profiles import TRAITS
    from orchestration.warehouse import WarehouseError

    try:
        warehouse.fetch_all(f"select 1 from {TRAITS} limit 1")
    except WarehouseError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        if not warehouse.missing_relation(exc):
            raise
        raise CliError(
            f"{warehouse.label} has not been built: run {warehouse.build_command} first (a "
            "stream's cycle builds only what new landing files touch)"
        ) from None


def _noted(signum, frame) -> None:
    """A signal handled by being noted in the wakeup pipe only."""


def _signal_pipe() -> int:
    """The read end of a pipe that gets a byte for each signal received."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, _noted)
    return read


def _drain(fd: int) -> bytes:
    got = b""
    while True:
        try:
            chunk = os.read(fd, 256)
        except BlockingIOError:
            return got
        if not chunk:
            return got
        got += chunk
