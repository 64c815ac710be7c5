"""Load landing files into the warehouse's raw schema: append-only, idempotent, nothing lost.

For each file matching a table's pattern (taken literally, regular files inside the landing
folder only, complete ones only: orchestration.loading.landing):
  1. checksum it; a checksum already in raw.load_manifest for that table is skipped; a file
     loaded before under the same name with other content follows the table's
     `delivery.changed_file` rule (the table's contract) or a decision taken with `cdp landing`;
  2. parse it in DuckDB (orchestration.loading.parse) into good rows and quarantine, and
     move the rows failing the table's row-level expectations to quarantine too
     (orchestration.loading.row_contract);
  3. in one transaction, append good rows to raw.<source>_<table> (with load id, file,
     row number and load time), bad rows to raw.quarantine (raw text, file, row, reason),
     and one row to raw.load_manifest. A crash leaves either all of it or none. On
     PostgreSQL, a row the database refuses to store goes to quarantine with its reason.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestration.loading import row_contract
from orchestration.loading.landing import (
    OpenFile,
    Refused,
    StillWriting,
    candidates,
    open_file,
    settle,
    signature,
)
from orchestration.loading.parse import (
    BatchError,
    bounded,
    is_reader_error,
    parse_file,
    reader_error,
    release,
)
from orchestration.privacy import suppression
from orchestration.sources import Table, load_sources, settle_seconds
from orchestration.warehouse import (
    DEFAULT_TARGET,
    RAW_SCHEMA,
    Warehouse,
    descriptor_path,
    placeholders,
    sql_literal,
)

MANIFEST_TABLE = "load_manifest"
QUARANTINE_TABLE = "quarantine"
DECISIONS_TABLE = "load_decisions"
REFUSALS_TABLE = "load_refusals"  # the files each table's last load refused
DECISIONS = ("accept", "skip")
MESSAGE_LIMIT = 600  # characters of a refusal's message

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

# A decision on one file, by content: `cdp landing accept` loads it although it breaks the
# volume or changed-file rule; `cdp landing skip` leaves it out without refusing it.
DECISION_COLUMNS = [
    ("table_name", "varchar"),
    ("file_path", "varchar"),
    ("checksum", "varchar"),
    ("decision", "varchar"),
    ("reason", "varchar"),
    ("decided_by", "varchar"),
    ("decided_at", "timestamp"),
]

REFUSAL_COLUMNS = [
    ("table_name", "varchar"),
    ("file_path", "varchar"),
    ("reason", "varchar"),
    ("blocking", "boolean"),
    ("refused_at", "timestamp"),
]

Progress = Callable[[str, int], None]  # (message, bytes done in this file)


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
    rows_suppressed: int = 0  # rows with an erased person's identifier, left out
    skipped: bool = False
    seconds: float = 0.0
    note: str = ""  # how it was taken: "appended rows", "accepted", "skipped (decision)"


@dataclass
class TableLoad:
    table: Table
    files: list[FileLoad] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # refused files, one line each
    refused: list[str] = field(default_factory=list)  # their landing paths
    waiting: list[str] = field(default_factory=list)  # still being written: next run

    def refuse(self, rel: str, message: str) -> None:
        self.refused.append(rel)
        self.errors.append(message)

    @property
    def blocking(self) -> bool:
        """A refused file stops what depends on the table (delivery.on_refused)."""
        return bool(self.errors) and self.table.delivery.on_refused == "block"

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def rows_suppressed(self) -> int:
        return sum(f.rows_suppressed for f in self.files)

    @property
    def files_loaded(self) -> int:
        return sum(1 for f in self.files if not f.skipped)

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.skipped)


def checksum(fd: int, size: int | None = None) -> str:
    """SHA-256 of an open file's first `size` bytes (all of it by default)."""
    digest = hashlib.sha256()
    offset = 0
    while size is None or offset < size:
        want = 1 << 20 if size is None else min(1 << 20, size - offset)
        block = os.pread(fd, want, offset)
        if not block:
            break
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _lineage_select(table: Table) -> str:
    cols = [c.name for c in table.columns] + (["payload"] if table.keep_payload else [])
    return ", ".join(f'"{c}"' for c in cols)


