"""Landing files rewritten without an erased person's lines, with the load manifest and the
rows' lineage kept in step, so that nothing reloads and every other row keeps its place.

A raw row and a quarantined row know the load they came in (load id -> file and landing
folder in raw.load_manifest) and their line in the file (`_source_row`, counted as the
loader counts: physical lines, the header included). Per file:

  1. plan: the file without those lines is written beside it (a hidden temporary file,
     fsynced) and recorded in privacy.erasure_files with the old and new checksums, and
     each removed line in the working set;
  2. swap: the temporary file replaces the file in one rename;
  3. commit, in one transaction: the file's newest manifest row takes the new checksum and
     size (so the next load sees a file it has loaded), the rows read by its loads drop by
     the lines removed, every row loaded from it after a removed line moves up (raw,
     staging and quarantine), and the file is marked done.

A rerun after a crash looks at the file's checksum: the old one means step 1 again, the
new one means step 3. Each line is checked before it goes: a raw row's line must hold its
record id, a quarantined line one of the person's values, else nothing is rewritten.
Parquet files are rewritten without the rows (numbered as the loader numbers them).

The generator's ground truth (truth/record_person.csv, read by the identity quality
check) loses the person's records too.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from orchestration.identity.metrics import TRUTH_FILE
from orchestration.loading.loader import MANIFEST_TABLE, QUARANTINE_TABLE
from orchestration.privacy.store import FILES, ITEMS
from orchestration.privacy.store import base_tables as store_base_tables
from orchestration.privacy.store import items as store_items
from orchestration.warehouse import RAW_SCHEMA, Session, quote_ident, sql_literal

LINEAGE = ("_load_id", "_source_row")
QUARANTINE_LINEAGE = ("load_id", "source_row")


class LandingError(RuntimeError):
    """A file cannot be rewritten safely; the message is one line."""


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def planned_lines(run, request_id: str) -> dict[tuple[str, str, str], dict[int, str]]:
    """{(landing folder, file, table): {line: what must be on it}} for the person's rows."""
    rows = run(
        f"select m.landing_dir, m.file_path, m.table_name, i.kind, i.k3 "
        f"from {ITEMS} i join {RAW_SCHEMA}.{MANIFEST_TABLE} m on m.load_id = i.k2 "
        "where i.request_id = ? and i.kind in ('raw_row', 'quarantine')",
        [request_id],
    )
    out: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    for landing_dir, rel, table, kind, line in rows:
        out[(landing_dir, rel, table)][int(line)] = kind
    return dict(out)


def rewrite_all(
    session: Session,
    request_id: str,
    expected: Callable[[str, str], list[str]],
    progress: Callable[[str, str], None] | None = None,
) -> dict:
    """Rewrite every landing file holding the person's lines; returns what was done.
    `expected(kind, table)` gives the texts one of which a removed line must hold (lower
    case). `progress(event, file)` is told of each file's `planned` and `done`."""
    run = session.run
    done = {
        (d, f): (status, old, new)
        for d, f, status, old, new in run(
            f"select landing_dir, file_path, status, old_checksum, new_checksum from {FILES} "
            "where request_id = ?",
            [request_id],
        )
    }
    report: dict = {"files": [], "not_rewritten": []}
    for (landing_dir, rel, table), lines in sorted(planned_lines(run, request_id).items()):
        path = Path(landing_dir) / rel
        state = done.get((landing_dir, rel))
        if state and state[0] == "done":
            report["files"].append({"file": rel, "lines_removed": len(lines)})
            continue
        if not path.is_file():
            report["not_rewritten"].append({"file": rel, "why": "no longer in the landing folder"})
            continue
        current, _ = _sha256(path)
        if state and current == state[2]:  # swapped before a crash: commit it
            _commit(session, request_id, landing_dir, rel, table, lines, path)
        else:
            if state and current != state[1]:
                raise LandingError(
                    f"{path} changed after the erasure planned its rewrite; restore it or "
                    "remove the file, then resume"
                )
            tmp = _plan(session, request_id, landing_dir, rel, table, lines, path, expected)
            if progress:
                progress("planned", rel)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            _commit(session, request_id, landing_dir, rel, table, lines, path)
        if progress:
            progress("done", rel)
        report["files"].append({"file": rel, "lines_removed": len(lines)})
    folders = {d for (d,) in run(f"select distinct landing_dir from {RAW_SCHEMA}.{MANIFEST_TABLE}")}
    rewritten = {
        (old, new): Path(d) / f
        for d, f, old, new in run(
            f"select landing_dir, file_path, old_checksum, new_checksum from {FILES} "
            "where request_id = ? and status = 'done'",
            [request_id],
        )
    }
    records = {(a, b) for a, b, _ in store_items(run, request_id, "record")}
    for folder in sorted(folders):
        for copy in _copies(Path(folder), rewritten):
            report["files"].append({"file": str(copy), "copy_rewritten": True})
        if removed := _without_truth_records(Path(folder) / TRUTH_FILE, records):
            report["files"].append(
                {"file": str(Path(folder) / TRUTH_FILE), "lines_removed": removed}
            )
    return report


