"""Meta customer-list Custom Audience (kind "meta_audience", channel ads), Marketing API.

Endpoints: `POST /{api_version}/{audience_id}/users` adds people (upsert, insert, update) and
`DELETE /{api_version}/{audience_id}/users` removes them (clear, delete). The form body holds
`payload` = `{"schema": [...], "data": [[...], ...]}` with a multi-key schema built from the
mapped fields `email`, `phone`, `first_name`, `last_name` (EMAIL, PHONE, FN, LN; only the keys
some record of the batch has), each value normalised as Meta specifies and SHA-256 hashed
(lowercase hex); an unknown value is "". The answer's `num_received`, `num_invalid_entries`
and `invalid_entry_samples`: a record whose hashes appear among the samples is rejected, the
rest are confirmed (invalid entries that match no record are logged). Meta matches and
applies the upload within about a day; there is no per-person id. When a record's email and
phone both change, the engine first removes the old row (`identity`), then adds the new one. Any answer but 200 (a Graph
API `error`) raises DeliveryError. Upload sessions are not used: each batch stands alone.

Erasure (`erase`): Meta offers no delete of a person through this API, only their removal
from the audience: the records go out as removals do (`DELETE .../users`, the same hashed
payload, 10,000 rows a request), and a row Meta accepts is answered deleted, "removed from the
audience". A row Meta counts invalid, or a request it refuses, fails the erasure of those
records (with the status and the Graph API error's type and code, not its message).

Normalisation (module functions, so they can be checked): email trimmed and lowercased;
phone digits only, without leading zeros, so it must already include the country code;
names lowercased, letters only (no punctuation or spaces; accented letters kept, UTF-8).

Batch size: 10,000 people per request, Meta's limit.

Rate limit: Meta limits audience updates per ad account; `concurrency` is 2 and `per_second`
is unset unless configured. 429 and 5xx are retried by the HTTP client; a Graph API
rate-limit error (HTTP 400, code 17, 80003, ...) fails the batch, which is sent again next
run.

Auth: an access token (system user token with ads_management) from the environment variable
named by `token_env`, sent as the `access_token` form field in the request body (never in the
URL, which HTTP logs show). It is never logged nor put into an error message.

Settings: audience_id, token_env, base_url (https://graph.facebook.com), api_version (v21.0),
per_second, timeout (30), attempts (6), retry_initial (0.5), retry_max_wait (30).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
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
from orchestration.activation.http import Http, check_url, http_options, url_setting

log = logging.getLogger("cdp.sync.meta_audience")

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
BATCH_LIMIT = 10_000
MATCH_KEYS = ("email", "phone")  # what identifies a person; names only narrow a match
ADD_OPERATIONS = ("upsert", "insert", "update")
REMOVE_OPERATIONS = ("clear", "delete")


def normalise_email(value: Any) -> str:
    """Trim leading and trailing whitespace, lowercase."""
    return "" if value is None else str(value).strip().lower()


def normalise_phone(value: Any) -> str:
    """Digits only (no +, spaces, dashes, brackets or letters), no leading zeros; the country
    code must be part of the number."""
    return "" if value is None else re.sub(r"\D", "", str(value)).lstrip("0")


def normalise_name(value: Any) -> str:
    """Lowercase, letters only: no punctuation, digits or spaces; accents kept (UTF-8)."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value).strip().lower())
    return "".join(ch for ch in text if ch.isalpha())


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes as lowercase hex; "" stays "" (an unknown value)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest() if value else ""


# mapped field -> (schema key, normaliser)
KEYS = {
    "email": ("EMAIL", normalise_email),
    "phone": ("PHONE", normalise_phone),
    "first_name": ("FN", normalise_name),
    "last_name": ("LN", normalise_name),
}


