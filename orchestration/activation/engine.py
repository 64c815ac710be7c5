"""Run one sync: diff the model against the sync's state, send the changes, record what the
destination confirmed.

Batches of the destination's size go out on `concurrency` worker threads; the main thread
alone writes to the warehouse. Each confirmed batch is committed to sync_state as soon as it
comes back, so a crash loses at most the batches in flight: they are not in the state, the
next run sends them again with the same idempotency keys, and a receiver that keys on them
sees each change once. Records a destination rejects, and batches it could not take after
the HTTP client's retries, go to sync_dead_letter with the reason; the next run's diff
includes them again.

A run goes over the diff twice: first what leaves (records that left the model, and the old
identity of a change that gave a record a new one at the destination), then, once those are
through, what arrives (adds and changes). A confirmed removal of an old identity turns the
record into a tombstone, so its new identity goes out as an add until it is confirmed; a
value another confirmed record holds is never removed.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from orchestration.activation.destinations import destination_class
from orchestration.activation.destinations.base import BatchResult, DeliveryError, Record
from orchestration.activation.spec import SyncSpec
from orchestration.activation.state import (
    Store,
    confirmed_payloads_sql,
    diff_sql,
    now,
    payload_fields,
)
from orchestration.warehouse import Warehouse

log = logging.getLogger("cdp.sync")

READ_ROWS = 10_000  # diff rows fetched from the warehouse at a time
SAMPLE = 5


@dataclass
class SyncReport:
    sync: str
    run_id: str
    dry_run: bool
    added: int = 0
    changed: int = 0
    removed: int = 0  # left the model: cleared or deleted at the destination
    identities_removed: int = 0  # old identities of changed records, cleared or deleted
    identities_kept: int = 0  # removals not sent: other records hold every value of them
    forgotten: int = 0  # left the model without a removal (on_leave nothing, or another
    # record holds its identity at the destination): dropped from the state only
    failed: int = 0  # rejected or undeliverable: in the dead-letter table
    retries: int = 0
    seconds: float = 0.0
    status: str = "succeeded"
    error: str | None = None
    samples: dict[str, list[dict]] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set, repr=False)  # old identity removed this run

    @property
    def sent(self) -> int:
        return self.added + self.changed + self.removed + self.identities_removed + self.failed


@dataclass(slots=True)
class Pending:
    """A record on its way, with what its confirmation writes to the state."""

    record: Record
    change: str  # add | change | remove, or previous: the old identity of a change
    checksum: str | None
    payload: str
    version: int
    has_state: bool


def _operation(spec: SyncSpec, change: str) -> str | None:
    if change == "remove":
        return None if spec.on_leave == "nothing" else spec.on_leave
    if spec.mode == "insert":
        return "insert" if change == "add" else None
    if spec.mode == "update":
        return "update"
    return "upsert"


# A run goes in two passes over the diff. First whatever must go: records that left the model
# and, for a change that gave a record a new identity at the destination (a new email at
# Mailchimp, a new email and phone at Meta), the old one. Then what arrives: adds and
# changes. Whether an identity may go is decided on what the destination is known to hold:
# the confirmed state. A value another record holds there (and keeps) is left alone (two
# customers sharing a household phone, a swap half done in an earlier run); a removal whose
# every value is held is not sent. An old identity whose removal is confirmed turns its record
# into a tombstone, so its new identity is sent as an add, also at the next run if this one
# fails to write it, and a return to the old value is an add as well.
LEAVING, ARRIVING = "leaving", "arriving"


class Identities:
    """What the sync's destination knows people by (`Destination.identity`), and whether
    removals follow it: only when the sync removes what leaves and may create records
    (update mode writes existing records only, so it never removes an old identity)."""

    def __init__(self, spec: SyncSpec):
        kind = destination_class(spec.kind)
        self.config = spec.destination
        self.kind = kind
        self.fields = [f for f in kind.identity_fields(spec.destination) if f in spec.fields]
        self.tracked = bool(self.fields) and spec.on_leave != "nothing" and spec.mode != "update"

    def of(self, fields: dict[str, Any]) -> frozenset:
        return self.kind.identity(self.config, fields)


def _diff(spec: SyncSpec, types: dict[str, str], phase: str, ids: Identities) -> str:
    if phase == LEAVING:
        kinds = ["remove"] + (["change"] if ids.tracked else [])
    else:  # insert mode never sends changes; the state keeps the first version
        kinds = ["add"] + (["change"] if spec.mode != "insert" else [])
    wanted = ", ".join(f"'{k}'" for k in kinds)
    return f"select * from ({diff_sql(spec, types)}) as diff where change in ({wanted})"


def _records(
    spec: SyncSpec, rows: list[tuple], ids: Identities, phase: str
) -> tuple[list[Pending], list[str]]:
    """The records to send in this phase, and the keys that left without a removal
    (on_leave nothing)."""
    names = list(spec.fields)
    out, forget = [], []
    for (
        key,
        change,
        checksum,
        idem,
        version,
        has_state,
        dest_id,
        payload,
        previous,
        *values,
    ) in rows:
        if change == "remove":
            op = _operation(spec, change)
            if op is None:
                forget.append(key)
            else:
                record = Record(key, op, payload_fields(payload), idem, dest_id)
                out.append(Pending(record, change, checksum, payload, version, has_state))
            continue
        fields = dict(zip(names, values, strict=True))
        if phase == ARRIVING:
            op = _operation(spec, change)
            if op is not None:
                record = Record(key, op, fields, idem, dest_id)
                out.append(Pending(record, change, checksum, payload, version, has_state))
            continue
        old = payload_fields(previous)  # a change, in the leaving phase
        was = ids.of(old)
        if was and was.isdisjoint(ids.of(fields)):  # sharing a value: still the same person
            again = hashlib.md5(f"{idem}:previous".encode()).hexdigest()
            record = Record(key, spec.on_leave, old, again, dest_id)
            out.append(Pending(record, "previous", None, previous, version, has_state))
    return out, forget


def _holders(store: Store, spec: SyncSpec, ids: Identities, removing: dict) -> dict[Any, set]:
    """For each identity value about to be removed, the other records the destination holds
    with it (confirmed, not removed, not removing it themselves). One pass over the state."""
    holders: dict[Any, set] = {}
    for rows in store.stream(confirmed_payloads_sql(spec.name), READ_ROWS):
        for key, payload in rows:
            for value in ids.of(payload_fields(payload)):
                leaving = removing.get(value)
                if leaving is None:  # not being removed: whoever holds it does not matter
                    continue
                if key in leaving if isinstance(leaving, set) else key == leaving:
                    continue  # the record removing it
                holders.setdefault(value, set()).add(key)
    return holders


def _leaving(
    spec: SyncSpec, store: Store, types: dict[str, str], ids: Identities
) -> Iterator[tuple[list[Pending], list[str], int]]:
    """The leaving pass in chunks: (records to send, keys that left without a removal,
    removals not sent because other records hold every value of the identity). When
    removals follow identities, the pass first collects the values it would remove, then
    looks up who else holds them."""
    sql = _diff(spec, types, LEAVING, ids)
    holders: dict[Any, set] = {}
    if ids.tracked:
        # value -> the key that removes it in this run (a set when several do)
        removing: dict[Any, str | set] = {}
        for rows in store.stream(sql, READ_ROWS):
            for item in _records(spec, rows, ids, LEAVING)[0]:
                key = item.record.key
                for value in ids.of(item.record.fields):
                    had = removing.setdefault(value, key)
                    if had != key:
                        removing[value] = (had if isinstance(had, set) else {had}) | {key}
        holders = _holders(store, spec, ids, removing) if removing else {}
        del removing
    for rows in store.stream(sql, READ_ROWS):
        records, forget = _records(spec, rows, ids, LEAVING)
        kept = 0
        if holders:
            send = []
            for item in records:
                identity = ids.of(item.record.fields)
                held = {value for value in identity if value in holders}
                if held and held == identity:  # all of it is someone else's: nothing to remove
                    kept += 1
                    if item.change == "remove":
                        forget.append(item.record.key)
                    continue
                if held:  # remove only what nobody else holds (Meta: the email, not the phone)
                    names = {name for name, _ in held}
                    fields = item.record.fields
                    item.record.fields = {n: v for n, v in fields.items() if n not in names}
                send.append(item)
            records = send
        yield records, forget, kept


def _arriving(
    spec: SyncSpec, store: Store, types: dict[str, str], ids: Identities
) -> Iterator[tuple[list[Pending], list[str], int]]:
    for rows in store.stream(_diff(spec, types, ARRIVING, ids), READ_ROWS):
        yield _records(spec, rows, ids, ARRIVING)[0], [], 0


def check_columns(store: Store, spec: SyncSpec) -> dict[str, str]:
    """The model must have the key, the mapped columns and the consent column; returns the
    model's column types."""
    from orchestration.activation.spec import SyncSpecError

    have = store.columns_of(spec.relation)
    if not have:
        raise SyncSpecError(f"sync {spec.name}: {spec.relation} does not exist (run `cdp run`)")
    wanted = [spec.key, *spec.fields.values()] + ([spec.consent_column] if spec.consent else [])
    missing = [c for c in dict.fromkeys(wanted) if c not in have]
    if missing:
        raise SyncSpecError(
            f"sync {spec.name}: model {spec.model} has no column {', '.join(missing)}"
        )
    [(duplicates,)] = store.execute(
        f'select count(*) - count(distinct "{spec.key}") from {spec.relation} '
        f'where "{spec.key}" is not null'
    )
    if duplicates:
        raise SyncSpecError(
            f"sync {spec.name}: key {spec.key} is not unique in {spec.model} "
            f"({duplicates:,} repeated values); a sync needs one row per key"
        )
    return have