def _copies(folder: Path, rewritten: dict[tuple[str, str], Path]) -> list[Path]:
    """Files of a landing folder that are copies of a file as it was before the erasure
    rewrote it (the same content, left out of loads as already loaded): replaced by the
    rewritten file, so they stay copies of a loaded file and hold nothing of the person."""
    if not folder.is_dir() or not rewritten:
        return []
    by_old = {old: path for (old, _), path in rewritten.items()}
    replaced = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest, _ = _sha256(path)
        match = by_old.get(digest)
        if match is None or match == path:
            continue
        tmp = path.with_name(f".{path.name}.erasing")
        shutil.copyfile(match, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        replaced.append(path)
    return replaced


def _without_truth_records(path: Path, records: set[tuple[str, str]]) -> int:
    """The generator's ground truth without the person's records; lines removed."""
    if not path.is_file():
        return 0
    tmp = path.with_name(f".{path.name}.erasing")
    removed = 0
    with open(path, newline="", encoding="utf-8") as src, open(tmp, "w", newline="") as out:
        reader = csv.reader(src)
        writer = csv.writer(out, lineterminator="\n")
        header = next(reader, None)
        if header is None or header[:2] != ["source", "source_record_id"]:
            tmp.unlink()
            return 0
        writer.writerow(header)
        for row in reader:
            if tuple(row[:2]) in records:
                removed += 1
            else:
                writer.writerow(row)
        out.flush()
        os.fsync(out.fileno())
    if removed:
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    else:
        tmp.unlink()
    return removed


def _plan(session, request_id, landing_dir, rel, table, lines, path: Path, expected) -> Path:
    tmp = path.with_name(f".{path.name}.erasing-{request_id}")
    if path.suffix.lower() == ".parquet":
        _without_parquet_rows(path, tmp, lines, table, expected)
    else:
        _without_lines(path, tmp, lines, table, expected)
    old, _ = _sha256(path)
    new, _ = _sha256(tmp)
    with session.transaction() as tx:
        tx.run(
            f"delete from {FILES} where request_id = ? and landing_dir = ? and file_path = ?",
            [request_id, landing_dir, rel],
        )
        tx.run(
            f"insert into {FILES} values (?, ?, ?, ?, ?, ?, 'planned')",
            [request_id, landing_dir, rel, old, new, len(lines)],
        )
    return tmp


def _without_lines(path: Path, tmp: Path, lines: dict[int, str], table: str, expected) -> None:
    """A text file (CSV, JSON lines) without the lines `lines`, each checked first."""
    remaining = dict(lines)
    with open(path, "rb") as src, open(tmp, "wb") as out:
        for number, line in enumerate(src, start=1):
            kind = remaining.pop(number, None)
            if kind is None:
                out.write(line)
                continue
            text = line.decode("utf-8", "replace").lower()
            if not any(value in text for value in expected(kind, table)):
                tmp.unlink(missing_ok=True)
                raise LandingError(
                    f"{path}: line {number} does not hold the row the warehouse says it "
                    "does; nothing was rewritten (was the file edited after it was loaded?)"
                )
        out.flush()
        os.fsync(out.fileno())
    if remaining:
        tmp.unlink(missing_ok=True)
        raise LandingError(f"{path} has fewer lines than the rows loaded from it")


def _without_parquet_rows(path: Path, tmp: Path, rows: dict[int, str], table: str, expected):
    """A Parquet file without the rows `rows` (numbered from 1, as the loader numbers
    them), each checked first; the rest keep their order, columns and types."""
    from orchestration.warehouse.duckdb import connect_scratch

    con = connect_scratch(None)
    try:
        source = sql_literal(str(path))
        marks = ", ".join(str(int(r)) for r in sorted(rows))
        found = con.execute(
            f"select file_row_number + 1, lower(to_json(t)::varchar) from "
            f"read_parquet({source}, file_row_number = true) as t "
            f"where file_row_number + 1 in ({marks})"
        ).fetchall()
        for number, text in found:
            if not any(value in text for value in expected(rows[number], table)):
                raise LandingError(
                    f"{path}: row {number} does not hold the row the warehouse says it does; "
                    "nothing was rewritten (was the file replaced after it was loaded?)"
                )
        if len(found) != len(rows):
            raise LandingError(f"{path} has fewer rows than the rows loaded from it")
        con.execute(
            f"copy (select * exclude (file_row_number) from read_parquet({source}, "
            f"file_row_number = true) where file_row_number + 1 not in ({marks}) "
            f"order by file_row_number) to {sql_literal(str(tmp))} (format parquet)"
        )
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()


def _commit(session, request_id, landing_dir, rel, table, lines, path: Path) -> None:
    new, size = _sha256(path)
    removed = sorted(lines)
    with session.transaction() as tx:
        run = tx.run
        loads = run(
            f"select load_id, rows_read from {RAW_SCHEMA}.{MANIFEST_TABLE} "
            "where table_name = ? and file_path = ? and landing_dir = ? "
            "order by loaded_at desc",
            [table, rel, landing_dir],
        )
        if loads:
            run(
                f"update {RAW_SCHEMA}.{MANIFEST_TABLE} set checksum = ?, size_bytes = ? "
                "where load_id = ?",
                [new, size, loads[0][0]],
            )
            left = len(removed)
            for load_id, rows_read in loads:  # newest first, none below zero
                take = min(left, int(rows_read or 0))
                if take:
                    run(
                        f"update {RAW_SCHEMA}.{MANIFEST_TABLE} set rows_read = rows_read - ? "
                        "where load_id = ?",
                        [take, load_id],
                    )
                left -= take
        load_ids = [load for load, _ in loads]
        key = f"{landing_dir}\x1f{rel}"
        run(f"delete from {ITEMS} where request_id = ? and kind = 'line' and k1 = ?",
            [request_id, key])  # fmt: skip
        for line in removed:
            run(f"insert into {ITEMS} values (?, 'line', ?, ?, null)", [request_id, key, str(line)])
        for relation, (load_col, row_col) in _lineage_tables(run):
            _shift(run, request_id, key, relation, load_col, row_col, load_ids, removed)
        run(
            f"update {FILES} set status = 'done' where request_id = ? and landing_dir = ? "
            "and file_path = ?",
            [request_id, landing_dir, rel],
        )


def _lineage_tables(run) -> list[tuple[str, tuple[str, str]]]:
    """Every table whose rows know their load and line: raw, staging, quarantine."""
    out = []
    for relation, columns in store_base_tables(run).items():
        if set(LINEAGE) <= set(columns):
            out.append((relation, LINEAGE))
        elif relation == f"{RAW_SCHEMA}.{QUARANTINE_TABLE}":
            out.append((relation, QUARANTINE_LINEAGE))
    return out


def _shift(run, request_id, key, relation, load_col, row_col, load_ids, removed) -> None:
    """Rows of these loads after a removed line move up by the lines removed before them
    (the removed lines are the working set's `line` items of the file `key`)."""
    if not load_ids or not removed:
        return
    loads = ", ".join("?" for _ in load_ids)
    row = quote_ident(row_col)
    run(
        f"update {relation} set {row} = {row} - (select count(*) from {ITEMS} i "
        f"where i.request_id = ? and i.kind = 'line' and i.k1 = ? "
        f"and cast(i.k2 as bigint) < {relation}.{row}) "
        f"where {quote_ident(load_col)} in ({loads}) and {row} > ?",
        [request_id, key, *load_ids, removed[0]],
    )


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
