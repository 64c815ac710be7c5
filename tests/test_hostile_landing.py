"""A hostile landing folder, on both warehouses: every load finishes, every row written is in
raw or in quarantine (never both, never twice), a second run adds nothing, and no message
or quarantine text exceeds a few kilobytes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from orchestration.loading.loader import decide, load_tables
from orchestration.loading.parse import TEXT_LIMIT
from orchestration.sources import get_table

CONTACTS = get_table("crm", "contacts")
EVENTS = get_table("web", "events")
ITEMS = get_table("shop", "order_items")
TICKETS = get_table("support", "tickets")
TABLES = [CONTACTS, EVENTS, ITEMS, TICKETS]
HEADER = ",".join(c.name for c in CONTACTS.columns)
MESSAGE_MAX = 2048  # "a few kilobytes": every message and quarantine text stays below


def _row(i: int, **values: str) -> str:
    fields = {c.name: "" for c in CONTACTS.columns}
    fields |= {
        "contact_id": f"h{i}",
        "first_name": "Ann",
        "email": f"a{i}@example.com",
        "created_at": "2026-01-02 10:00:00",
    }
    fields |= values
    return ",".join(fields[c.name] for c in CONTACTS.columns)


def _event(i: int, extra: str = "") -> str:
    return (
        f'{{"messageId":"e{i}","type":"track","event":"x",'
        f'"timestamp":"2026-01-01T00:00:0{i % 10}Z"{extra}}}'
    )


def _corpus(root: Path, outside: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Writes the corpus; returns ({file: CSV records or JSON lines written, every one to
    be found in raw or quarantine}, {refused file: fragment of its reason})."""
    crm, web, shop = root / "crm", root / "web", root / "shop"
    for folder in (crm, web, shop):
        folder.mkdir(parents=True)
    rows: dict[str, int] = {}
    refused: dict[str, str] = {}

    def csv_file(name: str, data: bytes, records: int) -> None:
        (crm / name).write_bytes(data)
        rows[f"crm/{name}"] = records

    nl = "\n"
    csv_file(
        "contacts_01_plain.csv", f"{HEADER}\n{nl.join(_row(i) for i in range(5))}\n".encode(), 5
    )
    csv_file(
        "contacts_02_bom_crlf.csv",
        (
            "\ufeff" + HEADER + "\r\n" + "\r\n".join(_row(i) for i in range(10, 14)) + "\r\n"
        ).encode(),
        4,
    )
    quoted = [
        _row(20, street='"1 Main St\nFlat 2"'),
        _row(21, street='"a ""quoted"" name"'),
        _row(22),
    ]
    csv_file("contacts_03_quoted_newlines.csv", f"{HEADER}\n{nl.join(quoted)}\n".encode(), 3)
    latin1 = [_row(30, first_name="José"), _row(31), _row(32, last_name="Müller", street="Straße")]
    csv_file("contacts_04_latin1.csv", f"{HEADER}\n{nl.join(latin1)}\n".encode("latin-1"), 3)
    long_rows = [_row(40, street="x" * 5_000_000), _row(41, street="y" * 300_000), _row(42)]
    csv_file("contacts_05_long_strings.csv", f"{HEADER}\n{nl.join(long_rows)}\n".encode(), 3)
    nul = [_row(50, first_name="A\x00nn"), _row(51)]
    csv_file("contacts_06_nul.csv", f"{HEADER}\n{nl.join(nul)}\n".encode(), 2)
    # A quote left open takes the lines after it into one malformed record (RFC 4180).
    open_quote = [_row(60), _row(61, street='"open'), _row(62), _row(63)]
    csv_file("contacts_07_open_quote.csv", f"{HEADER}\n{nl.join(open_quote)}\n".encode(), 2)
    csv_file(
        "contacts_08_cr_only.csv",
        ("\r".join([HEADER, _row(70), _row(71, created_at="soon"), _row(72)]) + "\r").encode(),
        3,
    )
    after = [_row(80, street='"two\nlines"'), "h81,short", _row(82), _row(83) + ",extra"]
    csv_file("contacts_09_bad_after_quoted.csv", f"{HEADER}\n{nl.join(after)}\n".encode(), 4)
    # Mixed line ends: a CRLF header over LF rows, one CRLF row, a lone CR in a field (a
    # line end, as Python's csv module takes it too: two short records).
    mixed = (HEADER + "\r\n" + _row(100) + "\n" + _row(101) + "\r\n" + "h102,x\ry\n").encode()
    csv_file("contacts_10_mixed_line_ends.csv", mixed, 4)
    # Odd names: taken literally, never as a pattern or as SQL.
    csv_file("contacts*.csv", f"{HEADER}\n{_row(90)}\n".encode(), 1)
    csv_file("contacts 'q\" [x].csv", f"{HEADER}\n{_row(91)}\n{_row(92)}\n".encode(), 2)

    def refuse(name: str, data: bytes, why: str) -> None:
        (crm / name).write_bytes(data)
        refused[f"crm/{name}"] = why

    refuse("contacts_20_empty.csv", b"", "header does not match")
    refuse("contacts_21_header_only.csv", f"{HEADER}\n".encode(), "no rows")
    refuse("contacts_22_garbage.csv", os.urandom(3000).replace(b"\n", b"."), "header")
    refuse("contacts_23_one_line.csv", b"z" * 3_000_000, "no header line within")
    (outside / "elsewhere.csv").write_text(f"{HEADER}\n{_row(99)}\n")
    (crm / "contacts_24_link.csv").symlink_to(outside / "elsewhere.csv")
    refused["crm/contacts_24_link.csv"] = "symbolic link"
    (crm / "contacts_25_passwd.csv").symlink_to("/etc/passwd")
    refused["crm/contacts_25_passwd.csv"] = "symbolic link"
    os.mkfifo(crm / "contacts_26_fifo.csv")
    refused["crm/contacts_26_fifo.csv"] = "not a regular file"
    linked = outside / "support"  # the landing folder's support/ is a link to it
    linked.mkdir()
    (linked / "tickets_1.csv").write_text(
        ",".join(c.name for c in TICKETS.columns) + "\nt1,,,,,,,,2026-01-01 00:00:00,,\n"
    )
    (root / "support").symlink_to(linked)
    refused["support/tickets_1.csv"] = "linked folder outside the landing folder"
    if os.geteuid() != 0:  # root reads every file
        refuse("contacts_28_unreadable.csv", f"{HEADER}\n{_row(97)}\n".encode(), "Permission")
        os.chmod(crm / "contacts_28_unreadable.csv", 0)

    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    lines = [
        _event(1),
        "[1, 2, 3]",
        '"just a string"',
        "42",
        "null",
        _event(2, f',"properties":{deep}'),
        _event(3, ',"properties":{"note":"a\\u0000b"}'),
        _event(4, ',"properties":{"note":"a\\\\u0000 is text"}'),  # an escaped backslash
        _event(5, ',"properties":{"note":"half \\ud800 pair"}'),  # not JSON: half a pair
        _event(10, ',"properties":{"n":1e999999}'),  # PostgreSQL cannot store the number
        _event(6, ',"properties":{"note":"' + "w" * 200_000 + '"}'),
        '{"messageId":"broken", "type":',
        _event(7),
    ]
    (web / "events_01.jsonl").write_text("\n".join(lines) + "\n")
    rows["web/events_01.jsonl"] = len(lines)
    (web / "events_02_nul_byte.jsonl").write_bytes(
        _event(8).encode()[:-1] + b"\x00}\n" + _event(9).encode() + b"\n"
    )
    rows["web/events_02_nul_byte.jsonl"] = 2
    crlf = f"{_event(11)}\r\n{_event(12)}\n" + _event(13, ',"note":"x\ry"') + "\n"
    (web / "events_03_crlf.jsonl").write_bytes(crlf.encode())
    rows["web/events_03_crlf.jsonl"] = 4  # the lone CR ends a line, as in CSV
    import duckdb

    good = shop / "order_items_02_damaged.parquet"
    duckdb.sql(
        "copy (select 'o' || i as order_id, i::integer as line_number, 's' as sku, "
        "'p' || i as product_name, 'c' as category, 1 as quantity, 1.5 as unit_price "
        "from range(20000) t(i)) to ? (format parquet, compression uncompressed)",
        params=[str(good)],
    )
    data = good.read_bytes()  # a part cut out of the middle: the pages no longer line up
    good.write_bytes(data[: len(data) // 2] + data[len(data) // 2 + 4000 :])
    refused["shop/order_items_02_damaged.parquet"] = ""
    (shop / "order_items_01.parquet").write_bytes(b"PAR1" + os.urandom(500))
    refused["shop/order_items_01.parquet"] = "not a readable Parquet file"
    return rows, refused


def _per_file(target) -> dict[str, tuple[int, int]]:
    raw = {}
    for table in TABLES:
        for f, n in target.fetch_all(
            f"select _source_file, count(*) from raw.{table.raw_name} group by 1"
        ):
            raw[f] = n
    bad = dict(target.fetch_all("select source_file, count(*) from raw.quarantine group by 1"))
    return {f: (raw.get(f, 0), bad.get(f, 0)) for f in set(raw) | set(bad)}


def test_a_hostile_landing_folder_loads_what_it_can_and_loses_nothing(any_target, tmp_path):
    root, outside = tmp_path / "landing", tmp_path / "outside"
    outside.mkdir()
    written, refused = _corpus(root, outside)

    results = load_tables(any_target, TABLES, root)

    errors = {e.split(": ", 1)[0]: e for r in results for e in r.errors}
    assert set(errors) == set(refused), errors
    for file, why in refused.items():
        assert why in errors[file], errors[file]
    for message in errors.values():
        assert len(message) < MESSAGE_MAX and "\n" not in message
        assert "root:" not in message and "zzzz" not in message
    loaded = _per_file(any_target)
    assert {f: sum(n) for f, n in loaded.items()} == written
    # What each case must come to (raw, quarantine).
    assert loaded["crm/contacts_01_plain.csv"] == (5, 0)
    assert loaded["crm/contacts_02_bom_crlf.csv"] == (4, 0)
    assert loaded["crm/contacts_03_quoted_newlines.csv"] == (3, 0)
    assert loaded["crm/contacts_04_latin1.csv"] == (1, 2)
    assert loaded["crm/contacts_05_long_strings.csv"] == (2, 1)
    assert loaded["crm/contacts_06_nul.csv"] == (1, 1)
    assert loaded["crm/contacts_08_cr_only.csv"] == (2, 1)
    assert loaded["crm/contacts*.csv"] == (1, 0)
    assert loaded["crm/contacts_10_mixed_line_ends.csv"] == (2, 2)
    assert loaded["web/events_03_crlf.jsonl"] == (2, 2)
    assert loaded["crm/contacts 'q\" [x].csv"] == (2, 0)
    events = loaded["web/events_01.jsonl"]
    ok_on_both = {"e1", "e4", "e6", "e7", "e9", "e11", "e12"}
    got = {m for (m,) in any_target.fetch_all("select message_id from raw.web_events")}
    if any_target.name == "postgres":  # the number: quarantined with PostgreSQL's reason
        assert got == ok_on_both and events == (4, 9)
    else:
        assert got == ok_on_both | {"e10"} and events == (5, 8)

    quarantine = any_target.fetch_all(
        "select source_file, source_row, reason, raw_text from raw.quarantine"
    )
    for _, _, reason, text in quarantine:
        assert len(reason) <= TEXT_LIMIT and len(text) <= TEXT_LIMIT
        assert "\x00" not in text and "\x00" not in reason
    by_row = {(f, r): (reason, text) for f, r, reason, text in quarantine}
    reason, text = by_row[("crm/contacts_04_latin1.csv", 4)]  # the bytes, not DuckDB's "?"
    assert "M\\xfcller" in text and "Stra\\xdfe" in text, text
    reason, text = by_row[("crm/contacts_06_nul.csv", 2)]
    assert reason == "NUL character in first_name" and "A\\x00nn" in text
    reason, text = by_row[("crm/contacts_05_long_strings.csv", 2)]
    assert text.startswith("h40,Ann,,a40@example.com") and "bytes in all)" in text
    # The record a quote left open: all of its lines are the evidence, none is lost.
    [(reason, text)] = [v for (f, _), v in by_row.items() if f == "crm/contacts_07_open_quote.csv"]
    assert "h61" in text and "h62" in text and "h63" in text
    # A malformed line after a multi-line record: its own bytes, not its neighbour's.
    texts = {t for (f, _), (_, t) in by_row.items() if f == "crm/contacts_09_bad_after_quoted.csv"}
    assert texts == {"h81,short", _row(83) + ",extra"}
    reasons = {r for (f, _), (r, _) in by_row.items() if f == "web/events_01.jsonl"}
    assert {
        "malformed JSON",
        "JSON nested deeper than 64 levels",
        "NUL character (\\u0000) in JSON",
    } <= reasons
    if any_target.name == "postgres":
        [(reason, text)] = [v for (f, r), v in by_row.items() if f.startswith("web/") and r == 10]
        assert reason.startswith("rejected by PostgreSQL: ") and '"e10"' in text, reason

    # A second run adds nothing and refuses the same files again.
    manifest = any_target.fetch_all("select count(*) from raw.load_manifest")
    again = load_tables(any_target, TABLES, root)
    assert {e.split(": ", 1)[0] for r in again for e in r.errors} == set(refused)
    assert _per_file(any_target) == loaded
    assert any_target.fetch_all("select count(*) from raw.load_manifest") == manifest


def test_a_changed_file_never_loads_twice(any_target, tmp_path):
    root = tmp_path / "landing"
    (root / "crm").mkdir(parents=True)
    (root / "web").mkdir()
    contacts, events = root / "crm" / "contacts_1.csv", root / "web" / "events_1.jsonl"
    contacts.write_text(f"{HEADER}\n{_row(1)}\n{_row(2)}\n")
    events.write_text(f"{_event(1)}\n{_event(2)}\n")
    load_tables(any_target, [CONTACTS, EVENTS], root)

    # An export rewritten in place is refused; an append-only log loads only what was added.
    contacts.write_text(f"{HEADER}\n{_row(1)}\n{_row(2)}\n{_row(3)}\n")
    with events.open("a") as fh:
        fh.write(f"{_event(3)}\n{{broken\n")
    contacts_run, events_run = load_tables(any_target, [CONTACTS, EVENTS], root)
    assert "changed since it was loaded" in contacts_run.errors[0]
    assert "cdp landing accept crm/contacts_1.csv" in contacts_run.errors[0]
    assert (events_run.rows_loaded, events_run.rows_quarantined) == (1, 1)
    assert any_target.fetch_all("select message_id, _source_row from raw.web_events order by 2") == [
        ("e1", 1), ("e2", 2), ("e3", 3),
    ]  # fmt: skip
    assert any_target.fetch_all("select source_row from raw.quarantine") == [(4,)]
    # A log rewritten rather than appended to is refused too.
    events.write_text(f"{_event(5)}\n{_event(2)}\n{_event(3)}\n{_event(4)}\n")
    assert "rewritten, not appended" in load_tables(any_target, [EVENTS], root)[0].errors[0]

    # The explicit decision loads the new version whole, once.
    decide(any_target, root, "crm/contacts_1.csv", "accept", "re-export with a new contact")
    assert load_tables(any_target, [CONTACTS], root)[0].rows_loaded == 3
    assert load_tables(any_target, [CONTACTS], root)[0].rows_loaded == 0
    assert any_target.fetch_all("select count(*) from raw.crm_contacts") == [(5,)]


def test_a_file_still_being_uploaded_loads_once_complete(duckdb_target, tmp_path, monkeypatch):
    """A slow upload (a line every 0.1 s) is left alone while it grows and loads whole, once,
    after it settles."""
    monkeypatch.setenv("CDP_LANDING_SETTLE_SECONDS", "0.5")
    root = tmp_path / "landing"
    (root / "crm").mkdir(parents=True)
    path = root / "crm" / "contacts_1.csv"
    total = 40
    path.write_text(HEADER + "\n")

    def upload() -> None:
        with path.open("a") as fh:
            for i in range(total):
                fh.write(_row(i) + "\n")
                fh.flush()
                time.sleep(0.1)

    writer = threading.Thread(target=upload)
    writer.start()
    runs = []
    while writer.is_alive():
        runs.append(load_tables(duckdb_target, [CONTACTS], root)[0])
    writer.join()
    time.sleep(0.6)
    runs.append(load_tables(duckdb_target, [CONTACTS], root)[0])
    # Every run either left the file alone or loaded all of it (a run that began as the
    # upload ended may have); the rows arrived once.
    assert len(runs) > 2 and runs[0].waiting == ["crm/contacts_1.csv"]
    assert all(r.rows_loaded in (0, total) and not r.errors for r in runs)
    assert sum(r.rows_loaded for r in runs) == total
    assert duckdb_target.fetch_all("select count(*) from raw.crm_contacts") == [(total,)]


def test_settle_period_is_a_clear_setting(monkeypatch):
    from orchestration.sources import SourceSpecError, settle_seconds

    monkeypatch.setenv("CDP_LANDING_SETTLE_SECONDS", "soon")
    with pytest.raises(SourceSpecError, match="CDP_LANDING_SETTLE_SECONDS must be a number"):
        settle_seconds()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB file system (tmpfs), unmounted after the test."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_says_so_first_and_keeps_nothing(small_disk, tmp_path, monkeypatch):
    import random
    import string

    from orchestration.loading.loader import LoadError
    from orchestration.warehouse import resolve_warehouse

    monkeypatch.setenv("CDP_DUCKDB_PATH", str(small_disk / "cdp.duckdb"))
    target = resolve_warehouse("duckdb")
    root = tmp_path / "landing"
    (root / "crm").mkdir(parents=True)
    rnd = random.Random(1)  # text that does not compress: more than the disk holds
    names = ("".join(rnd.choices(string.ascii_letters, k=60)) for _ in range(60_000))
    (root / "crm" / "contacts_1.csv").write_text(
        HEADER + "\n" + "".join(f"{_row(i, last_name=n)}\n" for i, n in enumerate(names))
    )
    with pytest.raises(LoadError) as info:
        load_tables(target, [CONTACTS], root)
    message = str(info.value)
    assert "crm/contacts_1.csv" in message and ": no space left on device" in message, message
    assert "rollback" not in message and "\n" not in message
    import subprocess

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    # Nothing of the file was kept: the next run loads it whole.
    assert load_tables(target, [CONTACTS], root)[0].rows_loaded == 60_000
    assert target.fetch_all("select count(*) from raw.crm_contacts") == [(60_000,)]


def test_the_landing_sensor_counts_a_file_once_it_has_settled(tmp_path, monkeypatch):
    """A run started while a file is being written would leave it for the next run; the
    sensor starts that next run, because it sees the file only once it has settled."""
    from orchestration.sensors import scan_landing

    monkeypatch.setenv("CDP_LANDING_SETTLE_SECONDS", "30")
    (tmp_path / "crm").mkdir()
    path = tmp_path / "crm" / "contacts_1.csv"
    path.write_text(f"{HEADER}\n{_row(1)}\n")
    assert scan_landing(tmp_path) == {}
    old = time.time() - 60
    os.utime(path, (old, old))
    assert list(scan_landing(tmp_path)) == ["crm/contacts_1.csv"]


def test_a_link_can_be_skipped_by_decision_and_not_accepted(any_target, tmp_path):
    from orchestration.loading.loader import LoadError

    root = tmp_path / "landing"
    (root / "crm").mkdir(parents=True)
    (tmp_path / "elsewhere.csv").write_text(f"{HEADER}\n{_row(1)}\n")
    (root / "crm" / "contacts_1.csv").symlink_to(tmp_path / "elsewhere.csv")
    assert load_tables(any_target, [CONTACTS], root)[0].blocking
    with pytest.raises(LoadError, match="symbolic link"):
        decide(any_target, root, "crm/contacts_1.csv", "accept", "no")
    decide(any_target, root, "crm/contacts_1.csv", "skip", "not ours")
    result = load_tables(any_target, [CONTACTS], root)[0]
    assert (result.errors, [f.note for f in result.files]) == ([], ["skipped (decision)"])
    assert any_target.fetch_all("select count(*) from raw.crm_contacts") == [(0,)]


def test_decisions_say_what_is_wrong(duckdb_target, tmp_path):
    from orchestration.loading.loader import LoadError

    root = tmp_path / "landing"
    (root / "crm").mkdir(parents=True)
    (root / "crm" / "contacts_1.csv").write_text(f"{HEADER}\n{_row(1)}\n")
    (tmp_path / "other.csv").write_text("x\n")
    cases = {
        "crm/contacts_9.csv": "no file crm/contacts_9.csv in the landing folder",
        str(tmp_path / "other.csv"): "is not inside the landing folder",
        "../other.csv": "is not inside the landing folder",
    }
    for file, message in cases.items():
        with pytest.raises(LoadError, match=message):
            decide(duckdb_target, root, file, "skip", "why")
    with pytest.raises(LoadError, match="say why with --reason"):
        decide(duckdb_target, root, "crm/contacts_1.csv", "skip", "  ")
    load_tables(duckdb_target, [CONTACTS], root)
    with pytest.raises(LoadError, match="is loaded already"):
        decide(duckdb_target, root, "crm/contacts_1.csv", "skip", "too late")


def test_refusals_name_the_command_for_their_target_and_folder(pg_target, tmp_path):
    root = tmp_path / "land ing"
    (root / "crm").mkdir(parents=True)
    contacts = root / "crm" / "contacts_1.csv"
    contacts.write_text(f"{HEADER}\n{_row(1)}\n")
    load_tables(pg_target, [CONTACTS], root)
    contacts.write_text(f"{HEADER}\n{_row(2)}\n")
    [error] = load_tables(pg_target, [CONTACTS], root)[0].errors
    assert f"cdp landing accept crm/contacts_1.csv --target postgres --landing '{root}'" in error
    # The same path under another landing folder is another file.
    other = tmp_path / "other"
    (other / "crm").mkdir(parents=True)
    (other / "crm" / "contacts_1.csv").write_text(f"{HEADER}\n{_row(3)}\n")
    assert load_tables(pg_target, [CONTACTS], other)[0].rows_loaded == 1