BUCKETS = {
    "add": "added",
    "change": "changed",
    "remove": "removed",
    "previous": "identities_removed",
}


def preview(spec: SyncSpec, target: Warehouse, sample: int = SAMPLE) -> SyncReport:
    """Counts and a sample of what a run would send; nothing is sent or written."""
    report = SyncReport(spec.name, "dry-run", dry_run=True)
    started = time.perf_counter()
    store = Store(target)
    with store.open():
        store.ensure()
        types = check_columns(store, spec)
        ids = Identities(spec)
        for passing in (_leaving, _arriving):
            for records, forget, kept in passing(spec, store, types, ids):
                report.forgotten += len(forget)
                report.identities_kept += kept
                for item in records:
                    record = item.record
                    bucket = BUCKETS[item.change]
                    setattr(report, bucket, getattr(report, bucket) + 1)
                    shown = report.samples.setdefault(bucket, [])
                    if len(shown) < sample:
                        shown.append(
                            {"key": record.key, "operation": record.operation, **record.fields}
                        )
    report.seconds = time.perf_counter() - started
    return report


def run_sync(
    spec: SyncSpec,
    target: Warehouse,
    *,
    run_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Send the sync's changes; returns the counts (also in syncs.sync_log)."""
    run_id = run_id or uuid.uuid4().hex
    report = SyncReport(spec.name, run_id, dry_run=False)
    started_at, started = now(), time.perf_counter()
    destination = destination_class(spec.kind)({**spec.destination, "sync_name": spec.name})
    store = Store(target)
    with store.open(spec.name):
        store.ensure()
        store.log_start(run_id, spec, started_at)
        complete = False
        try:
            types = check_columns(store, spec)
            store.count_dead_letters(spec.name)
            destination.open()
            _deliver(spec, store, destination, report, progress, types)
            complete = True
            store.clear_stale_dead_letters(spec.name, run_id)
        except Exception as exc:
            report.status, report.error = "failed", str(exc).splitlines()[0][:500]
            raise
        except BaseException:  # Ctrl-C, Dagster's interrupt: recorded as such
            report.status = "interrupted"
            raise
        finally:
            try:
                destination.close(complete)
            finally:
                http = getattr(destination, "http", None)
                report.retries = getattr(http, "retries", 0)
                report.seconds = time.perf_counter() - started
                if report.status != "failed" and report.failed:
                    report.status = "partial"
                store.log_end(run_id, vars(report))
    return report


def _deliver(spec, store: Store, destination, report: SyncReport, progress, types) -> None:
    size = max(1, int(destination.batch_size))
    in_flight: dict[Future, list[Pending]] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, destination.concurrency))
    held: set[str] = set()  # changes whose old identity could not be removed: not sent

    def settle(futures) -> None:
        """Record the outcome of the finished batches: one transaction for all of them."""
        outcomes = []
        for future in futures:
            batch = in_flight.pop(future)
            try:
                result: BatchResult = future.result()
            except Exception as exc:  # noqa: BLE001 - the batch failed: dead letters, not a crash
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                if not isinstance(exc, DeliveryError):
                    reason = f"{type(exc).__name__}: {reason}"
                result = BatchResult(rejected={p.record.key: reason for p in batch})
            outcomes.append((batch, result))
        if outcomes:
            held.update(_record(spec, store, outcomes, report))
            if progress:
                progress(sum(len(b) for b, _ in outcomes))

    def submit(batch: list[Pending]) -> None:
        in_flight[pool.submit(destination.send, [p.record for p in batch])] = batch

    ids = Identities(spec)
    try:
        for passing in (_leaving, _arriving):
            pending: list[Pending] = []
            for records, forget, kept in passing(spec, store, types, ids):
                store.settle(spec.name, report.run_id, removed=forget)
                report.forgotten += len(forget)
                report.identities_kept += kept
                pending += [p for p in records if p.record.key not in held] if held else records
                while len(pending) >= size:
                    batch, pending = pending[:size], pending[size:]
                    submit(batch)
                    # Commit what came back as soon as it is back: a crash then costs only
                    # the batches in flight. Wait only when the queue is full.
                    settle([f for f in list(in_flight) if f.done()])
                    if len(in_flight) >= 2 * destination.concurrency:
                        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                        settle(done)
            if pending:
                submit(pending)
            while in_flight:  # every removal is through before the first write goes out
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                settle(done)
    finally:
        for future in in_flight:
            future.cancel()
        # Stopped early: do not wait for the batches still being retried. Whatever they
        # deliver is not in the state, so the next run sends it again, with the same keys.
        pool.shutdown(wait=not in_flight, cancel_futures=True)


