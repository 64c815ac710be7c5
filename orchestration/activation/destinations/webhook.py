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
        body = json.dumps(
            {
                "sync": self.sync_name,
                "batch_id": uuid.uuid4().hex,
                "records": [
                    {
                        "key": r.key,
                        "operation": r.operation,
                        "fields": r.fields,
                        "idempotency_key": r.idempotency_key,
                    }
                    for r in batch
                ],
            },
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
        return BatchResult(
            confirmed={r.key: None for r in batch if r.key not in rejected},
            rejected={r.key: rejected[r.key] for r in batch if r.key in rejected},
        )
