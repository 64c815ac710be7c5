"""Tests of the sample-data generator (orchestration.generator)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.generator import GenerateResult, generate
from orchestration.sources import all_tables

N = 1500
SEED = 7

DUCKDB_TYPES = {
    "varchar": "VARCHAR",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "decimal": "DECIMAL(18,2)",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
PARSE_DEFECTS = {
    "bad_timestamp",
    "bad_date",
    "extra_field",
    "missing_field",
    "invalid_utf8",
    "non_numeric",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, GenerateResult]:
    out = tmp_path_factory.mktemp("landing")
    calls: list[tuple[int, int]] = []
    result = generate(N, SEED, out, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (N, N)
    return out, result


def _one(sql: str) -> tuple:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchone()
    finally:
        con.close()


def _defects(out: Path) -> dict[str, dict[int, str]]:
    found: dict[str, dict[int, str]] = defaultdict(dict)
    with open(out / "truth" / "planted_defects.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            found[row["file"]][int(row["line"])] = row["defect"]
    return found


def _truth(out: Path) -> dict[str, dict[str, str]]:
    """source -> {record id -> person id}"""
    truth: dict[str, dict[str, str]] = defaultdict(dict)
    with open(out / "truth" / "record_person.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            assert row["source_record_id"] not in truth[row["source"]], row
            truth[row["source"]][row["source_record_id"]] = row["person_id"]
    return truth


def _columns(table) -> str:
    return "{" + ", ".join(f"'{c.name}': '{DUCKDB_TYPES[c.type]}'" for c in table.columns) + "}"


def _tree_digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def test_all_sources_and_declared_headers(run):
    out, result = run
    tables = all_tables()
    assert len(tables) == 9  # eight sources, shop has two tables
    for t in tables:
        files = sorted(out.glob(t.pattern))
        assert files, f"no file for {t.raw_name}"
        for f in files:
            if t.format == "csv":
                with open(f, "rb") as fh:
                    header = fh.readline().decode("utf-8").rstrip("\n")
                assert header == ",".join(c.name for c in t.columns), f
    assert {f.table for f in result.files} == {t.raw_name for t in tables}
    listed = {p.relative_to(out).as_posix() for t in tables for p in out.glob(t.pattern)}
    assert listed == {f.path for f in result.files}
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_about_twenty_rows_per_customer(run):
    out, result = run
    per_customer = result.rows / N
    assert 17 <= per_customer <= 24, per_customer
    by_table = {t: rows / N for t, (rows, _, _) in result.by_table().items()}
    assert 10 <= by_table["web_events"] <= 16
    assert 2.5 <= by_table["email_events"] <= 4.5
    for table in (
        "crm_contacts",
        "shop_orders",
        "pos_transactions",
        "loyalty_members",
        "consent_records",
    ):
        assert 0.25 <= by_table[table] <= 1.2, (table, by_table[table])
    assert 0.05 <= by_table["support_tickets"] <= 0.3


def test_files_csv_matches_the_files(run):
    out, result = run
    with open(out / "truth" / "files.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["file"], r["table"], int(r["rows_written"]), int(r["defects"])) for r in rows] == [
        (f.path, f.table, f.rows, f.defects) for f in result.files
    ]
    defects = _defects(out)
    for f in result.files:
        assert len(defects[f.path]) == f.defects
        path = out / f.path
        if path.suffix == ".parquet":
            n = _one(f"select count(*) from read_parquet('{path}')")[0]
        else:
            n = path.read_bytes().count(b"\n") - (1 if path.suffix == ".csv" else 0)
        assert n == f.rows, f.path


def test_every_file_has_planted_defects_spread_through_it(run):
    out, result = run
    defects = _defects(out)
    kinds: Counter[str] = Counter()
    for f in result.files:
        lines = sorted(defects[f.path])
        assert lines, f"no planted defect in {f.path}"
        first_data_line = 2 if f.path.endswith(".csv") else 1
        assert all(first_data_line <= n <= f.rows + first_data_line - 1 for n in lines)
        # not all bunched at the end
        assert lines[0] < first_data_line + f.rows * 0.6, f.path
        kinds.update(defects[f.path].values())
    assert set(kinds) >= {
        "bad_timestamp",
        "extra_field",
        "missing_field",
        "invalid_utf8",
        "empty_required",
        "non_numeric",
        "truncated_json",
        "missing_message_id",
        "null_order_id",
    }


def test_csv_rows_parse_exactly_unless_planted(run):
    """Good rows parse with the declared types; planted rows are rejected at their line."""
    out, _ = run
    defects = _defects(out)
    con = duckdb.connect()
    for t in all_tables():
        if t.format != "csv":
            continue
        required = [i for i, c in enumerate(t.columns) if c.required]
        for f in sorted(out.glob(t.pattern)):
            planted = defects[f.relative_to(out).as_posix()]
            con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
            rows = con.execute(
                f"""select * from read_csv('{f}', header = true, delim = ',', quote = '"',
                    escape = '"', columns = {_columns(t)}, auto_detect = false,
                    strict_mode = true, null_padding = false, store_rejects = true)"""
            ).fetchall()
            rejected = {
                line
                for (line,) in con.execute("select distinct line from reject_errors").fetchall()
            }
            expected = {n for n, kind in planted.items() if kind in PARSE_DEFECTS}
            assert rejected == expected, (f.name, sorted(rejected ^ expected)[:10])
            empty_required = [r for r in rows if any(r[i] is None or r[i] == "" for i in required)]
            assert len(empty_required) == Counter(planted.values())["empty_required"], f.name
            data_lines = f.read_bytes().count(b"\n") - 1
            assert len(rows) + len(rejected) == data_lines


def test_csv_is_rfc4180_without_embedded_newlines(run):
    out, _ = run
    for t in all_tables():
        if t.format != "csv":
            continue
        for f in out.glob(t.pattern):
            raw = f.read_bytes()
            assert b"\r" not in raw
            text = raw.decode("utf-8", errors="replace")
            lines = text.split("\n")
            assert lines[-1] == ""
            for line in lines[:-1]:
                assert line.count('"') % 2 == 0, line  # every quoted field is closed
            # some fields need quoting (commas or quotes inside)
    emails = (out / "email").glob("events*.csv")
    assert any(b'"""Last chance"" reminder' in f.read_bytes() for f in emails)