def _record(spec, store: Store, outcomes, report: SyncReport) -> list[str]:
    """Write the outcome of finished batches: confirmed records to the state, the rest to
    dead letters. Returns the keys of changes whose old identity was not removed: they are
    not sent in this run (the state still holds the old payload, so the next run tries the
    removal and the change again). A record whose old identity went is counted as changed
    when its new one is confirmed in the same run."""
    confirmed, replaced, removed, dead, held = [], [], [], [], []
    for batch, result in outcomes:
        for p in batch:
            key = p.record.key
            if key in result.confirmed:
                if p.change == "previous":  # the record is a tombstone until its new identity
                    removed.append(key)  # is confirmed: an add, now or at the next run
                    report.moved.add(key)
                    report.identities_removed += 1
                    continue
                if p.change == "remove":
                    removed.append(key)
                    report.removed += 1
                    continue
                dest_id = result.confirmed[key] or p.record.destination_id
                confirmed.append((key, p.checksum, p.payload, dest_id, p.version))
                if p.has_state:
                    replaced.append(key)
                if p.change == "add" and key not in report.moved:
                    report.added += 1
                else:
                    report.changed += 1
            else:
                reason = result.rejected.get(key, "not confirmed by the destination")
                if p.change == "previous":
                    held.append(key)
                    reason = f"the old identity was not removed, the change not sent: {reason}"
                dead.append((key, p.record.operation, reason, p.record.fields))
    store.settle(
        spec.name, report.run_id, confirmed=confirmed, replaced=replaced, removed=removed, dead=dead
    )
    if dead:
        report.failed += len(dead)
        log.warning("%s: %d records not delivered: %s", spec.name, len(dead), dead[0][2])
    return held
