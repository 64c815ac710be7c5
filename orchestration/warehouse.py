"""Warehouse targets: where raw data lands and dbt builds.

DuckDB is the embedded default (one file, path from CDP_DUCKDB_PATH); PostgreSQL is
reached with the standard libpq variables. Connections are opened per use and closed
right after: DuckDB allows one writing process per file.

SQL text holds only the project's own words: paths and values travel as bound parameters,
and names declared by the project (schemas, tables, columns) are quoted as identifiers.
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


def quote_ident(name: str) -> str:
    """A declared name as an SQL identifier (the same on DuckDB and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """schema.table (or any dotted name) with each part quoted as an identifier."""
    return ".".join(quote_ident(part) for part in parts)


def column_ddl(engine: str, columns: list[tuple[str, str]]) -> str:
    types = TYPE_MAP[engine]
    return ", ".join(f"{quote_ident(name)} {types[ctype]}" for name, ctype in columns)


# DuckDB's file readers (read_csv, read_parquet, read_json, COPY ... FROM) take a path as a
# glob pattern; these characters in it make it match other files, or none.
GLOB_CHARACTERS = frozenset("*?[")
_FD_DIRS = ("/dev/fd", "/proc/self/fd")


@contextmanager
def literal_path(path: Path | str) -> Iterator[str]:
    """A name under which DuckDB's readers in this process open exactly this file, to bind
    as a parameter while the context lasts.

    A path without glob characters is itself (made absolute, so that nothing in it is taken
    for a URL or a home folder). A path with them is read through the file's open
    descriptor (/dev/fd/N), whatever folder it is in. DuckDB's writers (COPY ... TO) take a
    path as it is and need none of this."""
    text = os.path.abspath(path)
    if not GLOB_CHARACTERS.intersection(text):
        yield text
        return
    if descriptor_path(0) is None:
        raise WarehouseError(
            f"cannot read {text}: DuckDB takes *, ? and [ in a path as a pattern, and this "
            "system has no /dev/fd to read the file by; rename the folder"
        )
    fd = os.open(text, os.O_RDONLY)
    try:
        yield descriptor_path(fd)
    finally:
        os.close(fd)


def descriptor_path(fd: int) -> str | None:
    """A name that opens the file behind descriptor `fd` of this process (the very file,
    whatever its name holds), or None on a system without /dev/fd or /proc."""
    fd_dir = next((d for d in _FD_DIRS if os.path.isdir(d)), None)
    return f"{fd_dir}/{fd}" if fd_dir else None


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
    counts = dict.fromkeys(tables, 0)
    with read_session(target) as run:  # one connection for every count
        for name in tables:
            if name in present:
                counts[name] = int(run(f"select count(*) from {qualified(RAW_SCHEMA, name)}")[0][0])
    return counts


def _csv_rows(rows: Iterable[Sequence]) -> tuple[str, int]:
    import csv
    import io

    buffer = io.StringIO()
    # CRLF line ends: a value holding a CR or an LF is quoted (the COPY readers need it)
    writer = csv.writer(buffer, lineterminator="\r\n")
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    return buffer.getvalue(), count


def _copy_duckdb(con, table: str, data: str) -> None:
    """COPY the CSV text into table (a quoted name) through a file in a private folder."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cdp-copy-") as folder:
        path = Path(folder) / "rows.csv"
        path.write_text(data, encoding="utf-8", newline="")
        with literal_path(path) as name:
            con.execute(f"copy {table} from ? (header false, nullstr '')", [name])


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
        ddl += f", primary key ({quote_ident(primary_key)})"
    table = qualified(schema, name)
    staged = qualified(schema, f"{name}__replacing")
    if target.name == "duckdb":
        with duckdb_connect(target.duckdb_path) as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {quote_ident(schema)}")
            con.execute(f"create or replace table {staged} ({ddl})")
            if count:
                _copy_duckdb(con, staged, data)
            con.execute(f"drop table if exists {table}")
            con.execute(f"alter table {staged} rename to {quote_ident(name)}")
            con.execute("commit")
        return count
    with pg_connect() as con, con.cursor() as cur:
        cur.execute(f"create schema if not exists {quote_ident(schema)}")
        cur.execute(f"drop table if exists {staged}")
        cur.execute(f"create table {staged} ({ddl})")
        _copy_postgres(cur, staged, data)
        cur.execute(f"drop table if exists {table}")
        cur.execute(f"alter table {staged} rename to {quote_ident(name)}")
        if primary_key:
            cur.execute(
                f"alter index {qualified(schema, f'{name}__replacing_pkey')} "
                f"rename to {quote_ident(f'{name}_pkey')}"
            )
        con.commit()
    return count


def append_rows(
    target: Target, schema: str, name: str, columns: list[tuple[str, str]], rows: Iterable[Sequence]
) -> int:
    """Append rows to schema.name (created when missing) in one transaction."""
    data, count = _csv_rows(rows)
    table = qualified(schema, name)
    ddl = f"create table if not exists {table} ({column_ddl(target.name, columns)})"
    if target.name == "duckdb":
        with duckdb_connect(target.duckdb_path) as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {quote_ident(schema)}")
            con.execute(ddl)
            if count:
                _copy_duckdb(con, table, data)
            con.execute("commit")
        return count
    with pg_connect() as con, con.cursor() as cur:
        cur.execute(f"create schema if not exists {quote_ident(schema)}")
        cur.execute(ddl)
        _copy_postgres(cur, table, data)
        con.commit()
    return count
