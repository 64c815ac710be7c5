"""DuckDB, the embedded default: one file, one writing process at a time."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from orchestration.warehouse.base import (
    PROJECT_DIR,
    Session,
    Warehouse,
    WarehouseError,
    first_line,
    literal_path,
    placeholders,
    sql_literal,
)

DEFAULT_PATH = PROJECT_DIR / "warehouse" / "cdp.duckdb"
# Read-only connections kept for `reader()`: path -> ((inode, mtime), connection)
_READERS: dict = {}
_READERS_LOCK = threading.Lock()
# What an unset CDP_DUCKDB_MEMORY_LIMIT means: DuckDB's own default (profiles.yml gives dbt
# the same; cdp's connections leave the setting alone).
UNSET_MEMORY_LIMIT = "80%"


def connect_scratch(memory_limit: str | None = None):
    """An in-memory DuckDB for work beside any warehouse (parsing landing files, scoring),
    with the settings every connection of the project gets."""
    import tempfile

    import duckdb

    # Past the memory limit it spills to the system's temporary folder (its files are the
    # owner's, and go when it closes), not to DuckDB's default `.tmp` in whatever folder
    # cdp was started from.
    config = {**_config(memory_limit), "temp_directory": tempfile.gettempdir()}
    con = duckdb.connect(":memory:", config=config)
    con.execute("set enable_progress_bar = false")
    return con


def _config(memory_limit: str | None) -> dict[str, str]:
    # Insertion order preserved: row_number() over () must be the reader's order.
    cfg = {"preserve_insertion_order": "true"}
    if memory_limit:
        cfg["memory_limit"] = memory_limit
    return cfg


@dataclass(frozen=True)
class DuckDBWarehouse(Warehouse):
    path: Path = DEFAULT_PATH
    memory_limit: str | None = None

    name = "duckdb"
    types = {
        "varchar": "VARCHAR",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "decimal": "DECIMAL(18,2)",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
        "timestamptz": "TIMESTAMPTZ",
        "json": "JSON",
    }
    title = "DuckDB"
    utc_statement = "set TimeZone = 'UTC'"
    reads_files = True
    concurrent_writers = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DuckDBWarehouse:
        """CDP_DUCKDB_PATH (made absolute: dbt resolves a relative path from its own working
        folder) and CDP_DUCKDB_MEMORY_LIMIT."""
        raw = environ.get("CDP_DUCKDB_PATH")
        path = (Path(raw).expanduser() if raw else DEFAULT_PATH).resolve()
        return cls(path, environ.get("CDP_DUCKDB_MEMORY_LIMIT") or None)

    @property
    def label(self) -> str:
        return f"duckdb ({self.path})"

    def copy_as(self, suffix: str) -> DuckDBWarehouse:
        copy = self.path.with_name(f"{self.path.stem}{suffix}{self.path.suffix}")
        shutil.copyfile(self.path, copy)
        return replace(self, path=copy)

    @property
    def serving_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.serving{self.path.suffix}")

    def serving(self) -> DuckDBWarehouse:
        """A file of its own: readers of the main file would wait for every run (one
        writing process, and no reader beside it)."""
        return replace(self, path=self.serving_path)

    @contextmanager
    def reader(self) -> Iterator:
        """A cursor of one read-only connection per file. A serving state is a link to its
        current version (see publish_serving): a new version is a new file, opened on the
        next call, while readers of the old one finish on it."""
        import os

        current = os.path.realpath(self.path)
        if not os.path.exists(current):
            raise WarehouseError(
                f"no DuckDB warehouse at {self.path}: run {self.build_command} first"
            )
        key = str(self.path)
        with _READERS_LOCK:
            kept = _READERS.get(key)
            if kept is None or kept[0] != current:
                import duckdb

                con = duckdb.connect(current, read_only=True, config=_config(self.memory_limit))
                _READERS[key] = kept = (current, con)
        cursor = kept[1].cursor()
        try:
            yield _DuckDBSession(self, cursor).run
        finally:
            cursor.close()

    def publish_serving(self, tables: Sequence[tuple[str, str]], functions: Sequence[str]) -> str:
        """Writes the tables and functions into a new file beside the warehouse (a version
        of its own, `<name>.serving.<time>.duckdb`), then points the link
        `<name>.serving.duckdb` at it in one rename. A reader opens the link's file and keeps
        it; the next open finds the new one (DuckDB caches a database by its file name, so
        each version has its own). Older versions go (readers that hold one still read it)."""
        import os
        import time

        link = self.serving_path
        version = link.with_name(f"{link.stem}.{time.time_ns()}{link.suffix}")
        tmp = version.with_name(f".{version.name}.tmp")
        try:
            with self.connect() as con:
                con.execute(f"attach {sql_literal(str(tmp))} as serving")
                names = [t for t, _ in tables] + list(functions)
                for schema in dict.fromkeys(n.split(".")[0] for n in names):
                    con.execute(f"create schema serving.{schema}")
                for relation, select in tables:
                    con.execute(f"create table serving.{relation} as {select}")
                for function in functions:
                    schema, name = function.split(".")
                    [(params, body)] = con.execute(
                        "select parameters, macro_definition from duckdb_functions() "
                        "where database_name = current_database() and schema_name = ? "
                        "and function_name = ?",
                        [schema, name],
                    ).fetchall()
                    con.execute(
                        f"create macro serving.{schema}.{name}({', '.join(params)}) as {body}"
                    )
                con.execute("detach serving")
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, version)
            pointer = link.with_name(f".{link.name}.{os.getpid()}.link")
            pointer.unlink(missing_ok=True)
            os.symlink(version.name, pointer)
            os.replace(pointer, link)
            fd = os.open(link.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            tmp.unlink(missing_ok=True)
        for older in link.parent.glob(f"{link.stem}.*{link.suffix}"):
            if older != version and older.stem.rsplit(".", 1)[-1].isdigit():
                older.unlink(missing_ok=True)
        return f"written to {version}"

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        link = self.serving_path
        for served in [link, *link.parent.glob(f"{link.stem}.*{link.suffix}")]:
            served.unlink(missing_ok=True)

    def release_dbt(self) -> None:
        """dbt-duckdb keeps its database open for the process (a DuckDB instance of its own
        settings, which `connect` could not open beside it): closed here."""
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        with DuckDBConnectionManager._LOCK:
            if DuckDBConnectionManager._ENV is not None:
                DuckDBConnectionManager._ENV.close()
                DuckDBConnectionManager._ENV = None

    def dbt_env(self) -> dict[str, str]:
        env = {"CDP_TARGET": self.name, "CDP_DUCKDB_PATH": str(self.path)}
        if self.memory_limit:
            env["CDP_DUCKDB_MEMORY_LIMIT"] = self.memory_limit
        return env

    def check_reachable(self) -> None:
        """Also refuses a file dbt cannot build: dbt-duckdb writes the file's name into its
        SQL as the database's, unquoted."""
        if "'" in self.path.stem:
            raise WarehouseError(
                f"the DuckDB file name {self.path.name!r} holds a ' (dbt-duckdb takes it for "
                "the database's name): set CDP_DUCKDB_PATH to a file named without one"
            )
        super().check_reachable()

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator:
        """The driver's connection (for the loader's in-place parsing)."""
        import duckdb

        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise WarehouseError(
                f"no DuckDB warehouse at {self.path}: run {self.build_command} first"
            )
        try:
            con = duckdb.connect(
                str(self.path), read_only=read_only, config=_config(self.memory_limit)
            )
        except duckdb.IOException as exc:
            raise WarehouseError(f"cannot open DuckDB file {self.path}: {first_line(exc)}") from exc
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        with self.connect(read_only=read_only) as con:
            yield _DuckDBSession(self, con)

    # No sqlalchemy_url: Great Expectations has no working DuckDB support (through
    # duckdb-engine every expectation passes or fails silently on empty results), so suites
    # run on data frames.

    def missing_relation(self, exc: BaseException) -> bool:
        import duckdb

        return isinstance(exc, duckdb.CatalogException)

    def row_refused(self, exc: BaseException) -> bool:
        import duckdb

        return isinstance(exc, duckdb.InvalidInputException | duckdb.ConversionException)

    def primary_key_ddl(self, columns: Sequence[str]) -> str:
        # Keeping the index costs more than the inserts; writers delete before inserting.
        return ""