def _raw_names(table: Table) -> str:
    """The raw table's columns by name: a table created by an earlier contract may hold
    columns no longer declared (they stay null in new rows)."""
    return ", ".join(f'"{name}"' for name, _ in table.raw_columns())


def _manifest_values(manifest: dict) -> list:
    """The manifest row, in column order; written last inside each load's transaction."""
    return [manifest[name] for name, _ in MANIFEST_COLUMNS]


def _ddl(warehouse: Warehouse, table: Table) -> list[str]:
    return [
        f"create schema if not exists {RAW_SCHEMA}",
        f"create table if not exists {RAW_SCHEMA}.{table.raw_name} "
        f"({warehouse.column_ddl(table.raw_columns())})",
        f"create table if not exists {RAW_SCHEMA}.{MANIFEST_TABLE} "
        f"({warehouse.column_ddl(MANIFEST_COLUMNS)})",
        f"create table if not exists {RAW_SCHEMA}.{QUARANTINE_TABLE} "
        f"({warehouse.column_ddl(QUARANTINE_COLUMNS)})",
        f"create table if not exists {RAW_SCHEMA}.{DECISIONS_TABLE} "
        f"({warehouse.column_ddl(DECISION_COLUMNS)})",
        f"create table if not exists {RAW_SCHEMA}.{REFUSALS_TABLE} "
        f"({warehouse.column_ddl(REFUSAL_COLUMNS)})",
    ]


def _fast_storage(con) -> None:
    """ZSTD for everything this session writes: the raw tables are wide text (JSON
    payloads) and DuckDB's default choice (FSST/dictionary analysis) costs more time than
    parsing them; ZSTD writes about twice as fast and the file comes out smaller."""
    con.execute("set force_compression = 'zstd'")


# The reads every sink answers, with `?` placeholders.
_SEEN_SQL = (
    f"select count(*) from {RAW_SCHEMA}.{MANIFEST_TABLE} where table_name = ? and checksum = ?"
)
_PREVIOUS_SQL = (
    f"select checksum, size_bytes from {RAW_SCHEMA}.{MANIFEST_TABLE} "
    "where table_name = ? and file_path = ? and landing_dir = ? order by loaded_at desc limit 1"
)
_ROWS_BEFORE_SQL = (
    f"select coalesce(sum(rows_read), 0) from {RAW_SCHEMA}.{MANIFEST_TABLE} "
    "where table_name = ? and file_path = ? and landing_dir = ?"
)
_VOLUMES_SQL = (
    f"select rows_read from {RAW_SCHEMA}.{MANIFEST_TABLE} where table_name = ? "
    "order by loaded_at desc limit ?"
)
_DECISIONS_SQL = (
    f"select file_path, checksum, decision from {RAW_SCHEMA}.{DECISIONS_TABLE} "
    "where table_name = ? order by decided_at"
)
# Quarantine rows go in as stored on every warehouse: NUL shown as \x00, texts bounded.
_BAD_SELECT = (
    "select ?, ?, ?, ?, _source_row, _cdp_evidence(reason), _cdp_evidence(raw_text), ? "
    "from _cdp_bad order by _source_row"
)


