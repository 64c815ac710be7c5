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
    Record,
)

FORMATS = ("csv", "parquet", "jsonl")
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
