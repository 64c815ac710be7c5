"""An access request: everything held about a person, as one JSON document and a zip of
CSVs (one per section), written to a folder only the owner can read.

Sections:
  customer        the golden record(s) (marts.dim_customers)
  identifiers     every identifier with its record count and when it was seen
  source_records  every source record the bridge links to them, with the raw rows as
                  loaded (all columns), by raw table
  customer tables every other row keyed by their customer_id: events, orders, sessions,
                  support tickets, email engagement, traits, predictions, segment
                  memberships (with history), consents, id history
  sent            what each sync sent to its destination, and when (the sync state)
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import uuid
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from orchestration.privacy import resolve, store
from orchestration.privacy.erasure import CUSTOMER_COLUMNS, SYNC_SCHEMA
from orchestration.privacy.store import ITEMS, REQUESTS
from orchestration.sources import all_tables
from orchestration.warehouse import RAW_SCHEMA, Warehouse, quote_ident

SKIPPED_SCHEMAS = ("information_schema", "pg_catalog", store.SCHEMA, RAW_SCHEMA, SYNC_SCHEMA)


def _plain(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def export(
    warehouse: Warehouse, query: str, out_dir: Path, *, requested_by: str | None = None
) -> tuple[str, Path, Path, dict]:
    """(request id, JSON path, zip path, the document) of the person the query resolves to."""
    request_id = uuid.uuid4().hex[:16]
    with warehouse.session() as session:
        session.set_utc()
        with session.transaction() as tx:
            store.ensure(warehouse, tx)
        customers = resolve.customers_of(session.run, query)
        with session.transaction() as tx:
            tx.run(
                f"insert into {REQUESTS} values (?, 'export', ?, ?, ?, 'open', ?, null, null, "
                "null)",
                [
                    request_id,
                    store.keyed_hash("query", query.strip()),
                    requested_by or getpass.getuser(),
                    store.now(),
                    len(customers),
                ],
            )
            found = resolve.collect(tx.run, request_id, customers)
        try:
            document = _document(session, request_id, found)
        finally:
            with session.transaction() as tx:
                tx.run(f"delete from {ITEMS} where request_id = ?", [request_id])
        out_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(out_dir, 0o700)
        json_path = out_dir / f"export-{request_id}.json"
        zip_path = out_dir / f"export-{request_id}.zip"
        _write_private(json_path, json.dumps(document, indent=2, default=str).encode())
        _write_private(zip_path, _zip(document))
        receipt = {
            "files": [json_path.name, zip_path.name],
            "sections": {k: len(v) for k, v in document.items() if isinstance(v, list)},
        }
        with session.transaction() as tx:
            tx.run(
                f"update {REQUESTS} set status = 'done', records = ?, finished_at = ?, "
                "receipt = ? where request_id = ?",
                [found.records, store.now(), json.dumps(receipt), request_id],
            )
    return request_id, json_path, zip_path, document


def _query(run, sql: str, params: list) -> list[dict]:
    cursor_rows = run(sql, params)
    if not cursor_rows:
        return []
    names = _names(run, sql, params)
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in cursor_rows]


_NAMES: dict[str, list[str]] = {}


def _names(run, sql: str, params: list) -> list[str]:
    """The column names of a `select * from <relation> ...` query's relation."""
    relation = sql.split(" from ", 1)[1].split()[0]
    if relation not in _NAMES:
        schema, table = relation.split(".")
        _NAMES[relation] = [
            r[0]
            for r in run(
                "select column_name from information_schema.columns where table_schema = ? "
                "and table_name = ? and table_catalog = current_database() "
                "order by ordinal_position",
                [schema, table],
            )
        ]
    return _NAMES[relation]


def _document(session, request_id: str, found: resolve.Resolved) -> dict:
    run = session.run
    _NAMES.clear()
    customers = "select k1 from " + ITEMS + " where request_id = ? and kind = 'customer'"
    doc: dict = {
        "request_id": request_id,
        "exported_at": store.now().isoformat(),
        "customer_ids": found.customers,
    }
    tables: dict[str, set[str]] = {}
    for schema, table, column in run(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t on t.table_schema = c.table_schema "
        "and t.table_name = c.table_name and t.table_catalog = c.table_catalog "
        "where c.table_catalog = current_database()"
    ):
        if schema not in SKIPPED_SCHEMAS:
            tables.setdefault(f"{schema}.{table}", set()).add(column)
    keyed = {}
    for relation, columns in sorted(tables.items()):
        keys = [c for c in CUSTOMER_COLUMNS if c in columns]
        if not keys:
            continue
        cond = " or ".join(f"cast({quote_ident(k)} as varchar) in ({customers})" for k in keys)
        rows = _query(run, f"select * from {relation} where {cond}", [request_id] * len(keys))
        if rows:
            keyed[relation] = rows
    doc["customer"] = keyed.pop("marts.dim_customers", [])
    doc["identifiers"] = keyed.pop("marts.bdg_customer_identifiers", [])
    bridge = keyed.pop("marts.bdg_customer_source_records", [])
    doc["customer_tables"] = keyed
    records = []
    by_table = {t.raw_name: t for t in all_tables()}
    for link in bridge:
        table = by_table.get(link["source"])
        rows = []
        if table is not None:
            key = resolve.record_key(table, "r")
            rows = _query(
                run,
                f"select * from {RAW_SCHEMA}.{table.raw_name} r where {key} = ?",
                [link["source_record_id"]],
            )
        records.append({**link, "raw_rows": rows})
    doc["source_records"] = records
    doc["sent"] = _sent(run, request_id)
    return doc


def _sent(run, request_id: str) -> list[dict]:
    if not store.table_exists(run, store.SYNC_STATE):
        return []
    rows = run(
        f"select sync_name, record_key, payload, destination_id, version, removed, confirmed_at "
        f"from {store.SYNC_STATE} s where {store.PERSON_KEY_SQL.format('s.record_key')} "
        "order by sync_name",
        [request_id],
    )
    names = ["sync", "record_key", "payload", "destination_id", "version", "removed", "sent_at"]
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]


def _zip(document: dict) -> bytes:
    """One CSV per section (per table for the customer tables and source records)."""
    sheets: dict[str, list[dict]] = {
        "customer.csv": document["customer"],
        "identifiers.csv": document["identifiers"],
        "sent.csv": document["sent"],
    }
    for relation, rows in document["customer_tables"].items():
        sheets[f"{relation}.csv"] = rows
    raw: dict[str, list[dict]] = {}
    for record in document["source_records"]:
        for row in record["raw_rows"]:
            raw.setdefault(record["source"], []).append(row)
    for source, rows in raw.items():
        sheets[f"source_records/{source}.csv"] = rows
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in sheets.items():
            text = io.StringIO()
            columns = list(rows[0]) if rows else []
            writer = csv.DictWriter(text, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v
                                 for k, v in row.items()})  # fmt: skip
            archive.writestr(name, text.getvalue())
    return buffer.getvalue()


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