class _Sink:
    """A warehouse session for loading, with the reads every kind answers (`?` placeholders).

    Two kinds: where the warehouse reads landing files itself (`reads_files`), the file is
    parsed in the warehouse and good rows never leave it; elsewhere it is parsed in an
    in-memory DuckDB and the rows stream into the warehouse as CSV (COPY), each file in one
    transaction, a row the warehouse refuses moving to quarantine with its reason."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def __enter__(self):
        self._stack = ExitStack()
        self.session = self._stack.enter_context(self.warehouse.session())
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def _query(self, sql: str, params: list) -> list[tuple]:
        return self.session.run(sql, params)

    def seen(self, table: Table, digest: str) -> bool:
        """A file of this content was loaded into the table before."""
        return self._query(_SEEN_SQL, [table.raw_name, digest])[0][0] > 0

    def previous(self, table: Table, rel: str, landing_dir: Path) -> tuple[str, int] | None:
        """(checksum, size) of the newest load of this landing path, if any."""
        rows = self._query(_PREVIOUS_SQL, [table.raw_name, rel, str(landing_dir)])
        return (rows[0][0], int(rows[0][1])) if rows else None

    def rows_before(self, table: Table, rel: str, landing_dir: Path) -> int:
        """Rows read from this landing path by the loads before (its appended parts)."""
        return int(self._query(_ROWS_BEFORE_SQL, [table.raw_name, rel, str(landing_dir)])[0][0])

    def recent_volumes(self, table: Table) -> list[int]:
        return [r[0] for r in self._query(_VOLUMES_SQL, [table.raw_name, table.delivery.history])]

    def decisions(self, table: Table) -> dict[tuple[str, str], str]:
        """{(landing path, checksum): decision}, the newest decision per file and content."""
        return {(f, c): d for f, c, d in self._query(_DECISIONS_SQL, [table.raw_name])}

    def prepare(self, table: Table) -> None:
        with self.session.transaction() as tx:
            tx.xact_lock("cdp-load-ddl")  # one loader at a time creates the tables
            for stmt in _ddl(self.warehouse, table):
                tx.run(stmt)

    def record(self, decision: list) -> None:
        self.session.run(
            f"insert into {RAW_SCHEMA}.{DECISIONS_TABLE} values "
            f"({placeholders(len(DECISION_COLUMNS))})",
            decision,
        )

    def refusals(self, table: Table, rows: list[list]) -> None:
        """Replace the table's refused files with this load's."""
        with self.session.transaction() as tx:
            tx.run(
                f"delete from {RAW_SCHEMA}.{REFUSALS_TABLE} where table_name = ?", [table.raw_name]
            )
            for row in rows:
                tx.run(
                    f"insert into {RAW_SCHEMA}.{REFUSALS_TABLE} values "
                    f"({placeholders(len(REFUSAL_COLUMNS))})",
                    row,
                )


class _InWarehouseSink(_Sink):
    """Parses in the warehouse itself, so good rows never leave it."""

    def __enter__(self):
        super().__enter__()
        self.parser = self.session.raw
        self.parser.execute("set enable_progress_bar = false")
        _fast_storage(self.parser)
        return self

    def commit(self, table: Table, manifest: dict, loaded_at: datetime, verify) -> int:
        load_id, rel = manifest["load_id"], manifest["file_path"]
        with self.session.transaction() as tx:
            # The second (and last) pass over the file: straight into the raw table.
            good = tx.run(
                f"insert into {RAW_SCHEMA}.{table.raw_name} ({_raw_names(table)}) "
                f"select {_lineage_select(table)}, ?, ?, _source_row, ? from _cdp_good",
                [load_id, rel, loaded_at],
            )[0][0]
            _count_rows(manifest, good)
            check_batch(table, manifest, self.recent_volumes(table))
            tx.run(
                f"insert into {RAW_SCHEMA}.{QUARANTINE_TABLE} {_BAD_SELECT}",
                [load_id, table.source, table.raw_name, rel, loaded_at],
            )
            tx.run(
                f"insert into {RAW_SCHEMA}.{MANIFEST_TABLE} values "
                f"({placeholders(len(MANIFEST_COLUMNS))})",
                _manifest_values(manifest),
            )
            verify()
        return good


class _StreamingSink(_Sink):
    """Parses in an in-memory DuckDB, then streams rows into the warehouse with COPY."""

    def __enter__(self):
        from orchestration.warehouse.duckdb import connect_scratch

        self.parser = connect_scratch(getattr(self.warehouse, "memory_limit", None))
        super().__enter__()
        self._stack.callback(self.parser.close)
        return self

    def _copy(self, query: str, params: list, dest: str, columns: list[str]) -> int:
        """COPY the rows of `query` into `dest`; returns how many. The rows travel through a
        private temporary file, which DuckDB writes through its descriptor."""
        with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
            out = sql_literal(str(descriptor_path(tmp.fileno()) or tmp.name))
            rows = self.parser.execute(
                f"copy ({query}) to {out} (format csv, header false, use_tmp_file false)", params
            ).fetchone()[0]
            with open(tmp.name, encoding="utf-8") as fh:
                self.session.copy_in(dest, columns, fh)
        return rows

    def _copy_good(self, table: Table, params: list) -> tuple[int, int]:
        """COPY the good rows; rows the warehouse refuses (found by halving the batch) move to
        _cdp_bad with the database's reason. Returns (rows written, rows refused)."""
        dest = f"{RAW_SCHEMA}.{table.raw_name}"
        columns = [name for name, _ in table.raw_columns()]
        select = f"select {_lineage_select(table)}, ?, ?, _source_row, ? from"
        try:
            with self.session.savepoint():
                return self._copy(f"{select} _cdp_good", params, dest, columns), 0
        except Exception as exc:
            if not self.warehouse.row_refused(exc):
                raise
        parser = self.parser
        parser.execute(
            "create or replace temp table _cdp_held as "
            "select row_number() over () as _i, * from _cdp_good"
        )
        total = parser.execute("select count(*) from _cdp_held").fetchone()[0]
        refused: list[tuple[int, str]] = []
        written = 0
        spans = [(1, total)]
        while spans:
            lo, hi = spans.pop()
            try:
                with self.session.savepoint():
                    written += self._copy(
                        f"{select} _cdp_held where _i between ? and ?", [*params, lo, hi],
                        dest, columns,
                    )  # fmt: skip
            except Exception as exc:
                if not self.warehouse.row_refused(exc):
                    raise
                if lo == hi:
                    first = (getattr(exc, "pgerror", None) or str(exc)).strip().splitlines()[0]
                    refused.append(
                        (
                            lo,
                            f"rejected by {self.warehouse.title}: "
                            + first.removeprefix("ERROR:  "),
                        )
                    )
                else:
                    mid = (lo + hi) // 2
                    spans += [(mid + 1, hi), (lo, mid)]
        values = ", ".join(f'"{c.name}"' for c in table.columns)
        for i, reason in refused:
            parser.execute(
                "insert into _cdp_bad select _source_row, ?, "
                f"to_json(struct_pack({values}))::varchar from _cdp_held where _i = ?",
                [bounded(reason, MESSAGE_LIMIT), i],
            )
        parser.execute("drop table _cdp_held")
        return written, len(refused)

    def commit(self, table: Table, manifest: dict, loaded_at: datetime, verify) -> int:
        load_id, rel = manifest["load_id"], manifest["file_path"]
        with self.session.transaction() as tx:  # one transaction: commit or roll back
            # Loads of one table take turns; what another load wrote meanwhile is seen.
            tx.xact_lock(f"cdp-load:{table.raw_name}")
            _still_new(table, manifest, tx.run)
            recent = [r[0] for r in tx.run(_VOLUMES_SQL, [table.raw_name, table.delivery.history])]
            good, refused = self._copy_good(table, [load_id, rel, loaded_at])
            manifest["rows_quarantined"] += refused
            self._copy(
                _BAD_SELECT,
                [load_id, table.source, table.raw_name, rel, loaded_at],
                f"{RAW_SCHEMA}.{QUARANTINE_TABLE}",
                [name for name, _ in QUARANTINE_COLUMNS],
            )
            _count_rows(manifest, good)
            check_batch(table, manifest, recent)
            tx.run(
                f"insert into {RAW_SCHEMA}.{MANIFEST_TABLE} values "
                f"({placeholders(len(MANIFEST_COLUMNS))})",
                _manifest_values(manifest),
            )
            verify()
        return good


