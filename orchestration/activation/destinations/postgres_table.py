"""A table in an operational PostgreSQL database, kept up to date by upsert.

The table (`table`, schema-qualified) is created when missing: the key column (text,
primary key), one text column per mapped field and `_synced_at`. Upserts use
`insert ... on conflict (key) do update`; clear sets the fields to null; delete removes the
row. Each batch is one transaction, so a batch is written whole or not at all.

Erasure (`erase`): `delete from <table> where <key column> = %s` per record, all in one
transaction: a deleted row is deleted, no row (or no table yet) is not found; a database
error rolls back and fails every record of the call (named by its error class and SQLSTATE,
never its message, which may quote a value).

Settings: table, dsn_env (a libpq connection string; default: the PG* variables),
key_column (cdp_key), batch_size (5,000).
"""

from __future__ import annotations

import os
import re
from typing import Any

from orchestration.activation.destinations.base import (
    BatchResult,
    ConfigError,
    Destination,
    Erasure,
    ErasureAnswer,
    Record,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ConfigError(f"postgres_table: {name!r} is not a plain identifier")
    return f'"{name}"'


class PostgresTable(Destination):
    kind = "postgres_table"
    channel = None
    concurrency = 1

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.batch_size = int(config.get("batch_size", 5000))
        table = config.get("table")
        if not table:
            raise ConfigError("postgres_table: set `table` (schema.table)")
        schema, _, name = table.rpartition(".")
        self.schema = schema or "public"
        self.table = f"{_ident(self.schema)}.{_ident(name)}"
        self.key_column = config.get("key_column", "cdp_key")

    def open(self) -> None:
        import psycopg2

        dsn = os.environ.get(self.config["dsn_env"], "") if self.config.get("dsn_env") else ""
        if self.config.get("dsn_env") and not dsn:
            raise ConfigError(
                f"postgres_table: environment variable {self.config['dsn_env']} is not set"
            )
        self.con = psycopg2.connect(dsn)
        self.columns: list[str] | None = None

    def _ensure(self, fields: list[str]) -> None:
        if self.columns is not None:
            return
        cols = ", ".join(f"{_ident(f)} text" for f in fields)
        with self.con, self.con.cursor() as cur:
            cur.execute(f"create schema if not exists {_ident(self.schema)}")
            cur.execute(
                f"create table if not exists {self.table} ({_ident(self.key_column)} text "
                f"primary key, {cols}, _synced_at timestamptz not null default now())"
            )
            for f in fields:
                cur.execute(f"alter table {self.table} add column if not exists {_ident(f)} text")
        self.columns = fields

    def send(self, batch: list[Record]) -> BatchResult:
        from psycopg2.extras import execute_values

        fields = sorted({f for r in batch for f in r.fields})
        self._ensure(fields)
        key = _ident(self.key_column)
        upserts = [r for r in batch if r.operation in ("upsert", "insert", "update")]
        clears = [r.key for r in batch if r.operation == "clear"]
        deletes = [r.key for r in batch if r.operation == "delete"]
        with self.con, self.con.cursor() as cur:  # one transaction per batch
            if upserts:
                cols = ", ".join(_ident(f) for f in fields)
                sets = ", ".join(f"{_ident(f)} = excluded.{_ident(f)}" for f in fields)
                execute_values(
                    cur,
                    f"insert into {self.table} ({key}, {cols}) values %s "
                    f"on conflict ({key}) do update set {sets}, _synced_at = now()",
                    [
                        (
                            r.key,
                            *(
                                None if r.fields.get(f) is None else str(r.fields[f])
                                for f in fields
                            ),
                        )
                        for r in upserts
                    ],
                    page_size=1000,
                )
            if clears:
                sets = ", ".join(f"{_ident(f)} = null" for f in fields)
                cur.execute(
                    f"update {self.table} set {sets}, _synced_at = now() where {key} = any(%s)",
                    (clears,),
                )
            if deletes:
                cur.execute(f"delete from {self.table} where {key} = any(%s)", (deletes,))
        return BatchResult(confirmed={r.key: r.key for r in batch})

    def erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """Delete each record's row by its key; one transaction for the call."""
        import psycopg2

        key = _ident(self.key_column)
        answers: list[ErasureAnswer] = []
        try:
            with self.con, self.con.cursor() as cur:
                cur.execute("select to_regclass(%s)", (self.table,))
                if cur.fetchone()[0] is None:  # nothing was ever synced here
                    return [ErasureAnswer(r.key, "not_found", "no table") for r in records]
                for r in records:
                    cur.execute(f"delete from {self.table} where {key} = %s", (str(r.key),))
                    if cur.rowcount > 0:
                        answers.append(ErasureAnswer(r.key, "deleted", "row deleted"))
                    else:
                        answers.append(ErasureAnswer(r.key, "not_found", "no row with this key"))
        except psycopg2.Error as exc:  # rolled back: nothing of this call was deleted
            detail = exc.__class__.__name__ + (f" ({exc.pgcode})" if exc.pgcode else "")
            return [ErasureAnswer(r.key, "failed", detail) for r in records]
        return answers

    def close(self, complete: bool) -> None:
        if hasattr(self, "con"):
            self.con.close()
