"""Files: each batch of changes written to a folder as CSV, Parquet or JSON lines.

Every file is written under a temporary name in the same folder and renamed into place
(`os.replace`, atomic on one file system), so a reader never sees half a file and a crash
leaves no partial one. Names: `<sync>/<run started, UTC>-<batch number>-<8 hex>.<ext>`,
so they sort in the order written. Each row carries `_key`, `_operation`
(upsert/insert/update/clear/delete), `_idempotency_key` and the mapped fields.

CSV cells are what a spreadsheet evaluates: text starting with `=`, `+`, `-`, `@`, a tab
or a carriage return would run as a formula (CSV injection), so such text is written with
a single quote in front, as OWASP recommends (`=HYPERLINK(...)` becomes `'=HYPERLINK(...)`,
a phone `+44...` becomes `'+44...`). Numbers are left as they are: numeric values, and text
that is a plain number such as `-12.5` (a removed record's fields come back from the state
as text). Parquet and JSON lines carry typed values, not cells a spreadsheet evaluates, and
are written as the model holds them.

Erasure (`erase`): every export file the destination wrote in its folder (the names above,
any of the three formats) is rewritten without the rows whose `_key` is one of the records'
keys, each the same way a batch is written (a temporary file in the same folder, fsync,
rename over the old one, which keeps its name and mode); files holding none of them are left
alone. A record is deleted when a row of it went, not found when no file held one. A file
that cannot be read or rewritten fails every record of the call, as it may hold their rows;
the other files are rewritten all the same.

Settings: folder (or folder_env; a relative folder is under the project), format (csv | parquet | jsonl), batch_size (100,000).
"""

from __future__ import annotations

import csv
import json
import os
import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.activation.destinations.base import (
    BatchResult,
    ConfigError,
    Destination,
    Erasure,
    ErasureAnswer,
    Record,
)

FORMATS = ("csv", "parquet", "jsonl")
EXPORT_NAME = re.compile(r"\d{8}T\d{6}Z-\d{5,}-[0-9a-f]{8}\.(csv|parquet|jsonl)")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def csv_cell(value: Any) -> Any:
    """The value as a CSV cell a spreadsheet shows as text: text that would start a formula
    gets a leading `'`; numbers (and text that is only a negative number) stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        if not PLAIN_NUMBER.fullmatch(value):
            return "'" + value
    return value


class FileExport(Destination):
    kind = "file"
    channel = None
    concurrency = 1

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.format = config.get("format", "csv")
        if self.format not in FORMATS:
            raise ConfigError(f"file: format {self.format!r} is not one of {', '.join(FORMATS)}")
        self.batch_size = int(config.get("batch_size", 100_000))
        self.sync_name = config.get("sync_name", "export")
        self._seq = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        folder = self.config.get("folder")  # or from folder_env (see Destination)
        if not folder:
            raise ConfigError("file: set `folder`, or `folder_env` to a variable holding it")
        from orchestration.warehouse import PROJECT_DIR

        self.folder = (PROJECT_DIR / folder) / self.sync_name  # relative: to the project
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    def _rows(self, batch: list[Record]) -> tuple[list[str], list[dict]]:
        names = list(dict.fromkeys(f for r in batch for f in r.fields))
        rows = [
            {
                "_key": r.key,
                "_operation": r.operation,
                "_idempotency_key": r.idempotency_key,
                **{n: r.fields.get(n) for n in names},
            }
            for r in batch
        ]
        return ["_key", "_operation", "_idempotency_key", *names], rows

    def send(self, batch: list[Record]) -> BatchResult:
        with self._lock:
            self._seq += 1
            seq = self._seq
        final = self.folder / f"{self.stamp}-{seq:05d}-{uuid.uuid4().hex[:8]}.{self.format}"
        tmp = final.with_name(f".{final.name}.tmp")
        columns, rows = self._rows(batch)
        try:
            if self.format == "csv":
                with open(tmp, "w", newline="", encoding="utf-8") as fh:
                    writer = csv.DictWriter(fh, fieldnames=columns)
                    writer.writerow({c: csv_cell(c) for c in columns})
                    writer.writerows({c: csv_cell(v) for c, v in row.items()} for row in rows)
                    fh.flush()
                    os.fsync(fh.fileno())
            elif self.format == "jsonl":
                with open(tmp, "w", encoding="utf-8") as fh:
                    for row in rows:
                        fh.write(json.dumps(row, default=str) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                self._parquet(tmp, columns, rows)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return BatchResult(confirmed={r.key: final.name for r in batch})

    @staticmethod
    def _parquet(path: Path, columns: list[str], rows: list[dict]) -> None:
        import duckdb
        import pandas as pd

        frame = pd.DataFrame(rows, columns=columns)
        with duckdb.connect(":memory:") as con:
            con.register("batch", frame)
            con.execute(f"copy batch to '{path}' (format parquet)")

    # -- erasure ------------------------------------------------------------------------

    def erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """Rewrite the export files without the records' rows; one answer per record."""
        keys = {str(r.key) for r in records}
        files: dict[str, int] = dict.fromkeys(keys, 0)  # key -> how many files lost its rows
        failure = ""
        with self._lock:
            for path in sorted(self.folder.iterdir()):
                match = EXPORT_NAME.fullmatch(path.name)
                if not match or not path.is_file():
                    continue
                try:
                    gone = self._rewrite(path, match.group(1), keys)
                except Exception as exc:  # the other files are still cleaned; answers fail
                    failure = failure or f"could not rewrite {path.name}: {type(exc).__name__}"
                    continue
                for key in gone:
                    files[key] += 1
            _fsync_folder(self.folder)
        if failure:  # the file may hold rows of any of them: the erasure stays open
            return [ErasureAnswer(r.key, "failed", failure) for r in records]
        answers = []
        for r in records:
            n = files[str(r.key)]
            if n:
                detail = f"removed from {n} export file" + ("s" if n > 1 else "")
                answers.append(ErasureAnswer(r.key, "deleted", detail))
            else:
                answers.append(ErasureAnswer(r.key, "not_found", "in no export file"))
        return answers

    def _rewrite(self, path: Path, fmt: str, keys: set[str]) -> set[str]:
        """Replace the file by a copy without the rows of `keys`; the keys it held. A file
        holding none of them is not touched."""
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            if fmt == "csv":
                gone = _rewrite_csv(path, tmp, keys)
            elif fmt == "jsonl":
                gone = _rewrite_jsonl(path, tmp, keys)
            else:
                gone = _rewrite_parquet(path, tmp, keys)
            if gone:
                os.chmod(tmp, path.stat().st_mode & 0o7777)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return gone