def _still_new(table: Table, manifest: dict, query) -> None:
    """Inside the load's transaction: another load of the same content, or of the same
    path, committed since this one looked means this file is left for the next run."""
    if query(_SEEN_SQL, [table.raw_name, manifest["checksum"]])[0][0] > 0:
        raise StillWriting(manifest["file_path"])
    rows = query(_PREVIOUS_SQL, [table.raw_name, manifest["file_path"], manifest["landing_dir"]])
    now = (rows[0][0], int(rows[0][1])) if rows else None
    if now != manifest["previous"]:
        raise StillWriting(manifest["file_path"])


def check_batch(table: Table, manifest: dict, recent: list[int]) -> None:
    """Refuse the file (the caller rolls its rows back) when it breaks the batch contract."""
    import statistics

    rows, rel = manifest["rows_read"], manifest["file_path"]
    contract = table.delivery
    if rows == 0 and not manifest.get("appended"):
        raise BatchError("no rows (empty file); nothing loaded from it")
    if (
        manifest.get("accepted")
        or manifest.get("appended")
        or contract.min_ratio <= 0
        or len(recent) < contract.after_loads
    ):
        return
    usual = statistics.median(recent)
    if rows < usual * contract.min_ratio:
        raise BatchError(
            f"{rows:,} row{'' if rows == 1 else 's'} against a median of {usual:,.0f} over the last "
            f"{len(recent)} loads (volume drop beyond {1 / contract.min_ratio:.0f}x); nothing "
            f"loaded from it (`{landing_command('accept', rel, manifest)}` loads it)"
        )


