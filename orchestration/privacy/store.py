"""The `privacy` schema, the same on every warehouse.

  requests              one row per request: kind (erase, export), who asked and when, the
                        status (open, done, failed), how many customers and records it
                        resolved, and the receipt (JSON) once it ended. The query itself is
                        kept only as a salted hash.
  request_steps         the steps of a request that are done, with what each did (JSON)
  erasure_items         the working set of an open erasure: the person's customer ids,
                        records, identifiers, raw rows, graph nodes. Plain values, needed until
                        every copy is gone; deleted when the erasure ends.
  erasure_files         landing files an erasure rewrites: planned, then done
  suppressed_identifiers  identifier type and salted hash of every identifier of an erased
                        person; never the value
  suppressed_loads      per loaded file, the rows left out because they carried a
                        suppressed identifier (counts only)

The salt is CDP_PRIVACY_SALT, else the file CDP_PRIVACY_SALT_FILE (default
warehouse/privacy.salt in the project, created on first use, owner-only). Keep it with the
warehouse's backups: without it the suppression list matches nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from orchestration.activation.state import SCHEMA as SYNC_SCHEMA
from orchestration.warehouse import PROJECT_DIR, Session, Warehouse

SCHEMA = "privacy"
REQUESTS = f"{SCHEMA}.requests"
STEPS = f"{SCHEMA}.request_steps"
ITEMS = f"{SCHEMA}.erasure_items"
FILES = f"{SCHEMA}.erasure_files"
SUPPRESSED = f"{SCHEMA}.suppressed_identifiers"
SUPPRESSED_LOADS = f"{SCHEMA}.suppressed_loads"

TABLES: dict[str, list[tuple[str, str]]] = {
    REQUESTS: [
        ("request_id", "varchar"),
        ("kind", "varchar"),  # erase | export
        ("query_hash", "varchar"),
        ("requested_by", "varchar"),
        ("requested_at", "timestamp"),
        ("status", "varchar"),  # open | done | failed
        ("customers", "bigint"),
        ("records", "bigint"),
        ("finished_at", "timestamp"),
        ("receipt", "varchar"),
    ],
    STEPS: [
        ("request_id", "varchar"),
        ("step", "varchar"),
        ("done_at", "timestamp"),
        ("detail", "varchar"),
    ],
    ITEMS: [
        ("request_id", "varchar"),
        ("kind", "varchar"),
        ("k1", "varchar"),
        ("k2", "varchar"),
        ("k3", "varchar"),
    ],
    FILES: [
        ("request_id", "varchar"),
        ("landing_dir", "varchar"),
        ("file_path", "varchar"),
        ("old_checksum", "varchar"),
        ("new_checksum", "varchar"),
        ("lines_removed", "bigint"),
        ("status", "varchar"),  # planned | done
    ],
    SUPPRESSED: [
        ("identifier_type", "varchar"),
        ("identifier_hash", "varchar"),
        ("request_id", "varchar"),
        ("suppressed_at", "timestamp"),
    ],
    SUPPRESSED_LOADS: [
        ("load_id", "varchar"),
        ("table_name", "varchar"),
        ("file_path", "varchar"),
        ("rows_suppressed", "bigint"),
        ("suppressed_at", "timestamp"),
    ],
}


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure(warehouse: Warehouse, session: Session) -> None:
    """Create the schema and its tables where missing."""
    session.run(f"create schema if not exists {SCHEMA}")
    for table, columns in TABLES.items():
        session.run(f"create table if not exists {table} ({warehouse.column_ddl(columns)})")


def exists(run) -> bool:
    """Whether the privacy schema has been created (by a first request)."""
    return table_exists(run, SUPPRESSED)


def table_exists(run, relation: str) -> bool:
    schema, name = relation.split(".")
    rows = run(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name = ? and table_catalog = current_database()",
        [schema, name],
    )
    return rows[0][0] > 0


def base_tables(run) -> dict[str, dict[str, str]]:
    """{schema.table: {column: data type}} of every base table of the warehouse outside the
    privacy schema (views store nothing): what an erasure deletes from and searches."""
    base = {
        (s, t)
        for s, t in run(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_catalog = current_database() "
            "and table_schema not in ('information_schema', 'pg_catalog', ?)",
            [SCHEMA],
        )
    }
    out: dict[str, dict[str, str]] = {}
    for schema, table, column, data_type in run(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() order by table_schema, table_name, "
        "ordinal_position"
    ):
        if (schema, table) in base:
            out.setdefault(f"{schema}.{table}", {})[column] = data_type
    return dict(sorted(out.items()))


# A sync's record key (`{}`) that stands for the person: one of their customer_ids or
# identifier values (syncs key on either). Parameter: the request id.
PERSON_KEY_SQL = (
    f"exists (select 1 from {ITEMS} i where i.request_id = ? and ((i.kind = 'customer' "
    "and i.k1 = {0}) or (i.kind = 'identifier' and i.k2 = {0})))"
)
SYNC_STATE = f"{SYNC_SCHEMA}.sync_state"

MIN_SEARCH_LENGTH = 6  # shorter values are not searched for inside text (too many false hits)
# The person's values searched for inside texts (column `v`, lower case): their customer_ids,
# identifier values and identifiers as the sources wrote them. Parameters: request id twice.
PERSON_VALUES_SQL = (
    f"select lower(k1) as v from {ITEMS} where request_id = ? and kind = 'customer' "
    f"union select lower(k2) from {ITEMS} where request_id = ? "
    f"and kind in ('identifier', 'raw_value') and length(k2) >= {MIN_SEARCH_LENGTH}"
)


# ------------------------------------------------------------------ salted hashes

SALT_ENV, SALT_FILE_ENV = "CDP_PRIVACY_SALT", "CDP_PRIVACY_SALT_FILE"
SEPARATOR = "\x1f"
DEFAULT_SALT_FILE = PROJECT_DIR / "warehouse" / "privacy.salt"


def salt() -> bytes:
    """The project's secret salt (created on first use when neither setting is given):
    text without the separator."""
    if value := os.environ.get(SALT_ENV, "").strip():
        return value.encode()
    path = Path(os.environ.get(SALT_FILE_ENV) or DEFAULT_SALT_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return path.read_text().strip().encode()


def keyed_hash(identifier_type: str, value: str, key: bytes | None = None) -> str:
    """SHA-256 of the salt, the identifier type and its normalised value (separated by
    SEPARATOR), as hex: what `keyed_hash_sql` computes in the warehouse."""
    key = key if key is not None else salt()
    return hashlib.sha256(
        key + f"{SEPARATOR}{identifier_type}{SEPARATOR}{value}".encode()
    ).hexdigest()


def keyed_hash_sql(warehouse, type_sql: str, value_sql: str) -> tuple[str, list[str]]:
    """(SQL, its two parameters) of keyed_hash in the warehouse, for loads that check every
    text of a batch without sending it through Python."""
    text = f"? || {type_sql} || ? || {value_sql}"
    return warehouse.sha256_hex.format(text), [salt().decode() + SEPARATOR, SEPARATOR]


# ------------------------------------------------------------------ requests


def steps_done(run, request_id: str) -> dict[str, dict]:
    rows = run(f"select step, detail from {STEPS} where request_id = ?", [request_id])
    return {step: json.loads(detail or "{}") for step, detail in rows}


def mark_done(run, request_id: str, step: str, detail: dict) -> None:
    run(
        f"insert into {STEPS} values (?, ?, ?, ?)",
        [request_id, step, now(), json.dumps(detail, default=str, sort_keys=True)],
    )


def items(run, request_id: str, kind: str) -> list[tuple[str, str | None, str | None]]:
    return [
        tuple(r)
        for r in run(
            f"select k1, k2, k3 from {ITEMS} where request_id = ? and kind = ? order by k1, k2, k3",
            [request_id, kind],
        )
    ]
