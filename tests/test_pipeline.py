"""End to end: generated landing files -> `cdp run` (loaders + dbt build) on both warehouses.

Checks the foundation's promises against the generator's own record of what it wrote:
every planted defect is quarantined at its file and line, raw + quarantine equals the rows
written per table, a second run adds nothing, and Postgres stages the same rows as DuckDB.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import privacy_scenario
import pytest
from receiver import Receiver
from support import (
    CDP,
    PROJECT,
    SEGMENTS,
    assert_incremental_build_repairs,
    cdp,
    cdp_run,
    free_port,
    run_dbt,
    wait_healthy,
)

from orchestration.dbt_inputs import staging_models
from orchestration.generator.problems import plant_problems
from orchestration.identity.metrics import compute
from orchestration.quality.suites import last_run_results
from orchestration.warehouse import resolve_warehouse

pytestmark = pytest.mark.slow
WEBHOOK_SECRET = "pipeline-test-secret"

# One staging model per raw table of the source contract (models/staging).
STAGING_MODELS = staging_models()


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    from orchestration.generator import generate

    out = tmp_path_factory.mktemp("pipeline_landing")
    generate(300, 11, out)
    return out


def _raw_counts(target) -> dict[str, int]:
    from orchestration.sources import all_tables

    return {
        t.raw_name: target.fetch_all(f"select count(*) from raw.{t.raw_name}")[0][0]
        for t in all_tables()
    }


def _staging_counts(target) -> dict[str, int]:
    return {m: target.fetch_all(f"select count(*) from staging.{m}")[0][0] for m in STAGING_MODELS}


def _truth(landing: Path, name: str) -> list[dict[str, str]]:
    with (landing / "truth" / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _assert_nothing_lost(target, landing: Path) -> None:
    written = Counter()
    for row in _truth(landing, "files.csv"):
        written[row["table"]] += int(row["rows_written"])
    quarantined = Counter(
        dict(target.fetch_all("select table_name, count(*) from raw.quarantine group by 1"))
    )
    raw = _raw_counts(target)
    assert set(raw) == set(written)
    for table, rows in written.items():
        assert raw[table] + quarantined[table] == rows, table

    planted = {(d["file"], int(d["line"])) for d in _truth(landing, "planted_defects.csv")}
    assert planted, "the generator planted no defects"
    found = target.fetch_all("select source_file, source_row, reason from raw.quarantine")
    assert {(f, r) for f, r, _ in found} == planted
    assert all(reason and reason.strip() for _, _, reason in found)


@pytest.fixture(scope="module")
def duckdb_run(landing, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One `cdp run` on DuckDB over the landing folder: (warehouse file, the process)."""
    home = tmp_path_factory.mktemp("duckdb_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDP_DUCKDB_PATH", str(home / "cdp.duckdb"))
        return home / "cdp.duckdb", cdp_run(landing, home, "duckdb")


