"""The warehouse interface: what the loaders, the sync state, quality, explain, metrics and
the CLI need from an engine, with one implementation per engine (duckdb.py, postgres.py).

A `Warehouse` is resolved once (orchestration.settings) and passed down. Nothing outside
this package branches on the engine, opens a driver connection or reads the target from
the environment.

SQL text holds only the project's own words: paths and values travel as bound parameters
(`?` placeholders on every engine), and names declared by the project (schemas, tables,
columns) are quoted as identifiers. Connections are opened per use and closed right
after: DuckDB allows one writing process per file.
"""

from __future__ import annotations

import csv
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, ClassVar

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
RAW_SCHEMA = "raw"
DEFAULT_TARGET = "duckdb"  # profiles.yml's default is checked against it

# The portable column types (the source contracts' data_type); each engine maps them.
PORTABLE_TYPES = (
    "varchar",
    "integer",
    "bigint",
    "decimal",
    "double",
    "boolean",
    "date",
    "timestamp",
    "timestamptz",
    "json",
)

Run = Callable[..., list[tuple]]


@dataclass(frozen=True)
class ServedTable:
    """A table of the profile API's serving state: `relation` (schema.table) filled by
    `select`, looked up by the column lists `keys` (the first is also its order), and
    whether the warehouse's functions read it."""

    relation: str
    select: str
    keys: tuple[tuple[str, ...], ...] = (("customer_id",),)
    read_by_functions: bool = False


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or used; the message is one line for the user."""


class Session(ABC):
    """One open connection. `run(sql, params)` takes `?` placeholders and returns the rows
    (none for statements). Outside `transaction()` each statement commits on its own."""

    @abstractmethod
    def run(self, sql: str, params: Sequence = ()) -> list[tuple]: ...

    @abstractmethod
    def changed(self, sql: str, params: Sequence = ()) -> int:
        """Run an insert, update or delete; the rows it changed."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Statements inside commit together, or roll back together on an error."""

    @abstractmethod
    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: an error inside rolls back to here only (and is raised)."""

    @abstractmethod
    def copy_in(self, table: str, columns: Sequence[str], data: IO[str] | str) -> None:
        """Append CSV rows (no header, empty = null) to `table` (a quoted name)."""

    @abstractmethod
    def insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """Append rows (a few thousand at a time) to `table` (a quoted name)."""

    @abstractmethod
    def stream(self, sql: str, rows: int) -> Iterator[list[tuple]]:
        """The query's rows in lists of at most `rows`, never all at once, on a cursor of
        its own (statements may run on the session meanwhile)."""

    @abstractmethod
    def export(self, sql: str, dest: Path) -> tuple[Path, str]:
        """Write the query's rows to a file next to `dest`; returns the file and the DuckDB
        reader expression that reads it back (the path bound to its `?`)."""

    @abstractmethod
    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold a lock named `key` among the processes using this warehouse; yields whether
        it was got (always, when waiting). Held until the block ends."""

    @abstractmethod
    def xact_lock(self, key: str) -> None:
        """Inside a transaction: wait for the lock `key`, held to the transaction's end."""

    def frames(self, sql: str, rows: int) -> Iterator:
        """The query's rows as pandas data frames of at most `rows` rows; the first even when
        there are none (an empty table is validated too). For engines without
        `sqlalchemy_url()`, whose quality suites run on data frames."""
        raise NotImplementedError(f"{self.warehouse.title} sessions give no data frames")

    def frame(self, sql: str):
        """The query's rows as one pandas data frame."""
        raise NotImplementedError(f"{self.warehouse.title} sessions give no data frames")

    def set_utc(self) -> None:
        """Times with a time zone read and written as UTC in this session."""
        self.run(self.warehouse.utc_statement)

    warehouse: Warehouse


