"""Who a privacy request is about, through the identity graph.

A query (an identifier of any type, as typed or normalised, or a customer_id) resolves as
`cdp explain` resolves it (identity/explain.resolve_customers). The erasure's working set
(privacy.erasure_items) then holds, by kind:

  customer    k1 = a customer_id the person has or had (merged-away ids included)
  record      k1 = source (the raw table), k2 = source record id, from the bridge
  identifier  k1 = type, k2 = normalised value, from the bridge
  raw_value   k1 = type, k2 = the value as the source wrote it (trimmed)
  node        k1 = identity graph node id
  raw_row     k1 = raw table, k2 = load id, k3 = row in the file (the raw rows of the records)
  quarantine  k1 = raw table, k2 = load id, k3 = row: quarantined rows that hold one of
              the person's identifiers in their text
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.identity.explain import HISTORY, IDENTIFIERS, RECORDS, resolve_customers
from orchestration.loading.loader import QUARANTINE_TABLE
from orchestration.privacy.store import ITEMS, PERSON_VALUES_SQL
from orchestration.privacy.store import table_exists as _exists
from orchestration.sources import Table, all_tables
from orchestration.warehouse import RAW_SCHEMA, quote_ident

NODES = "intermediate.int_identity_nodes_numbered"
ASSIGNED = "intermediate.int_customer_ids_assigned"
NORMALISED = "intermediate.int_identifiers_normalised"
MAX_CUSTOMERS = 1  # a query that matches more customers names a customer_id instead


class NotFound(ValueError):
    """The query matches no customer; the message is one line."""


@dataclass
class Resolved:
    customers: list[str]
    records: int
    identifiers: int
    raw_rows: int
    unmatched_records: int  # bridge records with no raw row (a contract's key changed?)


def customers_of(run, query: str) -> list[str]:
    """The current customer_ids the query stands for; NotFound or ValueError in one line."""
    found = resolve_customers(run, query)
    if not found:
        raise NotFound(f"{query.strip()!r} is no customer_id or identifier of a customer")
    if len(found) > MAX_CUSTOMERS:
        raise ValueError(
            f"{query.strip()!r} matches {len(found)} customers ({', '.join(found)}): "
            "give the customer_id of the one to act on"
        )
    return found


def record_key(table: Table, alias: str) -> str:
    """The source record id of a raw row, as the identity models write it (the contract's
    key columns, trimmed, joined with '|')."""
    parts = [f"trim(cast({alias}.{quote_ident(c)} as varchar))" for c in table.record_id]
    return parts[0] if len(parts) == 1 else "concat(" + ", '|', ".join(parts) + ")"


def collect(run, request_id: str, customers: list[str]) -> Resolved:
    """Write the working set of `customers` into privacy.erasure_items (in the caller's
    transaction)."""

    def add(kind: str, rows) -> None:
        for row in rows:
            k = [*row, None, None, None][:3]
            run(f"insert into {ITEMS} values (?, ?, ?, ?, ?)", [request_id, kind, *k])

    def have(kind: str, cols: str = "k1") -> str:
        return f"select {cols} from {ITEMS} where request_id = '{request_id}' and kind = '{kind}'"

    # every id the person had: ids merged into theirs, and ids their nodes carried before
    ids = set(customers)
    frontier = set(customers)
    while frontier:
        marks = ", ".join("?" for _ in frontier)
        older = {
            r[0]
            for r in run(
                f"select old_customer_id from {HISTORY} where new_customer_id in ({marks})",
                list(frontier),
            )
        }
        frontier = older - ids
        ids |= older
    add("customer", [(c,) for c in sorted(ids)])
    add(
        "record",
        run(
            f"select distinct source, source_record_id from {RECORDS} "
            f"where customer_id in ({have('customer')})"
        ),
    )
    add(
        "identifier",
        run(
            f"select distinct identifier_type, identifier_value from {IDENTIFIERS} "
            f"where customer_id in ({have('customer')})"
        ),
    )
    if _exists(run, NORMALISED):
        add(
            "raw_value",
            run(
                f"select distinct n.identifier_type, trim(n.raw_value) from {NORMALISED} n "
                f"join {ITEMS} i on i.request_id = ? and i.kind = 'record' "
                "and i.k1 = n.source and i.k2 = n.source_record_id "
                "where n.raw_value is not null and trim(n.raw_value) <> ''",
                [request_id],
            ),
        )
    nodes: set = set()
    if _exists(run, NODES):
        nodes |= {
            r[0]
            for r in run(
                f"select cast(n.node_id as varchar) from {NODES} n join {ITEMS} i "
                "on i.request_id = ? and i.kind = 'identifier' "
                "and i.k1 = n.identifier_type and i.k2 = n.identifier_value",
                [request_id],
            )
        }
    if _exists(run, ASSIGNED):
        nodes |= {
            r[0]
            for r in run(
                f"select cast(node_id as varchar) from {ASSIGNED} "
                f"where customer_id in ({have('customer')})"
            )
        }
    add("node", [(n,) for n in sorted(nodes)])

    raw_rows = matched = 0
    for table in all_tables():
        relation = f"{RAW_SCHEMA}.{table.raw_name}"
        if not _exists(run, relation):
            continue
        key = record_key(table, "r")
        rows = run(
            f"select distinct i.k2, cast(r._load_id as varchar), "
            f"cast(r._source_row as varchar) from {relation} r join {ITEMS} i "
            f"on i.request_id = ? and i.kind = 'record' and i.k1 = ? and i.k2 = {key}",
            [request_id, table.raw_name],
        )
        matched += len({r[0] for r in rows})
        add("raw_row", [(table.raw_name, load, row) for _, load, row in rows])
        raw_rows += len(rows)
    records = run(f"select count(*) from ({have('record')}) as r")[0][0]

    quarantine = f"{RAW_SCHEMA}.{QUARANTINE_TABLE}"
    if _exists(run, quarantine):
        add(
            "quarantine",
            run(
                f"select distinct q.table_name, q.load_id, cast(q.source_row as varchar) "
                f"from {quarantine} q where exists (select 1 from ({PERSON_VALUES_SQL}) as p "
                "where position(p.v in lower(q.raw_text)) > 0)",
                [request_id, request_id],
            ),
        )
    identifiers = run(f"select count(*) from ({have('identifier')}) as r")[0][0]
    return Resolved(sorted(ids), int(records), int(identifiers), raw_rows, int(records) - matched)