def test_duckdb_run_twice_loses_nothing_and_adds_nothing(
    landing, duckdb_run, tmp_path, monkeypatch
):
    db, first = duckdb_run
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(db))
    target = resolve_warehouse("duckdb")

    assert "rows loaded per source" in first.stdout
    # the run's second dbt build reuses the parse of its first (same profile), not parsing anew
    run_log = Path(re.search(r"^dbt output: (\S+)", first.stdout, re.M).group(1)).read_text()
    builds_output = run_log.split("Running with dbt=")
    assert len(builds_output) == 3 and "Unable to do partial parsing" not in builds_output[2]
    raw_after_first = _raw_counts(target)
    manifest_after_first = target.fetch_all("select count(*) from raw.load_manifest")
    _assert_nothing_lost(target, landing)
    staged = _staging_counts(target)
    assert all(staged.values()), staged
    _assert_predictions(target, first.stdout + first.stderr)

    checks = target.fetch_all("select count(*) from quality.validation_results")[0][0]
    assert checks > 100 and _quality_failures(target) == []
    builds = target.fetch_all("select count(*) from segments.segment_runs")

    # The second run, on a copy of the warehouse (the Postgres test compares with the first),
    # gets the generator's planted problems as new deliveries, and a failing critical check
    # on dim_customers, a gate of the segments.
    second_db = tmp_path / "second" / "cdp.duckdb"
    second_db.parent.mkdir()
    shutil.copy(db, second_db)
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(second_db))
    second_target = resolve_warehouse("duckdb")
    problem_landing = tmp_path / "landing"
    shutil.copytree(landing, problem_landing)
    problems = {p["problem"]: p for p in plant_problems(problem_landing, seed=3)}
    planted = tmp_path / "expectations"
    shutil.copytree(PROJECT / "expectations", planted)
    suite = planted / "marts" / "dim_customers.json"
    spec = json.loads(suite.read_text())
    spec["expectations"].append(
        {
            "check": "planted_volume",
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 10**9},
            "severity": "critical",
        }
    )
    suite.write_text(json.dumps(spec))
    missing, drop = problems["file missing a column"], problems["sudden tenfold volume drop"]
    # The runs include the syncs (`--syncs`); the webhook sync points at a receiver here.
    with Receiver(WEBHOOK_SECRET) as rx:
        env = {
            "CDP_PREDICTIONS": "0",  # fitted by the first run; the gate stops their readers
            "CDP_EXPECTATIONS_DIR": str(planted),
            "CDP_WEBHOOK_URL": rx.url,
            "CDP_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        # Two files are refused, each with its reason: the run stops after the loaders, and
        # nothing that depends on their tables runs, syncs included, until someone decides.
        refused = cdp_run(problem_landing, second_db.parent, "duckdb", ok=False,
                          extra=["--syncs"], **env)  # fmt: skip
        refused_log = refused.stdout + refused.stderr
        assert (
            f"file refused: {missing['file']}: header does not match crm.contacts "
            "(missing phone)" in refused_log
        )
        assert re.search(rf"file refused: {drop['file']}: {drop['rows']} rows against a median",
                         refused_log)  # fmt: skip
        assert rx.requests == 0  # and dbt did not build
        assert second_target.fetch_all("select count(*) from segments.segment_runs") == builds
        customers = "select count(*) from marts.dim_customers"  # new contacts were loaded
        assert second_target.fetch_all(customers) == target.fetch_all(customers)
        alone = cdp("sync", "high_value_to_webhook", **env)
        assert alone.returncode == 1 and "a landing file was refused" in alone.stderr, alone.stderr
        assert rx.requests == 0
        for decision, file in (("skip", missing["file"]), ("accept", drop["file"])):
            decided = cdp("landing", decision, file, "--landing", str(problem_landing),
                          "--reason", "planted")  # fmt: skip
            assert decided.returncode == 0 and file in decided.stdout, decided.stderr
        second = cdp_run(problem_landing, second_db.parent, "duckdb", ok=False,
                         extra=["--syncs"], **env)  # fmt: skip
        blocked_requests = rx.requests
        # Nothing was sent: the gate stopped the segments and every sync after them; a sync
        # started alone refuses too, while the check is failing.
        alone = subprocess.run(
            [CDP, "sync", "high_value_to_webhook"],
            capture_output=True,
            text=True,
            env={**os.environ, "CDP_EXPECTATIONS_DIR": str(planted),
                 "CDP_WEBHOOK_URL": rx.url, "CDP_WEBHOOK_SECRET": WEBHOOK_SECRET},
        )  # fmt: skip
        assert alone.returncode == 1 and "blocked" in alone.stderr, alone.stderr
        assert blocked_requests == 0 and rx.requests == 0
        # The same sync with --force reaches the receiver: the zero above is the gate's.
        forced = subprocess.run(
            [CDP, "sync", "high_value_to_webhook", "--force"],
            capture_output=True,
            text=True,
            env={**os.environ, "CDP_WEBHOOK_URL": rx.url, "CDP_WEBHOOK_SECRET": WEBHOOK_SECRET},
        )
        assert forced.returncode == 0, forced.stderr
        assert len(rx.by_idempotency) > 0 and rx.bad_requests == []
    log = second.stdout + second.stderr
    # The sync was a step of the run (`--syncs`), planned and never started behind the gate.
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(second_db.parent / "dagster_home")) as instance:
        [run] = instance.get_runs(limit=1)
        steps = {
            kind: {e.step_key for e in instance.all_logs(run.run_id, of_type=kind)}
            for kind in (
                DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                DagsterEventType.STEP_START,
            )
        }
    assert run.job_name == "cdp_all_and_syncs"
    assert "syncs__high_value_to_webhook" in steps[DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
    assert "syncs__high_value_to_webhook" not in steps[DagsterEventType.STEP_START]
    assert "already loaded" in second.stderr

    # The skipped file stays out, the accepted one is in, and so is every other delivery:
    # the invalid emails, the junk phone, the usual tickets.
    assert "file refused" not in log
    added = {
        "crm_contacts": problems["batch of invalid emails"]["rows"]
        + problems["junk identifier shared by thousands"]["rows"]
    }
    counts = _raw_counts(second_target)
    assert {t: n for t, n in counts.items() if t != "support_tickets"} == {
        t: n + added.get(t, 0) for t, n in raw_after_first.items() if t != "support_tickets"
    }
    tickets = second_target.fetch_all(
        "select count(*), sum(rows_read), sum(rows_loaded) from raw.load_manifest "
        "where file_path in (?, ?, ?)",
        drop["usual_files"],
    )
    assert tickets[0][:2] == (3, 3 * drop["usual_rows"])  # the three usual deliveries
    assert counts["support_tickets"] == (
        raw_after_first["support_tickets"] + tickets[0][2] + drop["rows"]
    )
    [(manifest,)] = second_target.fetch_all("select count(*) from raw.load_manifest")
    assert manifest == manifest_after_first[0][0] + 6
    # The invalid emails trip the raw contract, the gate fails, and nothing else does.
    assert set(_quality_failures(second_target)) == {
        ("raw.crm_contacts", "email_format", "warning"),
        ("identity_health", "largest_shared_value_records", "warning"),
        ("marts.dim_customers", "planted_volume", "critical"),
    }
    # The junk phone is kept out of the graph by the shared-value guard, and reported.
    junk = problems["junk identifier shared by thousands"]
    [(shared, largest)] = second_target.fetch_all(
        "select largest_shared_value_records, largest_customer_records from quality.identity_health "
        "order by measured_at desc limit 1",
    )
    assert shared == junk["rows"] and largest < 100
    assert "identity health: largest_shared_value_records" in log
    # Staging and the marts are rebuilt with the new rows; the gate stops the segments.
    restaged = _staging_counts(second_target)
    assert restaged["stg_crm__contacts"] > staged["stg_crm__contacts"] + junk["rows"]
    assert "planted_volume" in log
    assert second_target.fetch_all("select count(*) from segments.segment_runs") == builds


def _quality_failures(target) -> list[tuple]:
    """(suite, check, severity) of the failed checks of the last run."""
    return [row[:3] for row in last_run_results(target, failed_only=True)]


def _assert_predictions(target, output: str) -> None:
    """Every customer with a kept order is scored, the traits carry it, the run reports the
    holdout error."""
    assert re.search(r"predictions: holdout 180 days, [\d,]+ customers: orders MAE", output)
    buyers = target.fetch_all(
        "select count(distinct customer_id) from marts.fct_orders where customer_id is not null "
        "and order_status not in ('cancelled', 'refunded')",
    )[0][0]
    assert buyers > 50
    scored = target.fetch_all(
        "select count(*), min(churn_probability), max(churn_probability), "
        "min(predicted_value_12m) from marts.customer_predictions",
    )[0]
    assert scored[0] == buyers and 0 <= scored[1] <= scored[2] <= 1 and scored[3] >= 0, scored
    in_traits = target.fetch_all(
        "select count(churn_probability), count(predicted_value_12m) from marts.customer_traits",
    )
    assert in_traits == [(buyers, buyers)]


def _record_groups(target) -> set[frozenset[str]]:
    """The partition of source records into customers, independent of the ids."""
    groups: dict[str, set[str]] = {}
    for source, record_id, customer_id in target.fetch_all(
        "select source, source_record_id, customer_id from marts.bdg_customer_source_records",
    ):
        groups.setdefault(customer_id, set()).add(f"{source}:{record_id}")
    return {frozenset(g) for g in groups.values()}


def _dbt_unit_tests(target_name: str) -> int:
    """Run the dbt unit tests on a target; the number that passed."""
    proc = run_dbt("test", "--select", "test_type:unit", target=target_name)
    assert proc.returncode == 0, proc.stdout[-3000:]
    done = re.search(r"PASS=(\d+) WARN=0 ERROR=0", proc.stdout)
    assert done, proc.stdout[-3000:]
    return int(done.group(1))


@pytest.mark.postgres
def test_postgres_stages_and_resolves_the_same_as_duckdb(
    landing, duckdb_run, tmp_path, monkeypatch, pg_database, serve, vendor_credentials
):
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(duckdb_run[0]))
    cdp_run(landing, tmp_path, "postgres")
    duck, pg = resolve_warehouse("duckdb"), resolve_warehouse("postgres")

    _assert_nothing_lost(pg, landing)
    assert _raw_counts(pg) == _raw_counts(duck)
    assert _staging_counts(pg) == _staging_counts(duck)
    quarantine_sql = "select table_name, source_file, source_row, reason from raw.quarantine"
    assert sorted(pg.fetch_all(quarantine_sql)) == sorted(duck.fetch_all(quarantine_sql))

    duck_groups = _record_groups(duck)
    assert len(duck_groups) > 100
    assert _record_groups(pg) == duck_groups
    count_sql = "select count(*) from marts.dim_customers"
    assert pg.fetch_all(count_sql) == duck.fetch_all(count_sql) == [(len(duck_groups),)]
    # the marts the next models join have planner statistics as soon as they are built
    analyzed = pg.fetch_all(
        "select relname from pg_stat_user_tables where schemaname = 'marts' "
        "and last_analyze is not null"
    )
    assert {"dim_customers", "fct_events", "fct_orders", "customer_predictions"} <= {
        name for (name,) in analyzed
    }
    for model in [
        "marts.customer_traits",
        "marts.fct_orders",
        "marts.fct_events",
        "marts.fct_sessions",
        "marts.customer_predictions",
        *(f"segments.{name}" for name in SEGMENTS),
    ]:
        count_sql = f"select count(*) from {model}"
        assert pg.fetch_all(count_sql) == duck.fetch_all(count_sql), model
    indexed = pg.fetch_all(
        "select tablename from pg_indexes where schemaname = 'marts' and indexname like ?",
        ["%__customer_id"],
    )
    assert {"dim_customers", "fct_orders", "fct_events", "customer_traits"} <= {
        t for (t,) in indexed
    }
    revenue_sql = "select sum(revenue) from marts.fct_orders"
    assert pg.fetch_all(revenue_sql) == duck.fetch_all(revenue_sql)
    value_sql = "select round(sum(predicted_value_12m), 0) from marts.customer_traits"
    assert pg.fetch_all(value_sql) == duck.fetch_all(value_sql)
    truth = landing / "truth" / "record_person.csv"
    assert compute(pg, truth) == compute(duck, truth)
    assert _dbt_unit_tests("duckdb") == _dbt_unit_tests("postgres") >= 5
    assert_incremental_build_repairs(pg, "postgres")
    checks = pg.fetch_all("select count(*) from quality.validation_results")[0][0]
    assert checks > 100 and _quality_failures(pg) == []

    # the profile API reads PostgreSQL's tables and DuckDB's serving copy alike
    from orchestration.dbt_project import MANIFEST
    from orchestration.live.profiles import lookup
    from orchestration.manifest import read

    manifest = read(MANIFEST)
    emails = duck.fetch_all(
        "select email from marts.dim_customers where email is not null order by email limit 5"
    )
    for (email,) in emails:
        ours = lookup(pg.serving(), "email", email.upper(), pii=True, manifest=manifest)
        theirs = lookup(duck.serving(), "email", email, pii=True, manifest=manifest)
        assert ours["profile"]["email"] == email
        assert ours["consent"] == theirs["consent"], email
        assert [s["segment"] for s in ours["segments"]] == [
            s["segment"] for s in theirs["segments"]
        ]  # (since: each warehouse's own run time)
        assert ours["traits"]["orders_count"] == theirs["traits"]["orders_count"]
        assert sorted((i["type"], i["value"]) for i in ours["identifiers"]) == sorted(
            (i["type"], i["value"]) for i in theirs["identifiers"]
        )
        assert [e["event_id"] for e in ours["recent_events"]] == [
            e["event_id"] for e in theirs["recent_events"]
        ]

    # the served tables carry indexes on the keys lookups use (views excepted)
    indexed = pg.fetch_all(
        "select schemaname || '.' || tablename from pg_indexes where indexname like '%cdp_key%'"
    )
    assert {"marts.dim_customers", "marts.bdg_customer_identifiers", "marts.fct_events"} <= {
        name for (name,) in indexed
    }

    # the seed scenario, live on PostgreSQL (a landing folder of its own: the stream writes)
    shutil.copytree(landing, tmp_path / "live_landing")
    env = {"CDP_TARGET": "postgres", "DAGSTER_HOME": str(tmp_path / "dagster_live")}
    _seed_scenario(pg, tmp_path / "live_landing", env)

    # a person erased everywhere (a landing folder of its own: the erasure rewrites it)
    shutil.copytree(landing, tmp_path / "erase" / "landing")
    privacy_scenario.rebase(pg, landing, tmp_path / "erase" / "landing")
    env = {"CDP_TARGET": "postgres", "DAGSTER_HOME": str(tmp_path / "dagster_erase")}
    privacy_scenario.run(pg, tmp_path / "erase" / "landing", env, serve, monkeypatch)


