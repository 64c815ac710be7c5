"""Generic webhook: JSON batches POSTed to a URL you run.

Body: {"sync": name, "batch_id": id, "records": [{"key", "operation", "fields",
"idempotency_key"}]}; `idempotency_key` is the same when a record's change is sent again
(after a crash or a retry), so the receiver can drop repeats. Headers: `X-CDP-Timestamp`
(Unix seconds) and `X-CDP-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with
the secret>`, plus an optional auth header (`auth_header`, value from `auth_env`).

Answers: any 2xx confirms the batch, unless its JSON body lists rejected records as
{"rejected": [{"key": ..., "reason": ...}]}; those are dead-lettered. 5xx, 408, 429 and
timeouts are retried by the HTTP client; another 4xx fails the batch at once. A `url` that
is not http(s) with a host stops the sync before anything is sent.

Erasure (`erase`): the same signed envelope, in batches of `batch_size`, with records whose
`operation` is "erase" and whose `fields` are the ones last sent, so the receiver can find the
person and remove everything it holds of them. Each erasure call gives its records new
idempotency keys (`erase-<hex>`): a person synced again and erased again later must not be
dropped as a repeat, and removing twice does no harm. A 2xx answer is deleted, except for the
records its `rejected` list names, which fail (the receiver's reason is not repeated: it may
quote the person); any other answer, or retries running out, fails the batch's records.

Settings: url (or url_env), secret_env, auth_header, auth_env, batch_size (500),
concurrency (4), timeout (30), attempts (6), retry_initial (0.5), retry_max_wait (30),
per_second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from orchestration.activation.destinations.base import (
    BatchResult,
    ConfigError,
    DeliveryError,
    Destination,
    Erasure,
    ErasureAnswer,
    Record,
    secret,
)


def _default(value: Any) -> Any:
    return str(value)  # Decimal, dates


def signature(secret_value: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of `<timestamp>.<body>`: the timestamp is signed too, so a receiver can
    refuse old deliveries replayed."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret_value.encode(), message, hashlib.sha256).hexdigest()


class Webhook(Destination):
    kind = "webhook"
    channel = None

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.batch_size = int(config.get("batch_size", 500))
        self.concurrency = int(config.get("concurrency", 4))
        self.sync_name = config.get("sync_name", "")

    def open(self) -> None:
        from orchestration.activation.http import Http, check_url, http_options, url_setting

        url = self.config.get("url")  # or from url_env (see Destination)
        if not url:
            raise ConfigError("webhook: set `url`, or `url_env` to a variable holding it")
        self.url = check_url(str(url), "webhook", url_setting(self.config, "url"))
        self.secret = secret(self.config.get("secret_env"), "webhook signing secret")
        headers = {"Content-Type": "application/json", "User-Agent": "cdp-sync"}
        if self.config.get("auth_header"):
            headers[self.config["auth_header"]] = secret(
                self.config.get("auth_env"), "webhook auth header"
            )
        self.http = Http(
            "",
            headers=headers,
            pool=self.concurrency,
            **http_options(self.config, per_second=None),
        )

    def send(self, batch: list[Record]) -> BatchResult:
        items = [
            {
                "key": r.key,
                "operation": r.operation,
                "fields": r.fields,
                "idempotency_key": r.idempotency_key,
            }
            for r in batch
        ]
        _, rejected = self._post(items)
        return BatchResult(
            confirmed={r.key: None for r in batch if r.key not in rejected},
            rejected={r.key: rejected[r.key] for r in batch if r.key in rejected},
        )

    def _post(self, items: list[dict[str, Any]]) -> tuple[int, dict[str, str]]:
        """POST one signed batch; (status, rejected key -> reason). DeliveryError when the
        receiver does not answer 2xx (after the HTTP client's retries)."""
        body = json.dumps(
            {"sync": self.sync_name, "batch_id": uuid.uuid4().hex, "records": items},
            default=_default,
            separators=(",", ":"),
        ).encode()
        stamp = str(int(time.time()))
        headers = {"X-CDP-Signature": signature(self.secret, stamp, body), "X-CDP-Timestamp": stamp}
        response = self.http.request("POST", self.url, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")
        rejected: dict[str, str] = {}
        if response.content and "json" in response.headers.get("content-type", ""):
            try:
                answer = response.json()
            except ValueError:
                raise DeliveryError("webhook answered invalid JSON") from None
            for item in (answer.get("rejected") if isinstance(answer, dict) else None) or []:
                rejected[str(item.get("key"))] = str(item.get("reason") or "rejected")
        return response.status_code, rejected

    def erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """Send an "erase" event per record, in batches; one answer per record."""
        answers: list[ErasureAnswer] = []
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            items = [
                {
                    "key": r.key,
                    "operation": "erase",
                    "fields": r.fields,
                    "idempotency_key": f"erase-{uuid.uuid4().hex}",
                }
                for r in batch
            ]
            try:
                status, rejected = self._post(items)
            except DeliveryError as exc:
                answers += [ErasureAnswer(r.key, "failed", str(exc)[:200]) for r in batch]
                continue
            for r in batch:
                if r.key in rejected:
                    answers.append(ErasureAnswer(r.key, "failed", "rejected by the receiver"))
                else:
                    answers.append(ErasureAnswer(r.key, "deleted", f"HTTP {status}"))
        return answers