def _count_rows(manifest: dict, good: int) -> None:
    """Good rows are known once written; the manifest row goes in after them."""
    manifest["rows_loaded"] = good
    manifest["rows_read"] = good + manifest["rows_quarantined"] + manifest["rows_suppressed"]


def _sink(warehouse: Warehouse) -> _Sink:
    return (_InWarehouseSink if warehouse.reads_files else _StreamingSink)(warehouse)


# What a failed write says first when the cause is the machine's, not the data's.
_MACHINE_CAUSES = (
    ("no space left on device", "no space left on device"),
    ("disk quota exceeded", "disk quota exceeded"),
    ("read-only file system", "read-only file system"),
    ("permission denied", "permission denied"),
    ("could not extend file", "no space left on device"),
)


def machine_cause_in(text: str) -> str | None:
    """The machine's reason (a full disk, a permission) a message names, if any."""
    text = text.lower()
    return next((cause for needle, cause in _MACHINE_CAUSES if needle in text), None)


def machine_cause(exc: BaseException) -> str | None:
    """The machine's reason behind an error or the errors that led to it, if there is one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if cause := machine_cause_in(str(exc)):
            return cause
        exc = exc.__cause__ or exc.__context__
    return None


def load_tables(
    warehouse: Warehouse,
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
    with _sink(warehouse) as sink:
        sink.suppressed = suppression.active(sink.session, warehouse)
        for table in tables:
            result = TableLoad(table)
            results.append(result)
            sink.prepare(table)
            decisions = sink.decisions(table)
            _load_candidates(sink, table, result, landing_dir, decisions, progress)
            now = _now()
            sink.refusals(
                table,
                [
                    [table.raw_name, rel, e, result.blocking, now]
                    for rel, e in zip(result.refused, result.errors, strict=True)
                ],
            )
    return results


def _load_candidates(sink, table, result, landing_dir, decisions, progress) -> None:
    """Load the table's landing files one at a time: each is opened, checked, loaded and
    closed before the next (a folder of many deliveries holds one descriptor)."""
    ready, writing = settle(candidates(table, landing_dir), settle_seconds())
    for rel in writing:
        result.waiting.append(rel)
        if progress:
            progress(f"{_shown(rel)}: still being written; loaded at the next run", 0)
    for rel, path, settled in ready:
        try:
            f = open_file(rel, path, landing_dir, settled)
        except Refused as exc:
            known = signature(path)
            if decisions.get((rel, known)) == "skip":  # decided without reading it
                result.files.append(FileLoad(rel, known, 0, skipped=True,
                                             note="skipped (decision)"))  # fmt: skip
                if progress:
                    progress(f"{_shown(rel)}: skipped by decision", 0)
            else:
                result.refuse(rel, _message(rel, str(exc)))
            continue
        except StillWriting:
            result.waiting.append(rel)
            continue
        try:
            result.files.append(_load_file(sink, table, f, landing_dir, decisions, progress))
        except BatchError as exc:
            result.refuse(f.rel, _message(f.rel, str(exc)))
        except StillWriting:
            result.waiting.append(f.rel)
            if progress:
                progress(f"{_shown(f.rel)}: changed while loading; loaded at the next run", 0)
        except Exception as exc:
            cause = machine_cause(exc)
            if cause is None and is_reader_error(exc):  # the file, not the warehouse
                result.refuse(f.rel, _message(f.rel, reader_error(exc)))
                continue
            if cause is None:
                raise
            raise LoadError(
                f"cannot write {_shown(f.rel)} to {sink.warehouse.label}: {cause} (nothing of the file "
                "was kept; fix that and run again)"
            ) from exc
        finally:
            f.close()


def blocking_refusals(warehouse: Warehouse) -> list[tuple[str, str]]:
    """(landing path, message) of the files the last loads refused that stop what depends
    on their table: a sync started on its own refuses to send while there are any."""
    if REFUSALS_TABLE not in warehouse.existing_tables(RAW_SCHEMA):
        return []
    return warehouse.fetch_all(
        f"select file_path, reason from {RAW_SCHEMA}.{REFUSALS_TABLE} where blocking "
        "order by file_path",
    )


def _shown(rel: str) -> str:
    """A landing path as messages show it: control characters escaped, bounded."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in rel)
    return bounded(escaped, 200)