def _serve(db: Path, tokens: str):
    """`cdp serve` on the DuckDB warehouse `db`, on a free port: (process, base url)."""
    return _serve_env({**os.environ, "CDP_DUCKDB_PATH": str(db), "CDP_API_TOKENS": tokens})


def test_profiles_are_served_by_any_identifier_and_never_wait_for_a_run(
    duckdb_run, tmp_path, monkeypatch
):
    import httpx

    from orchestration.live import profiles

    db = tmp_path / "cdp.duckdb"
    shutil.copy(duckdb_run[0], db)  # its own copy: this test writes to it
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(db))
    target = resolve_warehouse("duckdb")
    profiles.publish(target)
    # a customer with an email, a phone and a device, as the lookups below need
    [(email, customer, phone, device)] = target.fetch_all(
        "select c.email, c.customer_id, c.phone, min(i.identifier_value) "
        "from marts.dim_customers as c join marts.bdg_customer_identifiers as i "
        "on i.customer_id = c.customer_id and i.identifier_type = 'anonymous_id' "
        "where c.email is not null and c.phone is not null "
        "group by c.email, c.customer_id, c.phone order by c.customer_id limit 1"
    )
    proc, url = _serve(db, "support=tok-support:pii,website=tok-site")
    support = {"Authorization": "Bearer tok-support"}
    site = {"Authorization": "Bearer tok-site"}
    try:
        # as a caller types it: the models' rule normalises it
        messy = f"  {email.upper()} "
        got = httpx.get(f"{url}/v1/profiles/email/{messy}", headers=support).json()
        assert got["customer_id"] == customer and got["profile"]["email"] == email
        assert got["merged_from"] is None
        assert {i["type"] for i in got["identifiers"]} >= {"email", "phone"}
        assert all("value" in i for i in got["identifiers"])
        by_phone = httpx.get(f"{url}/v1/profiles/phone/{phone}", headers=site).json()
        assert by_phone["customer_id"] == customer
        # a caller without PII sees no names, emails, phones or identifier values
        assert not {"email", "phone", "first_name", "last_name"} & set(by_phone["profile"])
        assert all("value" not in i for i in by_phone["identifiers"])
        assert by_phone["traits"] == got["traits"]
        by_device = httpx.get(f"{url}/v1/profiles/anonymous_id/{device}", headers=site)
        assert by_device.json()["customer_id"] == customer
        events = got["recent_events"]
        assert len(events) <= profiles.RECENT_EVENTS
        assert [e["event_at"] for e in events] == sorted((e["event_at"] for e in events),
                                                         reverse=True)  # fmt: skip
        segments = target.fetch_all(
            "select segment_name from segments.segment_memberships "
            "where customer_id = ? and exited_at is null order by 1",
            [customer],
        )
        assert [s["segment"] for s in got["segments"]] == [name for (name,) in segments]

        assert httpx.get(f"{url}/v1/profiles/email/{email}").status_code == 401
        assert httpx.get(f"{url}/v1/profiles/email/{email}",
                         headers={"Authorization": "Bearer nope"}).status_code == 401  # fmt: skip
        assert httpx.get(f"{url}/v1/profiles/email/no@x.example", headers=site).status_code == 404
        assert httpx.get(f"{url}/v1/profiles/shoe_size/42", headers=site).status_code == 400
        spec = httpx.get(f"{url}/openapi.json").text
        assert "/v1/profiles/{identifier_type}/{value}" in spec

        # a merge recorded by the next build: the old id answers with the survivor, once the
        # new state is published, while the server runs
        with target.session() as session:
            session.run(
                "insert into marts.customer_id_history values (?, ?, now(), 'merge', 'test', 1)",
                ["cus_gone_0001", customer],
            )
        profiles.publish(target)
        merged = httpx.get(f"{url}/v1/profiles/customer_id/cus_gone_0001", headers=site).json()
        assert (merged["customer_id"], merged["merged_from"]) == (customer, "cus_gone_0001")

        # a run holding the warehouse (one writer, no readers beside it) delays no answer
        with target.connect():
            held = httpx.get(f"{url}/v1/profiles/customer_id/{customer}", headers=site, timeout=5)
        assert held.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


