"""Privacy requests from files: a ticketing system's export dropped in the landing folder.

    <landing>/privacy/requests*.csv    request_ref,kind,identifier,requested_by

`kind` is erase or export. Each row is taken once (by file and request_ref, kept in
privacy.intake with the request it started), then its identifier is replaced in the file
by `[request <id>]`, so the file keeps no personal value once read. The folder is outside
what loaders read and what an erasure's verification searches (it holds the requests).
Run by `cdp privacy intake` and by the Dagster asset privacy/requests.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.privacy import store

FOLDER = "privacy"
PATTERN = "requests*.csv"
COLUMNS = ("request_ref", "kind", "identifier", "requested_by")
INTAKE = f"{store.SCHEMA}.intake"
INTAKE_COLUMNS = [
    ("file_path", "varchar"),
    ("request_ref", "varchar"),
    ("request_id", "varchar"),
    ("kind", "varchar"),
    ("outcome", "varchar"),
    ("taken_at", "timestamp"),
]


@dataclass
class Taken:
    rows: list[dict] = field(default_factory=list)  # {file, request_ref, kind, request_id, outcome}
    errors: list[str] = field(default_factory=list)  # one line each, no identifier


def take(warehouse, landing_dir: Path, export_dir: Path, syncs=None) -> Taken:
    """Start (or finish) every request of the intake files not taken yet."""
    from orchestration.privacy import erasure, export
    from orchestration.privacy.resolve import NotFound

    taken = Taken()
    folder = Path(landing_dir) / FOLDER
    files = sorted(folder.glob(PATTERN)) if folder.is_dir() else []
    with warehouse.session() as session, session.transaction() as tx:
        store.ensure(warehouse, tx)
        tx.run(f"create table if not exists {INTAKE} ({warehouse.column_ddl(INTAKE_COLUMNS)})")
    for path in files:
        rel = str(path.relative_to(landing_dir))
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                taken.errors.append(f"{rel}: needs the columns {', '.join(missing)}")
                continue
            rows = list(reader)
        seen = dict(warehouse.fetch_all(
            f"select request_ref, request_id from {INTAKE} where file_path = ?", [rel]))  # fmt: skip
        for number, row in enumerate(rows, start=2):
            ref = (row.get("request_ref") or "").strip()
            kind = (row.get("kind") or "").strip().lower()
            if ref in seen:  # taken before (a crash may have kept the file as it was)
                row["identifier"] = f"[request {seen[ref]}]" if seen[ref] else "[not taken]"
            if not ref or ref in seen:
                continue
            where = f"{rel} line {number} ({ref})"
            if kind not in ("erase", "export"):
                taken.errors.append(f"{where}: kind must be erase or export, not {kind!r}")
                continue
            by = (row.get("requested_by") or "").strip() or f"intake {rel}"
            try:
                if kind == "erase":
                    outcome = erasure.erase(
                        warehouse, row["identifier"], requested_by=by, syncs=syncs
                    )
                    request_id, result = outcome.request_id, outcome.status
                else:
                    request_id, *_ = export.export(
                        warehouse, row["identifier"], export_dir, requested_by=by
                    )
                    result = "done"
            except (NotFound, ValueError) as exc:
                request_id, result = None, f"not taken: {str(exc).splitlines()[0]}"
                result = result.replace(row["identifier"].strip(), "[identifier]")
            with warehouse.session() as session:
                session.run(
                    f"insert into {INTAKE} values (?, ?, ?, ?, ?, ?)",
                    [rel, ref, request_id, kind, result, store.now()],
                )
            seen[ref] = request_id
            row["identifier"] = f"[request {request_id}]" if request_id else "[not taken]"
            taken.rows.append(
                {"file": rel, "request_ref": ref, "kind": kind, "request_id": request_id,
                 "outcome": result}
            )  # fmt: skip
        _rewrite(path, rows)
    return taken


def _rewrite(path: Path, rows: list[dict]) -> None:
    """The intake file with the identifiers of the rows taken replaced (one rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