def _rewrite_csv(path: Path, tmp: Path, keys: set[str]) -> set[str]:
    """The rows are copied cell for cell (already neutralised when written); `_key` cells
    are compared with the keys as they were written (`csv_cell`)."""
    cells = {csv_cell(k): k for k in keys}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return set()
    at = rows[0].index("_key")  # ValueError: not an export file of this destination
    gone = {cells[row[at]] for row in rows[1:] if len(row) > at and row[at] in cells}
    if gone:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)  # the dialect csv.DictWriter wrote the file with
            writer.writerow(rows[0])
            writer.writerows(r for r in rows[1:] if not (len(r) > at and r[at] in cells))
            fh.flush()
            os.fsync(fh.fileno())
    return gone


def _rewrite_jsonl(path: Path, tmp: Path, keys: set[str]) -> set[str]:
    """The lines kept are copied as they are."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    kept, gone = [], set()
    for line in lines:
        key = str(json.loads(line).get("_key")) if line.strip() else None
        if key in keys:
            gone.add(key)
        else:
            kept.append(line)
    if gone:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(kept)
            fh.flush()
            os.fsync(fh.fileno())
    return gone


def _rewrite_parquet(path: Path, tmp: Path, keys: set[str]) -> set[str]:
    """DuckDB copies the rows kept, with the file's column types."""
    import duckdb

    source = "read_parquet('{}')".format(str(path).replace("'", "''"))
    target = "'{}'".format(str(tmp).replace("'", "''"))
    with duckdb.connect(":memory:") as con:
        con.execute("create table erased as select unnest(?::varchar[]) as k", [sorted(keys)])
        found = con.execute(
            f"select distinct _key::varchar from {source} where _key::varchar in "
            "(select k from erased)"
        ).fetchall()
        gone = {row[0] for row in found}
        if gone:
            con.execute(
                f"copy (select * from {source} where _key::varchar not in (select k from erased)) "
                f"to {target} (format parquet)"
            )
    if gone:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return gone


def _fsync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
