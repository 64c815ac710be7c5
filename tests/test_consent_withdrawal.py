"""A consent withdrawal is a one-row delivery: it loads after ordinary deliveries, and the
mirror sync removes the person at the destination in the same `cdp run --syncs`."""

from __future__ import annotations

import csv
import subprocess

import pytest
from receiver import Receiver
from support import cdp

from orchestration.warehouse import resolve_warehouse

pytestmark = pytest.mark.slow
SECRET = "consent-test-secret"


def _run_with_syncs(landing, home, rx) -> subprocess.CompletedProcess:
    """`cdp run --syncs`; the syncs without credentials here fail, the webhook's runs."""
    return cdp("run", "--syncs", "--landing", str(landing), timeout=600,
               DAGSTER_HOME=str(home / "dagster_home"), CDP_WEBHOOK_URL=rx.url,
               CDP_WEBHOOK_SECRET=SECRET)  # fmt: skip


def test_a_one_row_withdrawal_loads_and_the_mirror_sync_removes_the_person(tmp_path, monkeypatch):
    from orchestration.generator import generate

    landing = tmp_path / "landing"
    generate(300, 11, landing)
    # Three ordinary consent deliveries, in place of the generator's one file.
    # (as bytes: the generator plants badly encoded lines, which must stay as they are)
    [generated] = sorted((landing / "consent").glob("records*.csv"))
    first, *lines = generated.read_bytes().splitlines(keepends=True)
    generated.unlink()
    for part in range(3):
        part_file = landing / "consent" / f"records_part-{part + 1:04d}.csv"
        part_file.write_bytes(first + b"".join(lines[part::3]))
    header = next(csv.reader([first.decode()]))
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "cdp.duckdb"))
    target = resolve_warehouse("duckdb")

    with Receiver(SECRET) as rx:
        first = _run_with_syncs(landing, tmp_path, rx)
        members = {k: r for k, r in rx.latest().items() if r["operation"] != "delete"}
        assert members, first.stdout[-2000:] + first.stderr[-2000:]
        customer, record = sorted(members.items())[0]
        email = record["fields"]["email"]

        withdrawal = dict.fromkeys(header, "")
        withdrawal |= {
            "consent_id": "cns_withdrawal_0001",
            "subject_type": "email",
            "subject_id": email,
            "channel": "email",
            "purpose": "marketing",
            "status": "withdrawn",
            "recorded_at": "2030-01-01T00:00:00Z",  # after every grant in the data
            "collection_point": "preference_center",
        }
        with (landing / "consent" / "records_part-0004.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows([header, [withdrawal[c] for c in header]])
        requests_before = rx.requests
        second = _run_with_syncs(landing, tmp_path, rx)
        log = second.stdout + second.stderr

        assert "records_part-0004.csv" not in " ".join(
            line for line in log.splitlines() if "refused" in line
        ), log[-3000:]
        assert target.fetch_all(
            "select rows_loaded from raw.load_manifest where file_path = ?",
            ["consent/records_part-0004.csv"],
        ) == [(1,)]
        # The same run removed the person at the destination, and only that person.
        assert rx.requests > requests_before, log[-3000:]
        latest = rx.latest()
        assert latest[customer]["operation"] == "delete"
        removed = {k for k, r in latest.items() if r["operation"] == "delete"}
        assert removed & set(members) == {customer}
