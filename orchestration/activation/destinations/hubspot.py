"""HubSpot CRM contacts (kind "hubspot", channel email).

Endpoints (CRM API v3): `POST /crm/v3/objects/contacts/batch/upsert` with
`{"inputs": [{"idProperty": "email", "id": <email>, "properties": {...},
"objectWriteTraceId": <record key>}]}` for upsert and insert (HubSpot creates the contact or
updates the one with that email; insert too, as the batch create call fails on contacts that
exist). `POST /crm/v3/objects/contacts/batch/update` with the same inputs for update and
clear, which change existing contacts only: HubSpot answers OBJECT_NOT_FOUND for one it does
not have, which rejects an update and completes a clear (nothing is left to clear, as a
removal of a member already gone completes at Mailchimp). clear sends the mapped properties as empty strings, which HubSpot
documents as clearing them; the id property itself is kept.
`POST /crm/v3/objects/contacts/batch/archive` with `{"inputs": [{"id": <contact id>}]}` for
delete, using the contact id HubSpot gave the record before (a record without one is rejected).
A new email is a new contact: the engine first clears or archives the old one (`identity`).
HTTP 200 means every input succeeded; 207 (multi-status) lists `results` and `errors`, matched
back to records by `objectWriteTraceId`, else by the email (or contact id) in the result's
properties or the error's `context`. A record reported in neither is rejected. Any other status
on the whole request (400, 401, 403, ...) raises DeliveryError.

Erasure (`erase`): `POST /crm/v3/objects/contacts/gdpr-delete`, one request per contact, with
`{"objectId": <email>, "idProperty": "email"}` (the id property's value), or `{"objectId":
<contact id>}` when the record has no email but HubSpot gave it an id. HubSpot deletes the
contact and its associated content for good; given an email it has no contact for, it
blocklists the address and answers as for a delete. 204 is deleted, 404 not found; any other
answer fails the erasure of that contact with the status and HubSpot's error `category` (its
`message` may quote the email).

Batch size: 100 inputs per request, the batch endpoints' limit. A second record with the same
email in one batch is rejected (HubSpot refuses duplicate ids in a batch input).

Rate limit: private apps get 190 requests per 10 seconds; `per_second` defaults to 15 to leave
room for other integrations, and `concurrency` is 4.

Auth: a private-app access token, read from the environment variable named by `token_env` and
sent as `Authorization: Bearer <token>`. It is never logged nor put into an error message.

Settings: token_env, base_url (https://api.hubapi.com), id_property (email), per_second (15),
timeout (30), attempts (6), retry_initial (0.5), retry_max_wait (30).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from orchestration.activation.destinations.base import (
    BatchResult,
    DeliveryError,
    Destination,
    Erasure,
    ErasureAnswer,
    Record,
    erase_request,
    secret,
)
from orchestration.activation.http import Http, check_url, http_options, url_setting

log = logging.getLogger("cdp.sync.hubspot")

DEFAULT_BASE_URL = "https://api.hubapi.com"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
UPDATE = "/crm/v3/objects/contacts/batch/update"
ARCHIVE = "/crm/v3/objects/contacts/batch/archive"
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"
BATCH_LIMIT = 100
NOT_FOUND = "OBJECT_NOT_FOUND"  # the error category of a contact HubSpot does not have


def property_value(value: Any) -> str:
    """HubSpot property values are strings; null clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _reason(error: dict[str, Any]) -> str:
    parts = [str(error.get("message") or "rejected by HubSpot")]
    category = error.get("category") or error.get("status")
    if category:
        parts.append(f"({category})")
    return " ".join(parts)[:500]


def _whole_failure(what: str, response) -> str:
    detail = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            detail = str(body.get("message") or body.get("category") or "")
    except ValueError:
        detail = response.text[:200]
    message = f"HubSpot {what}: HTTP {response.status_code}"
    return f"{message}: {detail[:300]}" if detail else message


