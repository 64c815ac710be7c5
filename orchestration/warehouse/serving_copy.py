"""The profile API's copy of a DuckDB warehouse's serving tables, in SQLite.

DuckDB stores columns in row groups of 122,880 rows and has no index it would use for a
lookup by one key: a query for one customer scans a row group (a millisecond or more on
this kind of machine, however the table is sorted), and a profile takes eight such queries.
SQLite's B-tree indexes answer the same queries in tens of microseconds, so the copy that
`cdp serve` reads is SQLite: one file per schema (attached under the schema's name, so the
same SQL reads it), each table indexed on its declared keys.

A version is a folder of its own, `<name>.serving.<time>/`, written beside the warehouse
and fsynced, then made current by pointing the link `<name>.serving` at it in one rename.
Readers open a version's files read-only and immutable (no locks), and keep them until the
link points elsewhere; a version being read when a newer one arrives stays readable (its
files are unlinked, not truncated).

The warehouse's functions (the identifier normalisation rule, a DuckDB macro) are kept as
they are, with the tables they read, in `functions.duckdb` of the version, and evaluated
there: the rule stays written once, in dbt.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from orchestration.warehouse.base import ServedTable, WarehouseError, quote_ident, sql_literal

FUNCTIONS_FILE = "functions.duckdb"
BATCH_ROWS = 50_000
# Declared types of the copy's columns: SQLite keeps TEXT, INTEGER, REAL; these names make
# the reader turn the text back into the warehouse's types.
_CONVERTERS: dict[str, Callable[[bytes], object]] = {
    "CDP_TIMESTAMP": lambda b: datetime.fromisoformat(b.decode()),
    "CDP_DATE": lambda b: date.fromisoformat(b.decode()),
    "CDP_DECIMAL": lambda b: Decimal(b.decode()),
    "CDP_BOOLEAN": lambda b: b != b"0",
}
for _name, _convert in _CONVERTERS.items():
    sqlite3.register_converter(_name, _convert)


def _column(name: str, duckdb_type: str) -> tuple[str, str]:
    """(SQLite declared type, DuckDB expression giving what SQLite stores) of a column."""
    t = duckdb_type.upper()
    col = quote_ident(name)
    if t.startswith("TIMESTAMP"):
        return "CDP_TIMESTAMP", f"cast({col} as varchar)"
    if t == "DATE":
        return "CDP_DATE", f"cast({col} as varchar)"
    if t.startswith("DECIMAL"):
        return "CDP_DECIMAL", f"cast({col} as varchar)"
    if t == "BOOLEAN":
        return "CDP_BOOLEAN", f"cast({col} as integer)"
    if t in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}:
        return "INTEGER", col
    if t in {"DOUBLE", "FLOAT", "REAL"}:
        return "REAL", col
    return "TEXT", f"cast({col} as varchar)"


def write(con, folder: Path, tables: Sequence[ServedTable], functions: Sequence[str]) -> None:
    """Write `tables` (read through the DuckDB connection `con`) and `functions` into the
    new folder `folder`, every file fsynced."""
    folder.mkdir()
    files: dict[str, sqlite3.Connection] = {}
    try:
        for table in tables:
            schema, name = table.relation.split(".")
            target = files.get(schema)
            if target is None:
                target = files[schema] = sqlite3.connect(folder / f"{schema}.sqlite")
                target.execute("pragma journal_mode = off")
                target.execute("pragma synchronous = off")
            _copy(con, target, name, table)
        for target in files.values():
            target.commit()
    finally:
        for target in files.values():
            target.close()
    _write_functions(con, folder / FUNCTIONS_FILE, tables, functions)
    for path in folder.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())


def _copy(con, target: sqlite3.Connection, name: str, table: ServedTable) -> None:
    described = con.execute(f"describe {table.select}").fetchall()
    columns = [_column(row[0], row[1]) for row in described]
    names = [row[0] for row in described]
    decl = ", ".join(f"{quote_ident(n)} {t}" for n, (t, _) in zip(names, columns, strict=True))
    target.execute(f"create table {quote_ident(name)} ({decl})")
    order = ", ".join(quote_ident(c) for c in table.keys[0]) if table.keys else "1"
    result = con.execute(
        f"select {', '.join(e for _, e in columns)} from ({table.select}) as served "
        f"order by {order}"
    )
    insert = f"insert into {quote_ident(name)} values ({', '.join('?' * len(names))})"
    while rows := result.fetchmany(BATCH_ROWS):
        target.executemany(insert, rows)
    for i, key in enumerate(table.keys):
        target.execute(
            f"create index {quote_ident(f'{name}_key{i}')} on {quote_ident(name)} "
            f"({', '.join(quote_ident(c) for c in key)})"
        )


def _write_functions(
    con, path: Path, tables: Sequence[ServedTable], functions: Sequence[str]
) -> None:
    """The macros `functions` and the tables they read (`ServedTable.read_by_functions`)
    into a DuckDB file of their own."""
    con.execute(f"attach {sql_literal(str(path))} as served_functions")
    try:
        read = [t for t in tables if t.read_by_functions]
        for schema in dict.fromkeys(
            n.split(".")[0] for n in [*functions, *(t.relation for t in read)]
        ):
            con.execute(f"create schema served_functions.{schema}")
        for table in read:
            con.execute(f"create table served_functions.{table.relation} as {table.select}")
        for function in functions:
            schema, name = function.split(".")
            [(params, body)] = con.execute(
                "select parameters, macro_definition from duckdb_functions() "
                "where database_name = current_database() and schema_name = ? "
                "and function_name = ?",
                [schema, name],
            ).fetchall()
            con.execute(
                f"create macro served_functions.{schema}.{name}({', '.join(params)}) as {body}"
            )
    finally:
        con.execute("detach served_functions")


# ------------------------------------------------------------------ reading

_LOCAL = threading.local()  # per thread: link -> (version, sqlite3 connection)
_FUNCTIONS: dict[str, object] = {}  # version -> DuckDB connection of its functions.duckdb
_FUNCTIONS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ServingCopy:
    """What `cdp serve` reads on DuckDB: the current version of the SQLite copy."""

    link: Path
    build_command: str

    @property
    def label(self) -> str:
        return f"the serving copy {self.link}"

    def _version(self) -> str:
        version = os.path.realpath(self.link)
        if not os.path.isdir(version):
            raise WarehouseError(f"no serving copy at {self.link}: run {self.build_command} first")
        return version

    @contextmanager
    def reader(self) -> Iterator[Callable[..., list[tuple]]]:
        """`run(sql, params)` on this thread's connection to the current version."""
        version = self._version()
        kept = getattr(_LOCAL, "connections", None)
        if kept is None:
            kept = _LOCAL.connections = {}
        current = kept.get(str(self.link))
        if current is None or current[0] != version:
            if current is not None:
                current[1].close()
            current = kept[str(self.link)] = (version, _open(Path(version)))
        con = current[1]

        def run(sql: str, params: Sequence = ()) -> list[tuple]:
            return con.execute(sql, list(params)).fetchall()

        yield run

    def fetch_all(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        with self.reader() as run:
            return run(sql, params or [])

    def function_run(self, run) -> Callable[..., list[tuple]]:
        """A `run(sql, params)` that evaluates the warehouse's functions (a select of one
        call), answers cached per version."""
        version = self._version()

        def evaluate(sql: str, params: Sequence = ()) -> list[tuple]:
            return _evaluate(version, sql, tuple(params))

        return evaluate

    def missing_relation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)