class _DuckDBSession(Session):
    def __init__(self, warehouse: DuckDBWarehouse, con):
        self.warehouse, self.con = warehouse, con
        self.raw = con

    def run(self, sql: str, params: Sequence = ()) -> list[tuple]:
        result = self.con.execute(sql, list(params))
        return result.fetchall() if result.description else []

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        self.con.execute("begin transaction")
        try:
            yield self
            self.con.execute("commit")
        except BaseException:
            rollback_quietly(self.con)
            raise

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        # DuckDB has no savepoints; its only writer never needs one (nothing it refuses
        # row by row gets this far: the loader's parse already quarantined it)
        yield

    def copy_in(self, table: str, columns: Sequence[str], data: IO[str] | str) -> None:
        text = data if isinstance(data, str) else data.read()
        with tempfile.TemporaryDirectory(prefix="cdp-copy-") as folder:
            path = Path(folder) / "rows.csv"
            path.write_text(text, encoding="utf-8", newline="")
            cols = ", ".join(f'"{c}"' for c in columns)
            with literal_path(path) as name:
                self.con.execute(f"copy {table} ({cols}) from ? (header false, nullstr '')", [name])

    def insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        # A data frame is the fastest way in (twice as fast as unnested lists).
        import pandas as pd

        self.con.register("_cdp_rows", pd.DataFrame(rows, columns=list(columns)))
        try:
            cols = ", ".join(f'"{c}"' for c in columns)
            self.con.execute(f"insert into {table} ({cols}) select {cols} from _cdp_rows")
        finally:
            self.con.unregister("_cdp_rows")

    def stream(self, sql: str, rows: int) -> Iterator[list[tuple]]:
        cur = self.con.cursor()  # a cursor is a connection with its own settings
        try:
            cur.execute(self.warehouse.utc_statement)
            cur.execute(sql)
            while chunk := cur.fetchmany(rows):
                yield chunk
        finally:
            cur.close()

    def frames(self, sql: str, rows: int) -> Iterator:
        vectors = max(1, rows // 2048)  # DuckDB hands out 2,048-row vectors
        result = self.con.execute(sql)
        chunk = result.fetch_df_chunk(vectors)
        yield chunk  # the first even when empty: an empty table is validated too
        while len(chunk):
            if len(chunk := result.fetch_df_chunk(vectors)):
                yield chunk

    def frame(self, sql: str):
        return self.con.execute(sql).df()

    def export(self, sql: str, dest: Path) -> tuple[Path, str]:
        path = dest.with_suffix(".parquet")
        self.con.execute(f"copy ({sql}) to ? (format parquet)", [str(path)])
        return path, "read_parquet(?)"

    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        yield True  # one writing process per file: holding the file is holding every lock

    def xact_lock(self, key: str) -> None:
        return None


def rollback_quietly(con) -> None:
    """Roll back without hiding the error that got here: after some failures (a full disk)
    DuckDB has ended the transaction itself, and the rollback's own error says nothing."""
    try:
        con.execute("rollback")
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


__all__ = ["DuckDBWarehouse", "connect_scratch", "placeholders"]