def _context_values(error: dict[str, Any]) -> list[str]:
    """Every string in an error's `context` ({"ids": [...], ...}) and its trace id, if any."""
    values: list[str] = []
    context = error.get("context")
    if isinstance(context, dict):
        for value in context.values():
            items = value if isinstance(value, list) else [value]
            values += [str(v) for v in items if isinstance(v, str | int)]
    if error.get("objectWriteTraceId"):
        values.append(str(error["objectWriteTraceId"]))
    return values


class HubSpotContacts(Destination):
    kind = "hubspot"
    channel = "email"
    batch_size = BATCH_LIMIT
    concurrency = 4

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.base_url = str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.id_property = str(self.config.get("id_property") or "email")
        self.options = http_options(self.config, per_second=15.0)
        self.http: Http | None = None

    @classmethod
    def identity_fields(cls, config: dict[str, Any]) -> tuple[str, ...]:
        return (str(config.get("id_property") or "email"),)

    @classmethod
    def identity(cls, config: dict[str, Any], fields: dict[str, Any]) -> frozenset:
        """The id property's value (the email unless configured): contacts are upserted by
        it, so a new email is a new contact."""
        [id_property] = cls.identity_fields(config)
        value = _match(id_property, fields.get(id_property))
        return frozenset({(id_property, value)}) if value else frozenset()

    def open(self) -> None:
        check_url(self.base_url, self.kind, url_setting(self.config, "base_url"))
        token = secret(self.config.get("token_env"), "HubSpot private app token")
        self.http = Http(
            self.base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "cdp-sync",
            },
            pool=max(self.concurrency, 1),
            **self.options,
        )

    # -- sending ------------------------------------------------------------------------

    def send(self, batch: list[Record]) -> BatchResult:
        result = BatchResult()
        for endpoint, ops in ((UPSERT, ("upsert", "insert")), (UPDATE, ("update", "clear"))):
            writes = [r for r in batch if r.operation in ops]
            for start in range(0, len(writes), BATCH_LIMIT):
                self._write(endpoint, writes[start : start + BATCH_LIMIT], result)
        deletes = [r for r in batch if r.operation == "delete"]
        for start in range(0, len(deletes), BATCH_LIMIT):
            self._archive(deletes[start : start + BATCH_LIMIT], result)
        return result

    def _match(self, value: Any) -> str:
        return _match(self.id_property, value)

    def _write(self, endpoint: str, records: list[Record], result: BatchResult) -> None:
        """Batch upsert or batch update: the same inputs and answers."""
        inputs: list[dict[str, Any]] = []
        by_trace: dict[str, str] = {}  # objectWriteTraceId (the record key) -> key
        by_id: dict[str, str] = {}  # id property value, lowercased for email -> key
        for record in records:
            ident = property_value(record.fields.get(self.id_property)).strip()
            if not ident:
                result.rejected[record.key] = f"no {self.id_property} to identify the contact"
                continue
            match = self._match(ident)
            if match in by_id:
                result.rejected[record.key] = (
                    f"same {self.id_property} as record {by_id[match]} in this batch"
                )
                continue
            if record.operation == "clear":
                properties = {n: "" for n in record.fields if n != self.id_property}
            else:
                properties = {n: property_value(v) for n, v in record.fields.items()}
            inputs.append(
                {
                    "idProperty": self.id_property,
                    "id": ident,
                    "properties": properties,
                    "objectWriteTraceId": record.key,
                }
            )
            by_trace[record.key] = record.key
            by_id[match] = record.key
        if not inputs:
            return
        assert self.http is not None
        response = self.http.request("POST", endpoint, json={"inputs": inputs})
        if response.status_code not in (200, 201, 207):
            what = "batch upsert" if endpoint == UPSERT else "batch update"
            raise DeliveryError(_whole_failure(what, response))
        body = _body(response)

        def resolve(value: Any) -> str | None:
            return by_trace.get(str(value)) or by_id.get(self._match(value))

        confirmed: dict[str, str | None] = {}
        for item in body.get("results") or []:
            if not isinstance(item, dict):
                continue
            key = by_trace.get(str(item.get("objectWriteTraceId") or "")) or by_id.get(
                self._match((item.get("properties") or {}).get(self.id_property))
            )
            if key:
                confirmed[key] = str(item["id"]) if item.get("id") is not None else None
        rejected, unmatched, not_found = _errors(body, resolve)
        multi = response.status_code == 207
        clears = {r.key for r in records if r.operation == "clear"}
        for key in by_id.values():
            if key in clears and key in not_found:
                result.confirmed[key] = None  # nothing left to clear: done, as archive does
            elif key in rejected:
                result.rejected[key] = rejected[key]
            elif key in confirmed:
                result.confirmed[key] = confirmed[key]
            elif not multi:  # 200: every input succeeded
                result.confirmed[key] = None
            else:
                result.rejected[key] = _unreported(unmatched)

    def _archive(self, records: list[Record], result: BatchResult) -> None:
        by_id: dict[str, list[str]] = {}  # contact id -> keys (several records may share one)
        for record in records:
            if not record.destination_id:
                result.rejected[record.key] = (
                    "no HubSpot contact id recorded for this record; cannot archive it"
                )
                continue
            by_id.setdefault(str(record.destination_id), []).append(record.key)
        if not by_id:
            return
        assert self.http is not None
        inputs = [{"id": contact_id} for contact_id in by_id]
        response = self.http.request("POST", ARCHIVE, json={"inputs": inputs})
        if response.status_code not in (200, 204, 207):
            raise DeliveryError(_whole_failure("batch archive", response))
        rejected, unmatched, _ = _errors(
            _body(response), lambda v: str(v) if str(v) in by_id else None
        )
        for contact_id, keys in by_id.items():
            for key in keys:
                if contact_id in rejected:
                    result.rejected[key] = rejected[contact_id]
                elif unmatched:  # errors we cannot place: archive again next run (idempotent)
                    result.rejected[key] = _unreported(unmatched)
                else:
                    result.confirmed[key] = contact_id

    # -- erasure ------------------------------------------------------------------------

    def erase(self, records: list[Erasure]) -> list[ErasureAnswer]:
        """GDPR-delete each contact, by its email (the id property) or else by its contact
        id; one request and one answer per record."""
        return [self._erase(record) for record in records]

    def _erase(self, record: Erasure) -> ErasureAnswer:
        ident = property_value(record.fields.get(self.id_property)).strip()
        if ident:
            body = {"objectId": ident, "idProperty": self.id_property}
        elif record.destination_id:
            body = {"objectId": str(record.destination_id)}
        else:
            detail = f"no {self.id_property} nor contact id to name the contact"
            return ErasureAnswer(record.key, "cannot_delete", detail)
        assert self.http is not None
        return erase_request(self.http, record.key, "POST", GDPR_DELETE, _category, json=body)


