"""Dagster definitions: lineage from landing files to staging, checks, job, schedule, sensor."""

from __future__ import annotations

import os
import subprocess
import sys

from dagster import AssetKey, RunRequest, SkipReason, build_sensor_context

from orchestration.dbt_project import ensure_manifest
from orchestration.sources import all_tables

ensure_manifest()

from orchestration.definitions import build_definitions  # noqa: E402
from orchestration.sensors import build_landing_sensor  # noqa: E402
from orchestration.settings import Settings  # noqa: E402

defs = build_definitions(Settings.resolve())


def test_lineage_runs_from_landing_files_through_raw_to_staging():
    graph = defs.resolve_asset_graph()
    for table in all_tables():
        raw = AssetKey(table.asset_key)
        assert AssetKey(["landing", table.source]) in graph.get(raw).parent_keys
        staging = AssetKey(["staging", f"stg_{table.source}__{table.name}"])
        assert raw in graph.get(staging).parent_keys, staging


def test_asset_keys_never_contain_the_database_name():
    names = {"main", "cdp", "postgres", "memory", "warehouse"}
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        assert not names & set(key.path), key


def test_dbt_tests_are_asset_checks():
    checks = defs.resolve_asset_graph().asset_check_keys
    assert any(c.name.startswith("unique_") for c in checks)
    assert any(c.name.startswith("not_null_") for c in checks)


def test_job_schedule_and_sensor_are_defined():
    assert defs.resolve_job_def("cdp_all") is not None
    assert defs.resolve_schedule_def("cdp_daily").cron_schedule == "0 3 * * *"
    assert defs.resolve_sensor_def("landing_files_sensor") is not None


def test_code_location_import_opens_no_database(tmp_path):
    # A DuckDB path that cannot be created: importing must not touch it.
    env = {**os.environ, "CDP_DUCKDB_PATH": "/proc/forbidden/cdp.duckdb"}
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import orchestration.code_location as d; print(len(d.defs.assets))",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 10


def test_sensor_requests_a_run_for_new_files_only(tmp_path):
    job = defs.resolve_job_def("cdp_all")
    sensor = build_landing_sensor(job, tmp_path)
    (tmp_path / "crm").mkdir()
    assert isinstance(sensor(build_sensor_context()), SkipReason)

    (tmp_path / "crm" / "contacts_1.csv").write_text("contact_id\n")
    (tmp_path / "crm" / "notes.txt").write_text("not a landing file")
    context = build_sensor_context()
    request = sensor(context)
    assert isinstance(request, RunRequest)
    cursor = context.cursor
    assert "crm/contacts_1.csv" in cursor and "notes.txt" not in cursor

    assert isinstance(sensor(build_sensor_context(cursor=cursor)), SkipReason)
    (tmp_path / "crm" / "contacts_2.csv").write_text("contact_id\n")
    assert isinstance(sensor(build_sensor_context(cursor=cursor)), RunRequest)


def test_expectation_suites_are_asset_checks_blocking_where_they_gate():
    specs = {
        (spec.asset_key, spec.name): spec
        for check in defs.asset_checks or []
        for spec in check.check_specs
    }
    dim = specs[(AssetKey(["marts", "dim_customers"]), "customer_id_unique")]
    assert dim.blocking
    email = specs[(AssetKey(["raw", "crm", "contacts"]), "email_format")]
    assert not email.blocking
    for segment in ("high_value_customers", "at_risk_of_churn"):
        assert specs[(AssetKey(["segments", segment]), "customer_id_unique")].blocking


def test_duckdb_runs_queue_one_at_a_time(tmp_path, monkeypatch):
    """Every job carries the warehouse tag, and the instance `cdp` prepares limits runs with
    the DuckDB tag to one: a sync schedule that fires during the daily run waits for it."""
    from dagster import DagsterInstance

    from orchestration.settings import EARLIER_INSTANCE_CONFIGS, WAREHOUSE_TAG

    for target in ("duckdb", "postgres"):
        built = build_definitions(Settings.resolve(target))
        for job in [built.resolve_job_def(n) for n in ("cdp_all", "cdp_all_and_syncs")] + [
            built.resolve_job_def(s.job_name) for s in built.schedules
        ]:
            assert job.tags.get(WAREHOUSE_TAG) == target, job.name

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(EARLIER_INSTANCE_CONFIGS[0])  # an earlier default
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    Settings.resolve().export()
    with DagsterInstance.from_config(str(home)) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert limits == [{"key": WAREHOUSE_TAG, "value": "duckdb", "limit": 1}]
