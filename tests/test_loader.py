"""Loader: quarantine with reasons and row numbers, idempotency, atomicity, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orchestration.loading import loader
from orchestration.loading.loader import LoadError, load_tables, raw_row_counts
from orchestration.sources import get_table

CONTACTS = get_table("crm", "contacts")
EVENTS = get_table("web", "events")
ITEMS = get_table("shop", "order_items")


def _contact(i: int, created: str = "2026-01-02 10:00:00", cid: str | None = None) -> str:
    cid = f"c{i}" if cid is None else cid
    return f'{cid},Ann,"Smith, Jr",A{i}@Example.com,555-0100,1 Main St,Town,CA,90001,US,lead,{created},'


def _write_messy_landing(root: Path) -> dict[tuple[str, int], str]:
    """Files with planted defects; returns {(file, line): expected reason fragment}."""
    (root / "crm").mkdir(parents=True)
    (root / "web").mkdir()
    header = ",".join(c.name for c in CONTACTS.columns)
    lines = [header] + [_contact(i) for i in range(1, 13)]
    lines[3] = _contact(3, created="2026-02-30 10:00:00")  # line 4
    lines[5] = "c5,Ann,Smith"  # line 6
    lines[7] = _contact(7, cid="")  # line 8
    lines[9] = _contact(9) + ",extra"  # line 10
    data = ("\n".join(lines) + "\n").encode()
    data = data.replace(b"c11,Ann", b"c11,Jos\xe9")  # line 12, cp1252 bytes
    (root / "crm" / "contacts_1.csv").write_bytes(data)
    events = [
        b'{"messageId":"a","type":"track","event":"x","timestamp":"2026-01-01T00:00:00.123Z",'
        b'"context":{"ip":"10.0.0.1"}}',
        b'{"messageId":"b","type":"page","timestamp":"2026-01-01T00:00:01Z"}',
        b'{"messageId":"c","type":"page","timest',
        b'{"messageId":"Jos\xe9","type":"page","timestamp":"2026-01-01T00:00:01Z"}',
        b'{"type":"page","timestamp":"2026-01-01T00:00:01Z"}',
        b'{"messageId":"f","type":"page","timestamp":"yesterday"}',
        b'{"messageId":"g","type":"identify","userId":"u1","timestamp":"2026-01-01T00:00:02Z"}',
    ]
    (root / "web" / "events_1.jsonl").write_bytes(b"\n".join(events) + b"\n")
    return {
        ("crm/contacts_1.csv", 4): "bad timestamp in created_at",
        ("crm/contacts_1.csv", 6): "missing columns",
        ("crm/contacts_1.csv", 8): "missing required value in contact_id",
        ("crm/contacts_1.csv", 10): "too many columns",
        ("crm/contacts_1.csv", 12): "invalid UTF-8",
        ("web/events_1.jsonl", 3): "malformed JSON",
        ("web/events_1.jsonl", 4): "invalid UTF-8",
        ("web/events_1.jsonl", 5): "missing required value in message_id",
        ("web/events_1.jsonl", 6): "bad timestamp in event_timestamp",
    }


def test_bad_rows_go_to_quarantine_with_reason_row_and_raw_text(any_target, tmp_path):
    expected = _write_messy_landing(tmp_path / "landing")
    results = load_tables(any_target, [CONTACTS, EVENTS], tmp_path / "landing")

    assert [r.rows_loaded for r in results] == [12 - 5, 7 - 4]
    assert [r.rows_quarantined for r in results] == [5, 4]
    rows = any_target.fetch_all(
        "select source_file, source_row, reason, raw_text from raw.quarantine"
    )
    got = {(f, r): (reason, text) for f, r, reason, text in rows}
    assert set(got) == set(expected)
    for key, fragment in expected.items():
        assert fragment in got[key][0], (key, got[key])
    assert got[("crm/contacts_1.csv", 6)][1] == "c5,Ann,Smith"
    assert "Jos\\xe9" in got[("crm/contacts_1.csv", 12)][1]  # the bytes survive, escaped
    assert got[("web/events_1.jsonl", 3)][1] == '{"messageId":"c","type":"page","timest'

    # Good rows keep their physical line number, file and load time.
    good = any_target.fetch_all(
        "select contact_id, _source_row, _source_file from raw.crm_contacts"
    )
    assert {c: (row, f) for c, row, f in good} == {
        f"c{i}": (i + 1, "crm/contacts_1.csv") for i in (1, 2, 4, 6, 8, 10, 12)
    }
    events = any_target.fetch_all("select message_id, _source_row from raw.web_events")
    assert dict(events) == {"a": 1, "b": 2, "g": 7}
    assert any_target.fetch_all("select count(*) from raw.web_events where _loaded_at is null") == [
        (0,)
    ]


def test_loading_the_same_files_twice_adds_nothing(any_target, tmp_path):
    _write_messy_landing(tmp_path / "landing")
    load_tables(any_target, [CONTACTS, EVENTS], tmp_path / "landing")
    before = raw_row_counts(any_target)
    quarantined = any_target.fetch_all("select count(*) from raw.quarantine")
    second = load_tables(any_target, [CONTACTS, EVENTS], tmp_path / "landing")

    assert all(f.skipped for r in second for f in r.files)
    assert raw_row_counts(any_target) == before
    assert any_target.fetch_all("select count(*) from raw.quarantine") == quarantined
    manifest = any_target.fetch_all(
        "select table_name, file_path, rows_loaded from raw.load_manifest order by 1"
    )
    assert manifest == [
        ("crm_contacts", "crm/contacts_1.csv", 7),
        ("web_events", "web/events_1.jsonl", 3),
    ]


def test_a_raw_table_made_by_an_earlier_contract_still_loads(any_target, tmp_path):
    """raw.web_events once held traits, properties and context beside the payload; such a
    table takes new rows by column name, the columns no longer declared left null."""
    from orchestration.sources import PAYLOAD_COLUMN

    old = [c for c in EVENTS.raw_columns() if c[0] != PAYLOAD_COLUMN]
    old[len(EVENTS.columns) : len(EVENTS.columns)] = [("traits", "json"), ("context", "json")]
    old.insert(len(EVENTS.columns) + 2, (PAYLOAD_COLUMN, "json"))
    with any_target.session() as session:
        session.run("create schema if not exists raw")
        session.run(f"create table raw.web_events ({any_target.column_ddl(old)})")
    _write_messy_landing(tmp_path / "landing")
    (result,) = load_tables(any_target, [EVENTS], tmp_path / "landing")
    assert result.rows_loaded == 3 and not result.errors
    rows = any_target.fetch_all(
        "select count(*), count(traits), count(context), count(payload), count(message_id) "
        "from raw.web_events"
    )
    assert rows == [(3, 0, 0, 3, 3)]


def test_a_new_file_is_appended(duckdb_target, tmp_path):
    root = tmp_path / "landing"
    _write_messy_landing(root)
    load_tables(duckdb_target, [CONTACTS], root)
    header = ",".join(c.name for c in CONTACTS.columns)
    (root / "crm" / "contacts_2.csv").write_text(f"{header}\n{_contact(100)}\n")
    result = load_tables(duckdb_target, [CONTACTS], root)[0]
    assert [(f.file, f.skipped, f.rows_loaded) for f in result.files] == [
        ("crm/contacts_1.csv", True, 0),
        ("crm/contacts_2.csv", False, 1),
    ]
    assert raw_row_counts(duckdb_target)["crm_contacts"] == 8


def test_a_crash_while_committing_leaves_nothing_half_written(any_target, tmp_path, monkeypatch):
    root = tmp_path / "landing"
    _write_messy_landing(root)
    real = loader._manifest_values

    def crash(manifest):  # the manifest row is the last write of the transaction
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(loader, "_manifest_values", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        load_tables(any_target, [CONTACTS], root)
    monkeypatch.setattr(loader, "_manifest_values", real)
    assert raw_row_counts(any_target)["crm_contacts"] == 0
    assert any_target.fetch_all("select count(*) from raw.quarantine") == [(0,)]
    # ...and the file loads completely on the next attempt.
    assert load_tables(any_target, [CONTACTS], root)[0].rows_loaded == 7


def test_parquet_rows_with_missing_required_values_are_quarantined(duckdb_target, tmp_path):
    import duckdb

    root = tmp_path / "landing" / "shop"
    root.mkdir(parents=True)
    duckdb.sql(
        "copy (select * from (values ('o1', 1, 's', 'p', 'c', 2, 9.99), "
        "(null, 2, 's', 'p', 'c', 1, 5.00), ('o2', 1, 's', 'p', 'c', 1, 3.50)) "
        "t(order_id, line_number, sku, product_name, category, quantity, unit_price)) "
        f"to '{root / 'order_items_1.parquet'}' (format parquet)"
    )
    result = load_tables(duckdb_target, [ITEMS], tmp_path / "landing")[0]
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    [(row, reason, text)] = duckdb_target.fetch_all(
        "select source_row, reason, raw_text from raw.quarantine"
    )
    assert row == 2 and reason == "missing required value in order_id"
    assert '"line_number":2' in text


def test_header_mismatch_fails_that_file_only(duckdb_target, tmp_path):
    root = tmp_path / "landing"
    _write_messy_landing(root)
    cols = [c.name for c in CONTACTS.columns if c.name != "email"]
    with open(root / "crm" / "contacts_2.csv", "w", newline="") as fh:
        csv.writer(fh).writerow(cols)
    result = load_tables(duckdb_target, [CONTACTS], root)[0]
    assert result.rows_loaded == 7
    assert result.errors == [
        "crm/contacts_2.csv: header does not match crm.contacts (missing email)"
    ]


def test_missing_landing_folder_is_one_clear_line(duckdb_target, tmp_path):
    with pytest.raises(LoadError) as info:
        load_tables(duckdb_target, [CONTACTS], tmp_path / "nowhere")
    assert "\n" not in str(info.value) and "does not exist" in str(info.value)


def _contacts_file(root: Path, name: str, ids: range) -> None:
    header = ",".join(c.name for c in CONTACTS.columns)
    (root / "crm").mkdir(parents=True, exist_ok=True)
    (root / "crm" / name).write_text("\n".join([header, *(_contact(i) for i in ids)]) + "\n")


def test_an_empty_file_is_refused_and_the_others_load(any_target, tmp_path):
    root = tmp_path / "landing"
    _contacts_file(root, "contacts_1.csv", range(0))
    _contacts_file(root, "contacts_2.csv", range(1, 4))
    result = load_tables(any_target, [CONTACTS], root)[0]
    assert result.errors == ["crm/contacts_1.csv: no rows (empty file); nothing loaded from it"]
    assert raw_row_counts(any_target)["crm_contacts"] == 3
    files = any_target.fetch_all("select file_path from raw.load_manifest")
    assert files == [("crm/contacts_2.csv",)]  # the refused file is tried again next time


def test_a_tenfold_volume_drop_is_refused_until_accepted(any_target, tmp_path):
    root = tmp_path / "landing"
    for day in range(3):
        _contacts_file(root, f"contacts_{day}.csv", range(day * 100, day * 100 + 100))
    assert load_tables(any_target, [CONTACTS], root)[0].errors == []
    _contacts_file(root, "contacts_3.csv", range(1000, 1009))  # 9 rows after 100, 100, 100
    _contacts_file(root, "contacts_4.csv", range(2000, 2011))  # 11 rows: within the contract
    result = load_tables(any_target, [CONTACTS], root)[0]
    assert len(result.errors) == 1 and result.errors[0].startswith(
        "crm/contacts_3.csv: 9 rows against a median of 100 over the last 3 loads"
    ), result.errors
    assert raw_row_counts(any_target)["crm_contacts"] == 311

    # The decision is per file and per content: the next small file is refused again.
    loader.decide(any_target, root, "crm/contacts_3.csv", "accept", "a short day")
    _contacts_file(root, "contacts_5.csv", range(3000, 3005))
    result = load_tables(any_target, [CONTACTS], root)[0]
    assert [e.split(":")[0] for e in result.errors] == ["crm/contacts_5.csv"]
    assert raw_row_counts(any_target)["crm_contacts"] == 320
    [(who, why)] = any_target.fetch_all("select decided_by, reason from raw.load_decisions")
    assert who and why == "a short day"


CONSENT = get_table("consent", "records")


def test_rows_failing_a_quarantine_expectation_are_quarantined_with_its_name(any_target, tmp_path):
    """consent_records.json marks status_allowed and channel_allowed "quarantine": such rows
    never reach raw; the rest of the file loads."""
    (tmp_path / "consent").mkdir()
    header = ",".join(c.name for c in CONSENT.columns)
    rows = [
        f"k{i},email,a{i}@example.com,email,marketing,granted,2026-01-02 10:00:00,web,v1"
        for i in range(1, 11)
    ]
    rows[2] = rows[2].replace(",granted,", ",maybe,")  # line 4
    rows[5] = rows[5].replace(",email,marketing,granted", ",fax,marketing,unknown")  # line 7
    (tmp_path / "consent" / "records_1.csv").write_text("\n".join([header, *rows]) + "\n")

    [result] = load_tables(any_target, [CONSENT], tmp_path)

    assert (result.rows_loaded, result.rows_quarantined) == (8, 2)
    got = dict(any_target.fetch_all("select source_row, reason from raw.quarantine order by 1"))
    assert got == {
        4: "failed expectation status_allowed (raw.consent_records)",
        7: "failed expectation channel_allowed (raw.consent_records); "
        "failed expectation status_allowed (raw.consent_records)",
    }
    [(text,)] = any_target.fetch_all("select raw_text from raw.quarantine where source_row = 4")
    assert '"status":"maybe"' in text and '"consent_id":"k3"' in text
    loaded = any_target.fetch_all("select consent_id from raw.consent_records order by 1")
    assert {c for (c,) in loaded} == {f"k{i}" for i in (1, 2, 4, 5, 7, 8, 9, 10)}
    [(quarantined,)] = any_target.fetch_all(
        "select rows_quarantined from raw.load_manifest where table_name = 'consent_records'",
    )
    assert quarantined == 2


def _members_file(root: Path, table, dates: list[str]) -> None:
    header = ",".join(c.name for c in table.columns)
    lines = [header] + [
        f"m{i},card{i},Ann,Lee,,,90001,{d},gold,10,2026-01-02 10:00:00"
        for i, d in enumerate(dates, start=1)
    ]
    (root / "loyalty").mkdir(parents=True)
    (root / "loyalty" / "members_1.csv").write_text("\n".join(lines) + "\n")


def test_dates_take_spaces_around_and_the_compact_form(any_target, tmp_path):
    from datetime import date

    members = get_table("loyalty", "members")
    dates = [" 19151111", "1915-11-11 ", "19151111", "19151311", "1915111", "31/12/1985"]
    _members_file(tmp_path / "landing", members, dates)
    (result,) = load_tables(any_target, [members], tmp_path / "landing")

    assert (result.rows_loaded, result.rows_quarantined) == (3, 3)
    loaded = any_target.fetch_all("select member_id, birth_date from raw.loyalty_members")
    assert dict(loaded) == {f"m{i}": date(1915, 11, 11) for i in (1, 2, 3)}
    reasons = any_target.fetch_all("select source_row, reason from raw.quarantine order by 1")
    assert reasons == [
        (5, "bad date in birth_date: 19151311"),
        (6, "bad date in birth_date: 1915111"),
        (7, "bad date in birth_date: 31/12/1985"),
    ]


def test_a_date_format_in_the_contract_reads_that_form_only(duckdb_target, tmp_path):
    import dataclasses
    from datetime import date

    members = get_table("loyalty", "members")
    columns = tuple(
        dataclasses.replace(c, format="%d.%m.%Y") if c.name == "birth_date" else c
        for c in members.columns
    )
    members = dataclasses.replace(members, columns=columns)
    _members_file(tmp_path / "landing", members, [" 11.11.1915 ", "1915-11-11"])
    (result,) = load_tables(duckdb_target, [members], tmp_path / "landing")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert duckdb_target.fetch_all("select birth_date from raw.loyalty_members") == [
        (date(1915, 11, 11),)
    ]


def test_the_parser_spills_to_the_system_temporary_folder(tmp_path, monkeypatch):
    """Past its memory limit the in-memory parser writes to the system's temporary folder,
    not to a `.tmp` in whatever folder cdp was started from."""
    import tempfile

    from orchestration.warehouse.duckdb import connect_scratch

    monkeypatch.chdir(tmp_path)
    con = connect_scratch("64MB")
    con.execute(
        "create temp table t as select range as r, repeat('x', 200) as s from range(2000000)"
    )
    assert con.execute("select count(*) from t").fetchone() == (2_000_000,)
    setting = con.execute("select current_setting('temp_directory')").fetchone()[0]
    con.close()
    assert setting == tempfile.gettempdir()
    assert not (tmp_path / ".tmp").exists()
