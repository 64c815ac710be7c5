"""What every destination implements, and the records it receives.

A destination gets batches of `Record`s (at most `batch_size`, at most `concurrency` batches at
once, from worker threads) and answers each with a `BatchResult`: the records it confirmed
(with the id the destination gave them, if any) and the records it rejected, with the reason.
A batch that cannot be delivered at all (after the HTTP client's retries) raises
`DeliveryError`; the engine then dead-letters the whole batch. Anything a destination does not
confirm is sent again at the next run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Operations a record carries:
#   upsert  create or update (mode upsert and mirror, records new or changed)
#   insert  create only (mode insert)
#   update  update an existing record only (mode update)
#   clear   the record left the model: set the mapped fields to null (on_leave: clear)
#   delete  the record left the model: remove it (on_leave: delete)
OPERATIONS = ("upsert", "insert", "update", "clear", "delete")
ENV_SETTINGS = ("url", "folder", "table", "list_id", "audience_id", "base_url")


@dataclass(slots=True)
class Record:
    key: str  # the sync's match key value (e.g. customer_id)
    operation: str  # one of OPERATIONS
    fields: dict[str, Any]  # destination field -> value; for clear/delete the last sent fields
    idempotency_key: str  # stable per record and change: a resend carries the same key
    destination_id: str | None = None  # the id the destination gave it before, if any


@dataclass
class BatchResult:
    confirmed: dict[str, str | None] = field(default_factory=dict)  # key -> destination id
    rejected: dict[str, str] = field(default_factory=dict)  # key -> reason


# What an erasure asks of a destination, per record it holds of the person, and the answers:
#   deleted        the destination removed the record (or said it will, for good)
#   not_found      the destination holds no such record (already gone)
#   cannot_delete  the destination offers no delete of this kind: the receipt says so
#   failed         the call failed; the erasure stays open and is tried again on resume
ERASURE_STATUSES = ("deleted", "not_found", "cannot_delete", "failed")


@dataclass(slots=True)
class Erasure:
    key: str  # the sync's record key (e.g. customer_id)
    fields: dict[str, Any]  # the fields last sent (sync_state's payload)
    destination_id: str | None = None  # the id the destination gave it, if any


@dataclass(slots=True)
class ErasureAnswer:
    key: str
    status: str  # one of ERASURE_STATUSES
    detail: str  # the destination's answer in a few words (HTTP status, its message), no PII


def erase_request(http, key: str, method: str, path: str, reason, **kwargs) -> ErasureAnswer:
    """One HTTP delete of a person at a vendor, answered as the erasure needs: 200/204
    deleted, 404 not_found, anything else failed with the status and `reason(response)` (the
    vendor's error title or category: never its message, which may quote the person)."""
    try:
        response = http.request(method, path, **kwargs)
    except DeliveryError as exc:  # retries ran out, or the connection failed
        return ErasureAnswer(key, "failed", str(exc)[:200])
    status = response.status_code
    if status in (200, 204):
        return ErasureAnswer(key, "deleted", f"HTTP {status}")
    if status == 404:
        return ErasureAnswer(key, "not_found", "HTTP 404")
    why = reason(response)
    return ErasureAnswer(key, "failed", f"HTTP {status}: {why}" if why else f"HTTP {status}")


class DeliveryError(RuntimeError):
    """The batch could not be delivered (retries exhausted, a 4xx on the whole request)."""


class ConfigError(ValueError):
    """A sync's destination settings are wrong or a credential is missing; one line."""


def secret(env_var: str | None, what: str) -> str:
    """A credential from the environment variable the sync names; never from the YAML."""
    if not env_var:
        raise ConfigError(f"{what}: name the environment variable that holds it")
    value = os.environ.get(env_var)
    if not value:
        raise ConfigError(f"{what}: environment variable {env_var} is not set")
    return value


class Destination:
    """Base class. Subclasses set `kind`, `batch_size` (the vendor's limit), `concurrency`
    and `channel` (the consent a record needs: email, sms, ads, or None), and implement send."""

    kind: ClassVar[str] = ""
    batch_size: int = 1000
    concurrency: int = 4
    channel: str | None = None
    operations: ClassVar[tuple[str, ...]] = OPERATIONS  # what it can do

    def __init__(self, config: dict[str, Any]):
        self.config = dict(config)
        # Settings that differ per account but are not secret (an audience id, a URL) may
        # be named by environment variable too: `list_id_env: MAILCHIMP_LIST_ID`.
        for name in ENV_SETTINGS:
            env = self.config.get(f"{name}_env")
            if env and not self.config.get(name) and os.environ.get(env):
                self.config[name] = os.environ[env]

    @classmethod
    def identity_fields(cls, config: dict[str, Any]) -> tuple[str, ...]:
        """The destination fields a person is known by there (an email, a phone). None for
        destinations that know records by the sync's key alone (webhook, files, a table)."""
        return ()

    @classmethod
    def identity(cls, config: dict[str, Any], fields: dict[str, Any]) -> frozenset:
        """The record's identity at the destination: (field, value) pairs of its non-empty
        identity fields, normalised as the destination compares them. When a change leaves
        none of the old pairs, and the sync removes what leaves (on_leave clear or delete),
        the old identity is removed the same way before the change is written, unless another
        record of the model holds it by then."""
        return frozenset()

    def open(self) -> None:  # noqa: B027 - optional hook
        """Before the first batch (connect, create a folder, ...)."""

    def send(self, batch: list[Record]) -> BatchResult:
        raise NotImplementedError

    http = None  # an orchestration.activation.http.Http, for the HTTP destinations

    def erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """Remove each record for good (a privacy erasure: the person, not only the audience
        membership), with the delete the vendor offers; one answer per record. Called after
        open(), from one thread. The base class can delete nothing."""
        return [
            ErasureAnswer(r.key, "cannot_delete", f"{self.kind} offers no delete") for r in records
        ]

    def close(self, complete: bool) -> None:
        """After the last batch; `complete` is False when the sync stopped early. Closes the
        HTTP client, if the destination opened one."""
        if self.http is not None:
            self.http.close()
