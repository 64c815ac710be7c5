"""Reverse ETL: diffs, delivery under faults, crash resume, consent, the gate, the CLI.

The syncs are the ones declared in models/segments/_segments__models.yml; their segment is
a table written here (the columns the model has), so each test controls membership.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from receiver import Faults, Receiver
from support import CDP, SEGMENT_COLUMNS, segment_members, write_segment

from orchestration.activation.engine import preview, run_sync
from orchestration.activation.spec import find_sync
from orchestration.dbt_project import MANIFEST, ensure_manifest
from orchestration.warehouse import fetch_all

SECRET = "s3cr3t-signing-key"


@pytest.fixture
def webhook_sync(monkeypatch):
    """The declared webhook sync with short timeouts and fast retries for the tests."""
    ensure_manifest()
    spec = find_sync(MANIFEST, "high_value_to_webhook")
    fast = {"timeout": 0.5, "retry_initial": 0.01, "attempts": 8, "batch_size": 50}
    monkeypatch.setenv("CDP_WEBHOOK_SECRET", SECRET)
    return dataclasses.replace(spec, destination={**spec.destination, **fast})


def _consented(rows):
    return {r[0]: r for r in rows if r[5] == "granted"}


def test_first_sync_sends_members_then_nothing_then_only_what_changed(
    any_target, webhook_sync, monkeypatch
):
    rows = segment_members(1000)
    write_segment(any_target, rows)
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        first = run_sync(webhook_sync, any_target)
        members = _consented(rows)
        assert (first.added, first.changed, first.removed, first.failed) == (len(members), 0, 0, 0)
        assert set(rx.latest()) == set(members)  # withdrawn consent: never sent
        sent = rx.latest()["C0000001"]
        assert sent["operation"] == "upsert"
        assert sent["fields"] == {
            "email": "person1@example.com",
            "first_name": "Ann",
            "last_name": "Smith1",
            "revenue_total": 1001.5,
            "orders_count": 3,
            "rfm_segment": "champions",
        }
        assert max(rx.batch_sizes) == 50 and rx.bad_requests == []

        requests = rx.requests
        again = run_sync(webhook_sync, any_target)
        assert again.sent == 0 and rx.requests == requests  # no change: no request at all

        # 1% of the members change a field; one member leaves; one joins.
        changed = [list(r) for r in rows]
        for r in changed[1:100:10]:  # ten members with consent
            r[8] += 1
        gone = changed.pop(2)[0]
        joined = segment_members(1, start=5001)
        write_segment(any_target, [tuple(r) for r in changed] + joined)
        third = run_sync(webhook_sync, any_target)
        assert (third.added, third.changed, third.removed) == (1, 10, 1)
        assert len(rx.by_idempotency) == len(members) + 12
        assert rx.latest()[gone]["operation"] == "delete"
        assert rx.latest()[gone]["fields"]["email"] == f"person{int(gone[1:])}@example.com"
        log = fetch_all(
            any_target,
            "select status, added, changed, removed, failed from syncs.sync_log order by started_at",
        )
        assert log == [
            ("succeeded", len(members), 0, 0, 0),
            ("succeeded", 0, 0, 0, 0),
            ("succeeded", 1, 10, 1, 0),
        ]


def test_faults_deliver_every_change_exactly_once(any_target, webhook_sync, monkeypatch):
    """5xx, 429, answers after the client's timeout (applied, then resent) and per-record
    rejections: after the runs, the receiver has every change once by idempotency key."""
    rows = segment_members(600)
    write_segment(any_target, rows)
    members = _consented(rows)
    rejected = {"C0000011", "C0000012", "C0000013"}
    faults = Faults(
        error_5xx=0.15,
        throttle_429=0.1,
        retry_after="0.2",
        slow_batches=2,
        slow_seconds=0.8,
        reject_keys=rejected,
    )
    with Receiver(SECRET, faults=faults) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        first = run_sync(webhook_sync, any_target)
        assert first.failed == len(rejected) and first.status == "partial"
        dead = fetch_all(
            any_target, "select record_key, reason from syncs.sync_dead_letter order by 1"
        )
        assert dead == [(k, "invalid email for this list") for k in sorted(rejected)]
        assert first.retries > 0

        second = run_sync(webhook_sync, any_target)  # the dead letters, again
        assert (second.added, second.failed) == (len(rejected), 0)
        assert fetch_all(any_target, "select count(*) from syncs.sync_dead_letter") == [(0,)]

    assert set(rx.latest()) == set(members)
    assert len(rx.by_idempotency) == len(members)  # one change per member
    # The two batches answered after the client's timeout were applied and sent again: the
    # receiver saw their records twice, and kept each change once.
    assert rx.slowed == 2 and rx.repeats > 0
    # Retry-After was waited for: no batch came back sooner than 0.2 s after its 429.
    assert rx.retry_delays and min(rx.retry_delays) >= 0.19


def test_a_crash_halfway_resumes_without_losing_or_repeating(any_target, monkeypatch):
    """`cdp sync` killed after some batches: the rerun sends the rest; confirmed batches are
    not sent again, and only batches in flight at the kill can repeat."""
    ensure_manifest()
    rows = segment_members(6000)  # 5,400 with consent: 11 batches of 500
    write_segment(any_target, rows)
    members = _consented(rows)
    monkeypatch.setenv("CDP_WEBHOOK_SECRET", SECRET)
    proc: list[subprocess.Popen] = []
    command = [CDP, "sync", "high_value_to_webhook", "--target", any_target.name]

    def kill_after(n: int) -> None:
        if n == 6 and proc:
            os.kill(proc[0].pid, signal.SIGKILL)

    with Receiver(SECRET, faults=Faults(delay=0.1)) as rx:
        rx.on_batch = kill_after
        env = {**os.environ, "CDP_WEBHOOK_URL": rx.url}
        proc.append(
            subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
        proc[0].wait(timeout=120)
        assert proc[0].returncode == -signal.SIGKILL
        time.sleep(0.5)  # requests the receiver was still answering (0.1 s each) finish
        before = len(rx.by_idempotency)
        confirmed = fetch_all(any_target, "select count(*) from syncs.sync_state")[0][0]
        assert 0 < confirmed < len(members) and confirmed <= before
        status = fetch_all(any_target, "select status from syncs.sync_log")
        assert status == [("running",)]

        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert set(rx.latest()) == set(members)
    assert len(rx.by_idempotency) == len(members)
    # Only what was in flight at the kill (at most 2 x 4 batches of 500) came twice.
    assert rx.repeats <= 8 * 500
    assert rx.repeats <= before - confirmed
    statuses = fetch_all(any_target, "select status from syncs.sync_log order by started_at")
    assert statuses == [("interrupted",), ("succeeded",)]


def test_a_revoked_consent_is_removed_from_the_mirror(any_target, webhook_sync, monkeypatch):
    rows = segment_members(40)
    write_segment(any_target, rows)
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        run_sync(webhook_sync, any_target)
        assert rx.latest()["C0000005"]["operation"] == "upsert"
        revoked = [list(r) for r in rows]
        revoked[5][5] = "withdrawn"
        write_segment(any_target, [tuple(r) for r in revoked])
        report = run_sync(webhook_sync, any_target)
        assert (report.added, report.changed, report.removed) == (0, 0, 1)
        assert rx.latest()["C0000005"]["operation"] == "delete"
        assert rx.latest()["C0000005"]["fields"]["email"] == "person5@example.com"
        assert fetch_all(
            any_target,
            "select removed, checksum from syncs.sync_state where record_key = 'C0000005'",
        ) == [(True, None)]


def test_dry_run_counts_and_samples_without_sending(duckdb_target, webhook_sync, monkeypatch):
    write_segment(duckdb_target, segment_members(30))
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        report = preview(webhook_sync, duckdb_target)
        assert report.added == 27 and len(report.samples["added"]) == 5
        proc = subprocess.run(
            [CDP, "sync", "high_value_to_webhook", "--dry-run"],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "250"},
        )
        assert proc.returncode == 0, proc.stderr
        assert "would send 27 added, 0 changed, 0 removed" in " ".join(proc.stdout.split())
        assert "person1@example.com" in proc.stdout
        assert rx.requests == 0
    assert fetch_all(duckdb_target, "select count(*) from syncs.sync_state") == [(0,)]

    listing = subprocess.run(
        [CDP, "syncs"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"}
    )
    assert listing.returncode == 0, listing.stderr
    for name in ("high_value_to_webhook", "high_value_to_hubspot", "at_risk_export"):
        assert name in listing.stdout


def test_a_failing_blocking_check_stops_the_sync(duckdb_target, webhook_sync, monkeypatch):
    from orchestration.quality.suites import RESULT_COLUMNS, RESULTS_SCHEMA, RESULTS_TABLE
    from orchestration.warehouse import append_rows

    write_segment(duckdb_target, segment_members(20))
    row = {c: None for c, _ in RESULT_COLUMNS} | {
        "run_id": "r1",
        "suite": "marts.dim_customers",
        "table_name": "marts.dim_customers",
        "check_name": "customer_id_unique",
        "severity": "critical",
        "success": False,
    }
    from datetime import datetime

    row["validated_at"] = datetime(2026, 1, 1)
    append_rows(
        duckdb_target,
        RESULTS_SCHEMA,
        RESULTS_TABLE,
        RESULT_COLUMNS,
        [tuple(row[c] for c, _ in RESULT_COLUMNS)],
    )
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        proc = subprocess.run(
            [CDP, "sync", "high_value_to_webhook"], capture_output=True, text=True
        )
        assert proc.returncode == 1
        assert "blocked: 1 blocking check(s) failed" in proc.stderr
        assert "marts.dim_customers customer_id_unique" in proc.stderr
        assert rx.requests == 0


def test_credentials_never_reach_the_log(duckdb_target, webhook_sync, monkeypatch, caplog):
    """A receiver that answers every request 503, reached with a token in the URL path, an
    auth header and the signing secret: the retries are logged, none of the secrets."""
    write_segment(duckdb_target, segment_members(20))
    monkeypatch.setenv("CDP_WEBHOOK_TOKEN", "Bearer header-token-456")
    spec = dataclasses.replace(
        webhook_sync,
        destination={
            **webhook_sync.destination,
            "attempts": 2,
            "auth_header": "Authorization",
            "auth_env": "CDP_WEBHOOK_TOKEN",
        },
    )
    caplog.set_level("DEBUG")
    auth = ("Authorization", "Bearer header-token-456")
    with Receiver(SECRET, auth=auth, faults=Faults(error_5xx=1.0)) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url + "/path-token-123")
        report = run_sync(spec, duckdb_target)
        assert rx.requests == 2 and rx.bad_requests == []  # reached, with the auth header
    assert report.failed == 18 and report.status == "partial"
    assert "retry" in caplog.text  # the client did log its attempts
    [(reason,)] = fetch_all(duckdb_target, "select distinct reason from syncs.sync_dead_letter")
    assert "after 2 attempts" in reason
    logged = fetch_all(duckdb_target, "select * from syncs.sync_log")
    for secret in (SECRET, "header-token-456", "path-token-123"):
        assert secret not in caplog.text and secret not in reason and secret not in str(logged)


def test_every_change_gets_its_own_idempotency_key(any_target, webhook_sync, monkeypatch):
    """A value that changes and changes back, a customer who leaves and returns: each send
    is a new change for the receiver, and nothing is repeated."""
    rows = [list(r) for r in segment_members(20)]
    write_segment(any_target, [tuple(r) for r in rows])
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        run_sync(webhook_sync, any_target)  # 18 with consent
        for orders in (7, 3):  # member 1: 3 -> 7 -> 3
            rows[1][8] = orders
            write_segment(any_target, [tuple(r) for r in rows])
            assert run_sync(webhook_sync, any_target).changed == 1
        for status in ("withdrawn", "granted"):  # member 2 leaves, then returns
            rows[2][5] = status
            write_segment(any_target, [tuple(r) for r in rows])
            report = run_sync(webhook_sync, any_target)
            assert (report.added, report.removed) == ((0, 1) if status == "withdrawn" else (1, 0))
        assert run_sync(webhook_sync, any_target).sent == 0
    assert len(rx.by_idempotency) == 18 + 2 + 2 and rx.repeats == 0
    assert rx.latest()["C0000001"]["fields"]["orders_count"] == 3
    assert rx.latest()["C0000002"]["operation"] == "upsert"


def test_a_key_that_is_not_unique_stops_the_sync(duckdb_target, webhook_sync, monkeypatch):
    from orchestration.activation.spec import SyncSpecError

    rows = segment_members(10)
    write_segment(duckdb_target, rows + rows[:2])
    monkeypatch.setenv("CDP_WEBHOOK_URL", "http://127.0.0.1:9/never")
    with pytest.raises(SyncSpecError, match=r"key customer_id is not unique .*\(2 repeated"):
        run_sync(webhook_sync, duckdb_target)


def test_missing_credentials_are_one_line(duckdb_target, webhook_sync, monkeypatch):
    write_segment(duckdb_target, segment_members(5))
    monkeypatch.delenv("CDP_WEBHOOK_URL", raising=False)
    proc = subprocess.run([CDP, "sync", "high_value_to_webhook"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "cdp: error: webhook: set `url`, or `url_env` to a variable holding it"
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_file_exports_are_written_whole(duckdb_target, tmp_path, fmt):
    import duckdb

    ensure_manifest()
    spec = find_sync(MANIFEST, "high_value_to_webhook")
    spec = dataclasses.replace(
        spec,
        name=f"export_{fmt}",
        destination={
            "kind": "file",
            "folder": str(tmp_path / "out"),
            "format": fmt,
            "batch_size": 7,
        },  # fmt: skip
    )
    rows = segment_members(30)
    write_segment(duckdb_target, rows)
    report = run_sync(spec, duckdb_target)
    files = sorted((tmp_path / "out" / spec.name).iterdir())
    assert report.added == 27 and len(files) == 4  # 27 records in batches of 7
    assert not [f for f in files if f.name.startswith(".")]  # no temporary file left
    reader = {"csv": "read_csv", "parquet": "read_parquet", "jsonl": "read_json"}[fmt]
    got = duckdb.sql(
        f"select _key, _operation, email from {reader}('{tmp_path}/out/{spec.name}/*.{fmt}')"
    ).fetchall()
    assert sorted(got) == sorted((r[0], "upsert", r[1]) for r in rows if r[5] == "granted")


@pytest.mark.postgres
def test_postgres_table_destination_upserts_and_deletes(duckdb_target, pg_database, monkeypatch):
    from orchestration.warehouse import pg_connect

    ensure_manifest()
    spec = find_sync(MANIFEST, "support_contacts_to_ops_db")
    spec = dataclasses.replace(
        spec,
        model="high_value_customers",
        relation="segments.high_value_customers",
        fields={"email": "email", "last_name": "last_name", "orders_count": "orders_count"},
    )
    monkeypatch.setenv("CDP_OPS_DSN", f"dbname={pg_database}")
    rows = segment_members(50)
    write_segment(duckdb_target, rows)
    assert run_sync(spec, duckdb_target).added == 50  # consent: none
    changed = [list(r) for r in rows[1:]]
    changed[0][4] = "Jones"
    write_segment(duckdb_target, [tuple(r) for r in changed])
    report = run_sync(spec, duckdb_target)
    assert (report.changed, report.removed) == (1, 1)
    with pg_connect() as con, con.cursor() as cur:
        cur.execute(
            "select count(*), min(cdp_key), count(*) filter (where last_name = 'Jones') "
            "from cdp_sync.frequent_support_contacts"
        )
        assert cur.fetchone() == (49, "C0000001", 1)


def test_sync_specs_are_checked(tmp_path):
    from orchestration.activation.spec import SyncSpecError, load_syncs

    node = {
        "resource_type": "model",
        "name": "high_value_customers",
        "schema": "segments",
        "alias": "high_value_customers",
        "original_file_path": "models/segments/_segments__models.yml",
        "config": {"meta": {"syncs": [{
            "name": "x", "destination": {"kind": "webhook"}, "mode": "insert",
            "on_leave": "delete", "key": "customer_id", "fields": {"email": "email"},
        }]}},
    }  # fmt: skip
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {"model.cdp.x": node}}))
    with pytest.raises(SyncSpecError, match="insert mode never removes"):
        load_syncs(manifest)
    node["config"]["meta"]["syncs"][0] |= {"mode": "mirror", "destination": {"kind": "fax"}}
    manifest.write_text(json.dumps({"nodes": {"model.cdp.x": node}}))
    with pytest.raises(SyncSpecError, match="unknown destination kind 'fax'"):
        load_syncs(manifest)
    assert {s.name for s in load_syncs(MANIFEST)} >= {"high_value_to_webhook", "at_risk_export"}


def test_every_sync_is_an_asset_downstream_of_its_segment():
    from dagster import AssetKey

    from orchestration.definitions import defs

    key = AssetKey(["syncs", "high_value_to_webhook"])
    node = defs.resolve_asset_graph().get(key)
    assert AssetKey(["segments", "high_value_customers"]) in node.parent_keys
    assert defs.resolve_job_def("sync_high_value_to_webhook").name == "sync_high_value_to_webhook"
    schedules = {s.name: s.cron_schedule for s in defs.schedules}
    assert schedules["sync_high_value_to_webhook_schedule"] == "30 3 * * *"


def test_times_are_sent_in_utc_whatever_the_session_zone(any_target, monkeypatch):
    """The sync runs in a process whose zone is New York (TZ for DuckDB, PGTZ for the libpq
    session); the time still goes out in UTC."""
    write_segment(
        any_target,
        [(*r, "2026-03-01 12:00:00+00") for r in segment_members(3)],
        columns=[*SEGMENT_COLUMNS, ("last_seen_at", "timestamptz")],
    )
    code = f"""
