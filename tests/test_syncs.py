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
        log = any_target.fetch_all(
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
        dead = any_target.fetch_all(
            "select record_key, reason from syncs.sync_dead_letter order by 1"
        )
        assert dead == [(k, "invalid email for this list") for k in sorted(rejected)]
        assert first.retries > 0

        second = run_sync(webhook_sync, any_target)  # the dead letters, again
        assert (second.added, second.failed) == (len(rejected), 0)
        assert any_target.fetch_all("select count(*) from syncs.sync_dead_letter") == [(0,)]

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

    killed: list[int] = []

    def kill_after(n: int) -> None:
        """From the 6th batch on, once a confirmation is committed: where the state can be
        read while the sync writes it (PostgreSQL) it is asked; DuckDB's single writer
        commits the first batches long before the 6th arrives."""
        if n < 6 or not proc or killed:
            return
        if (
            any_target.concurrent_writers
            and not any_target.fetch_all("select count(*) from syncs.sync_state")[0][0]
        ):
            return
        killed.append(n)
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
        confirmed = any_target.fetch_all("select count(*) from syncs.sync_state")[0][0]
        assert 0 < confirmed < len(members) and confirmed <= before
        status = any_target.fetch_all("select status from syncs.sync_log")
        assert status == [("running",)]

        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert set(rx.latest()) == set(members)
    assert len(rx.by_idempotency) == len(members)
    # Only what was in flight at the kill (at most 2 x 4 batches of 500) came twice.
    assert rx.repeats <= 8 * 500
    assert rx.repeats <= before - confirmed
    statuses = any_target.fetch_all("select status from syncs.sync_log order by started_at")
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
        assert any_target.fetch_all(
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
    assert duckdb_target.fetch_all("select count(*) from syncs.sync_state") == [(0,)]

    listing = subprocess.run(
        [CDP, "syncs"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"}
    )
    assert listing.returncode == 0, listing.stderr
    for name in ("high_value_to_webhook", "high_value_to_hubspot", "at_risk_export"):
        assert name in listing.stdout


def test_a_failing_blocking_check_stops_the_sync(duckdb_target, webhook_sync, monkeypatch):
    from orchestration.quality.suites import RESULT_COLUMNS, RESULTS_SCHEMA, RESULTS_TABLE

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
    duckdb_target.append_rows(
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
    [(reason,)] = duckdb_target.fetch_all("select distinct reason from syncs.sync_dead_letter")
    assert "after 2 attempts" in reason
    logged = duckdb_target.fetch_all("select * from syncs.sync_log")
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
    from orchestration.warehouse import resolve_warehouse

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
    assert resolve_warehouse("postgres").fetch_all(
        "select count(*), min(cdp_key), count(*) filter (where last_name = 'Jones') "
        "from cdp_sync.frequent_support_contacts"
    ) == [(49, "C0000001", 1)]


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

    from orchestration.definitions import build_definitions
    from orchestration.settings import Settings

    defs = build_definitions(Settings.resolve())
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
from orchestration.warehouse import resolve_warehouse
spec = find_sync(MANIFEST, "high_value_to_webhook")
spec = dataclasses.replace(spec, fields={{"email": "email", "last_seen_at": "last_seen_at"}})
print(run_sync(spec, resolve_warehouse("{any_target.name}")).added)
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

    earlier = [c for c in LOG_COLUMNS if c not in LATER_LOG_COLUMNS]
    with duckdb_target.session() as session:
        session.run("create schema syncs")
        session.run(f"create table syncs.sync_log ({duckdb_target.column_ddl(earlier)})")
    write_segment(duckdb_target, segment_members(3))
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        assert run_sync(webhook_sync, duckdb_target).added == 2
    logged = "select status, added, identities_removed, identities_kept from syncs.sync_log"
    assert duckdb_target.fetch_all(logged) == [("succeeded", 2, 0, 0)]


FORMULAS = {  # first_name as the segment holds it -> as a spreadsheet must get it
    "C0000001": ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
    "C0000002": ("+1", "'+1"),
    "C0000003": ("-cmd", "'-cmd"),
    "C0000004": ("@SUM(1)", "'@SUM(1)"),
    "C0000005": ("Ann-Marie", "Ann-Marie"),
    "C0000006": ("-12.5", "-12.5"),  # a number as text: no formula, left as it is
}


def _formula_segment(target, keep=None) -> None:
    rows = []
    for r in segment_members(len(FORMULAS) + 1)[1:]:
        if keep is not None and r[0] not in keep:
            continue
        r = list(r)
        r[3] = FORMULAS[r[0]][0]
        r[7] = -r[7]  # revenue_total: a negative decimal (a numeric column)
        r[8] = -r[8]  # orders_count: a negative integer
        rows.append(tuple(r))
    write_segment(target, rows)


def _formula_spec(tmp_path, fmt):
    ensure_manifest()
    spec = find_sync(MANIFEST, "high_value_to_webhook")
    destination = {"kind": "file", "folder": str(tmp_path / "out"), "format": fmt}
    return dataclasses.replace(spec, name=f"formulas_{fmt}", destination=destination)


def _csv_rows(folder) -> list[dict]:
    import csv

    rows = []
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def test_csv_exports_neutralise_formulas(any_target, tmp_path):
    """Text that a spreadsheet would run as a formula (=, +, -, @ first) is written with a
    leading quote; numeric columns keep their values, also in the rows of records that
    leave (whose fields come back from the state as text)."""
    spec = _formula_spec(tmp_path, "csv")
    _formula_segment(any_target)
    assert run_sync(spec, any_target).added == len(FORMULAS)
    _formula_segment(any_target, keep={"C0000001"})  # the others leave: delete rows
    assert run_sync(spec, any_target).removed == len(FORMULAS) - 1

    rows = _csv_rows(tmp_path / "out" / spec.name)
    assert len(rows) == 2 * len(FORMULAS) - 1
    assert {r["_operation"] for r in rows} == {"upsert", "delete"}
    for row in rows:
        n = int(row["_key"][1:])
        assert row["first_name"] == FORMULAS[row["_key"]][1], row
        assert float(row["revenue_total"]) == -(1000 + n + 0.5)
        assert int(row["orders_count"]) == -(2 + n % 5)
        assert row["email"] == f"person{n}@example.com"


def test_csv_neutralises_tab_and_carriage_return_and_keeps_numbers(tmp_path):
    """The destination on its own, with the values the engine hands it: typed values for
    adds and changes, text from the state for removals."""
    from decimal import Decimal

    from orchestration.activation.destinations.base import Record
    from orchestration.activation.destinations.files import FileExport

    dest = FileExport({"folder": str(tmp_path), "format": "csv", "sync_name": "cells"})
    dest.open()
    typed = {"n": -12.5, "i": -3, "d": Decimal("-7.25"), "t": True, "none": None}
    texts = {"tab": "\t=1+1", "cr": "\r=1+1", "plus": "+49 30 1234", "ok": "a=b"}
    dest.send(
        [
            Record("@k1", "upsert", {**typed, **texts}, "i1"),
            Record("-5", "delete", {"n": "-12.5", "i": "-3", "e": "-1.5e-05", "x": "-1-1"}, "i2"),
        ]
    )
    dest.close(True)
    first, second = _csv_rows(tmp_path / "cells")
    assert first["_key"] == "'@k1"
    assert (first["n"], first["i"], first["d"], first["t"], first["none"]) == (
        "-12.5", "-3", "-7.25", "True", ""
    )  # fmt: skip
    assert (first["tab"], first["cr"], first["plus"], first["ok"]) == (
        "'\t=1+1", "'\r=1+1", "'+49 30 1234", "a=b"
    )  # fmt: skip
    assert (second["_key"], second["n"], second["i"], second["e"]) == (
        "-5",
        "-12.5",
        "-3",
        "-1.5e-05",
    )
    assert second["x"] == "'-1-1"  # an expression, not a number


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_typed_exports_keep_values_as_they_are(duckdb_target, tmp_path, fmt):
    """Parquet and JSON lines carry typed values, not cells a spreadsheet evaluates: the
    text is written as the segment holds it."""
    import duckdb

    spec = _formula_spec(tmp_path, fmt)
    _formula_segment(duckdb_target)
    assert run_sync(spec, duckdb_target).added == len(FORMULAS)
    reader = {"parquet": "read_parquet", "jsonl": "read_json"}[fmt]
    got = duckdb.sql(
        f"select _key, first_name, orders_count from {reader}('{tmp_path}/out/{spec.name}/*.{fmt}')"
    ).fetchall()
    assert {k: name for k, name, _ in got} == {k: v[0] for k, v in FORMULAS.items()}
    assert {k: orders for k, _, orders in got} == {k: -(2 + int(k[1:]) % 5) for k in FORMULAS}


BAD_URLS = [
    "htp://127.0.0.1:{port}/hooks/cdp",  # a scheme that is not http(s)
    "not a url",
    "http:///hooks/cdp?token=query-secret-1",  # no host
    "https://user:password-secret-2@/hooks",  # credentials, no host
    "http://127.0.0.1:99999/hooks?token=query-secret-3",  # no such port
    "ftp://127.0.0.1:{port}/hooks",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_webhook_url_that_cannot_work_is_refused_before_sending(
    duckdb_target, webhook_sync, monkeypatch, url
):
    """Nothing is sent and nothing retried: the run stops at once with one line naming the
    setting to change, and without the URL's credentials or query."""
    from orchestration.activation.destinations.base import ConfigError

    write_segment(duckdb_target, segment_members(5))
    spec = dataclasses.replace(
        webhook_sync, destination={**webhook_sync.destination, "retry_initial": 0.5}
    )
    with Receiver(SECRET) as rx:
        port = rx.url.split(":")[2].split("/")[0]
        monkeypatch.setenv("CDP_WEBHOOK_URL", url.format(port=port))
        started = time.monotonic()
        with pytest.raises(ConfigError) as refused:
            run_sync(spec, duckdb_target)
        assert time.monotonic() - started < 2
        assert rx.server.requests == []
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert "`url_env` (CDP_WEBHOOK_URL)" in message
    for secret in ("query-secret", "password-secret", "user:", "hooks"):
        assert secret not in message
    [(status, error)] = duckdb_target.fetch_all("select status, error from syncs.sync_log")
    assert (status, error) == ("failed", message)


def test_a_bad_webhook_url_is_one_line_from_the_cli(duckdb_target, monkeypatch):
    write_segment(duckdb_target, segment_members(5))
    monkeypatch.setenv("CDP_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("CDP_WEBHOOK_URL", "htp://example.com/hooks?token=query-secret-4")
    proc = subprocess.run([CDP, "sync", "high_value_to_webhook"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "cdp: error: webhook: `url_env` (CDP_WEBHOOK_URL) is not a usable URL: "
        "the scheme 'htp' is not http or https"
    ]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_a_webhook_answering_4xx_is_not_retried(any_target, webhook_sync, monkeypatch, status):
    """A 4xx other than 408 and 429 will not change on a resend: one request, the batch in
    the dead letters at once, with the status."""
    write_segment(any_target, segment_members(20))
    spec = dataclasses.replace(
        webhook_sync, destination={**webhook_sync.destination, "retry_initial": 0.5}
    )
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        rx.server.faults = [("status", status)] * 10
        started = time.monotonic()
        report = run_sync(spec, any_target)
        assert time.monotonic() - started < 5
        assert len(rx.server.requests) == 1  # 18 records, one batch of 50: one request
    assert (report.failed, report.retries, report.status) == (18, 0, "partial")
    [(reason,)] = any_target.fetch_all("select distinct reason from syncs.sync_dead_letter")
    assert reason == f"webhook answered HTTP {status}"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_a_webhook_answering_a_transient_status_is_retried(
    duckdb_target, webhook_sync, monkeypatch, status
):
    write_segment(duckdb_target, segment_members(20))
    with Receiver(SECRET) as rx:
        monkeypatch.setenv("CDP_WEBHOOK_URL", rx.url)
        rx.server.faults = [("status", status)] * 2
        report = run_sync(webhook_sync, duckdb_target)
        assert len(rx.server.requests) == 3 and rx.requests == 1
    assert (report.added, report.failed, report.retries) == (18, 0, 2)
