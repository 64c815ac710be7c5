"""cdp stream: the live micro-batch loop (orchestration/live/stream.py) in this process."""

from __future__ import annotations

import os
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

    in_cycle, stopping = [], []

    def stop(signum, frame):  # SIGTERM: between cycles at once; in one, after it (an
        if not in_cycle:  # exception raised at any point of a run could leave a lock held)
            raise KeyboardInterrupt
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    last_failure = None
    with log_path.open("a", encoding="utf-8") as log:
        while True:
            started = time.monotonic()
            scanned = changes.scan()
            names = changes.changed(scanned)
            if names:
                in_cycle.append(True)
                try:
                    cycle = run_cycle(defs, instance, names, log)
                finally:
                    in_cycle.clear()
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
                if stopping:
                    console.print("stopped (SIGTERM) after the cycle")
                    return
                if once:
                    if not cycle.success:
                        raise CliError(f"run {cycle.run_id} failed")
                    return
            elif once:
                return
            time.sleep(max(0.0, every - (time.monotonic() - started)))