def _open(version: Path) -> sqlite3.Connection:
    con = sqlite3.connect(
        "file::memory:", uri=True, detect_types=sqlite3.PARSE_DECLTYPES, check_same_thread=True
    )
    for path in sorted(version.glob("*.sqlite")):
        uri = f"file:{path}?mode=ro&immutable=1"
        con.execute("attach database ? as " + quote_ident(path.stem), [uri])
    return con


@lru_cache(maxsize=65_536)
def _evaluate(version: str, sql: str, params: tuple) -> list[tuple]:
    return _functions_cursor(version).execute(sql, list(params)).fetchall()


def _functions_cursor(version: str):
    """This thread's DuckDB cursor on `version`'s functions.duckdb (threads evaluate side by
    side), without the optimizer: a call is one row, and planning the rule's expression
    costs more than evaluating it (3.2 ms a call instead of 5.4 on the bench machine)."""
    kept = getattr(_LOCAL, "functions", None)
    if kept is None or kept[0] != version:
        with _FUNCTIONS_LOCK:
            con = _FUNCTIONS.get(version)
            if con is None:
                import duckdb

                _FUNCTIONS.clear()  # an older version's: closed with its last cursor
                con = _FUNCTIONS[version] = duckdb.connect(
                    str(Path(version) / FUNCTIONS_FILE), read_only=True
                )
        if kept is not None:
            kept[1].close()
        cursor = con.cursor()
        cursor.execute("pragma disable_optimizer")
        kept = _LOCAL.functions = (version, cursor)
    return kept[1]
