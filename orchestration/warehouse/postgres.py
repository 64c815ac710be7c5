"""PostgreSQL, the first server target, reached with the standard libpq variables."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from orchestration.warehouse.base import (
    ServedTable,
    Session,
    Warehouse,
    WarehouseError,
    first_line,
    qualified,
    quote_ident,
)

# PostgreSQL error classes a row's content can cause (22: data exception, e.g. a NUL byte
# or an unsupported Unicode escape; 54: program limit, e.g. nesting too deep to parse).
ROW_ERROR_CLASSES = ("22", "54")
LIBPQ_DEFAULTS = {
    "PGHOST": "127.0.0.1",
    "PGPORT": "5432",
    "PGUSER": "postgres",
    "PGPASSWORD": "",
    "PGDATABASE": "postgres",
}
# Connection pools of `reader()`, per database.
_POOLS: dict = {}
_POOLS_LOCK = threading.Lock()


@dataclass(frozen=True)
class PostgresWarehouse(Warehouse):
    host: str = LIBPQ_DEFAULTS["PGHOST"]
    port: str = LIBPQ_DEFAULTS["PGPORT"]
    user: str = LIBPQ_DEFAULTS["PGUSER"]
    password: str = field(default=LIBPQ_DEFAULTS["PGPASSWORD"], repr=False)
    dbname: str = LIBPQ_DEFAULTS["PGDATABASE"]

    name = "postgres"
    types = {
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
    }
    title = "PostgreSQL"
    utc_statement = "set time zone 'UTC'"
    hash_bigint = "cast(cast(concat('x', substr(md5({}), 1, 15)) as bit(60)) as bigint)"
    sha256_hex = "encode(sha256(convert_to({}, 'UTF8')), 'hex')"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PostgresWarehouse:
        value = {k: environ.get(k, default) for k, default in LIBPQ_DEFAULTS.items()}
        return cls(
            value["PGHOST"], value["PGPORT"], value["PGUSER"], value["PGPASSWORD"],
            value["PGDATABASE"],
        )  # fmt: skip

    @property
    def label(self) -> str:
        return f"postgres ({self.user}@{self.host}:{self.port}/{self.dbname})"

    def params(self, dbname: str | None = None) -> dict[str, str]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname or self.dbname,
        }

    def _admin(self, statement: str) -> None:
        """A statement on the server's `postgres` database, outside a transaction."""
        with self.connect("postgres") as con:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(statement)

    def create(self) -> None:
        """Create this database (empty)."""
        self._admin(f"create database {quote_ident(self.dbname)}")

    def copy_as(self, suffix: str) -> PostgresWarehouse:
        copy = replace(self, dbname=self.dbname + suffix)
        copy.drop()
        self._admin(
            f"create database {quote_ident(copy.dbname)} template {quote_ident(self.dbname)}"
        )
        return copy

    def drop(self) -> None:
        self._admin(f"drop database if exists {quote_ident(self.dbname)} with (force)")

    def dbt_env(self) -> dict[str, str]:
        env = {"CDP_TARGET": self.name, "PGHOST": self.host, "PGPORT": self.port}
        env |= {"PGUSER": self.user, "PGDATABASE": self.dbname}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    @contextmanager
    def connect(self, dbname: str | None = None) -> Iterator:
        """The driver's connection (psycopg2), closed after."""
        import psycopg2

        params = self.params(dbname)
        try:
            con = psycopg2.connect(connect_timeout=5, **params)
        except psycopg2.OperationalError as exc:
            raise WarehouseError(
                f"cannot reach PostgreSQL at {params['host']}:{params['port']}"
                f"/{params['dbname']}: {first_line(exc, 'connection failed')}"
            ) from exc
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        with self.connect() as con:
            session = _PostgresSession(self, con)
            try:
                yield session
            finally:
                session.close()

    def publish_serving(self, tables: Sequence[ServedTable], functions: Sequence[str]) -> str:
        """Reads go to the tables themselves; each table (not a view) gets an index on each
        of its keys where it has none (a table a build replaced lost its own)."""
        with self.session() as session, session.transaction():
            base_tables = {
                f"{schema}.{name}"
                for schema, name in session.run(
                    "select table_schema, table_name from information_schema.tables "
                    "where table_type = 'BASE TABLE'"
                )
            }
            for table in tables:
                if table.relation not in base_tables:
                    continue
                name = table.relation.split(".")[1]
                for i, key in enumerate(table.keys):
                    columns = ", ".join(quote_ident(c) for c in key)
                    index = quote_ident(f"{name}_cdp_key{i}")
                    session.run(
                        f"create index if not exists {index} on {table.relation} ({columns})"
                    )
        return f"read from the tables of {self.label}, indexed on their keys"

    @contextmanager
    def reader(self) -> Iterator:
        """A read-only connection from a pool kept per database (up to 8 at once)."""
        import psycopg2
        from psycopg2.pool import ThreadedConnectionPool

        params = self.params()
        key = tuple(sorted(params.items()))
        with _POOLS_LOCK:
            pool = _POOLS.get(key)
            if pool is None:
                try:
                    pool = ThreadedConnectionPool(1, 8, connect_timeout=5, **params)
                except psycopg2.OperationalError as exc:
                    raise WarehouseError(
                        f"cannot reach PostgreSQL at {params['host']}:{params['port']}"
                        f"/{params['dbname']}: {first_line(exc, 'connection failed')}"
                    ) from exc
                _POOLS[key] = pool
        con = pool.getconn()
        broken = False
        try:
            con.set_session(readonly=True)
            yield _PostgresSession(self, con).run
        except psycopg2.OperationalError:
            broken = True  # the server closed it: not handed out again
            raise
        finally:
            if not broken:
                con.rollback()
            pool.putconn(con, close=broken)

    def sqlalchemy_url(self) -> str:
        from sqlalchemy.engine import URL

        return URL.create(  # each part escaped: a password with '@' or ':' stays a password
            "postgresql+psycopg2",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=int(self.port),
            database=self.dbname,
        ).render_as_string(hide_password=False)

    def missing_relation(self, exc: BaseException) -> bool:
        import psycopg2

        return isinstance(exc, psycopg2.errors.UndefinedTable | psycopg2.errors.InvalidSchemaName)

    def row_refused(self, exc: BaseException) -> bool:
        import psycopg2

        return isinstance(exc, psycopg2.Error) and (exc.pgcode or "")[:2] in ROW_ERROR_CLASSES

    def after_rename(self, session: Session, schema: str, old: str, new: str) -> None:
        session.run(
            f"alter index {qualified(schema, f'{old}_pkey')} rename to {quote_ident(f'{new}_pkey')}"
        )
        # the planner's statistics now, not when autovacuum comes by: the models that join
        # this table next would otherwise be planned blind
        session.run(f"analyze {qualified(schema, new)}")


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PostgresSession(Session):
    def __init__(self, warehouse: PostgresWarehouse, con):
        self.warehouse, self.con = warehouse, con
        self.raw = con
        self._cur = None  # the transaction's cursor, inside transaction()
        self._reader = None  # a second connection for stream()
        self._savepoints = 0

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.con.rollback()

    def run(self, sql: str, params: Sequence = ()) -> list[tuple]:
        if self._cur is not None:
            self._cur.execute(_pg(sql), tuple(params) or None)
            return self._cur.fetchall() if self._cur.description else []
        with self.con, self.con.cursor() as cur:  # commits, or rolls back on an error
            cur.execute(_pg(sql), tuple(params) or None)
            return cur.fetchall() if cur.description else []

    def changed(self, sql: str, params: Sequence = ()) -> int:
        if self._cur is not None:
            self._cur.execute(_pg(sql), tuple(params) or None)
            return max(self._cur.rowcount, 0)
        with self.con, self.con.cursor() as cur:
            cur.execute(_pg(sql), tuple(params) or None)
            return max(cur.rowcount, 0)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.con, self.con.cursor() as cur:
            self._cur = cur
            try:
                yield self
            finally:
                self._cur = None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"cdp_sp{self._savepoints}"
        self._cur.execute(f"savepoint {name}")
        try:
            yield
        except BaseException:
            self._cur.execute(f"rollback to savepoint {name}")
            self._cur.execute(f"release savepoint {name}")  # else each holds a lock to the end
            raise
        self._cur.execute(f"release savepoint {name}")

    def copy_in(self, table: str, columns: Sequence[str], data: IO[str] | str) -> None:
        fh = io.StringIO(data) if isinstance(data, str) else data
        cols = ", ".join(f'"{c}"' for c in columns)
        sql = f"copy {table} ({cols}) from stdin with (format csv, null '')"
        if self._cur is not None:
            self._cur.copy_expert(sql, fh)
            return
        with self.con, self.con.cursor() as cur:
            cur.copy_expert(sql, fh)

    def insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        from psycopg2.extras import execute_values

        cols = ", ".join(f'"{c}"' for c in columns)
        sql = f"insert into {table} ({cols}) values %s"
        if self._cur is not None:
            execute_values(self._cur, sql, rows, page_size=1000)
            return
        with self.con, self.con.cursor() as cur:
            execute_values(cur, sql, rows, page_size=1000)

    def stream(self, sql: str, rows: int) -> Iterator[list[tuple]]:
        if self._reader is None:  # a server-side cursor on a connection of its own
            self._reader = ExitStack()
            self._reader_con = self._reader.enter_context(self.warehouse.connect())
            with self._reader_con, self._reader_con.cursor() as cur:
                cur.execute(self.warehouse.utc_statement)
        reader = self._reader_con
        with reader.cursor(name="cdp_stream") as cur:
            cur.itersize = rows
            cur.execute(sql)
            while chunk := cur.fetchmany(rows):
                yield chunk
        reader.rollback()

    def export(self, sql: str, dest: Path) -> tuple[Path, str]:
        path = dest.with_suffix(".csv")
        with self.con.cursor() as cur, open(path, "w", encoding="utf-8") as fh:
            cur.copy_expert(f"copy ({sql}) to stdout with (format csv, header true)", fh)
        self.con.rollback()
        return path, "read_csv(?, header = true, all_varchar = true)"

    @contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        if wait:
            self.run("select pg_advisory_lock(hashtext(?))", [key])
            got = True
        else:
            [(got,)] = self.run("select pg_try_advisory_lock(hashtext(?))", [key])
        try:
            yield got
        finally:
            if got:  # at once: a closed session's locks go only when the server gets round
                # to it, and the next one may already be asking
                self.con.rollback()
                self.run("select pg_advisory_unlock(hashtext(?))", [key])

    def xact_lock(self, key: str) -> None:
        self.run("select pg_advisory_xact_lock(hashtext(?))", [key])
