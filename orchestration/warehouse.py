"""Warehouse targets: where raw data lands and dbt builds.

DuckDB is the embedded default (one file, path from CDP_DUCKDB_PATH); PostgreSQL is
reached with the standard libpq variables. Connections are opened per use and closed
right after: DuckDB allows one writing process per file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TARGETS = ("duckdb", "postgres")
PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DUCKDB_PATH = PROJECT_DIR / "warehouse" / "cdp.duckdb"
RAW_SCHEMA = "raw"

# Portable column types (sources.yml) per engine.
TYPE_MAP = {
    "duckdb": {
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
    },
    "postgres": {
        "varchar": "TEXT",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "decimal": "NUMERIC(18,2)",
        "double": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
        "timestamptz": "TIMESTAMPTZ",
        "json": "JSONB",
    },
}


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or used; the message is one line for the user."""


@dataclass(frozen=True)
class Target:
    """One warehouse target, resolved from the environment."""

    name: str
    duckdb_path: Path | None = None

    @property
    def label(self) -> str:
        if self.name == "duckdb":
            return f"duckdb ({self.duckdb_path})"
        return f"postgres ({pg_dsn_label()})"


def resolve_target(name: str | None = None) -> Target:
    name = (name or os.environ.get("CDP_TARGET") or "duckdb").lower()
    if name not in TARGETS:
        raise WarehouseError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    if name == "duckdb":
        return Target("duckdb", duckdb_path())
    return Target("postgres")


def duckdb_path() -> Path:
    """Absolute DuckDB file path (dbt resolves relative paths from its own cwd)."""
    raw = os.environ.get("CDP_DUCKDB_PATH")
    path = Path(raw).expanduser() if raw else DEFAULT_DUCKDB_PATH
    return path.resolve()


def pg_params() -> dict[str, str]:
    env = os.environ
    return {
        "host": env.get("PGHOST", "127.0.0.1"),
        "port": env.get("PGPORT", "5432"),
        "user": env.get("PGUSER", "postgres"),
        "password": env.get("PGPASSWORD", ""),
        "dbname": env.get("PGDATABASE", "postgres"),
    }


def pg_dsn_label() -> str:
    p = pg_params()
    return f"{p['user']}@{p['host']}:{p['port']}/{p['dbname']}"


def target_env(target: Target) -> dict[str, str]:
    """Environment for dbt and child processes, identical at parse and run time."""
    env = {"CDP_TARGET": target.name}
    env["CDP_DUCKDB_PATH"] = str(duckdb_path())
    return env


@contextmanager
def duckdb_connect(path: Path | None = None, *, read_only: bool = False) -> Iterator:
    import duckdb

    path = path or duckdb_path()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise WarehouseError(f"no DuckDB warehouse at {path}: run `cdp run` first")
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
    except duckdb.IOException as exc:
        first = str(exc).splitlines()[0]
        raise WarehouseError(f"cannot open DuckDB file {path}: {first}") from exc
    try:
        yield con
    finally:
        con.close()


def duckdb_config() -> dict[str, str]:
    cfg = {"preserve_insertion_order": "true"}
    if limit := os.environ.get("CDP_DUCKDB_MEMORY_LIMIT"):
        cfg["memory_limit"] = limit
    return cfg


@contextmanager
def pg_connect(dbname: str | None = None) -> Iterator:
    import psycopg2

    params = pg_params()
    if dbname:
        params["dbname"] = dbname
    try:
        con = psycopg2.connect(connect_timeout=5, **params)
    except psycopg2.OperationalError as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[0]
        raise WarehouseError(
            f"cannot reach PostgreSQL at {params['host']}:{params['port']}"
            f"/{params['dbname']}: {first}"
        ) from exc
    try:
        yield con
    finally:
        con.close()


def column_ddl(engine: str, columns: list[tuple[str, str]]) -> str:
    types = TYPE_MAP[engine]
    return ", ".join(f'"{name}" {types[ctype]}' for name, ctype in columns)