FRESHNESS_LIMIT_S = 60  # a new event is in the profile API within this (issue's target)


def _seed_scenario(target, landing: Path, env: dict[str, str]) -> None:
    """A customer tells support they want to cancel; later an anonymous page view from their
    known device arrives through the real SDK. The profile API, asked by that device's
    anonymous_id, answers with the customer, the intends_to_cancel trait and the
    retention_offer segment within the freshness limit, all kept fresh by `cdp stream`."""
    import uuid
    from datetime import UTC, datetime

    import httpx
    from segment.analytics import Client as SegmentClient
    from support import Collector

    from orchestration.sources import get_table

    [(customer, email, device)] = target.fetch_all(
        "select c.customer_id, c.email, min(i.identifier_value) from marts.dim_customers as c "
        "join marts.bdg_customer_identifiers as i on i.customer_id = c.customer_id "
        "and i.identifier_type = 'anonymous_id' join marts.customer_traits as t "
        "on t.customer_id = c.customer_id where c.email is not null and not t.intends_to_cancel "
        "group by c.customer_id, c.email order by c.customer_id limit 1"
    )
    # the support desk's next export: one ticket, the customer's words
    columns = [c.name for c in get_table("support", "tickets").columns]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ticket = {"ticket_id": f"TCK-LIVE-{uuid.uuid4().hex[:8]}", "requester_email": email,
              "channel": "phone", "subject": "I want to cancel my membership, it is too expensive",
              "status": "open", "priority": "high", "created_at": now}  # fmt: skip
    with (landing / "support" / "tickets_live-0001.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerow({c: ticket.get(c, "") for c in columns})

    keys = {"web": "wk_scenario"}
    run_env = {**os.environ, **env, "CDP_API_TOKENS": "site=tok-site,care=tok-care:pii"}
    stream = subprocess.Popen(
        [CDP, "stream", "--landing", str(landing), "--every", "1"],
        env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    collector = Collector(landing, keys, env).start()
    api, url = _serve_env(run_env)
    care, site = {"Authorization": "Bearer tok-care"}, {"Authorization": "Bearer tok-site"}
    try:

        def profile(kind: str, value: str, headers: dict) -> dict | None:
            answer = httpx.get(f"{url}/v1/profiles/{kind}/{value}", headers=headers)
            return answer.json() if answer.status_code == 200 else None

        def flagged(got: dict | None) -> bool:
            return (
                bool(got)
                and got["traits"]["intends_to_cancel"]
                and "retention_offer" in [s["segment"] for s in got["segments"]]
            )

        # the ticket reaches the trait and the segment through the stream's first cycle
        # (every source; on PostgreSQL the API reads each table as soon as it is replaced)
        deadline = time.monotonic() + 240
        while not flagged(got := profile("email", email, care)):
            assert stream.poll() is None, stream.stdout.read()
            assert time.monotonic() < deadline, "the ticket never reached the profile"
            time.sleep(0.5)
        assert got["customer_id"] == customer

        # an hour later: the website, not logged in, on the device seen before
        message = f"scenario-{uuid.uuid4()}"
        sdk = SegmentClient(keys["web"], host=collector.url, sync_mode=True)
        sdk.page(anonymous_id=device, name="Pricing", properties={"path": "/pricing"},
                 message_id=message)  # fmt: skip
        sent = time.monotonic()
        while True:
            seen = profile("anonymous_id", device, site)
            if seen and f"web_events:{message}" in [e["event_id"] for e in seen["recent_events"]]:
                break
            assert stream.poll() is None, stream.stdout.read()
            assert time.monotonic() - sent < FRESHNESS_LIMIT_S, "the page view was not served"
            time.sleep(0.5)
        assert seen["customer_id"] == customer
        assert flagged(seen)
        assert "email" not in seen["profile"]  # the website's token reads no PII
    finally:
        collector.stop()
        api.terminate()
        api.wait(timeout=30)
        stream.terminate()
        out, _ = stream.communicate(timeout=60)
    assert stream.returncode in (0, 130, -15), out  # stopped by SIGTERM, not by an error
    assert ": failed" not in out, out


def _serve_env(env: dict[str, str]):
    """`cdp serve` with `env`, on a free port: (process, base url)."""
    port = free_port()
    proc = subprocess.Popen(
        [CDP, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url)
    return proc, url


def test_seed_scenario_live_on_duckdb(landing, duckdb_run, tmp_path, monkeypatch):
    db = tmp_path / "cdp.duckdb"
    shutil.copy(duckdb_run[0], db)  # its own copy and landing folder: the stream writes
    shutil.copytree(landing, tmp_path / "landing")
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(db))
    env = {"CDP_DUCKDB_PATH": str(db), "DAGSTER_HOME": str(tmp_path / "dagster")}
    _seed_scenario(resolve_warehouse("duckdb"), tmp_path / "landing", env)


def test_erasure_on_duckdb(landing, duckdb_run, tmp_path, monkeypatch, serve, vendor_credentials):
    db = tmp_path / "cdp.duckdb"
    shutil.copy(duckdb_run[0], db)  # its own copy and landing folder: the erasure rewrites
    shutil.copytree(landing, tmp_path / "erase" / "landing")
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(db))
    duck = resolve_warehouse("duckdb")
    privacy_scenario.rebase(duck, landing, tmp_path / "erase" / "landing")
    env = {"CDP_DUCKDB_PATH": str(db), "DAGSTER_HOME": str(tmp_path / "dagster")}
    privacy_scenario.run(duck, tmp_path / "erase" / "landing", env, serve, monkeypatch)
