"""An erasure: a person removed from every table, landing file and destination, kept out by
the suppression list, and a receipt that proves it.

The steps, each recorded in privacy.request_steps when done (an interrupted erasure is
resumed from the first step not done, by `cdp privacy erase` of the same query or by
`cdp privacy resume`):

  resolve       the person's working set (resolve.py), with the request, in one transaction
  suppress      salted hashes of their identifiers into the suppression list
  destinations  every record the syncs' state holds of them erased at its destination with
                the delete it offers; records a destination could not take are tried again
                at resume (the erasure stays open until each has an answer)
  warehouse     in one transaction, every row of theirs in every table: by customer_id (and
                the ids merged into it), source record, graph node, identifier, raw row
                lineage; quarantined rows holding their identifiers; the sync state and dead
                letters; values in quality samples replaced
  landing       landing files rewritten without their lines (landing.py)
  serving       the profile API's copy published again, older copies removed
  verify        every table and landing file searched for their values (verify.py)

Raw stays append-only for everything else: this is its one logged exception.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from orchestration.activation.state import SCHEMA as SYNC_SCHEMA
from orchestration.activation.state import sync_lock
from orchestration.loading.loader import MANIFEST_TABLE, QUARANTINE_TABLE
from orchestration.privacy import landing, resolve, store, verify
from orchestration.privacy.store import ITEMS, REQUESTS, STEPS
from orchestration.warehouse import RAW_SCHEMA, Warehouse, quote_ident

STEPS_IN_ORDER = (
    "resolve",
    "suppress",
    "destinations",
    "warehouse",
    "landing",
    "serving",
    "verify",
)
CUSTOMER_COLUMNS = ("customer_id", "old_customer_id", "new_customer_id", "previous_customer_id")
NODE_COLUMNS = ("node_id", "node_a", "node_b")
SAMPLE_COLUMNS = {"quality.validation_results": "sample"}  # values shown as examples
ERASED_SAMPLE = "[erased]"

Progress = Callable[[str, str], None]  # (event, what): "step" / name, "file" / path


class ErasureError(RuntimeError):
    """The erasure cannot go on; one line that says what to do. The request stays open."""


@dataclass
class Outcome:
    request_id: str
    status: str  # done | open | failed
    receipt: dict = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)  # why it is still open


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


# ------------------------------------------------------------------ entry points


def erase(
    warehouse: Warehouse,
    query: str,
    *,
    requested_by: str | None = None,
    progress: Progress | None = None,
    syncs: list | None = None,
) -> Outcome:
    """Erase the person the query resolves to, or finish the open erasure of that query.
    `syncs` (SyncSpecs) are the syncs whose destinations it reaches; by default those the
    project declares."""
    with warehouse.session() as session:
        session.set_utc()
        with session.transaction() as tx:
            store.ensure(warehouse, tx)
        query_hash = store.keyed_hash("query", query.strip())
        open_ones = session.run(
            f"select request_id from {REQUESTS} where kind = 'erase' and status = 'open' "
            "and query_hash = ? order by requested_at",
            [query_hash],
        )
        if open_ones:
            request_id = open_ones[0][0]
        else:
            try:
                request_id = _start(warehouse, session, query, query_hash, requested_by)
            except resolve.NotFound:
                done = session.run(
                    f"select request_id, finished_at from {REQUESTS} where kind = 'erase' "
                    "and status = 'done' and query_hash = ? order by finished_at desc",
                    [query_hash],
                )
                if done:
                    raise resolve.NotFound(
                        f"{query.strip()!r} was erased by request {done[0][0]} on "
                        f"{done[0][1]:%Y-%m-%d}: nothing of it is left "
                        f"(`cdp privacy status --receipt {done[0][0]}`)"
                    ) from None
                raise
    return run_steps(warehouse, request_id, progress=progress, syncs=syncs)


def _start(warehouse, session, query, query_hash, requested_by) -> str:
    request_id = uuid.uuid4().hex[:16]
    customers = resolve.customers_of(session.run, query)
    with session.transaction() as tx:
        tx.run(
            f"insert into {REQUESTS} values (?, 'erase', ?, ?, ?, 'open', ?, null, null, null)",
            [request_id, query_hash, requested_by or getpass.getuser(), store.now(), 0],
        )
        found = resolve.collect(tx.run, request_id, customers)
        _copy_sync_records(tx.run, request_id)
        tx.run(
            f"update {REQUESTS} set customers = ?, records = ? where request_id = ?",
            [len(customers), found.records, request_id],
        )
        store.mark_done(
            tx.run,
            request_id,
            "resolve",
            {
                "customers": len(customers),
                "customer_ids_with_merged": len(found.customers),
                "records": found.records,
                "identifiers": found.identifiers,
                "raw_rows": found.raw_rows,
                "records_without_raw_row": found.unmatched_records,
            },
        )
    return request_id


def open_requests(warehouse: Warehouse) -> list[str]:
    with warehouse.session() as session:
        if not store.exists(session.run):
            return []
        return [
            r[0]
            for r in session.run(
                f"select request_id from {REQUESTS} where kind = 'erase' and status = 'open' "
                "order by requested_at"
            )
        ]


def run_steps(
    warehouse: Warehouse,
    request_id: str,
    *,
    progress: Progress | None = None,
    syncs: list | None = None,
) -> Outcome:
    """Run the steps of an open erasure that are not done yet; the outcome."""
    waiting: list[str] = []
    with warehouse.session() as session, ExitStack() as held:
        session.set_utc()
        done = store.steps_done(session.run, request_id)
        if "warehouse" not in done:  # no sync sends them until their rows are gone
            for name in _sync_names(session.run, request_id, syncs):
                held.enter_context(session.lock(sync_lock(name)))
        for step in STEPS_IN_ORDER:
            if step in done:
                continue
            if progress:
                progress("step", step)
            step_function = STEP_FUNCTIONS[step]
            if step == "destinations":
                step_function = partial(_destinations, syncs=syncs)
            detail, complete = step_function(warehouse, session, request_id, progress)
            if complete:
                with session.transaction() as tx:
                    store.mark_done(tx.run, request_id, step, detail)
                done[step] = detail
            else:
                waiting += detail.get("waiting", [])
        if waiting:
            return Outcome(request_id, "open", _receipt(session.run, request_id), waiting)
        receipt = _receipt(session.run, request_id)
        found = done["verify"].get("found_in_tables", []) + done["verify"].get("found_in_files", [])
        status = "failed" if found else "done"
        with session.transaction() as tx:
            tx.run(f"delete from {ITEMS} where request_id = ?", [request_id])
            tx.run(
                f"update {REQUESTS} set status = ?, finished_at = ?, receipt = ? "
                "where request_id = ?",
                [status, store.now(), json.dumps(receipt, default=str), request_id],
            )
    return Outcome(request_id, status, receipt)


# ------------------------------------------------------------------ steps


def _suppress(warehouse, session, request_id, progress):
    key = store.salt()
    identifiers = store.items(session.run, request_id, "identifier")
    with session.transaction() as tx:
        have = {
            (t, h)
            for t, h in tx.run(f"select identifier_type, identifier_hash from {store.SUPPRESSED}")
        }
        added = 0
        for identifier_type, value, _ in identifiers:
            digest = store.keyed_hash(identifier_type, value, key)
            if (identifier_type, digest) in have:
                continue
            tx.run(
                f"insert into {store.SUPPRESSED} values (?, ?, ?, ?)",
                [identifier_type, digest, request_id, store.now()],
            )
            have.add((identifier_type, digest))
            added += 1
    types = Counter(t for t, _, _ in identifiers)
    return {"identifiers": len(identifiers), "added": added, "by_type": dict(types)}, True


def _copy_sync_records(run, request_id: str) -> None:
    """The sync state's records of the person (what each destination was sent), kept in the
    working set: the warehouse step deletes the state, the destinations step needs it."""
    if not store.table_exists(run, store.SYNC_STATE):
        return
    rows = run(
        f"select s.sync_name, s.record_key, s.payload, s.destination_id "
        f"from {store.SYNC_STATE} s where {store.PERSON_KEY_SQL.format('s.record_key')}",
        [request_id],
    )
    for sync_name, key, payload, destination_id in rows:
        run(
            f"insert into {ITEMS} values (?, 'sync_record', ?, ?, ?)",
            [
                request_id,
                sync_name,
                key,
                json.dumps({"payload": payload, "destination_id": destination_id}),
            ],
        )


def _destinations(warehouse, session, request_id, progress, syncs=None):
    from orchestration.activation.destinations import destination_class
    from orchestration.activation.destinations.base import Erasure
    from orchestration.activation.spec import load_syncs
    from orchestration.activation.state import payload_fields
    from orchestration.dbt_project import MANIFEST

    records = store.items(session.run, request_id, "sync_record")
    answered = {
        (s, k): status for s, k, status in store.items(session.run, request_id, "sync_answer")
    }
    pending: dict[str, list] = {}
    for sync_name, key, kept in records:
        if answered.get((sync_name, key)) not in (None, "failed"):
            continue
        data = json.loads(kept or "{}")
        pending.setdefault(sync_name, []).append(
            Erasure(key, payload_fields(data.get("payload")), data.get("destination_id"))
        )
    if pending and syncs is None:
        syncs = load_syncs(MANIFEST)
    specs = {s.name: s for s in syncs or []}
    waiting: list[str] = []
    for sync_name, erasures in sorted(pending.items()):
        spec = specs.get(sync_name)
        if spec is None:
            answers = [(e.key, "cannot_delete", "the sync is no longer declared") for e in erasures]
        else:
            try:
                destination = destination_class(spec.kind)(
                    {**spec.destination, "sync_name": spec.name}
                )
                destination.open()
                try:
                    got = destination.erase(erasures)
                finally:
                    destination.close(True)
                answers = [(a.key, a.status, a.detail) for a in got]
            except Exception as exc:  # a missing credential, a destination down
                answers = [(e.key, "failed", _one_line(exc)) for e in erasures]
        with session.transaction() as tx:
            for key, status, detail in answers:
                tx.run(
                    f"delete from {ITEMS} where request_id = ? and kind = 'sync_answer' "
                    "and k1 = ? and k2 = ?",
                    [request_id, sync_name, key],
                )
                tx.run(
                    f"insert into {ITEMS} values (?, 'sync_answer', ?, ?, ?)",
                    [request_id, sync_name, key, status],
                )
                tx.run(
                    f"delete from {ITEMS} where request_id = ? and kind = 'sync_detail' "
                    "and k1 = ? and k2 = ?",
                    [request_id, sync_name, key],
                )
                tx.run(
                    f"insert into {ITEMS} values (?, 'sync_detail', ?, ?, ?)",
                    [request_id, sync_name, key, detail],
                )
        failed = [d for _, s, d in answers if s == "failed"]
        if failed:
            waiting.append(f"sync {sync_name}: {failed[0]}")
    detail = _destination_summary(session.run, request_id)
    if waiting:
        detail["waiting"] = waiting
    return detail, not waiting


def _destination_summary(run, request_id: str) -> dict:
    statuses = store.items(run, request_id, "sync_answer")
    details = {(s, k): d for s, k, d in store.items(run, request_id, "sync_detail")}
    out: dict[str, dict] = {}
    for sync_name, key, status in statuses:
        entry = out.setdefault(sync_name, {"records": 0, "by_status": {}, "answers": {}})
        entry["records"] += 1
        entry["by_status"][status] = entry["by_status"].get(status, 0) + 1
        detail = details.get((sync_name, key)) or ""
        if detail not in entry["answers"].setdefault(status, []):
            entry["answers"][status].append(detail)
    return {"syncs": out}


def _warehouse(warehouse, session, request_id, progress):
    counts: dict[str, int] = {}
    with session.transaction() as tx:
        run = tx.run
        tables = store.base_tables(run)
        for relation, columns in tables.items():
            rules = _rules(relation, set(columns), request_id)
            if rules:
                n = tx.changed(
                    f"delete from {relation} where " + " or ".join(r for r, _ in rules),
                    [p for _, params in rules for p in params],
                )
                if n:
                    counts[relation] = n
        for relation, column in SAMPLE_COLUMNS.items():
            if relation not in tables or column not in tables[relation]:
                continue
            col = quote_ident(column)
            n = tx.changed(
                f"update {relation} set {col} = ? where exists (select 1 from "
                f"({store.PERSON_VALUES_SQL}) as p where position(p.v in lower({col})) > 0)",
                [ERASED_SAMPLE, request_id, request_id],
            )
            if n:
                counts[f"{relation}.{column} (values replaced)"] = n
    return {"rows_deleted": dict(sorted(counts.items())), "total": sum(counts.values())}, True


def _rules(relation: str, columns: set[str], request_id: str) -> list[tuple[str, list]]:
    """The conditions that make a row of this table the person's, from its key columns."""

    def item(kind: str, pairs: list[tuple[str, str]]) -> tuple[str, list]:
        match = " and ".join(
            f"i.{k} = cast({relation}.{quote_ident(c)} as varchar)" for c, k in pairs
        )
        return (
            f"exists (select 1 from {ITEMS} i where i.request_id = ? and i.kind = '{kind}' "
            f"and {match})",
            [request_id],
        )

    rules = [item("customer", [(c, "k1")]) for c in CUSTOMER_COLUMNS if c in columns]
    rules += [item("node", [(c, "k1")]) for c in NODE_COLUMNS if c in columns]
    if {"source", "source_record_id"} <= columns:
        rules.append(item("record", [("source", "k1"), ("source_record_id", "k2")]))
    if {"identifier_type", "identifier_value"} <= columns:
        rules.append(item("identifier", [("identifier_type", "k1"), ("identifier_value", "k2")]))
    if set(landing.LINEAGE) <= columns:
        rules.append(item("raw_row", [("_load_id", "k2"), ("_source_row", "k3")]))
    if relation == f"{RAW_SCHEMA}.{QUARANTINE_TABLE}":
        rules.append(item("quarantine", [("load_id", "k2"), ("source_row", "k3")]))
    if relation.startswith(f"{SYNC_SCHEMA}.") and "record_key" in columns:
        rules.append((store.PERSON_KEY_SQL.format(f"{relation}.record_key"), [request_id]))
    return rules


