"""Mailchimp audience members (kind "mailchimp", channel email), Marketing API 3.0.

Endpoints: `POST /lists/{list_id}` ("batch subscribe or unsubscribe") with `{"members":
[{"email_address", "status", "merge_fields"}], "update_existing": ...}` for upsert
(`update_existing: true`) and insert (`false`; a member who already exists is left alone and
counts as confirmed). The answer's `new_members` and `updated_members` confirm records (the
destination id is the member `id`, the MD5 of the lowercased email), its `errors`
(`email_address`, `error`, `error_code`) reject them; a record in none of them is rejected.
The batch call cannot restrict itself to existing members, so update is
`PATCH /lists/{list_id}/members/{subscriber_hash}` with the merge fields, one request per
record: a 404 rejects the record (update mode adds no one), and the status is left alone.
clear: `PATCH /lists/{list_id}/members/{subscriber_hash}` with the mapped merge fields set to
""; unlike the batch call it leaves the subscription status alone (a record leaving the model,
perhaps because consent was withdrawn, must not be subscribed again). delete: `DELETE
/lists/{list_id}/members/{subscriber_hash}`, which archives the member. Update, clear and
delete are one request per record, `member_workers` (4) at a time; for clear and delete a 404
counts as done (already gone). A member is known by email: when a record's email changes,
the engine first clears or deletes the member with the old address (`identity`), then
writes the new one.

Erasure (`erase`): `POST /lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent`
(no body), one request per member, `member_workers` at a time. Unlike the archive above it
removes the member and its history for good (Mailchimp then refuses to import the address
again). 204 is deleted, 404 not found; any other answer fails the erasure of that member with
the status and the error's `title` (never its `detail`, which may quote the address).

Batch size: 500 members per batch call, Mailchimp's limit.

Rate limit: at most 10 simultaneous connections per API key. The connection pool holds 10,
`concurrency` is 2 batches, each with up to `member_workers` per-record requests; 429 answers
are retried by the HTTP client. No per-second limit unless `per_second` is set.

Auth: an API key from the environment variable named by `api_key_env`, sent with HTTP basic
auth (any user name, the key as password). Its suffix names the data center (`...-us21` ->
`https://us21.api.mailchimp.com/3.0`) unless `base_url` is given. The key is never logged nor
put into an error message.

Settings: list_id, api_key_env, base_url, status (subscribed; the status given to members the
batch call writes: subscribed, pending or transactional), email_field (email_address, else
email), member_workers (4), per_second, timeout (30), attempts (6), retry_initial (0.5),
retry_max_wait (30). Every mapped field other than the email goes into `merge_fields`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from orchestration.activation.destinations.base import (
    BatchResult,
    ConfigError,
    DeliveryError,
    Destination,
    Erasure,
    ErasureAnswer,
    Record,
    erase_request,
    secret,
)
from orchestration.activation.http import (
    Http,
    check_url,
    config_number,
    http_options,
    url_setting,
)

log = logging.getLogger("cdp.sync.mailchimp")

BATCH_LIMIT = 500
CONNECTIONS = 10  # Mailchimp allows 10 simultaneous connections per API key
STATUSES = ("subscribed", "pending", "transactional")
EMAIL_FIELDS = ("email_address", "email")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex of the lowercased email address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


def api_base_url(api_key: str) -> str:
    """`https://<dc>.api.mailchimp.com/3.0` from the key's `-<dc>` suffix."""
    dc = api_key.rsplit("-", 1)[1] if "-" in api_key else ""
    if not re.fullmatch(r"[a-z]{2,}[0-9]+", dc):
        raise ConfigError(
            "Mailchimp API key: it does not end in a data center such as -us21; "
            "check the key, or set base_url"
        )
    return f"https://{dc}.api.mailchimp.com/3.0"