@contextmanager
def read_session(target: Target) -> Iterator[Callable[[str, Sequence], list[tuple]]]:
    """One read-only connection for several queries: yields `run(sql, params)` with `?`
    placeholders on both engines; the connection closes (Postgres: rolls back) after."""
    if target.name == "duckdb":
        with duckdb_connect(target.duckdb_path, read_only=True) as con:
            yield lambda sql, params=(): con.execute(sql, list(params)).fetchall()
        return
    with pg_connect() as con, con.cursor() as cur:

        def run(sql: str, params: Sequence = ()) -> list[tuple]:
            try:
                cur.execute(sql.replace("?", "%s"), list(params) or None)
            except Exception:
                con.rollback()
                raise
            return cur.fetchall()

        try:
            yield run
        finally:
            con.rollback()


def fetch_all(target: Target, sql: str, params: list | None = None) -> list[tuple]:
    """Run one read query on the target and return its rows (`?` placeholders)."""
    with read_session(target) as run:
        return run(sql, params or [])


def existing_tables(target: Target, schema: str) -> set[str]:
    rows = fetch_all(
        target,
        "select table_name from information_schema.tables where table_schema = ?",
        [schema],
    )
    return {r[0] for r in rows}


def raw_row_counts(target: Target) -> dict[str, int]:
    """Rows per raw table, keyed by raw table name (tables not created yet count 0)."""
    from orchestration.sources import all_tables

    tables = [t.raw_name for t in all_tables()]
    present = existing_tables(target, RAW_SCHEMA)
    parts = [
        f"select '{name}', count(*) from {RAW_SCHEMA}.{name}" for name in tables if name in present
    ]
    counts = dict.fromkeys(tables, 0)
    if parts:
        counts.update({name: int(n) for name, n in fetch_all(target, " union all ".join(parts))})
    return counts


def _csv_rows(rows: Iterable[Sequence]) -> tuple[str, int]:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    return buffer.getvalue(), count


def _copy_duckdb(con, table: str, data: str) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
        fh.write(data)
    try:
        con.execute(f"copy {table} from '{fh.name}' (header false, nullstr '')")
    finally:
        Path(fh.name).unlink(missing_ok=True)


def _copy_postgres(cur, table: str, data: str) -> None:
    import io

    cur.copy_expert(f"copy {table} from stdin with (format csv, null '')", io.StringIO(data))


def replace_table(
    target: Target,
    schema: str,
    name: str,
    columns: list[tuple[str, str]],
    rows: Iterable[Sequence],
    primary_key: str | None = None,
) -> int:
    """Replace schema.name with the rows, atomically: readers see the old table or the new
    one, never a half-written one. Rows travel as CSV (COPY on both engines)."""
    data, count = _csv_rows(rows)
    ddl = column_ddl(target.name, columns)
    if primary_key:
        ddl += f', primary key ("{primary_key}")'
    staged = f"{schema}.{name}__replacing"
    if target.name == "duckdb":
        with duckdb_connect(target.duckdb_path) as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create or replace table {staged} ({ddl})")
            if count:
                _copy_duckdb(con, staged, data)
            con.execute(f"drop table if exists {schema}.{name}")
            con.execute(f"alter table {staged} rename to {name}")
            con.execute("commit")
        return count
    with pg_connect() as con, con.cursor() as cur:
        cur.execute(f"create schema if not exists {schema}")
        cur.execute(f"drop table if exists {staged}")
        cur.execute(f"create table {staged} ({ddl})")
        _copy_postgres(cur, staged, data)
        cur.execute(f"drop table if exists {schema}.{name}")
        cur.execute(f"alter table {staged} rename to {name}")
        if primary_key:
            cur.execute(f"alter index {staged}_pkey rename to {name}_pkey")
        con.commit()
    return count


def append_rows(
    target: Target, schema: str, name: str, columns: list[tuple[str, str]], rows: Iterable[Sequence]
) -> int:
    """Append rows to schema.name (created when missing) in one transaction."""
    data, count = _csv_rows(rows)
    ddl = f"create table if not exists {schema}.{name} ({column_ddl(target.name, columns)})"
    if target.name == "duckdb":
        with duckdb_connect(target.duckdb_path) as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {schema}")
            con.execute(ddl)
            if count:
                _copy_duckdb(con, f"{schema}.{name}", data)
            con.execute("commit")
        return count
    with pg_connect() as con, con.cursor() as cur:
        cur.execute(f"create schema if not exists {schema}")
        cur.execute(ddl)
        _copy_postgres(cur, f"{schema}.{name}", data)
        con.commit()
    return count
