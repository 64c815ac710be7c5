"""A local webhook receiver for the sync tests and the benchmark.

It checks what a real receiver would (the HMAC-SHA256 signature of the body, the auth
header, the JSON shape, the operation) and answers 401/400 when they are wrong. It keeps
every record by its idempotency key, so a resend of the same change is seen as a repeat; an
"erase" record removes everything it holds under that record's key. It can inject faults:
5xx, 429 with Retry-After, answers slower than the client's timeout, per-record rejections,
a status for every batch that holds an erasure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from dataclasses import dataclass, field

from vendor_fakes import FakeServer

# What a record's `operation` may say: the sync's operations, and a privacy erasure.
OPERATIONS = {"upsert", "insert", "update", "clear", "delete", "erase"}


@dataclass
class Faults:
    error_5xx: float = 0.0  # share of requests answered 503
    throttle_429: float = 0.0  # share answered 429 with Retry-After
    retry_after: str = "0.05"
    slow: float = 0.0  # share applied but answered after `slow_seconds` (client timeout)
    slow_seconds: float = 1.0
    slow_batches: int = 0  # the first N batches past the other faults: applied, answered late
    delay: float = 0.0  # seconds every request takes
    reject_keys: set[str] = field(default_factory=set)  # rejected once each, then accepted
    erase_status: int = 0  # when set, the status of every batch holding an "erase" record
    seed: int = 7


class Receiver:
    def __init__(
        self, secret: str, auth: tuple[str, str] | None = None, faults: Faults | None = None
    ):
        self.secret, self.auth = secret, auth
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self.lock = threading.Lock()
        self.requests = 0  # every request, answered or not
        self.accepted_batches = 0
        self.deliveries = 0  # records in accepted batches, repeats included
        self.by_idempotency: dict[str, dict] = {}  # first accepted copy of each change
        self.repeats = 0
        self.slowed = 0  # batches answered late on purpose (slow_batches)
        self.rejected_once: set[str] = set()
        self.erased: set[str] = set()  # keys whose records an erasure removed
        self.throttled: dict[str, float] = {}  # batch id -> when it was answered 429
        self.retry_delays: list[float] = []  # seconds from a 429 to that batch's next attempt
        self.bad_requests: list[str] = []
        self.batch_sizes: list[int] = []
        self.on_batch = None  # callable(n_accepted_batches), e.g. to stop a process

    # ------------------------------------------------------------------ server
    def __enter__(self) -> Receiver:
        self.server = FakeServer(self)
        self.url = self.server.url + "/hooks/cdp"
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    # ------------------------------------------------------------------ handling
    def handle(self, method, path, query, headers, body: bytes) -> tuple:
        """GET (any path): the counts, for a receiver in its own process; POST: a batch."""
        if method == "GET":
            return 200, self.stats()
        status, answer = self._batch(headers, body)
        if status == 429:
            return status, answer, {"Retry-After": self.faults.retry_after}
        return status, answer

    def _batch(self, headers, body: bytes) -> tuple[int, dict]:
        with self.lock:
            self.requests += 1
            roll = self.rng.random()
            f = self.faults
        stamp = headers.get("X-CDP-Timestamp", "")
        message = stamp.encode() + b"." + body
        expected = "sha256=" + hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            self.bad_requests.append("stale timestamp")
            return 401, {"error": "stale timestamp"}
        if not hmac.compare_digest(headers.get("X-CDP-Signature", ""), expected):
            self.bad_requests.append("bad signature")
            return 401, {"error": "bad signature"}
        if self.auth and headers.get(self.auth[0]) != self.auth[1]:
            self.bad_requests.append("bad auth")
            return 401, {"error": "bad auth"}
        try:
            payload = json.loads(body)
            records = payload["records"]
            assert all({"key", "operation", "fields", "idempotency_key"} <= set(r) for r in records)
            assert all(r["operation"] in OPERATIONS for r in records)
        except (ValueError, KeyError, AssertionError, TypeError):
            self.bad_requests.append("bad shape")
            return 400, {"error": "bad shape"}
        if f.delay:
            time.sleep(f.delay)
        if f.erase_status and any(r["operation"] == "erase" for r in records):
            return f.erase_status, {"error": "injected fault"}
        batch_id = payload.get("batch_id", "")
        with self.lock:
            if batch_id in self.throttled:
                self.retry_delays.append(time.monotonic() - self.throttled.pop(batch_id))
        if roll < f.error_5xx:
            return 503, {"error": "unavailable"}
        if roll < f.error_5xx + f.throttle_429:
            with self.lock:
                self.throttled[batch_id] = time.monotonic()
            return 429, {"error": "slow down"}
        with self.lock:
            late = self.slowed < f.slow_batches
            self.slowed += late
        late = late or roll < f.error_5xx + f.throttle_429 + f.slow
        rejected = []
        with self.lock:
            for r in records:
                # a late answer is never read: its rejections are made on the resend
                if not late and r["key"] in f.reject_keys and r["key"] not in self.rejected_once:
                    self.rejected_once.add(r["key"])
                    rejected.append({"key": r["key"], "reason": "invalid email for this list"})
                    continue
                self.deliveries += 1
                if r["operation"] == "erase":  # forget the person: every change of the key
                    self.by_idempotency = {
                        i: kept
                        for i, kept in self.by_idempotency.items()
                        if kept["key"] != r["key"]
                    }
                    self.erased.add(r["key"])
                elif r["idempotency_key"] in self.by_idempotency:
                    self.repeats += 1
                else:
                    self.by_idempotency[r["idempotency_key"]] = r
            self.accepted_batches += 1
            self.batch_sizes.append(len(records))
            n = self.accepted_batches
        if late:  # applied, but answered after the client gave up: it sends the batch again
            time.sleep(f.slow_seconds)
        if self.on_batch:
            self.on_batch(n)
        return 200, {"rejected": rejected}

    # ------------------------------------------------------------------ views
    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "accepted_batches": self.accepted_batches,
                "deliveries": self.deliveries,
                "changes": len(self.by_idempotency),
                "repeats": self.repeats,
                "bad_requests": len(self.bad_requests),
                "operations": self.operations(),
            }

    def latest(self) -> dict[str, dict]:
        """Each key's state as the receiver applied the changes: key -> last record."""
        out: dict[str, dict] = {}
        for r in self.by_idempotency.values():
            out.setdefault(r["key"], [])
            out[r["key"]].append(r)
        return {k: v[-1] for k, v in out.items()}

    def operations(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.by_idempotency.values():
            counts[r["operation"]] = counts.get(r["operation"], 0) + 1
        return counts


if __name__ == "__main__":  # a receiver in its own process: prints its URL, serves until killed
    import sys

    with Receiver(sys.argv[1]) as rx:
        print(rx.url, flush=True)
        threading.Event().wait()
