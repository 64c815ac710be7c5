"""The sync tables in the warehouse (schema `syncs`) and the diff against them.

  sync_state        one row per record a destination has confirmed: key, checksum of the
                    mapped fields, the fields as sent, destination id, version, confirmed_at;
                    a record removed from the destination stays as a tombstone
  sync_log          one row per run: counts added, changed, removed, identities_removed,
                    identities_kept, failed, retries, status, seconds
  sync_dead_letter  records a destination rejected or could not take, with the reason; they
                    are not in sync_state, so the next run's diff sends them again

The diff is one SQL query, the same on DuckDB and PostgreSQL: the model's records (with the
consent the sync needs) full-outer-joined to the sync's state on the key; a record is an add
when it has no state, a change when its checksum differs, a remove when it has state but
left the model. A rerun with no data change finds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from orchestration.activation.spec import SyncSpec
from orchestration.warehouse import Warehouse

SCHEMA = "syncs"
STATE_COLUMNS = [
    ("sync_name", "varchar"),
    ("record_key", "varchar"),
    ("checksum", "varchar"),  # null once removed
    ("payload", "varchar"),
    ("destination_id", "varchar"),
    ("version", "bigint"),  # confirmed sends of this record, removals included
    ("removed", "boolean"),  # left the model and was removed (or forgotten): a tombstone
    ("confirmed_at", "timestamp"),
]
LOG_COLUMNS = [
    ("run_id", "varchar"),
    ("sync_name", "varchar"),
    ("destination", "varchar"),
    ("started_at", "timestamp"),
    ("finished_at", "timestamp"),
    ("status", "varchar"),  # running | succeeded | partial | failed | interrupted
    ("added", "bigint"),
    ("changed", "bigint"),
    ("removed", "bigint"),
    ("failed", "bigint"),
    ("retries", "bigint"),
    ("seconds", "double"),
    ("error", "varchar"),
    ("identities_removed", "bigint"),  # old identities of changed records
    ("identities_kept", "bigint"),  # removals not sent: other records hold the identity
]
LATER_LOG_COLUMNS = LOG_COLUMNS[-2:]  # added to sync logs written before them
DEAD_COLUMNS = [
    ("sync_name", "varchar"),
    ("record_key", "varchar"),
    ("operation", "varchar"),
    ("reason", "varchar"),
    ("payload", "varchar"),
    ("run_id", "varchar"),
    ("failed_at", "timestamp"),
]


# Times with a time zone are sent (and checksummed) as text in UTC, whatever the session's
# default (PGTZ, the server's timezone setting, the machine's zone for DuckDB): the Store's
# session and its streams are set to UTC.


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_ready(column: str, data_type: str) -> str:
    """The column as a value JSON can hold: decimals as double, dates and times as text
    (times with a time zone in UTC: the Store's sessions are set to it)."""
    t = data_type.lower()
    if t.startswith(("decimal", "numeric")):
        return f"cast({_q(column)} as double precision)"
    if t.startswith(("timestamp", "date", "time", "interval")):
        return f"cast({_q(column)} as varchar)"
    return _q(column)


def confirmed_payloads_sql(sync: str) -> str:
    """The payloads the destination holds for the sync (confirmed, not removed)."""
    return (
        f"select record_key, payload from {SCHEMA}.sync_state "
        f"where sync_name = {_lit(sync)} and not removed"
    )


def diff_sql(spec: SyncSpec, types: dict[str, str]) -> str:
    """Columns: record_key, change (add | change | remove), checksum, idempotency_key,
    version, has_state, destination_id, payload, previous, then the mapped model columns
    f0, f1, ... ready for JSON.

    The payload is each destination field's name and value as text, joined by \x1f (a
    null value is \x1e); the checksum is its MD5. Both are computed in the warehouse. For a
    remove the payload is the one last sent, so the destination can be told who leaves; for
    a change `previous` is the one last sent, so an identity that changed (a new email) can
    be removed from destinations that know people by it.
    The idempotency key is the MD5 of the sync, the key and the record's version (its
    confirmed sends so far): every send of one change carries the same key, and the next
    change (even back to an earlier value, or a return after a removal) a new one."""
    pairs = []
    for field_name, column in spec.fields.items():
        pairs += [_lit(field_name), f"coalesce(cast({_q(column)} as varchar), chr(30))"]
    consent = f" and {_q(spec.consent_column)} = 'granted'" if spec.consent_column else ""
    picked = ", ".join(
        f"{_json_ready(c, types.get(c, ''))} as f{i}" for i, c in enumerate(spec.fields.values())
    )
    values = ", ".join(f"f{i}" for i in range(len(spec.fields)))
    return f"""
with desired as (
    select
        cast({_q(spec.key)} as varchar) as record_key,
        concat_ws(chr(31), {", ".join(pairs)}) as payload,
        {picked}
    from {spec.relation}
    where {_q(spec.key)} is not null{consent}
),
hashed as (
    select *, md5(payload) as checksum from desired
),
state as (
    select record_key, checksum, destination_id, payload, version, removed
    from {SCHEMA}.sync_state
    where sync_name = {_lit(spec.name)}
),
compared as (
    select
        coalesce(hashed.record_key, state.record_key) as record_key,
        case
            when hashed.record_key is not null and (state.record_key is null or state.removed)
                then 'add'
            when hashed.record_key is null and not state.removed then 'remove'
            when hashed.record_key is not null and hashed.checksum <> state.checksum
                then 'change'
        end as change,
        hashed.checksum,
        coalesce(state.version, 0) as version,
        state.record_key is not null as has_state,
        state.destination_id,
        coalesce(hashed.payload, state.payload) as payload,
        case when hashed.record_key is not null then state.payload end as previous,
        {", ".join(f"hashed.f{i}" for i in range(len(spec.fields)))}
    from hashed
    full outer join state on hashed.record_key = state.record_key
)
select
    record_key,
    change,
    checksum,
    md5(concat_ws(chr(31), {_lit(spec.name)}, record_key, cast(version as varchar)))
        as idempotency_key,
    version,
    has_state,
    destination_id,
    payload,
    previous,
    {values}
from compared
where change is not null
"""


def payload_fields(payload: str | None) -> dict[str, str | None]:
    """The fields of a stored payload (name -> value as text)."""
    if not payload:
        return {}
    parts = payload.split("\x1f")
    return {
        parts[i]: (None if parts[i + 1] == "\x1e" else parts[i + 1])
        for i in range(0, len(parts) - 1, 2)
    }


def sync_lock(sync: str) -> str:
    """The lock one run of a sync holds (an erasure holds it too, so that no sync sends the
    person while they are being erased)."""
    return f"cdp-sync:{sync}"


class SyncBusy(RuntimeError):
    """Another run of the same sync holds its lock."""


class Store:
    """One warehouse connection for a sync run: the diff is streamed on a second cursor
    (DuckDB) or a server-side cursor on a second connection (PostgreSQL), confirmations are
    written as batches come back, each batch in its own transaction."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.dead_letters = True  # whether the sync may have dead letters to settle

    def count_dead_letters(self, sync: str) -> int:
        [(n,)] = self.execute(
            f"select count(*) from {SCHEMA}.sync_dead_letter where sync_name = ?", [sync]
        )
        self.dead_letters = n > 0
        return n

    @contextmanager
    def open(self, sync: str | None = None) -> Iterator[Store]:
        """With `sync`, one run of that sync at a time (a lock on the sync's name: on DuckDB
        the file's one writing process already is one)."""
        import pandas  # noqa: F401 - confirmations may go in as data frames: import it before
        # the first batch is out, so the first commit is not late by an import

        with self.warehouse.session() as session:
            self.session = session
            session.set_utc()
            if not sync:
                yield self
                return
            with session.lock(sync_lock(sync), wait=False) as got:
                if not got:
                    raise SyncBusy(f"sync {sync} is already running")
                yield self

    # ------------------------------------------------------------------ plumbing

    def execute(self, sql: str, params: list | tuple = ()) -> list[tuple]:
        return self.session.run(sql, params)

    def columns_of(self, relation: str) -> dict[str, str]:
        """Column name -> data type."""
        schema, table = relation.split(".")
        return dict(
            self.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            )
        )

    def ensure(self) -> None:
        ddl = self.warehouse.column_ddl
        key = self.warehouse.primary_key_ddl(["sync_name", "record_key"])
        stmts = [
            f"create schema if not exists {SCHEMA}",
            # Where keeping a primary key costs more than the inserts (DuckDB) there is none:
            # the engine deletes a record's row before inserting its new one, in one
            # transaction.
            f"create table if not exists {SCHEMA}.sync_state ({ddl(STATE_COLUMNS)}{key})",
            f"create table if not exists {SCHEMA}.sync_log ({ddl(LOG_COLUMNS)})",
            f"create table if not exists {SCHEMA}.sync_dead_letter ({ddl(DEAD_COLUMNS)})",
        ]
        for stmt in stmts:
            self.execute(stmt)
        # A sync log written before some columns existed. Asked first: the alter statement
        # would take an exclusive lock on PostgreSQL even when there is nothing to add.
        have = self.columns_of(f"{SCHEMA}.sync_log")
        for name, data_type in LATER_LOG_COLUMNS:
            if name not in have:
                self.execute(f"alter table {SCHEMA}.sync_log add column {name} {data_type}")

    def stream(self, sql: str, rows: int) -> Iterator[list[tuple]]:
        """The query's rows in lists of at most `rows`, never all at once."""
        return self.session.stream(sql, rows)

    # ------------------------------------------------------------------ state

    def settle(
        self,
        sync: str,
        run_id: str,
        *,
        confirmed: list[tuple] = (),
        replaced: list[str] = (),
        removed: list[str] = (),
        dead: list[tuple[str, str, str, Any]] = (),
    ) -> None:
        """What came back, in one transaction.

        confirmed  (key, checksum, payload, destination id, version): new state rows, with
                   version + 1; `replaced` are the keys among them that had a state row (a
                   change, or a return after a removal)
        removed    keys removed from the destination (or that left without a removal): kept
                   as tombstones, so a return gets a new version and a new idempotency key
        dead       (key, operation, reason, fields) that did not reach the destination: they
                   replace the key's earlier dead letter; confirmed and removed keys settle
                   theirs
        """
        if not (confirmed or removed or dead):
            return
        at = now()
        any_key = "sync_name = ? and record_key = any(?)"
        dead_keys = [r[0] for r in dead]
        settled = [r[0] for r in confirmed] + list(removed) if self.dead_letters else []
        with self._transaction() as (run, insert):
            if replaced:
                run(f"delete from {SCHEMA}.sync_state where {any_key}", [sync, list(replaced)])
            if confirmed:
                rows = [(sync, k, c, p, d, v + 1, False, at) for k, c, p, d, v in confirmed]
                insert("sync_state", STATE_COLUMNS, rows)
            if removed:
                run(
                    f"update {SCHEMA}.sync_state set removed = true, checksum = null, "
                    f"version = version + 1, confirmed_at = ? where {any_key}",
                    [at, sync, list(removed)],
                )
            if settled or dead_keys:
                run(
                    f"delete from {SCHEMA}.sync_dead_letter where {any_key}",
                    [sync, settled + dead_keys],
                )
            if dead:
                rows = [
                    (sync, k, op, reason[:2000], json.dumps(fields, default=str), run_id, at)
                    for k, op, reason, fields in dead
                ]
                insert("sync_dead_letter", DEAD_COLUMNS, rows)
        if dead:
            self.dead_letters = True

    @contextmanager
    def _transaction(self) -> Iterator[tuple[Any, Any]]:
        """One transaction; yields run(sql, params) (? placeholders) and
        insert(table, columns, rows) for a table of the sync schema."""
        with self.session.transaction() as tx:

            def insert(table: str, columns: list, rows: list[tuple]) -> None:
                tx.insert_rows(f"{SCHEMA}.{table}", [n for n, _ in columns], rows)

            yield tx.run, insert

    def clear_stale_dead_letters(self, sync: str, run_id: str) -> None:
        """After a complete run every outstanding change was tried again: dead letters of
        earlier runs are settled, or were written again by this one."""
        self.execute(
            f"delete from {SCHEMA}.sync_dead_letter where sync_name = ? and run_id <> ?",
            [sync, run_id],
        )

    # ------------------------------------------------------------------ log

    def log_start(self, run_id: str, spec: SyncSpec, started: datetime) -> None:
        self.execute(
            f"update {SCHEMA}.sync_log set status = 'interrupted' "
            "where sync_name = ? and status = 'running'",
            [spec.name],
        )
        self.execute(
            f"insert into {SCHEMA}.sync_log (run_id, sync_name, destination, started_at, status, "
            "added, changed, removed, failed, retries, identities_removed, identities_kept) "
            "values (?, ?, ?, ?, 'running', 0, 0, 0, 0, 0, 0, 0)",
            [run_id, spec.name, spec.kind, started],
        )

    def log_end(self, run_id: str, counts: dict[str, Any]) -> None:
        self.execute(
            f"update {SCHEMA}.sync_log set finished_at = ?, status = ?, added = ?, changed = ?, "
            "removed = ?, failed = ?, retries = ?, seconds = ?, error = ?, "
            "identities_removed = ?, identities_kept = ? where run_id = ?",
            [
                now(),
                counts["status"],
                counts["added"],
                counts["changed"],
                counts["removed"],
                counts["failed"],
                counts["retries"],
                counts["seconds"],
                counts.get("error"),
                counts["identities_removed"],
                counts["identities_kept"],
                run_id,
            ],
        )


def last_runs(warehouse: Warehouse) -> dict[str, tuple]:
    """sync name -> (started_at, status, added, changed, removed, failed, seconds) of its
    newest run (none before the first sync)."""
    if "sync_log" not in warehouse.existing_tables(SCHEMA):
        return {}
    rows = warehouse.fetch_all(
        f"select sync_name, started_at, status, added, changed, removed, failed, seconds "
        f"from {SCHEMA}.sync_log l where started_at = (select max(started_at) from "
        f"{SCHEMA}.sync_log m where m.sync_name = l.sync_name)"
    )
    return {row[0]: row[1:] for row in rows}
