"""Landing-folder sensors: a new or changed landing file starts a run of the full job
(`landing_files_sensor`, files the collector publishes left to the live path) or of the live
micro-batch job (`live_landing_sensor`, off until turned on)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from orchestration.loading.landing import published_whole
from orchestration.sources import Table, all_tables, settle_seconds


def scan_landing(
    landing_dir: Path, tables: Iterable[Table] | None = None, *, collected: bool = True
) -> dict[str, list[int]]:
    """Relative path -> [size, mtime_ns] of every file one of `tables` (by default every
    declared table) would load and the loader would take now: a file modified within the
    settle period is still being written, and counts as new at the first tick after it
    settles (unless it was published whole). `collected=False` leaves out the files the
    collector published."""
    seen = {}
    settled_before = time.time_ns() - int(settle_seconds() * 1e9)
    for table in all_tables() if tables is None else tables:
        for path in landing_dir.glob(table.pattern):
            if not collected and published_whole(path.name):
                continue
            if path.is_file():
                st = path.stat()
                if st.st_mtime_ns <= settled_before or published_whole(path.name):
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
        current = scan_landing(landing_dir, collected=False)
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


def build_live_sensor(job, landing_dir: Path, interval_seconds: int = 5):
    from dagster import DefaultSensorStatus

    @sensor(
        name="live_landing_sensor",
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"Starts {job.name} on the sources whose files under {landing_dir} changed (what "
            "`cdp stream` does in its own process). Turn on this or `cdp stream`, not both."
        ),
    )
    def live_landing_sensor(context: SensorEvaluationContext):
        from orchestration.live.stream import Changes, cycle_selection
        from orchestration.sources import load_sources

        if not landing_dir.is_dir():
            return SkipReason(f"landing folder {landing_dir} does not exist")
        changes = Changes.from_cursor(landing_dir, context.cursor)
        scanned = changes.scan()
        names = changes.changed(scanned)
        if not names:
            return SkipReason("no new landing files")
        sources = load_sources()
        keys, checks = cycle_selection(context.repository_def, [sources[n] for n in names])
        changes.commit(scanned, names)
        context.update_cursor(changes.to_cursor())
        return RunRequest(
            run_key=hashlib.sha256(changes.to_cursor().encode()).hexdigest()[:16],
            asset_selection=sorted(keys, key=lambda k: k.to_user_string()),
            asset_check_keys=sorted(checks, key=lambda k: k.to_user_string()),
            tags={"cdp/trigger": "live_landing", "cdp/sources": ",".join(names)},
        )

    return live_landing_sensor


def build_privacy_sensor(job, landing_dir: Path, interval_seconds: int = 60):
    """Starts the privacy job when an intake file of requests appears or changes."""
    from dagster import DefaultSensorStatus

    from orchestration.privacy.intake import FOLDER, PATTERN

    @sensor(
        name="privacy_requests_sensor",
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Starts {job.name} when {landing_dir / FOLDER / PATTERN} files change.",
    )
    def privacy_requests_sensor(context: SensorEvaluationContext):
        folder = landing_dir / FOLDER
        current = {
            p.name: [p.stat().st_size, p.stat().st_mtime_ns]
            for p in (sorted(folder.glob(PATTERN)) if folder.is_dir() else [])
        }
        if not current or json.loads(context.cursor or "{}") == current:
            return SkipReason("no new privacy request files")
        context.update_cursor(json.dumps(current, sort_keys=True))
        digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]
        return RunRequest(run_key=digest, tags={"cdp/trigger": "privacy_requests"})

    return privacy_requests_sensor
