"""Identity resolution end to end on DuckDB: accuracy against the generator's truth, guards
against planted shared identifiers, and customer ids that stay put as new data arrives."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import CDP, SEGMENTS, assert_incremental_equals_full_refresh, cdp, cdp_run

from orchestration.generator.split import split_landing
from orchestration.identity.metrics import compute
from orchestration.warehouse import resolve_warehouse

pytestmark = pytest.mark.slow
KIOSK_AGENT = "LarkspurKiosk"


def _segment_members(target) -> dict[str, set[str]]:
    members = {}
    for name in SEGMENTS:
        members[name] = {r[0] for r in target.fetch_all(f"select customer_id from segments.{name}")}
    return members


def _assert_segment_history(target, before: dict, after: dict) -> None:
    """Open memberships are the current members; the last build logged who came and went.

    Customer ids that changed in a merge count as leaving and entering."""
    for name in SEGMENTS:
        open_rows = {
            r[0]
            for r in target.fetch_all(
                "select customer_id from segments.segment_memberships "
                "where segment_name = ? and exited_at is null",
                [name],
            )
        }
        assert open_rows == after[name], name
        size, entered, exited = target.fetch_all(
            "select size, entered, exited from segments.segment_runs where segment_name = ? "
            "order by run_at desc limit 1",
            [name],
        )[0]
        assert (size, entered, exited) == (
            len(after[name]),
            len(after[name] - before[name]),
            len(before[name] - after[name]),
        ), name


def _assert_facts_follow_merges(target, with_events_before: set[str]) -> None:
    """The incremental facts moved the history of merged customers to the survivor."""
    merged = {
        old
        for (old,) in target.fetch_all(
            "select old_customer_id from marts.customer_id_history where change_type = 'merge'",
        )
    }
    assert merged & with_events_before, "the new day merged no customer that had events"
    for table in ("marts.fct_events", "marts.fct_sessions"):
        stale = {c for (c,) in target.fetch_all(f"select distinct customer_id from {table}")}
        assert not stale & merged, (table, sorted(stale & merged)[:5])
    mismatched = target.fetch_all(
        "select count(*) from marts.fct_events as e "
        "left join marts.bdg_customer_source_records as b "
        "on e.source = b.source and e.source_record_id = b.source_record_id "
        "where e.customer_id is distinct from b.customer_id",
    )
    assert mismatched == [(0,)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from orchestration.generator import generate

    out = tmp_path_factory.mktemp("identity_generated")
    generate(600, 23, out)
    return out


def test_identity_is_accurate_guarded_and_stable(generated, tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "cdp.duckdb"))
    target = resolve_warehouse("duckdb")
    landing, later = tmp_path / "landing", tmp_path / "later"
    split_landing(generated, landing, later, share=0.8)

    cdp_run(landing, tmp_path, CDP_PREDICTIONS="0")  # fitted in test_pipeline
    before = dict(
        target.fetch_all("select node_key, customer_id from intermediate.int_customer_ids_assigned")
    )
    assert len(set(before.values())) > 100
    members_before = _segment_members(target)
    assert any(members_before.values()), members_before
    with_events_before = {
        c for (c,) in target.fetch_all("select customer_id from marts.fct_events")
    }

    # a new day arrives: new files next to the loaded ones, plus the truth for scoring
    shutil.copytree(later, landing, dirs_exist_ok=True)
    shutil.copytree(generated / "truth", landing / "truth")
    # a broken delivery next to it: a header and no rows; refused, and nothing downstream
    # of the contacts runs until someone decides; skipped, the rest goes on
    contacts = next((landing / "crm").glob("contacts*.csv"))
    (landing / "crm" / "contacts_empty.csv").write_bytes(contacts.read_bytes().splitlines()[0])
    refused = cdp_run(landing, tmp_path, ok=False, CDP_PREDICTIONS="0")
    assert "file refused: crm/contacts_empty.csv: no rows" in refused.stdout + refused.stderr
    assert _segment_members(target) == members_before
    skip = cdp("landing", "skip", "crm/contacts_empty.csv", "--landing", str(landing),
               "--reason", "an empty export")  # fmt: skip
    assert skip.returncode == 0, skip.stderr
    second = cdp_run(landing, tmp_path, CDP_PREDICTIONS="0")
    assert "already loaded" in second.stdout + second.stderr
    assert target.fetch_all(
        "select count(*) from raw.load_manifest where file_path like '%contacts_empty%'"
    ) == [(0,)]
    assert "pairwise precision" in second.stdout
    members_after = _segment_members(target)
    _assert_segment_history(target, members_before, members_after)
    assert any(members_before[n] ^ members_after[n] for n in SEGMENTS), "no segment changed"
    listed = subprocess.run(
        [CDP, "segments"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert listed.returncode == 0, listed.stderr
    for name in SEGMENTS:
        assert name in listed.stdout

    after = dict(
        target.fetch_all("select node_key, customer_id from intermediate.int_customer_ids_assigned")
    )
    _assert_facts_follow_merges(target, with_events_before)
    assert_incremental_equals_full_refresh(target, "duckdb")
    history = {
        (old, new)
        for old, new in target.fetch_all(
            "select old_customer_id, new_customer_id from marts.customer_id_history"
        )
    }
    changed = {(before[k], after[k]) for k in before if k in after and before[k] != after[k]}
    assert changed <= history, sorted(changed - history)[:5]
    kept = sum(1 for k in before if after.get(k) == before[k])
    assert kept / len(before) > 0.95

    # accuracy against the generator's truth
    metrics = compute(target, landing / "truth" / "record_person.csv")
    assert metrics.precision >= 0.995, metrics
    assert metrics.customers_spanning_people <= metrics.customers * 0.005, metrics

    # planted shared identifiers are kept out of the graph, with their rule
    audit = {
        (t, v): rule
        for t, v, rule in target.fetch_all(
            "select identifier_type, identifier_value, guard_rule from marts.identity_guard_audit",
        )
    }
    assert audit[("email", "test@test.com")] == "blocklist"
    assert any(t == "phone" and rule == "invalid_format" for (t, _), rule in audit.items())
    kiosk_devices = target.fetch_all(
        "select anonymous_id, count(distinct user_id) from staging.stg_web__events "
        f"where user_agent like '%{KIOSK_AGENT}%' group by 1 having count(distinct user_id) > 1",
    )
    assert kiosk_devices, "the generated data has no store kiosk shared by two users"
    for device, _ in kiosk_devices:
        assert audit.get(("anonymous_id", device)) == "shared_value", device
    with (generated / "truth" / "record_person.csv").open(newline="", encoding="utf-8") as fh:
        people_by_record = {
            (r["source"], r["source_record_id"]): r["person_id"] for r in csv.DictReader(fh)
        }
    shared_by_people = target.fetch_all(
        "select k.identifier_type, k.identifier_value, k.source, k.source_record_id "
        "from intermediate.int_identifiers_kept k where k.identifier_type = 'anonymous_id'",
    )
    people_per_device: dict[str, set[str]] = {}
    for _, value, source, record_id in shared_by_people:
        if person := people_by_record.get((source, record_id)):
            people_per_device.setdefault(value, set()).add(person)
    assert all(len(p) == 1 for p in people_per_device.values())