def test_jsonl_events_follow_the_spec_unless_planted(run):
    out, _ = run
    defects = _defects(out)
    for f in sorted(out.glob("web/events*.jsonl")):
        planted = defects[f.relative_to(out).as_posix()]
        bad = {}
        types = Counter()
        for n, line in enumerate(f.read_bytes().split(b"\n")[:-1], start=1):
            try:
                event = json.loads(line.decode("utf-8"))
                datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
                datetime.strptime(event["sentAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
                assert event["messageId"] and event["anonymousId"]
            except (ValueError, KeyError, AssertionError) as exc:
                bad[n] = type(exc).__name__
                continue
            types[event["type"]] += 1
            assert len(line) < 800
            if event["type"] == "identify" and "userId" in event:
                assert "@" in event["traits"]["email"]
            if event["type"] == "track":
                assert event["event"]
        assert set(bad) == set(planted), sorted(set(bad) ^ set(planted))[:10]
        assert set(types) == {"identify", "page", "track"}
    # DuckDB's JSON functions read the good lines, timestamps cast to TIMESTAMP
    n_good, n_ts = _one(
        f"""select count(*), count(try_cast(json_extract_string(j, '$.timestamp') as timestamp))
            from (select json(line) as j from read_csv('{out}/web/events*.jsonl', columns =
                  {{'line': 'VARCHAR'}}, header = false, delim = '\x1f', quote = '',
                  ignore_errors = true, auto_detect = false) where json_valid(line))"""
    )
    assert n_good > 0 and n_ts >= n_good - sum(
        1 for d in defects.values() for k in d.values() if k == "bad_timestamp"
    )


def test_truth_is_consistent_with_the_files(run):
    out, result = run
    truth = _truth(out)
    defects = _defects(out)
    con = duckdb.connect()
    file_ids: dict[str, set[str]] = {}
    # web: distinct message ids of good lines == truth (duplicates listed once)
    ids, dup = set(), 0
    for f in sorted(out.glob("web/events*.jsonl")):
        planted = defects[f.relative_to(out).as_posix()]
        for n, line in enumerate(f.read_bytes().split(b"\n")[:-1], start=1):
            if n in planted:
                continue
            mid = json.loads(line)["messageId"]
            dup += mid in ids
            ids.add(mid)
    file_ids["web_events"] = ids
    assert 0.002 < dup / len(ids) < 0.01  # ~0.5 % duplicated events
    for t in all_tables():
        if t.format == "jsonl":
            continue
        key = " || '|' || ".join(f"{c}::varchar" for c in t.record_id)
        if t.format == "parquet":
            rows = con.execute(
                f"select {key} from read_parquet('{out}/{t.pattern}') where order_id is not null"
            ).fetchall()
        else:
            # select every column: the reader only casts (and rejects on) the columns it reads
            required = " and ".join(f"{c} is not null" for c in t.required)
            rows = con.execute(
                f"""select {key}, * from read_csv('{out}/{t.pattern}', header = true,
                    columns = {_columns(t)}, auto_detect = false, ignore_errors = true,
                    strict_mode = true, null_padding = false)
                    where {required}"""
            ).fetchall()
        file_ids[t.raw_name] = {r[0] for r in rows}
        assert len(file_ids[t.raw_name]) == len(rows), f"record ids not unique in {t.raw_name}"
    for source, ids in file_ids.items():
        assert set(truth[source]) == ids, source
    assert sum(len(v) for v in truth.values()) == result.truth_records
    # walk-in POS sales belong to nobody; everything else to a person
    persons = {pid for src in truth.values() for pid in src.values() if pid}
    assert 0.9 * N <= len(persons) <= N
    walk_ins = [rid for rid, pid in truth["pos_transactions"].items() if not pid]
    assert walk_ins and len(walk_ins) < len(truth["pos_transactions"])


def test_identifiers_tie_people_and_shared_ones_do_not(run):
    out, _ = run
    truth = _truth(out)
    con = duckdb.connect()

    def csv_rows(pattern: str, cols: str):
        return con.execute(
            f"""select {cols} from read_csv('{out}/{pattern}', header = true, all_varchar = true,
                ignore_errors = true, strict_mode = true, null_padding = false)"""
        ).fetchall()

    # test@test.com is typed by many unrelated people, in support, shop and crm
    junk_people = set()
    for source, pattern, id_col, email_col in [
        ("support_tickets", "support/*.csv", "ticket_id", "requester_email"),
        ("shop_orders", "shop/orders*.csv", "order_id", "email"),
        ("crm_contacts", "crm/*.csv", "contact_id", "email"),
    ]:
        hits = [
            rid
            for rid, email in csv_rows(pattern, f"{id_col}, {email_col}")
            if email and email.strip().lower() == "test@test.com"
        ]
        assert hits, source
        junk_people |= {truth[source][rid] for rid in hits if rid in truth[source]}
    assert len(junk_people) >= 5

    # web userId == shop_customer_id for account holders, of the same person
    orders = csv_rows("shop/orders*.csv", "order_id, shop_customer_id")
    web = con.execute(
        f"""select json_extract_string(j, '$.userId'), json_extract_string(j, '$.messageId')
            from (select json(line) as j from read_csv('{out}/web/events*.jsonl', columns =
                  {{'line': 'VARCHAR'}}, header = false, delim = '\x1f', quote = '',
                  ignore_errors = true, auto_detect = false) where json_valid(line))"""
    ).fetchall()
    user_person = {
        uid: truth["web_events"][mid] for uid, mid in web if uid and mid in truth["web_events"]
    }
    linked = [(oid, cid) for oid, cid in orders if cid and oid in truth["shop_orders"]]
    assert linked
    for oid, cid in linked:
        assert user_person.get(cid) == truth["shop_orders"][oid]
    assert not any(cid and cid.startswith("P") for _, cid in orders)

    # a kiosk device: one anonymousId used by several logged-in people
    kiosk_users = con.execute(
        f"""select max(n) from (select count(distinct json_extract_string(j, '$.userId')) as n
            from (select json(line) as j from read_csv('{out}/web/events*.jsonl', columns =
                  {{'line': 'VARCHAR'}}, header = false, delim = '\x1f', quote = '',
                  ignore_errors = true, auto_detect = false) where json_valid(line))
            group by json_extract_string(j, '$.anonymousId'))"""
    ).fetchone()[0]
    assert kiosk_users >= 3

    # loyalty cards tie POS sales to members of the same person
    cards = {
        card: truth["loyalty_members"].get(mid)
        for mid, card in csv_rows("loyalty/*.csv", "member_id, loyalty_card_id")
    }
    pos = csv_rows("pos/*.csv", "transaction_id, loyalty_card_id")
    carded = [(tid, card) for tid, card in pos if card and tid in truth["pos_transactions"]]
    assert carded
    assert all(cards.get(card) in (None, truth["pos_transactions"][tid]) for tid, card in carded)
    assert any(cards.get(card) == truth["pos_transactions"][tid] for tid, card in carded)

    # the junk phone appears, and messy formats of phones and emails exist
    phones = [ph for (ph,) in csv_rows("crm/*.csv", "phone") if ph]
    assert "0000000000" in phones
    assert any(ph.startswith("(") for ph in phones) and any(ph.startswith("+") for ph in phones)
    emails = [e for (e,) in csv_rows("crm/*.csv", "email") if e]
    assert any(e != e.strip() for e in emails) and any("+" in e for e in emails)
    assert any(e != e.lower() for e in emails)


def test_deterministic_regardless_of_workers_and_rerun(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(400, 3, a, workers=1, part_size=200)
    generate(400, 3, b, workers=2, part_size=200)
    digest = _tree_digest(a)
    assert digest == _tree_digest(b)
    assert "web/events_part-0002.jsonl" in digest
    # a rerun into the same folder replaces the previous files
    generate(150, 4, a, part_size=200)
    assert "web/events_part-0002.jsonl" not in _tree_digest(a)
    assert _tree_digest(a) != digest


def test_seed_and_dates_change_the_data(tmp_path, run):
    out, _ = run
    other = tmp_path / "other"
    generate(N, SEED + 1, other, end_date=date(2025, 6, 1), days=365)
    for name in ("crm/contacts_part-0001.csv", "web/events_part-0001.jsonl"):
        assert (out / name).read_bytes() != (other / name).read_bytes()
    stamps = _one(
        f"""select min(try_cast(created_at as timestamp)), max(try_cast(created_at as timestamp))
            from read_csv('{other}/support/*.csv', header = true, all_varchar = true,
                          ignore_errors = true, strict_mode = true)"""
    )
    assert stamps[0] >= datetime(2024, 6, 1) and stamps[1] < datetime(2025, 6, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"customers": 0},
        {"customers": -5},
        {"customers": 2.5},
        {"seed": "x"},
        {"days": 0},
        {"end_date": "2026-11-20"},
        {"workers": 0},
        {"part_size": 0},
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, kwargs):
    args = {"customers": 10, "seed": 1, "out": tmp_path / "x", **kwargs}
    with pytest.raises(ValueError) as exc:
        generate(**args)
    assert "\n" not in str(exc.value)