def _strings(value: Any) -> set[str]:
    """Every string inside invalid_entry_samples, whatever its nesting."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {s for k, v in value.items() for s in _strings(k) | _strings(v)}
    if isinstance(value, list | tuple):
        return {s for v in value for s in _strings(v)}
    return set()


class MetaCustomAudience(Destination):
    kind = "meta_audience"
    channel = "ads"
    batch_size = BATCH_LIMIT
    concurrency = 2

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.audience_id = str(self.config.get("audience_id") or "")
        if not re.fullmatch(r"[0-9]+", self.audience_id):
            raise ConfigError("meta_audience: set `audience_id` to the custom audience id")
        self.api_version = str(self.config.get("api_version") or DEFAULT_API_VERSION)
        if not re.fullmatch(r"v[0-9]+\.[0-9]+", self.api_version):
            raise ConfigError("meta_audience: `api_version` looks like v21.0")
        self.base_url = str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.options = http_options(self.config, per_second=None)
        self.http: Http | None = None
        self._token = ""

    @classmethod
    def identity_fields(cls, config: dict[str, Any]) -> tuple[str, ...]:
        return MATCH_KEYS

    @classmethod
    def identity(cls, config: dict[str, Any], fields: dict[str, Any]) -> frozenset:
        """The normalised email and phone, the keys Meta matches people on. Names only
        narrow a match: a record whose email or phone stays is the same person, and its old
        row is not removed (Meta does not promise to apply a removal and an addition of the
        same person in the order they were sent)."""
        values = ((name, KEYS[name][1](fields.get(name))) for name in MATCH_KEYS)
        return frozenset((name, value) for name, value in values if value)

    def open(self) -> None:
        check_url(self.base_url, self.kind, url_setting(self.config, "base_url"))
        self._token = secret(self.config.get("token_env"), "Meta access token")
        self.http = Http(
            self.base_url,
            headers={"Accept": "application/json", "User-Agent": "cdp-sync"},
            pool=max(self.concurrency, 1),
            **self.options,
        )

    def send(self, batch: list[Record]) -> BatchResult:
        result = BatchResult()
        for method, ops in (("POST", ADD_OPERATIONS), ("DELETE", REMOVE_OPERATIONS)):
            records = [r for r in batch if r.operation in ops]
            for start in range(0, len(records), BATCH_LIMIT):
                self._upload(method, records[start : start + BATCH_LIMIT], result)
        return result

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _upload(self, method: str, records: list[Record], result: BatchResult) -> None:
        schema, rows = _payload(records)
        sent = [(r.key, row) for r, row in zip(records, rows, strict=True) if row]
        for record, row in zip(records, rows, strict=True):
            if row is None:
                result.rejected[record.key] = (
                    "no email, phone or name to match on (map email, phone, first_name, last_name)"
                )
        if not sent:
            return
        response = self._users(method, schema, [row for _, row in sent])
        what = "add to" if method == "POST" else "remove from"
        if response.status_code != 200:
            raise DeliveryError(self._scrub(f"Meta {what} audience: {_graph_error(response)}"))
        valid = self._valid_rows(response, [row for _, row in sent], what)
        for (key, _), ok in zip(sent, valid, strict=True):
            if ok:
                result.confirmed[key] = None
            else:
                result.rejected[key] = "Meta counted this entry invalid"

    def _users(self, method: str, schema: list[str], rows: list[list[str]]):
        """One request to the audience's users edge with the hashed payload."""
        payload = json.dumps({"schema": schema, "data": rows}, separators=(",", ":"))
        assert self.http is not None
        return self.http.request(
            method,
            f"/{self.api_version}/{self.audience_id}/users",
            data={"payload": payload, "access_token": self._token},
        )

    def _valid_rows(self, response, rows: list[list[str]], what: str) -> list[bool]:
        """For each row of a 200 answer: False when its hashes are among Meta's invalid
        entry samples. DeliveryError when the answer is not JSON."""
        try:
            body = response.json()
        except ValueError:
            raise DeliveryError(f"Meta {what} audience: the answer is not JSON") from None
        received = _count(body.get("num_received"))
        if received is not None and received != len(rows):
            log.warning("Meta received %s of %d entries", received, len(rows))
        invalid = _count(body.get("num_invalid_entries")) or 0
        samples = _strings(body.get("invalid_entry_samples")) if invalid else set()
        valid = [not any(h and h in samples for h in row) for row in rows]
        flagged = valid.count(False)
        if invalid > flagged:
            log.warning(
                "Meta counted %d entries invalid and named %d of them; the others are "
                "confirmed (check the audience's match rate)",
                invalid,
                flagged,
            )
        return valid

    # -- erasure ------------------------------------------------------------------------

    def erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """Remove the people from the audience, 10,000 rows a request: all Meta offers."""
        answers: list[ErasureAnswer] = []
        for start in range(0, len(records), BATCH_LIMIT):
            answers += self._erase(records[start : start + BATCH_LIMIT])
        return answers

    def _erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """One request for up to 10,000 records; their answers in order."""
        schema, rows = _payload(records)
        sent = [row for row in rows if row]
        valid: list[bool] = []
        failure = ""
        if sent:
            try:
                response = self._users("DELETE", schema, sent)
                if response.status_code != 200:
                    raise DeliveryError(_graph_status(response))
                valid = self._valid_rows(response, sent, "remove from")
            except DeliveryError as exc:  # refused, retries ran out, or not JSON
                failure = self._scrub(str(exc))[:200]
        answers: list[ErasureAnswer] = []
        verdicts = iter(valid)
        for record, row in zip(records, rows, strict=True):
            if row is None:
                detail = "no email, phone or name to match on"
                answers.append(ErasureAnswer(record.key, "cannot_delete", detail))
            elif failure:
                answers.append(ErasureAnswer(record.key, "failed", failure))
            elif next(verdicts):
                answers.append(ErasureAnswer(record.key, "deleted", "removed from the audience"))
            else:
                answers.append(ErasureAnswer(record.key, "failed", "Meta counted it invalid"))
        return answers


def _payload(records) -> tuple[list[str], list[list[str] | None]]:
    """The schema (the keys some record has) and, per record, its row of SHA-256 hashes, or
    None when it has nothing to match on. Takes Records and Erasures alike (both have
    `fields`)."""
    fields = [f for f in KEYS if any(r.fields.get(f) not in (None, "") for r in records)]
    schema = [KEYS[f][0] for f in fields]
    rows: list[list[str] | None] = []
    for record in records:
        row = [sha256_hex(KEYS[f][1](record.fields.get(f))) for f in fields]
        rows.append(row if any(row) else None)
    return schema, rows


def _count(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _graph_status(response) -> str:
    """A Graph API error answer in a few words without its message: status, type, code."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    codes = [f"{k} {error[k]}" for k in ("type", "code", "error_subcode") if error.get(k)]
    status = f"HTTP {response.status_code}"
    return f"{status} ({', '.join(codes)})" if codes else status


def _graph_error(response) -> str:
    """A Graph API error answer in one line: status, message, type, code, subcode."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    parts = [f"HTTP {response.status_code}"]
    if error.get("message"):
        parts.append(str(error["message"])[:300])
    codes = [f"{k} {error[k]}" for k in ("type", "code", "error_subcode") if error.get(k)]
    if codes:
        parts.append(f"({', '.join(codes)})")
    return " ".join(parts)
