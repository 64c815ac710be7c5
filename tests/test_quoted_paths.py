"""Paths and values never become SQL text: folders and files named with quotes, spaces and
glob characters are read and written as they are, on both warehouses.

Every awkward folder has a decoy next to it that its name, taken as a glob pattern, would
match: a reader that globs reads the decoy (or nothing) instead of the file."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from support import cdp, cdp_run

from orchestration.identity.metrics import compute
from orchestration.loading.loader import raw_row_counts
from orchestration.warehouse import resolve_warehouse

AWKWARD = 'land\'ing "x" *[1]'
DECOY = 'land\'ing "x" decoy1'  # what AWKWARD matches as a glob pattern
TRUTH_HEADER = "source,source_record_id,person_id\n"


def _awkward(parent: Path, name: str = AWKWARD) -> Path:
    """parent/name, and beside it an empty decoy folder that the name, taken as a glob
    pattern, matches."""
    folder = parent / name
    folder.mkdir(parents=True)
    (parent / name.replace("*[1]", "decoy1")).mkdir()
    return folder


@pytest.fixture
def awkward_tmpdir(tmp_path, monkeypatch) -> Path:
    """TMPDIR (and tempfile's cached copy of it) in a folder with a quote, a space and glob
    characters."""
    folder = _awkward(tmp_path / "tmp", 'tmp\'dir "t" *[1]')
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def awkward_target(request, tmp_path, monkeypatch, awkward_tmpdir):
    """duckdb: a warehouse file whose folder and name have quotes and glob characters;
    postgres: a fresh database. Both with the awkward TMPDIR."""
    if request.param == "duckdb":
        folder = _awkward(tmp_path / "wh", 'ware\'house "w" *[1]')
        monkeypatch.setenv("CDP_DUCKDB_PATH", str(folder / "cdp'.duckdb"))
        monkeypatch.setenv("CDP_TARGET", "duckdb")
        return resolve_warehouse("duckdb")
    return request.getfixturevalue("pg_target")


BOTH = pytest.mark.parametrize("awkward_target", ["duckdb", "postgres"], indirect=True)


def _truth(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = folder / "truth" / "record_person.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TRUTH_HEADER + "".join(f"{s},{r},{p}\n" for s, r, p in rows))
    return path


@BOTH
def test_identity_metrics_read_truth_from_an_awkward_landing_folder(awkward_target, tmp_path):
    target = awkward_target
    records = [("crm", "c1"), ("crm", "c2"), ("shop", "o'1"), ("shop", 'o"2')]
    target.replace_table(
        "marts",
        "bdg_customer_source_records",
        [("source", "varchar"), ("source_record_id", "varchar"), ("customer_id", "varchar")],
        [(s, r, c) for (s, r), c in zip(records, ["A", "A", "B", "B"], strict=True)],
    )
    target.replace_table(
        "marts",
        "bdg_customer_identifiers",
        [
            ("customer_id", "varchar"),
            ("identifier_type", "varchar"),
            ("identifier_value", "varchar"),
        ],
        [("A", "email", "a@x.com"), ("A", "phone", "+14155550100"), ("B", "email", "b@x.com")],
    )
    target.replace_table(
        "intermediate",
        "int_identifiers_normalised",
        [
            ("source", "varchar"),
            ("source_record_id", "varchar"),
            ("identifier_type", "varchar"),
            ("identifier_value", "varchar"),
        ],
        [(s, r, "email", "a@x.com") for s, r in records[:3]] + [(*records[3], "phone", "+1")],
    )
    landing = _awkward(tmp_path / "landing")
    # the truth: c1, c2 and o'1 are one person, o"2 another
    truth = _truth(landing, [("crm", "c1", "p1"), ("crm", "c2", "p1"), ("shop", "o'1", "p1")])
    with truth.open("a") as fh:
        fh.write('shop,"o""2",p2\n')
    # the decoy: every record its own person
    _truth(
        landing.parent / DECOY,
        [(s, r.replace('"', '""'), f"d{i}") for i, (s, r) in enumerate(records)],
    )

    metrics = compute(target, truth)

    assert metrics.truth_records == 4
    assert (metrics.customers, metrics.records_matched) == (2, 4)
    assert metrics.largest_customer_identifiers == 2
    # pairs: true {c1 c2, c1 o'1, c2 o'1}; predicted {c1 c2, o'1 o"2}; both {c1 c2}
    assert (metrics.precision, metrics.recall) == (0.5, round(1 / 3, 5))
    assert metrics.recall_ceiling == 1.0  # c1, c2 and o'1 share the email


@BOTH
def test_warehouse_helpers_write_through_an_awkward_tmpdir(awkward_target):
    target = awkward_target
    columns = [("id", "integer"), ("text", "varchar")]
    values = ["it's", 'say "hi"', "a,b", "line\nbreak", "'); drop table x; --", None,
              "carriage\rreturn", "crlf\r\nend"]  # fmt: skip
    rows = list(enumerate(values))
    assert target.replace_table("quoted", "values_kept", columns, rows, primary_key="id") == 8
    assert target.append_rows("quoted", "values_kept", columns, [(8, "*[1]?")]) == 1
    assert sorted(target.fetch_all("select id, text from quoted.values_kept")) == [
        *rows,
        (8, "*[1]?"),
    ]
    # a second replace (the Postgres primary key index is renamed each time)
    target.replace_table("quoted", "values_kept", columns, rows[:2], primary_key="id")
    assert target.fetch_all("select count(*) from quoted.values_kept") == [(2,)]

    target.append_rows("raw", "crm_contacts", [("contact_id", "varchar")], [("c'1",), ("c2",)])
    counts = raw_row_counts(target)
    assert counts["crm_contacts"] == 2
    assert set(counts.values()) == {0, 2}


def test_generate_into_an_awkward_folder(tmp_path, awkward_tmpdir):
    from orchestration.generator import generate

    plain = tmp_path / "plain"
    generate(50, 3, plain)
    out = _awkward(tmp_path / "out")
    proc = cdp("generate", "--customers", "50", "--seed", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(plain) for p in plain.rglob("*") if p.is_file())
    assert len(written) > 9
    for rel in written:
        assert (out / rel).read_bytes() == (plain / rel).read_bytes(), rel
    assert not any(out.parent.joinpath(DECOY).iterdir())


@pytest.mark.slow
def test_cdp_run_on_an_awkward_landing_folder(tmp_path, monkeypatch, awkward_tmpdir):
    """The whole pipeline on DuckDB, from generated files in an awkward folder to the identity
    metrics, into a DuckDB file in an awkward folder (about a minute). The file's own name is
    plain: dbt-duckdb names the database after it and writes that name into its SQL as is."""
    landing = _awkward(tmp_path / "landing")
    proc = cdp("generate", "--customers", "50", "--seed", "5", "--out", str(landing))
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = _awkward(tmp_path / "wh", 'ware\'house "w" *[1]')
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(folder / "cdp.duckdb"))
    target = resolve_warehouse("duckdb")

    cdp_run(landing, tmp_path)

    counts = raw_row_counts(target)
    assert all(counts.values()), counts
    truth = landing / "truth" / "record_person.csv"
    metrics = compute(target, truth)
    with truth.open(newline="") as fh:
        assert metrics.truth_records == sum(1 for row in csv.DictReader(fh) if row["person_id"])
    assert metrics.precision >= 0.99, metrics
    assert not any(landing.parent.joinpath(DECOY).iterdir())