class Warehouse(ABC):
    """One warehouse target. Subclasses are one engine each."""

    name: ClassVar[str]  # the target's name (dbt's profile output)
    title: ClassVar[str]  # the engine's name in messages
    types: ClassVar[dict[str, str]]  # portable type -> the engine's
    utc_statement: ClassVar[str]
    # A 60-bit integer from the md5 of the text `{}` (as dbt's cdp.hash_bigint macro).
    hash_bigint: ClassVar[str] = "cast(concat('0x', substr(md5({}), 1, 15)) as bigint)"
    # The SHA-256 of the text `{}`, as 64 lower-case hex digits (hashlib's hexdigest).
    sha256_hex: ClassVar[str] = "sha256({})"
    # The warehouse reads landing files itself (the loader parses in it, rows never leave).
    reads_files: ClassVar[bool] = False
    # Several processes may write at once (else a run queue lets one run write at a time).
    concurrent_writers: ClassVar[bool] = True

    # ------------------------------------------------------------------ identity

    @classmethod
    @abstractmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Warehouse:
        """The engine's settings from environment variables (its own names only)."""

    @property
    @abstractmethod
    def label(self) -> str:
        """Where it is, for messages."""

    @property
    def build_command(self) -> str:
        """The command that builds this warehouse, for messages."""
        flag = "" if self.name == DEFAULT_TARGET else f" --target {self.name}"
        return f"`cdp run{flag}`"

    @abstractmethod
    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt and other children, identical at parse and run time."""

    def release_dbt(self) -> None:
        """Let go of what dbt run in this process (dbt_project.run_in_process) still holds
        open, so this process's own connections can open the warehouse next. PostgreSQL:
        nothing (dbt's connections are closed after each invocation)."""
        return None

    def check_reachable(self) -> None:
        """Raise WarehouseError, in one line, when the warehouse cannot be used."""
        with self.connect():
            pass

    @abstractmethod
    @contextmanager
    def connect(self) -> Iterator:
        """The driver's own connection, closed after (WarehouseError when it cannot open)."""

    # ------------------------------------------------------------------ sessions

    @abstractmethod
    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """One connection, closed after (read-only: rolled back)."""

    def sqlalchemy_url(self) -> str | None:
        """Where Great Expectations validates in the warehouse itself (its SQL engine), or
        None: then suites run on data frames read in chunks (GX's pandas engine)."""
        return None

    @abstractmethod
    def missing_relation(self, exc: BaseException) -> bool:
        """The error says a table or schema does not exist."""

    @abstractmethod
    def row_refused(self, exc: BaseException) -> bool:
        """The error is about one row's content (the loader quarantines the row)."""

    # ------------------------------------------------------------------ shared helpers

    def column_ddl(self, columns: Sequence[tuple[str, str]]) -> str:
        return ", ".join(f"{quote_ident(name)} {self.types[ctype]}" for name, ctype in columns)

    def primary_key_ddl(self, columns: Sequence[str]) -> str:
        """`, primary key (...)` where the engine keeps one cheaply, else nothing."""
        return f", primary key ({', '.join(quote_ident(c) for c in columns)})"

    @contextmanager
    def read_session(self) -> Iterator[Run]:
        """One read-only connection for several queries: yields `run(sql, params)`."""
        with self.session(read_only=True) as session:
            yield session.run

    def fetch_all(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        """Run one read query and return its rows (`?` placeholders)."""
        with self.session(read_only=True) as session:
            return session.run(sql, params or [])

    def existing_tables(self, schema: str) -> set[str]:
        rows = self.fetch_all(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        )
        return {r[0] for r in rows}

    def columns(self, schema: str, table: str) -> dict[str, str]:
        """Column name -> data type, in the table's order."""
        return dict(
            self.fetch_all(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            )
        )

    def replace_table(
        self,
        schema: str,
        name: str,
        columns: list[tuple[str, str]],
        rows: Iterable[Sequence],
        primary_key: str | None = None,
    ) -> int:
        """Replace schema.name with the rows, atomically: readers see the old table or the
        new one, never a half-written one. Rows travel as CSV (COPY)."""
        data, count = csv_rows(rows)
        ddl = self.column_ddl(columns)
        if primary_key:
            ddl += f", primary key ({quote_ident(primary_key)})"
        table, staged = qualified(schema, name), qualified(schema, f"{name}__replacing")
        with self.session() as session, session.transaction():
            session.run(f"create schema if not exists {quote_ident(schema)}")
            session.run(f"drop table if exists {staged}")
            session.run(f"create table {staged} ({ddl})")
            if count:
                session.copy_in(staged, [c for c, _ in columns], data)
            session.run(f"drop table if exists {table}")
            session.run(f"alter table {staged} rename to {quote_ident(name)}")
            if primary_key:
                self.after_rename(session, schema, f"{name}__replacing", name)
        return count

    def after_rename(self, session: Session, schema: str, old: str, new: str) -> None:  # noqa: B027
        """Names that follow a table's (its primary key's index) after a rename."""

    def append_rows(
        self, schema: str, name: str, columns: list[tuple[str, str]], rows: Iterable[Sequence]
    ) -> int:
        """Append rows to schema.name (created when missing) in one transaction."""
        data, count = csv_rows(rows)
        table = qualified(schema, name)
        with self.session() as session, session.transaction():
            session.run(f"create schema if not exists {quote_ident(schema)}")
            session.run(f"create table if not exists {table} ({self.column_ddl(columns)})")
            if count:
                session.copy_in(table, [c for c, _ in columns], data)
        return count

    def create(self) -> None:  # noqa: B027
        """Create this warehouse empty where the engine needs that (a server's database);
        the default does nothing (a file appears when first opened)."""

    # ------------------------------------------------------------------ serving

    def serving(self):
        """What the profile API reads (`reader()`, `function_run()`, `fetch_all()`,
        `missing_relation()`, `label`): by default this warehouse itself, whose tables a
        run replaces in transactions, so a reader never waits for a run nor sees half of
        one."""
        return self

    def function_run(self, run: Run) -> Run:
        """The `run(sql, params)` on which the warehouse's functions (the identifier
        normalisation) are evaluated for a reader of `run`: that same one by default."""
        return run

    @contextmanager
    def reader(self) -> Iterator[Run]:
        """A read-only `run(sql, params)` for a server answering many small reads: on a
        connection kept between calls where the engine allows (the default opens one per
        call)."""
        with self.read_session() as run:
            yield run

    def publish_serving(self, tables: Sequence[ServedTable], functions: Sequence[str]) -> str:
        """Make the state the last build left readable by `serving()`: `tables` what the
        reads query, `functions` schema.name of functions they call. The default has
        nothing to do; says where the reads go."""
        return f"read from the tables of {self.label}"

    def prune_serving(self) -> int:
        """Remove every published serving state but the current one (after an erasure);
        how many went. The default keeps none apart: nothing to remove."""
        return 0

    @abstractmethod
    def copy_as(self, suffix: str) -> Warehouse:
        """A copy of this whole warehouse beside it (its name + `suffix`), replacing an
        older copy; nothing may be writing to this one meanwhile."""

    @abstractmethod
    def drop(self) -> None:
        """Delete this whole warehouse (a file, a database); nothing left if it is gone."""

    def fingerprint(self, relation: str, columns: Sequence[str]) -> tuple[int, int]:
        """(rows, sum of a 60-bit hash of each row's text) of `columns` of a table: equal
        for tables holding the same rows in any order, within one engine."""
        row_hash = self.hash_bigint.format("cast(hashed as varchar)")
        cols = ", ".join(quote_ident(c) for c in columns)
        [(rows, total)] = self.fetch_all(
            f"select count(*), coalesce(sum(cast({row_hash} as decimal(38, 0))), 0) "
            f"from (select {cols} from {relation}) as hashed"
        )
        return int(rows), int(total)

    def row_counts(self, schema: str, tables: Iterable[str]) -> dict[str, int]:
        """Rows per table of the schema (tables not created yet count 0), one connection."""
        present = self.existing_tables(schema)
        counts = dict.fromkeys(tables, 0)
        with self.read_session() as run:
            for name in counts:
                if name in present:
                    counts[name] = int(run(f"select count(*) from {qualified(schema, name)}")[0][0])
        return counts


def csv_rows(rows: Iterable[Sequence]) -> tuple[str, int]:
    """Rows as CSV text with CRLF line ends (a value holding a CR or an LF is quoted, which
    the COPY readers need), empty for null; and how many."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    return buffer.getvalue(), count


def quote_ident(name: str) -> str:
    """A declared name as an SQL identifier (the same on every engine)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    """A SQL string literal, for what is taken only as text (DuckDB views cannot hold
    parameters; a list of ids in a query given to another library)."""
    return "'" + value.replace("'", "''") + "'"


def qualified(*parts: str) -> str:
    """schema.table (or any dotted name) with each part quoted as an identifier."""
    return ".".join(quote_ident(part) for part in parts)


def placeholders(count: int) -> str:
    return ", ".join("?" for _ in range(count))


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


def first_line(exc: BaseException, default: str = "failed") -> str:
    return (str(exc).strip().splitlines() or [default])[0]