def _arg(rel: str) -> str:
    """A landing path as a shell command takes it."""
    import shlex

    return shlex.quote(_shown(rel))


def _message(rel: str, reason: str) -> str:
    """One bounded line: the landing path, then why."""
    return f"{_shown(rel)}: " + bounded(" ".join(reason.split()), MESSAGE_LIMIT)


@contextmanager
def _appended_part(
    table: Table, f: OpenFile, previous: tuple[str, int], rows_before: int, where: dict
) -> Iterator[tuple]:
    """(path, row offset) of the rows after the bytes loaded before, for an append-only
    file; refuses a file whose loaded bytes changed. Rows are numbered on from the rows
    read before, as a load of the whole file would number them."""
    old_checksum, old_size = previous
    if f.size <= old_size or checksum(f.fd, old_size) != old_checksum:
        raise BatchError(_changed(f.rel, "its loaded part was rewritten, not appended to", where))
    if old_size and os.pread(f.fd, 1, old_size - 1) != b"\n":
        raise BatchError(_changed(f.rel, "the loaded part did not end with a whole line", where))
    with tempfile.NamedTemporaryFile(suffix=Path(f.rel).suffix) as part:
        if table.format == "csv":  # the part is read with the file's header
            part.write(os.pread(f.fd, 1 << 16, 0).split(b"\n", 1)[0] + b"\n")
        offset = old_size
        while block := os.pread(f.fd, 1 << 20, offset):
            part.write(block)
            offset += len(block)
        part.flush()
        yield Path(descriptor_path(part.fileno()) or part.name), rows_before


def _changed(rel: str, why: str, where: dict) -> str:
    return (
        f"changed since it was loaded ({why}); a new delivery must land under a new name "
        f"(`{landing_command('accept', rel, where)}` loads this content as a new version)"
    )


