"""Split a generated landing folder in two deliveries, to exercise incremental runs.

The first `share` of every text file's rows goes to `first` under the same name; the rest
goes to `later` as a new file (`<stem>_day2<suffix>`), so copying `later` into `first`
after a run brings a new delivery next to the loaded files. Rows are in generation order,
person by person, so the later part holds late events (old event times) and records that
link identifiers seen before (merges). Parquet files go whole into `first`; the ground
truth (truth/) is left out.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def split_landing(full: Path, first: Path, later: Path, share: float) -> None:
    for path in sorted(full.rglob("*")):
        if path.is_dir() or path.parts[len(full.parts)] == "truth":
            continue
        rel = path.relative_to(full)
        (first / rel).parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            shutil.copy(path, first / rel)
            continue
        lines = path.read_bytes().splitlines(keepends=True)
        header = lines[:1] if path.suffix == ".csv" else []
        body = lines[len(header) :]
        cut = int(len(body) * share)
        (first / rel).write_bytes(b"".join(header + body[:cut]))
        part = later / rel.with_name(f"{rel.stem}_day2{rel.suffix}")
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(b"".join(header + body[cut:]))
