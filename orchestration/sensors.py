"""Landing-folder sensor: a new or changed landing file starts a run."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from orchestration.sources import all_tables, settle_seconds


def scan_landing(landing_dir: Path) -> dict[str, list[int]]:
    """Relative path -> [size, mtime_ns] of every file some declared table would load and
    the loader would take now: a file modified within the settle period is still being
    written, and counts as new at the first tick after it settles."""
    seen = {}
    settled_before = time.time_ns() - int(settle_seconds() * 1e9)
    for table in all_tables():
        for path in landing_dir.glob(table.pattern):
            if path.is_file():
                st = path.stat()
                if st.st_mtime_ns <= settled_before:
                    seen[path.relative_to(landing_dir).as_posix()] = [st.st_size, st.st_mtime_ns]
    return seen


def build_landing_sensor(job, landing_dir: Path, interval_seconds: int = 60):
    @sensor(
        name="landing_files_sensor",
        job=job,
        minimum_interval_seconds=interval_seconds,
        description=f"Starts {job.name} when files appear or change under {landing_dir}.",
    )
    def landing_files_sensor(context: SensorEvaluationContext):
        if not landing_dir.is_dir():
            return SkipReason(f"landing folder {landing_dir} does not exist")
        current = scan_landing(landing_dir)
        previous = json.loads(context.cursor) if context.cursor else {}
        new = sorted(k for k, v in current.items() if previous.get(k) != v)
        if not new:
            return SkipReason("no new landing files")
        context.update_cursor(json.dumps(current, sort_keys=True))
        digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]
        shown = ", ".join(new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
        context.log.info(f"{len(new)} new or changed landing file(s): {shown}")
        return RunRequest(run_key=digest, tags={"cdp/trigger": "landing_files"})

    return landing_files_sensor
