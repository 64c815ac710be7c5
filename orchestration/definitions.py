"""Dagster definitions for one `Settings`: loaders, dbt models and checks, the jobs,
schedules and sensor. `cdp` builds them for the settings it resolved; the Dagster code
location (`orchestration.code_location`) for the settings of its environment.

Building them opens no database connection; heavy libraries load inside assets.
The dbt manifest must exist first (`cdp run`, `cdp ui` and `make` prepare it).
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DagsterInvalidDefinitionError,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from orchestration.activation.spec import SyncSpecError
from orchestration.assets.dbt import cdp_dbt_assets, cdp_dbt_traits_and_segments
from orchestration.assets.identity import IDENTITY_QUALITY_KEY, identity_quality
from orchestration.assets.predictions import PREDICTIONS_KEY, customer_predictions
from orchestration.assets.privacy import privacy_requests
from orchestration.assets.quality import quality_checks
from orchestration.assets.raw import loader_assets
from orchestration.assets.serving import serving_asset
from orchestration.assets.syncs import sync_assets
from orchestration.dbt_project import DBT_EXECUTABLE, dbt_project
from orchestration.live.stream import LIVE_JOB, LIVE_TAG, live_selection
from orchestration.progress import cdp_console_logger
from orchestration.resources import CdpDbtCli, CdpSettings
from orchestration.sensors import build_landing_sensor, build_live_sensor, build_privacy_sensor
from orchestration.settings import WAREHOUSE_TAG, Settings


def build_definitions(settings: Settings) -> Definitions:
    # The run queue starts one run per DuckDB file at a time (DAGSTER_HOME/dagster.yaml).
    tags = {WAREHOUSE_TAG: settings.target}
    landing_specs, loaders = loader_assets()
    syncs = sync_assets()

    # DuckDB allows one writer per file: run every step of a run in one process, in order.
    cdp_job = define_asset_job(
        "cdp_all",
        selection=AssetSelection.all() - AssetSelection.groups("landing", "syncs", "privacy"),
        executor_def=in_process_executor,
        tags=tags,
        description="Load every landing file into raw, then build and test every dbt model.",
    )
    cdp_sync_job = define_asset_job(
        "cdp_all_and_syncs",
        selection=AssetSelection.all() - AssetSelection.groups("landing", "privacy"),
        executor_def=in_process_executor,
        tags=tags,
        description="Everything cdp_all does, then every sync its checks let through.",
    )
    # `cdp stream` and the live sensor run subsets of it: what new landing files touch.
    live_job = define_asset_job(
        LIVE_JOB,
        selection=live_selection([PREDICTIONS_KEY, IDENTITY_QUALITY_KEY]),
        executor_def=in_process_executor,
        tags={**tags, LIVE_TAG: "true"},
        description=(
            "Live micro-batch: load new landing files, build the models downstream of them "
            "(no tests; last predictions kept) and publish the profiles the API serves."
        ),
    )
    # Privacy requests from the landing folder's intake files (erasures write: one process).
    privacy_job = define_asset_job(
        "privacy_requests",
        selection=AssetSelection.groups("privacy"),
        executor_def=in_process_executor,
        tags=tags,
        description="Take the privacy requests of <landing>/privacy/requests*.csv.",
    )
    daily = ScheduleDefinition(
        name="cdp_daily", job=cdp_job, cron_schedule="0 3 * * *", execution_timezone="UTC"
    )
    # One job and schedule per sync that names a schedule: it sends what changed since its
    # last run, after checking that no blocking quality check is failing.
    sync_jobs, sync_schedules = [], []
    for spec, sync in syncs:
        job = define_asset_job(
            f"sync_{spec.name}",
            selection=AssetSelection.assets(sync),
            executor_def=in_process_executor,
            tags=tags,
        )
        sync_jobs.append(job)
        if spec.schedule:
            try:
                schedule = ScheduleDefinition(
                    name=f"sync_{spec.name}_schedule",
                    job=job,
                    cron_schedule=spec.schedule,
                    execution_timezone="UTC",
                )
            except DagsterInvalidDefinitionError as exc:
                raise SyncSpecError(
                    f"sync {spec.name}: schedule {spec.schedule!r} is invalid"
                ) from exc
            sync_schedules.append(schedule)

    return Definitions(
        asset_checks=quality_checks(),
        assets=[
            *landing_specs,
            *loaders,
            cdp_dbt_assets,
            cdp_dbt_traits_and_segments,
            identity_quality,
            customer_predictions,
            serving_asset(),
            privacy_requests,
            *(asset for _, asset in syncs),
        ],
        jobs=[cdp_job, cdp_sync_job, live_job, privacy_job, *sync_jobs],
        schedules=[daily, *sync_schedules],
        sensors=[
            build_landing_sensor(cdp_job, settings.landing_dir),
            build_live_sensor(live_job, settings.landing_dir),
            build_privacy_sensor(privacy_job, settings.landing_dir),
        ],
        loggers={"console": cdp_console_logger},
        resources={
            "cdp": CdpSettings.of(settings),
            "dbt": CdpDbtCli(
                project_dir=dbt_project, target=settings.target, dbt_executable=DBT_EXECUTABLE
            ),
        },
    )