def landing_command(verb: str, rel: str, where: dict) -> str:
    """The `cdp landing` command that decides about this file, as a user would type it:
    with the target and landing folder when they are not the defaults."""
    import shlex

    from orchestration.settings import DEFAULT_LANDING_DIR

    words = ["cdp", "landing", verb, _arg(rel)]
    if where.get("target", DEFAULT_TARGET) != DEFAULT_TARGET:
        words += ["--target", where["target"]]
    if where.get("landing_dir") and Path(where["landing_dir"]) != DEFAULT_LANDING_DIR.resolve():
        words += ["--landing", shlex.quote(where["landing_dir"])]
    return " ".join(words) + ' --reason "…"'


def _load_file(
    sink, table: Table, f: OpenFile, landing_dir: Path, decisions: dict, progress
) -> FileLoad:
    started = time.perf_counter()
    started_at = _now()
    rel = f.rel
    try:
        digest = checksum(f.fd)
    except OSError as exc:
        raise BatchError(f"cannot read file ({exc.strerror})") from exc
    done = FileLoad(rel, digest, f.size)
    if sink.seen(table, digest):
        done.skipped = True
        if progress:
            progress(f"{_shown(rel)}: already loaded", f.size)
        return done
    decision = decisions.get((rel, digest))
    if decision == "skip":
        done.skipped, done.note = True, "skipped (decision)"
        if progress:
            progress(f"{_shown(rel)}: skipped by decision", f.size)
        return done
    previous = sink.previous(table, rel, landing_dir)
    where = {"target": sink.warehouse.name, "landing_dir": str(landing_dir)}
    appending = previous is not None and decision != "accept"
    if appending and table.delivery.changed_file != "append":
        raise BatchError(_changed(rel, "other content under the same name", where))
    if progress:
        progress(f"{_shown(rel)}: parsing", 0)
    part = (previous, sink.rows_before(table, rel, landing_dir), where) if appending else None
    with _part_to_parse(table, f, part) as (path, offset):
        parsed = parse_file(sink.parser, table, path, row_offset=offset)  # BatchError: why
        rows_bad = parsed.rows_bad + row_contract.apply(sink.parser, table)
        rows_suppressed = suppression.apply(sink, table, sink.suppressed)
        loaded_at = _now()
        manifest = {
            "load_id": uuid.uuid4().hex,
            "source": table.source,
            "table_name": table.raw_name,
            "file_path": rel,
            "landing_dir": str(landing_dir),
            "checksum": digest,
            "size_bytes": f.size,
            "rows_read": None,  # set by the sink's commit, once the good rows are written
            "rows_loaded": None,
            "rows_quarantined": rows_bad,
            "rows_suppressed": rows_suppressed,
            "started_at": started_at,
            "loaded_at": loaded_at,
            "appended": appending,
            "target": sink.warehouse.name,
            "previous": previous,
            "accepted": decision == "accept",
        }

        def verify() -> None:  # the file must still be what was checksummed and parsed
            if f.changed():
                raise StillWriting(rel)

        try:
            good = sink.commit(table, manifest, loaded_at, verify)
        finally:
            suppression.release(sink.parser)
            row_contract.release(sink.parser)
            release(sink.parser)
            parsed.close()
    rows_bad = manifest["rows_quarantined"]
    done.rows_read, done.rows_loaded = good + rows_bad + rows_suppressed, good
    done.rows_quarantined, done.rows_suppressed = rows_bad, rows_suppressed
    if rows_suppressed:
        suppression.record(sink.session, manifest)
    done.note = "appended rows" if appending else ("accepted" if decision == "accept" else "")
    done.seconds = time.perf_counter() - started
    if progress:
        suppressed = f", {rows_suppressed:,} suppressed" if rows_suppressed else ""
        progress(f"{_shown(rel)}: {good:,} rows, {rows_bad:,} quarantined{suppressed}", f.size)
    return done


