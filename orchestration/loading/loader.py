"""Load landing files into the warehouse's raw schema: append-only, idempotent, nothing lost.

For each file matching a table's pattern:
  1. checksum it; a checksum already in raw.load_manifest for that table is skipped;
  2. parse it in DuckDB (orchestration.loading.parse) into good rows and quarantine, and
     move the rows failing the table's row-level expectations to quarantine too
     (orchestration.loading.row_contract);
  3. in one transaction, append good rows to raw.<source>_<table> (with load id, file,
     row number and load time), bad rows to raw.quarantine (raw text, file, row, reason),
     and one row to raw.load_manifest. A crash leaves either all of it or none.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestration.loading import row_contract
from orchestration.loading.parse import BatchError, parse_file
from orchestration.sources import Table, load_sources
from orchestration.warehouse import (
    RAW_SCHEMA,
    Target,
    column_ddl,
    duckdb_connect,
    pg_connect,
)

MANIFEST_TABLE = "load_manifest"
QUARANTINE_TABLE = "quarantine"

MANIFEST_COLUMNS = [
    ("load_id", "varchar"),
    ("source", "varchar"),
    ("table_name", "varchar"),
    ("file_path", "varchar"),
    ("landing_dir", "varchar"),
    ("checksum", "varchar"),
    ("size_bytes", "bigint"),
    ("rows_read", "bigint"),
    ("rows_loaded", "bigint"),
    ("rows_quarantined", "bigint"),
    ("started_at", "timestamp"),
    ("loaded_at", "timestamp"),
]
QUARANTINE_COLUMNS = [
    ("load_id", "varchar"),
    ("source", "varchar"),
    ("table_name", "varchar"),
    ("source_file", "varchar"),
    ("source_row", "bigint"),
    ("reason", "varchar"),
    ("raw_text", "varchar"),
    ("quarantined_at", "timestamp"),
]

Progress = Callable[[str, int], None]  # (message, bytes done in this file)


# Batch contract (besides a readable file with the declared header): a file must hold rows,
# and not fewer than VOLUME_MIN_RATIO of the median of the table's last VOLUME_HISTORY loads
# once it has VOLUME_MIN_LOADS of them. CDP_ACCEPT_VOLUME_DROP=1 lets a small file through.
VOLUME_HISTORY = 5
VOLUME_MIN_LOADS = 3
VOLUME_MIN_RATIO = 0.1


class LoadError(RuntimeError):
    """A load cannot proceed; the message is one line for the user."""


@dataclass
class FileLoad:
    file: str
    checksum: str
    size_bytes: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    skipped: bool = False
    seconds: float = 0.0


@dataclass
class TableLoad:
    table: Table
    files: list[FileLoad] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def files_loaded(self) -> int:
        return sum(1 for f in self.files if not f.skipped)

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.skipped)


def checksum(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def landing_files(table: Table, landing_dir: Path) -> list[Path]:
    return sorted(p for p in landing_dir.glob(table.pattern) if p.is_file())


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _lineage_select(table: Table) -> str:
    cols = [c.name for c in table.columns] + (["payload"] if table.keep_payload else [])
    return ", ".join(f'"{c}"' for c in cols)


def _manifest_values(manifest: dict) -> list:
    """The manifest row, in column order; written last inside each load's transaction."""
    return [manifest[name] for name, _ in MANIFEST_COLUMNS]


def _ddl(engine: str, table: Table) -> list[str]:
    return [
        f"create schema if not exists {RAW_SCHEMA}",
        f"create table if not exists {RAW_SCHEMA}.{table.raw_name} "
        f"({column_ddl(engine, table.raw_columns())})",
        f"create table if not exists {RAW_SCHEMA}.{MANIFEST_TABLE} "
        f"({column_ddl(engine, MANIFEST_COLUMNS)})",
        f"create table if not exists {RAW_SCHEMA}.{QUARANTINE_TABLE} "
        f"({column_ddl(engine, QUARANTINE_COLUMNS)})",
    ]


def _quiet(con) -> None:
    """No progress bar: DuckDB would draw it on stdout, which callers parse or show.
    (Insertion order stays preserved, as duckdb_config() sets for every connection:
    row_number() over () must be the reader's order.)"""
    con.execute("set enable_progress_bar = false")


def _fast_storage(con) -> None:
    """ZSTD for everything this session writes: the raw tables are wide text (JSON
    payloads) and DuckDB's default choice (FSST/dictionary analysis) costs more time than
    parsing them; ZSTD writes about twice as fast and the file comes out smaller."""
    con.execute("set force_compression = 'zstd'")


