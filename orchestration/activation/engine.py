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
through, what arrives (adds and changes).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from orchestration.activation.destinations import destination_class
from orchestration.activation.destinations.base import BatchResult, DeliveryError, Record
from orchestration.activation.spec import SyncSpec
from orchestration.activation.state import Store, diff_sql, now, payload_fields
from orchestration.warehouse import Target

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
    forgotten: int = 0  # left the model, on_leave nothing: dropped from the state only
    failed: int = 0  # rejected or undeliverable: in the dead-letter table
    retries: int = 0
    seconds: float = 0.0
    status: str = "succeeded"
    error: str | None = None
    samples: dict[str, list[dict]] = field(default_factory=dict)

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
# Mailchimp, new hashes at Meta), the old one. Then what arrives: adds and changes. So an
# identity that moves from one record to another (two customers merged, two emails swapped)
# is removed before it is written again, whatever batches they fall in.
LEAVING, ARRIVING = "leaving", "arriving"


def _diff(spec: SyncSpec, types: dict[str, str], phase: str) -> str:
    if phase == LEAVING:
        kinds = ["remove"] + (["change"] if spec.on_leave != "nothing" else [])
    else:  # insert mode never sends changes; the state keeps the first version
        kinds = ["add"] + (["change"] if spec.mode != "insert" else [])
    wanted = ", ".join(f"'{k}'" for k in kinds)
    return f"select * from ({diff_sql(spec, types)}) as diff where change in ({wanted})"


def _records(
    spec: SyncSpec, rows: list[tuple], identity: Callable[[dict], tuple], phase: str
) -> tuple[list[Pending], list[str]]:
    """The records to send in this phase, and the keys that left without a removal
    (on_leave nothing). `identity` gives what the destination knows a person by."""
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
        was = identity(old)
        if any(was) and was != identity(fields):
            again = hashlib.md5(f"{idem}:previous".encode()).hexdigest()
            record = Record(key, spec.on_leave, old, again, dest_id)
            out.append(Pending(record, "previous", None, previous, version, has_state))
    return out, forget


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


def _identity(spec: SyncSpec) -> Callable[[dict], tuple]:
    kind = destination_class(spec.kind)
    return lambda fields: kind.identity(spec.destination, fields)


def preview(spec: SyncSpec, target: Target, sample: int = SAMPLE) -> SyncReport:
    """Counts and a sample of what a run would send; nothing is sent or written."""
    report = SyncReport(spec.name, "dry-run", dry_run=True)
    started = time.perf_counter()
    store = Store(target)
    with store.open():
        store.ensure()
        types = check_columns(store, spec)
        identity = _identity(spec)
        for phase in (LEAVING, ARRIVING):
            for rows in store.stream(_diff(spec, types, phase), READ_ROWS):
                records, forget = _records(spec, rows, identity, phase)
                report.forgotten += len(forget)
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
    target: Target,
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

    identity = _identity(spec)
    try:
        for phase in (LEAVING, ARRIVING):
            pending: list[Pending] = []
            for rows in store.stream(_diff(spec, types, phase), READ_ROWS):
                records, forget = _records(spec, rows, identity, phase)
                store.forget(spec.name, forget)
                report.forgotten += len(forget)
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
    removal and the change again)."""
    confirmed, replaced, removed, dead, held = [], [], [], [], []
    for batch, result in outcomes:
        for p in batch:
            key = p.record.key
            if key in result.confirmed:
                if p.change == "previous":
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
                if p.change == "add":
                    report.added += 1
                else:
                    report.changed += 1
            else:
                reason = result.rejected.get(key, "not confirmed by the destination")
                if p.change == "previous":
                    held.append(key)
                    reason = f"the old identity was not removed, the change not sent: {reason}"
                dead.append((key, p.record.operation, reason, p.record.fields))
    store.confirm(spec.name, confirmed, replaced)
    store.forget(spec.name, removed)
    if dead:
        report.failed += len(dead)
        store.dead_letter(spec.name, report.run_id, dead)
        log.warning("%s: %d records not delivered: %s", spec.name, len(dead), dead[0][2])
    return held