import dataclasses
from orchestration.activation.engine import run_sync
from orchestration.activation.spec import find_sync
from orchestration.dbt_project import MANIFEST
from orchestration.warehouse import resolve_target
spec = find_sync(MANIFEST, "high_value_to_webhook")
spec = dataclasses.replace(spec, fields={{"email": "email", "last_seen_at": "last_seen_at"}})
print(run_sync(spec, resolve_target("{any_target.name}")).added)
"""
    with Receiver(SECRET) as rx:
        zone = {"TZ": "America/New_York", "PGTZ": "America/New_York"}
        env = {**os.environ, **zone, "CDP_WEBHOOK_URL": rx.url, "CDP_WEBHOOK_SECRET": SECRET}
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.split()[-1] == "2"
        seen = {r["fields"]["last_seen_at"] for r in rx.latest().values()}
    assert seen == {"2026-03-01 12:00:00+00"}


def test_a_sync_log_from_before_a_new_column_gets_it(duckdb_target, webhook_sync, monkeypatch):
    from orchestration.activation.state import LATER_LOG_COLUMNS, LOG_COLUMNS
    from orchestration.warehouse import column_ddl, duckdb_connect

    earlier = [c for c in LOG_COLUMNS if c not in LATER_LOG_COLUMNS]
    with duckdb_connect(duckdb_target.duckdb_path) as con:
        con.execute("create schema syncs")
        con.execute(f"create table syncs.sync_log ({column_ddl('duckdb', earlier)})")
    write_segment(duckdb_target, segment_members(3))
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        assert run_sync(webhook_sync, duckdb_target).added == 2
    logged = "select status, added, identities_removed, identities_kept from syncs.sync_log"
    assert fetch_all(duckdb_target, logged) == [("succeeded", 2, 0, 0)]