def _landing(warehouse, session, request_id, progress):
    expected = _expected_texts(session.run, request_id)

    def told(event: str, rel: str) -> None:
        if progress:
            progress(f"file {event}", rel)

    try:
        report = landing.rewrite_all(session, request_id, expected, told)
    except landing.LandingError as exc:
        raise ErasureError(str(exc)) from exc
    return report, True


def _expected_texts(run, request_id: str) -> Callable[[str, str], list[str]]:
    """What a removed line must hold: a raw row's line its record id's first part, a
    quarantined line one of the person's values (lower case)."""
    records = {
        (src, rid.split("|")[0].lower()) for src, rid, _ in store.items(run, request_id, "record")
    }
    by_table: dict[str, list[str]] = {}
    for src, rid in records:
        by_table.setdefault(src, []).append(rid)
    values = [
        v.lower()
        for kind in ("identifier", "raw_value")
        for _, v, _ in store.items(run, request_id, kind)
        if v and len(v) >= store.MIN_SEARCH_LENGTH
    ]

    def expected(kind: str, table: str) -> list[str]:
        return by_table.get(table, []) if kind == "raw_row" else values

    return expected


def _serving(warehouse, session, request_id, progress):
    from orchestration.live.profiles import publish

    try:
        where = publish(warehouse)
    except Exception as exc:  # nothing built to serve from: nothing served either
        return {"served": f"not published ({_one_line(exc)})"}, True
    removed = warehouse.prune_serving()
    return {"served": where, "older_copies_removed": removed}, True


