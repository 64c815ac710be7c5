"""The live micro-batch: what arrived under the landing folder (the collector's files every
few seconds, or any source's delivery), loaded and built through to the profile API.

A cycle is one run of the Dagster job `cdp_live` on the sources whose landing files
changed since the last good cycle: their loaders (with their batch contracts), then the
dbt models downstream of their raw tables, models only (CDP_LIVE_BUILD: the incremental
staging, identity and facts take only the new records and the customers they touch; the
tests, the quality suites and the prediction refit belong to the next full run, whose
predictions a live build keeps), then the serving state the profile API reads.

`cdp stream` runs cycles in a loop in its own process; the sensor `live_landing_sensor`
starts the same job from the Dagster daemon. A failed cycle changes nothing it did not
finish (each loader file and each model is all or nothing) and its sources are taken again
by the next one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetCheckKey, AssetKey, AssetSelection

from orchestration.sensors import scan_landing
from orchestration.sources import Source, all_tables, load_sources

LIVE_JOB = "cdp_live"
LIVE_TAG = "cdp/live"  # set on the job's runs: their dbt steps run the models only, in
LIVE_ENV = ("CDP_LIVE_BUILD", "true")  # process, with this in the environment (not a dbt
# var: changing one makes dbt parse the whole project again)
LOADER_CHECK = "batch_contract"


def live_selection(left_out: Iterable[AssetKey]) -> AssetSelection:
    """What a cycle may run: every loader with its batch contract (not the quality suites),
    every dbt model and the serving state, without the other checks, the syncs and
    `left_out` (the predictions refit and identity quality, which the full run keeps
    current)."""
    from orchestration.assets.raw import LANDING_GROUP, RAW_GROUP

    built = AssetSelection.all() - AssetSelection.groups(LANDING_GROUP, RAW_GROUP, "syncs")
    built -= AssetSelection.assets(*left_out)
    contracts = [AssetCheckKey(AssetKey(t.asset_key), LOADER_CHECK) for t in all_tables()]
    loaders = AssetSelection.groups(RAW_GROUP).without_checks()
    return loaders | AssetSelection.checks(*contracts) | built.without_checks()


def cycle_selection(repo, sources: Iterable[Source]) -> tuple[set[AssetKey], set[AssetCheckKey]]:
    """(assets, checks) of a cycle over `sources`: their raw tables and what the live job
    builds downstream of them. `repo` is the RepositoryDefinition (a sensor's
    `context.repository_def`, or `Definitions.get_repository_def()`)."""
    allowed = set(repo.get_job(LIVE_JOB).asset_layer.selected_asset_keys)
    raw = [AssetKey(t.asset_key) for s in sources for t in s.tables]
    keys = AssetSelection.assets(*raw).downstream().resolve(repo.asset_graph) & allowed
    checks = {AssetCheckKey(key, LOADER_CHECK) for key in raw}
    return keys, checks


@dataclass
class Changes:
    """Which sources' landing files changed since the last good cycle. `seen` holds, per
    source, the files (path -> [size, mtime_ns]) as that cycle found them; a source absent
    from it (the first cycle of a stream) counts as changed."""

    landing_dir: Path
    seen: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def scan(self) -> dict[str, dict[str, list[int]]]:
        return {name: scan_landing(self.landing_dir, source.tables)
                for name, source in load_sources().items()}  # fmt: skip

    def changed(self, scanned: dict[str, dict[str, list[int]]]) -> list[str]:
        return sorted(n for n, files in scanned.items() if self.seen.get(n) != files)

    def commit(self, scanned: dict[str, dict[str, list[int]]], names: Iterable[str]) -> None:
        for name in names:
            self.seen[name] = scanned[name]

    def to_cursor(self) -> str:
        return json.dumps(self.seen, sort_keys=True)

    @classmethod
    def from_cursor(cls, landing_dir: Path, cursor: str | None) -> Changes:
        return cls(landing_dir, json.loads(cursor) if cursor else {})


@dataclass
class Cycle:
    """One cycle's outcome, for the stream's line per cycle."""

    run_id: str
    sources: list[str]
    success: bool
    seconds: float
    rows_loaded: int
    rows_quarantined: int
    models_built: int
    failure: str | None = None
    interrupted: bool = False  # stopped by a signal (Ctrl-C, SIGTERM): the stream stops too


def run_cycle(defs, instance, sources: list[str], log) -> Cycle:
    """Run the live job in this process on `sources` (names); dbt's lines go to `log`."""
    import contextlib

    from orchestration.run_report import run_failure

    all_sources = load_sources()
    repo = defs.get_repository_def()
    keys, checks = cycle_selection(repo, [all_sources[n] for n in sources])
    job = repo.get_job(LIVE_JOB).get_subset(asset_selection=keys, asset_check_selection=checks)
    started = time.perf_counter()
    with contextlib.redirect_stdout(log):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    seconds = time.perf_counter() - started
    loaded = quarantined = built = 0
    for event in result.all_events:
        if not event.is_step_materialization:
            continue
        mat = event.step_materialization_data.materialization
        meta = mat.metadata
        if "rows_loaded" in meta:
            loaded += meta["rows_loaded"].value
            quarantined += meta["rows_quarantined"].value
        else:
            built += 1
    failure = None if result.success else run_failure(result.all_events, Path(log.name))
    interrupted = any(
        "Interrupt" in (e.step_failure_data.error.cls_name or "")
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error is not None
    ) or any(
        "interrupt" in (e.message or "").lower() for e in result.all_events if e.is_run_failure
    )
    return Cycle(result.run_id, sources, result.success, seconds, loaded, quarantined, built,
                 failure, interrupted)  # fmt: skip