def merge_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _email(fields: dict[str, Any], email_field: str | None) -> str:
    for name in (email_field,) if email_field else EMAIL_FIELDS:
        value = fields.get(name)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _problem(response) -> str:
    """Mailchimp's error document (`title`, `detail`) in one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get(k)) for k in ("title", "detail") if body.get(k)]
    return ": ".join(parts)[:300]


def _title(response) -> str:
    """The `title` of Mailchimp's error document (a few words such as "Resource Not Found");
    its `detail` is left out, as it may quote the email address."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("title") or "")[:100] if isinstance(body, dict) else ""


class MailchimpMembers(Destination):
    kind = "mailchimp"
    channel = "email"
    batch_size = BATCH_LIMIT
    concurrency = 2

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.list_id = str(self.config.get("list_id") or "")
        if not re.fullmatch(r"[A-Za-z0-9]+", self.list_id):
            raise ConfigError("mailchimp: set `list_id` to the audience id (letters and digits)")
        self.status = str(self.config.get("status") or "subscribed")
        if self.status not in STATUSES:
            raise ConfigError(f"mailchimp: `status` must be one of {', '.join(STATUSES)}")
        self.email_field = self.config.get("email_field")
        self.member_workers = max(1, int(config_number(self.config, "member_workers", 4) or 1))
        self.options = http_options(self.config, per_second=None)
        self.http: Http | None = None

    def open(self) -> None:
        key = secret(self.config.get("api_key_env"), "Mailchimp API key")
        base_url = str(self.config.get("base_url") or api_base_url(key)).rstrip("/")
        check_url(base_url, self.kind, url_setting(self.config, "base_url"))
        basic = base64.b64encode(f"cdp:{key}".encode()).decode()
        self.http = Http(
            base_url,
            headers={
                "Authorization": f"Basic {basic}",
                "Accept": "application/json",
                "User-Agent": "cdp-sync",
            },
            pool=CONNECTIONS,
            **self.options,
        )

    @classmethod
    def identity_fields(cls, config: dict[str, Any]) -> tuple[str, ...]:
        return (config["email_field"],) if config.get("email_field") else EMAIL_FIELDS

    @classmethod
    def identity(cls, config: dict[str, Any], fields: dict[str, Any]) -> frozenset:
        """The member's email address: Mailchimp knows members by its hash."""
        email = _email(fields, config.get("email_field")).lower()
        return frozenset({("email", email)}) if email else frozenset()

    # -- sending ------------------------------------------------------------------------

    def _email(self, record: Record) -> str:
        return _email(record.fields, self.email_field)

    def _merge_fields(self, record: Record, clear: bool) -> dict[str, Any]:
        skip = {self.email_field} if self.email_field else set(EMAIL_FIELDS)
        return {
            name: "" if clear else merge_value(value)
            for name, value in record.fields.items()
            if name not in skip
        }

    def send(self, batch: list[Record]) -> BatchResult:
        result = BatchResult()
        for update_existing, ops in ((True, ("upsert",)), (False, ("insert",))):
            writes = [r for r in batch if r.operation in ops]
            for start in range(0, len(writes), BATCH_LIMIT):
                self._batch(writes[start : start + BATCH_LIMIT], update_existing, result)
        singles = [r for r in batch if r.operation in ("update", "clear", "delete")]
        if singles:
            self._members(singles, result)
        return result

    def _batch(self, records: list[Record], update_existing: bool, result: BatchResult) -> None:
        members: list[dict[str, Any]] = []
        by_email: dict[str, str] = {}
        for record in records:
            email = self._email(record)
            if not email:
                result.rejected[record.key] = "no email address"
                continue
            if email.lower() in by_email:
                result.rejected[record.key] = (
                    f"same email address as record {by_email[email.lower()]} in this batch"
                )
                continue
            member: dict[str, Any] = {"email_address": email, "status": self.status}
            merge = self._merge_fields(record, clear=False)
            if merge:
                member["merge_fields"] = merge
            members.append(member)
            by_email[email.lower()] = record.key
        if not members:
            return
        assert self.http is not None
        response = self.http.request(
            "POST",
            f"/lists/{self.list_id}",
            json={"members": members, "update_existing": update_existing},
        )
        if response.status_code != 200:
            raise DeliveryError(
                f"Mailchimp batch subscribe: HTTP {response.status_code}: {_problem(response)}"
            )
        try:
            body = response.json()
        except ValueError:
            raise DeliveryError("Mailchimp batch subscribe: the answer is not JSON") from None
        for item in (body.get("new_members") or []) + (body.get("updated_members") or []):
            email = str(item.get("email_address") or "").lower()
            if email in by_email:
                result.confirmed[by_email[email]] = str(item.get("id") or subscriber_hash(email))
        for error in body.get("errors") or []:
            email = str(error.get("email_address") or "").lower()
            key = by_email.get(email)
            if key is None or key in result.confirmed:
                continue
            code = str(error.get("error_code") or "")
            if code == "ERROR_CONTACT_EXISTS" and not update_existing:
                result.confirmed[key] = subscriber_hash(email)  # insert: already there
            else:
                reason = str(error.get("error") or "rejected by Mailchimp")
                result.rejected[key] = f"{reason} ({code})"[:500] if code else reason[:500]
        for key in by_email.values():
            if key not in result.confirmed and key not in result.rejected:
                result.rejected[key] = "Mailchimp reported this member neither added nor updated"

    def _members(self, records: list[Record], result: BatchResult) -> None:
        """update, clear and delete: one request per member, a few at a time."""
        if len(records) == 1 or self.member_workers == 1:
            outcomes = [self._member(r) for r in records]
        else:
            with ThreadPoolExecutor(max_workers=self.member_workers) as pool:
                outcomes = list(pool.map(self._member, records))
        for record, (ok, value) in zip(records, outcomes, strict=True):
            if ok:
                result.confirmed[record.key] = value
            else:
                result.rejected[record.key] = value or "rejected by Mailchimp"

    def _member(self, record: Record) -> tuple[bool, str | None]:
        """(True, member id) when done, (False, reason) when Mailchimp refused this member;
        DeliveryError when the request failed altogether (auth, retries exhausted)."""
        email = self._email(record)
        member_id = subscriber_hash(email) if email else (record.destination_id or "")
        if not re.fullmatch(r"[0-9a-f]{32}", member_id):
            return False, "no email address nor Mailchimp member id"
        path = f"/lists/{self.list_id}/members/{quote(member_id)}"
        assert self.http is not None
        update = record.operation == "update"
        if record.operation == "delete":
            response = self.http.request("DELETE", path)
        else:
            merge = self._merge_fields(record, clear=not update)
            if not merge:
                return True, member_id
            response = self.http.request("PATCH", path, json={"merge_fields": merge})
        if response.status_code == 404 and update:
            return False, "not a member of the audience (update mode adds no one)"
        if response.status_code in (200, 204, 404):  # 404: not in the audience any more
            return True, member_id
        if response.status_code in (401, 403):
            raise DeliveryError(
                f"Mailchimp {record.operation}: HTTP {response.status_code}: {_problem(response)}"
            )
        return False, f"HTTP {response.status_code}: {_problem(response)}"[:500]

    # -- erasure ------------------------------------------------------------------------

    def erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """Delete each member permanently, a few at a time; one answer per record."""
        if len(records) <= 1 or self.member_workers == 1:
            return [self._erase(r) for r in records]
        with ThreadPoolExecutor(max_workers=self.member_workers) as pool:
            return list(pool.map(self._erase, records))

    def _erase(self, record: Erasure) -> ErasureAnswer:
        email = _email(record.fields, self.email_field)
        member_id = subscriber_hash(email) if email else (record.destination_id or "")
        if not re.fullmatch(r"[0-9a-f]{32}", member_id):
            return ErasureAnswer(record.key, "cannot_delete", "no email address nor member id")
        path = f"/lists/{self.list_id}/members/{quote(member_id)}/actions/delete-permanent"
        assert self.http is not None
        return erase_request(self.http, record.key, "POST", path, _title)