@contextmanager
def _part_to_parse(table: Table, f: OpenFile, appended: tuple | None):
    """The path to parse: the file itself, or only its appended part ((previous load,
    rows before) of the path)."""
    if appended is None:
        yield f.reader_path, 0
        return
    with _appended_part(table, f, *appended) as part:
        yield part


def decide(
    warehouse: Warehouse, landing_dir: Path, file: str, decision: str, reason: str
) -> tuple[Table, str, str]:
    """Record a decision on one landing file as it is now (its content, by checksum):
    `accept` loads it at the next run despite the volume or changed-file rule, `skip`
    leaves it out without refusing it. Returns (table, landing path, checksum)."""
    import getpass

    if decision not in DECISIONS:
        raise LoadError(f"unknown decision {decision!r}: choose {' or '.join(DECISIONS)}")
    if not reason.strip():
        raise LoadError("say why with --reason: it is kept with the decision")
    landing_dir = Path(landing_dir).resolve()
    # As the messages name it (a landing path), or any path to the file.
    inside = Path(os.path.normpath(landing_dir / file))
    given = Path(os.path.normpath(Path(file).absolute()))
    path = given if os.path.lexists(given) and not os.path.lexists(inside) else inside
    try:
        rel = path.relative_to(landing_dir).as_posix()
    except ValueError:
        raise LoadError(f"{file} is not inside the landing folder {landing_dir}") from None
    if not os.path.lexists(path):
        raise LoadError(
            f"no file {_shown(rel)} in the landing folder {landing_dir} (name it as the "
            "refusal does, relative to that folder; --landing names another folder)"
        )
    matching = [
        t
        for s in load_sources().values()
        for t in s.tables
        if rel in dict(candidates(t, landing_dir))
    ]
    if not matching:
        raise LoadError(
            f"{rel} is no landing file of any table (see meta.cdp.pattern in the sources YAML under models/staging)"
        )
    table = matching[0]
    try:
        f = open_file(rel, landing_dir / rel, landing_dir)
    except Refused as exc:
        if decision != "skip":  # what cannot be read cannot be loaded
            raise LoadError(_message(rel, str(exc))) from None
        digest = signature(landing_dir / rel)
    else:
        try:
            digest = checksum(f.fd)
        finally:
            f.close()
    row = [
        table.raw_name, rel, digest, decision, bounded(reason, MESSAGE_LIMIT),
        getpass.getuser(), _now(),
    ]  # fmt: skip
    with _sink(warehouse) as sink:
        sink.prepare(table)
        if sink.seen(table, digest):
            raise LoadError(
                f"{_shown(rel)} is loaded already (its rows are in raw.{table.raw_name}); "
                "a decision would change nothing"
            )
        sink.record(row)
    return table, rel, digest


def load_source(warehouse: Warehouse, source: str, landing_dir: Path, **kw) -> list[TableLoad]:
    sources = load_sources()
    if source not in sources:
        raise LoadError(f"unknown source {source!r}: declared are {', '.join(sources)}")
    return load_tables(warehouse, list(sources[source].tables), landing_dir, **kw)


def quarantine_by_reason(warehouse: Warehouse) -> list[tuple[str, str, int]]:
    """(table, reason kind, rows) over the whole quarantine; reasons cut at the first ':'."""
    sql = (
        f"select table_name, split_part(split_part(reason, ';', 1), ':', 1) as kind, count(*) "
        f"from {RAW_SCHEMA}.{QUARANTINE_TABLE} group by 1, 2 order by 1, 2"
    )
    return [(t, k, int(n)) for t, k, n in warehouse.fetch_all(sql)]


def raw_row_counts(warehouse: Warehouse) -> dict[str, int]:
    """Rows per raw table, keyed by raw table name (tables not created yet count 0)."""
    from orchestration.sources import all_tables

    return warehouse.row_counts(RAW_SCHEMA, [t.raw_name for t in all_tables()])
