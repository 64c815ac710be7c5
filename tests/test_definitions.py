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
from orchestration.sensors import build_landing_sensor, build_live_sensor  # noqa: E402
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


def test_the_landing_sensor_leaves_collected_events_to_the_live_path(tmp_path):
    sensor = build_landing_sensor(defs.resolve_job_def("cdp_all"), tmp_path)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "events-collected-20261207T000000-1-000001.jsonl").write_text("{}\n")
    assert isinstance(sensor(build_sensor_context()), SkipReason)
    (tmp_path / "web" / "events_part-0001.jsonl").write_text("{}\n")
    assert isinstance(sensor(build_sensor_context()), RunRequest)


def test_the_live_job_builds_models_only_and_keeps_the_full_run_s_work():
    from orchestration.assets.identity import IDENTITY_QUALITY_KEY
    from orchestration.assets.predictions import PREDICTIONS_KEY
    from orchestration.assets.serving import SERVING_KEY

    job = defs.resolve_job_def("cdp_live")
    keys = job.asset_layer.selected_asset_keys
    assert AssetKey(["raw", "web", "events"]) in keys and SERVING_KEY in keys
    assert AssetKey(["marts", "customer_traits"]) in keys
    assert not {PREDICTIONS_KEY, IDENTITY_QUALITY_KEY} & keys
    declared = next(j for j in defs.jobs if j.name == "cdp_live")
    checks = declared.selection.resolve_checks(defs.resolve_asset_graph())
    assert checks and {c.name for c in checks} == {"batch_contract"}


def test_a_live_cycle_takes_the_changed_sources_and_what_is_downstream(tmp_path):
    from orchestration.live.stream import Changes, cycle_selection
    from orchestration.sources import load_sources

    web = load_sources()["web"]
    keys, checks = cycle_selection(defs.get_repository_def(), [web])
    assert AssetKey(["staging", "stg_web__events"]) in keys
    assert AssetKey(["segments", "retention_offer"]) in keys
    assert AssetKey(["staging", "stg_crm__contacts"]) not in keys
    assert {c.asset_key for c in checks} == {AssetKey(t.asset_key) for t in web.tables}

    sensor = defs.resolve_sensor_def("live_landing_sensor")
    assert sensor.default_status.value == "STOPPED"
    live = build_live_sensor(defs.resolve_job_def("cdp_live"), tmp_path)
    (tmp_path / "web").mkdir()
    changes = Changes(tmp_path)
    changes.commit(scanned := changes.scan(), list(scanned))  # every source as it is now
    context = build_sensor_context(cursor=changes.to_cursor(), definitions=defs)
    assert isinstance(live(context), SkipReason)
    (tmp_path / "web" / "events-collected-20261207T000000-1-000001.jsonl").write_text("{}\n")
    request = live(context)
    assert isinstance(request, RunRequest)
    assert AssetKey(["staging", "stg_web__events"]) in request.asset_selection
    assert AssetKey(["staging", "stg_crm__contacts"]) not in request.asset_selection
    assert isinstance(live(build_sensor_context(cursor=context.cursor, definitions=defs)),
                      SkipReason)  # fmt: skip


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
        for job in [
            built.resolve_job_def(n) for n in ("cdp_all", "cdp_all_and_syncs", "cdp_live")
        ] + [built.resolve_job_def(s.job_name) for s in built.schedules]:
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
