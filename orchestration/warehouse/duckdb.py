"""DuckDB, the embedded default: one file, one writing process at a time."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from orchestration.warehouse.base import (
    PROJECT_DIR,
    ServedTable,
    Session,
    Warehouse,
    WarehouseError,
    first_line,
    literal_path,
    placeholders,
)

DEFAULT_PATH = PROJECT_DIR / "warehouse" / "cdp.duckdb"
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
        """The link to the current version of the serving copy (serving_copy.py)."""
        return self.path.with_name(f"{self.path.stem}.serving")

    def serving(self):
        """A copy of its own, in SQLite (serving_copy.py): readers of the main file would
        wait for every run (one writing process, and no reader beside it), and DuckDB has
        no index it would use for a lookup by one key."""
        from orchestration.warehouse.serving_copy import ServingCopy

        return ServingCopy(self.serving_path, self.build_command)

    def publish_serving(self, tables: Sequence[ServedTable], functions: Sequence[str]) -> str:
        """Writes the serving copy's new version (a folder of its own,
        `<name>.serving.<time>/`), then points the link `<name>.serving` at it in one
        rename. Versions before the previous one go (a reader may still be opening the
        previous one; readers that hold an older one keep reading its unlinked files)."""
        import os
        import time

        from orchestration.warehouse import serving_copy

        link = self.serving_path
        version = link.with_name(f"{link.name}.{time.time_ns()}")
        tmp = version.with_name(f".{version.name}.tmp")
        try:
            with self.connect() as con:
                serving_copy.write(con, tmp, tables, functions)
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
            shutil.rmtree(tmp, ignore_errors=True)
        for older in self._serving_versions()[:-2]:
            shutil.rmtree(older, ignore_errors=True)
        return f"written to {version}"

    def prune_serving(self) -> int:
        current = os.path.realpath(self.serving_path)
        older = [v for v in self._serving_versions() if os.path.realpath(v) != current]
        for version in older:
            shutil.rmtree(version, ignore_errors=True)
        return len(older)

    def _serving_versions(self) -> list[Path]:
        """The serving copy's versions, oldest first."""
        link = self.serving_path
        found = [
            p for p in link.parent.glob(f"{link.name}.*")
            if p.is_dir() and not p.is_symlink() and p.name.rsplit(".", 1)[-1].isdigit()
        ]  # fmt: skip
        return sorted(found, key=lambda p: int(p.name.rsplit(".", 1)[-1]))

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        for version in self._serving_versions():
            shutil.rmtree(version, ignore_errors=True)
        self.serving_path.unlink(missing_ok=True)

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

    def changed(self, sql: str, params: Sequence = ()) -> int:
        return int(self.con.execute(sql, list(params)).fetchone()[0])

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