def _verify(warehouse, session, request_id, progress):
    run = session.run
    tables, in_tables = verify.search_tables(run, request_id)
    folders = sorted(
        {Path(d) for (d,) in run(f"select distinct landing_dir from {RAW_SCHEMA}.{MANIFEST_TABLE}")}
    )
    files, in_files = verify.search_files(folders, verify.terms(run, request_id))
    return {
        "tables_searched": tables,
        "files_searched": files,
        "landing_folders": [str(f) for f in folders],
        "found_in_tables": in_tables,
        "found_in_files": in_files,
    }, True


STEP_FUNCTIONS = {
    "suppress": _suppress,
    "destinations": _destinations,
    "warehouse": _warehouse,
    "landing": _landing,
    "serving": _serving,
    "verify": _verify,
}


def _sync_names(run, request_id: str, syncs: list | None) -> list[str]:
    """Every sync that could send the person: those holding them, and those declared."""
    names = {s for s, _, _ in store.items(run, request_id, "sync_record")}
    if syncs is None:
        from orchestration.activation.spec import SyncSpecError, load_syncs
        from orchestration.dbt_project import MANIFEST

        try:
            syncs = load_syncs(MANIFEST)
        except (OSError, SyncSpecError):  # no manifest, a broken declaration: none to hold
            syncs = []
    return sorted(names | {s.name for s in syncs})


def _receipt(run, request_id: str) -> dict:
    [(kind, by, at, status, customers, records)] = run(
        f"select kind, requested_by, requested_at, status, customers, records from {REQUESTS} "
        "where request_id = ?",
        [request_id],
    )
    steps = {
        step: {"done_at": str(done_at), **json.loads(detail or "{}")}
        for step, done_at, detail in run(
            f"select step, done_at, detail from {STEPS} where request_id = ? order by done_at",
            [request_id],
        )
    }
    return {
        "request_id": request_id,
        "kind": kind,
        "requested_by": by,
        "requested_at": str(at),
        "customers": customers,
        "records": records,
        "steps": steps,
        "steps_open": [s for s in STEPS_IN_ORDER if s not in steps],
    }