class _DuckDBSink:
    """Parses in the warehouse file itself, so good rows never leave DuckDB."""

    engine = "duckdb"

    def __init__(self, target: Target):
        self.target = target

    def __enter__(self):
        self._cm = duckdb_connect(self.target.duckdb_path)
        self.con = self._cm.__enter__()
        _quiet(self.con)
        _fast_storage(self.con)
        self.parser = self.con
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

    def prepare(self, table: Table) -> None:
        for stmt in _ddl("duckdb", table):
            self.con.execute(stmt)

    def seen(self, table: Table, digest: str) -> bool:
        return (
            self.con.execute(
                f"select count(*) from {RAW_SCHEMA}.{MANIFEST_TABLE} "
                "where table_name = ? and checksum = ?",
                [table.raw_name, digest],
            ).fetchone()[0]
            > 0
        )

    def recent_volumes(self, table: Table) -> list[int]:
        return [
            r[0]
            for r in self.con.execute(
                f"select rows_read from {RAW_SCHEMA}.{MANIFEST_TABLE} where table_name = ? "
                f"order by loaded_at desc limit {VOLUME_HISTORY}",
                [table.raw_name],
            ).fetchall()
        ]

    def commit(self, table: Table, manifest: dict, loaded_at: datetime) -> int:
        con = self.con
        load_id, rel = manifest["load_id"], manifest["file_path"]
        con.execute("begin transaction")
        try:
            # The second (and last) pass over the file: straight into the raw table.
            good = con.execute(
                f"insert into {RAW_SCHEMA}.{table.raw_name} "
                f"select {_lineage_select(table)}, ?, ?, _source_row, ? from _cdp_good",
                [load_id, rel, loaded_at],
            ).fetchone()[0]
            _count_rows(manifest, good)
            check_batch(manifest, self.recent_volumes(table))
            con.execute(
                f"insert into {RAW_SCHEMA}.{QUARANTINE_TABLE} "
                "select ?, ?, ?, ?, _source_row, reason, raw_text, ? from _cdp_bad "
                "order by _source_row",
                [load_id, table.source, table.raw_name, rel, loaded_at],
            )
            con.execute(
                f"insert into {RAW_SCHEMA}.{MANIFEST_TABLE} values "
                f"({', '.join('?' for _ in MANIFEST_COLUMNS)})",
                _manifest_values(manifest),
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return good


class _PostgresSink:
    """Parses in an in-memory DuckDB, then streams rows to PostgreSQL with COPY."""

    engine = "postgres"

    def __init__(self, target: Target):
        self.target = target

    def __enter__(self):
        import duckdb

        from orchestration.warehouse import duckdb_config

        self.parser = duckdb.connect(":memory:", config=duckdb_config())
        _quiet(self.parser)
        self._cm = pg_connect()
        self.con = self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        self.parser.close()
        return self._cm.__exit__(*exc)

    def prepare(self, table: Table) -> None:
        with self.con, self.con.cursor() as cur:
            for stmt in _ddl("postgres", table):
                cur.execute(stmt)

    def seen(self, table: Table, digest: str) -> bool:
        with self.con.cursor() as cur:
            cur.execute(
                f"select count(*) from {RAW_SCHEMA}.{MANIFEST_TABLE} "
                "where table_name = %s and checksum = %s",
                (table.raw_name, digest),
            )
            seen = cur.fetchone()[0] > 0
        self.con.rollback()
        return seen

    def _copy(self, cur, query: str, params: list, dest: str, columns: list[str]) -> int:
        """COPY the rows of `query` into `dest`; returns how many."""
        with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
            rows = self.parser.execute(
                f"copy ({query}) to '{tmp.name}' (format csv, header false)", params
            ).fetchone()[0]
            with open(tmp.name, encoding="utf-8") as fh:
                cols = ", ".join(f'"{c}"' for c in columns)
                cur.copy_expert(f"copy {dest} ({cols}) from stdin with (format csv)", fh)
        return rows

    def recent_volumes(self, table: Table) -> list[int]:
        with self.con.cursor() as cur:
            cur.execute(
                f"select rows_read from {RAW_SCHEMA}.{MANIFEST_TABLE} where table_name = %s "
                f"order by loaded_at desc limit {VOLUME_HISTORY}",
                [table.raw_name],
            )
            rows = [r[0] for r in cur.fetchall()]
        self.con.rollback()
        return rows

    def commit(self, table: Table, manifest: dict, loaded_at: datetime) -> int:
        load_id, rel = manifest["load_id"], manifest["file_path"]
        recent = self.recent_volumes(table)
        raw_cols = [name for name, _ in table.raw_columns()]
        with self.con, self.con.cursor() as cur:  # one transaction: commit or roll back
            good = self._copy(
                cur,
                f"select {_lineage_select(table)}, ?, ?, _source_row, ? from _cdp_good",
                [load_id, rel, loaded_at],
                f"{RAW_SCHEMA}.{table.raw_name}",
                raw_cols,
            )
            self._copy(
                cur,
                "select ?, ?, ?, ?, _source_row, reason, raw_text, ? from _cdp_bad "
                "order by _source_row",
                [load_id, table.source, table.raw_name, rel, loaded_at],
                f"{RAW_SCHEMA}.{QUARANTINE_TABLE}",
                [name for name, _ in QUARANTINE_COLUMNS],
            )
            _count_rows(manifest, good)
            check_batch(manifest, recent)
            cur.execute(
                f"insert into {RAW_SCHEMA}.{MANIFEST_TABLE} values "
                f"({', '.join('%s' for _ in MANIFEST_COLUMNS)})",
                _manifest_values(manifest),
            )
        return good


def check_batch(manifest: dict, recent: list[int]) -> None:
    """Refuse the file (the caller rolls its rows back) when it breaks the batch contract."""
    import statistics

    rows, rel = manifest["rows_read"], manifest["file_path"]
    if rows == 0:
        raise BatchError(f"{rel}: no rows (empty file); nothing loaded from it")
    if len(recent) < VOLUME_MIN_LOADS or os.environ.get("CDP_ACCEPT_VOLUME_DROP") == "1":
        return
    usual = statistics.median(recent)
    if rows < usual * VOLUME_MIN_RATIO:
        raise BatchError(
            f"{rel}: {rows:,} rows against a median of {usual:,.0f} over the last "
            f"{len(recent)} loads (volume drop beyond {1 / VOLUME_MIN_RATIO:.0f}x); nothing "
            "loaded from it (set CDP_ACCEPT_VOLUME_DROP=1 to load it anyway)"
        )


def _count_rows(manifest: dict, good: int) -> None:
    """Good rows are known once written; the manifest row goes in after them."""
    manifest["rows_loaded"] = good
    manifest["rows_read"] = good + manifest["rows_quarantined"]


def _sink(target: Target):
    return _DuckDBSink(target) if target.name == "duckdb" else _PostgresSink(target)


def load_tables(
    target: Target,
    tables: list[Table],
    landing_dir: Path,
    *,
    progress: Progress | None = None,
) -> list[TableLoad]:
    """Load every landing file of `tables`. A bad file is reported, the others go on."""
    landing_dir = Path(landing_dir).resolve()
    if not landing_dir.is_dir():
        raise LoadError(f"landing folder {landing_dir} does not exist")
    results = []
    with _sink(target) as sink:
        for table in tables:
            result = TableLoad(table)
            results.append(result)
            sink.prepare(table)
            for path in landing_files(table, landing_dir):
                rel = path.relative_to(landing_dir).as_posix()
                try:
                    result.files.append(_load_file(sink, table, path, rel, landing_dir, progress))
                except BatchError as exc:
                    result.errors.append(str(exc))
    return results


def _load_file(sink, table: Table, path: Path, rel: str, landing_dir: Path, progress) -> FileLoad:
    started = time.perf_counter()
    started_at = _now()
    try:
        size = path.stat().st_size
        digest = checksum(path)
    except OSError as exc:
        raise BatchError(f"{rel}: cannot read file ({exc.strerror})") from exc
    done = FileLoad(rel, digest, size)
    if sink.seen(table, digest):
        done.skipped = True
        if progress:
            progress(f"{rel}: already loaded", size)
        return done
    if progress:
        progress(f"{rel}: parsing", 0)
    try:
        parsed = parse_file(sink.parser, table, path)
    except BatchError as exc:  # the parser says what, the loader says which file
        raise BatchError(f"{rel}: {exc}") from exc
    rows_bad = parsed.rows_bad + row_contract.apply(sink.parser, table)
    loaded_at = _now()
    manifest = {
        "load_id": uuid.uuid4().hex,
        "source": table.source,
        "table_name": table.raw_name,
        "file_path": rel,
        "landing_dir": str(landing_dir),
        "checksum": digest,
        "size_bytes": size,
        "rows_read": None,  # set by the sink's commit, once the good rows are written
        "rows_loaded": None,
        "rows_quarantined": rows_bad,
        "started_at": started_at,
        "loaded_at": loaded_at,
    }
    try:
        good = sink.commit(table, manifest, loaded_at)
    finally:
        row_contract.release(sink.parser)
    done.rows_read, done.rows_loaded = good + rows_bad, good
    done.rows_quarantined = rows_bad
    done.seconds = time.perf_counter() - started
    if progress:
        progress(f"{rel}: {good:,} rows, {rows_bad:,} quarantined", size)
    return done


def load_source(target: Target, source: str, landing_dir: Path, **kw) -> list[TableLoad]:
    sources = load_sources()
    if source not in sources:
        raise LoadError(f"unknown source {source!r}: declared are {', '.join(sources)}")
    return load_tables(target, list(sources[source].tables), landing_dir, **kw)


def quarantine_by_reason(target: Target) -> list[tuple[str, str, int]]:
    """(table, reason kind, rows) over the whole quarantine; reasons cut at the first ':'."""
    sql = (
        f"select table_name, split_part(split_part(reason, ';', 1), ':', 1) as kind, count(*) "
        f"from {RAW_SCHEMA}.{QUARANTINE_TABLE} group by 1, 2 order by 1, 2"
    )
    from orchestration.warehouse import fetch_all

    return [(t, k, int(n)) for t, k, n in fetch_all(target, sql)]