def _category(response) -> str:
    """The `category` of HubSpot's error document (VALIDATION_ERROR, MISSING_SCOPES, ...)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("category") or "")[:100] if isinstance(body, dict) else ""


def _match(id_property: str, value: Any) -> str:
    text = property_value(value).strip()
    return text.lower() if id_property == "email" else text


def _body(response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        raise DeliveryError(f"HubSpot answered HTTP {response.status_code} without JSON") from None
    return body if isinstance(body, dict) else {}


def _errors(body: dict[str, Any], resolve) -> tuple[dict[str, str], list[str], set[str]]:
    """Per-record reasons from a 207's `errors` (keyed by what `resolve` maps the error's
    context values to), the reasons of errors that match no record, and the records HubSpot
    does not have (category OBJECT_NOT_FOUND)."""
    rejected: dict[str, str] = {}
    unmatched: list[str] = []
    not_found: set[str] = set()
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        reason = _reason(error)
        keys = {k for k in map(resolve, _context_values(error)) if k}
        for key in keys:
            rejected[key] = reason
        if error.get("category") == NOT_FOUND:
            not_found |= keys
        if not keys:
            unmatched.append(reason)
    if unmatched:
        log.warning("HubSpot reported %d errors that match no record", len(unmatched))
    return rejected, unmatched, not_found


def _unreported(unmatched: list[str]) -> str:
    why = "HubSpot reported neither a result nor an error for this contact"
    if unmatched:
        why += f"; unattributed errors: {'; '.join(sorted(set(unmatched)))}"
    return why[:500]
