"""Fake HubSpot, Mailchimp and Meta servers on 127.0.0.1 for the destination tests.

Each fake checks the request shape the vendor documents (path, method, auth, body keys,
batch limits, hashed values) and answers 400 when it is wrong, in the vendor's error document
(`error_doc`), so a wrong shape fails the test; it keeps the vendor-side state, so a test can
compare what the vendor ended up with against what it should hold, and applies the vendor's
delete for erasures (Mailchimp's permanent delete, HubSpot's GDPR delete, Meta's removal from
the audience). Faults are injected per request: a status (any, e.g. 500 on a delete), a 429
with Retry-After, or a stall longer than the adapter's timeout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HUBSPOT_TOKEN = "pat-na1-7f3e9c1a-SECRET-hubspot"
MAILCHIMP_KEY = "5f1e2d3c4b5a69788796a5b4c3d2e1f0-us21"
META_TOKEN = "EAAG-SECRET-meta-token-0123456789"
LIST_ID = "a1b2c3d4e5"
AUDIENCE_ID = "23851234567890123"
STALL = 1.0  # seconds a stalled answer takes; the adapters time out after TIMEOUT
TIMEOUT = 0.4
HEX64 = re.compile(r"[0-9a-f]{64}")


# The environment variables the destinations' settings below name, with the fakes' secrets.
CREDENTIALS = {"HS_TOKEN": HUBSPOT_TOKEN, "MC_KEY": MAILCHIMP_KEY, "META_TOKEN": META_TOKEN}


def hubspot_settings(server) -> dict:
    return {"base_url": server.url, "token_env": "HS_TOKEN"}


def mailchimp_settings(server) -> dict:
    return {"base_url": f"{server.url}/3.0", "api_key_env": "MC_KEY", "list_id": LIST_ID}


def meta_settings(server) -> dict:
    return {"base_url": server.url, "token_env": "META_TOKEN", "audience_id": AUDIENCE_ID}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


# -- fake vendor server -------------------------------------------------------------------


class Shape(Exception):
    """The request is not what the vendor documents: the fake answers 400."""


def require(condition: Any, message: str) -> None:
    if not condition:
        raise Shape(message)


class FakeServer:
    """ThreadingHTTPServer on a free port that hands requests to a fake vendor's `handle`,
    which answers (status, JSON document) or (status, document, headers). Shape errors and
    injected statuses are answered with the vendor's `error_doc(status, message)` when it
    has one."""

    def __init__(self, vendor):
        self.vendor = vendor
        self.faults: list[tuple[str, float]] = []  # ("status", 503) | ("retry_after", s) | ...
        self.requests: list[tuple[str, str]] = []
        self.problems: list[str] = []  # shape errors answered with 400
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output quiet
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                with server.lock:
                    server.requests.append((self.command, url.path))
                    fault = server.faults.pop(0) if server.faults else None
                if fault and fault[0] == "stall":
                    time.sleep(fault[1])
                    self.close_connection = True
                    return
                if fault and fault[0] == "status":
                    return self.answer(int(fault[1]), server.error(int(fault[1]), "injected"))
                if fault and fault[0] == "retry_after":
                    doc = server.error(429, "slow down")
                    return self.answer(429, doc, {"Retry-After": fault[1]})
                extra = None
                try:
                    status, doc, *extra = server.vendor.handle(
                        self.command, url.path, parse_qs(url.query), self.headers, body
                    )
                except Shape as exc:
                    with server.lock:
                        server.problems.append(f"{self.command} {url.path}: {exc}")
                    status, doc = 400, server.error(400, f"bad request: {exc}")
                except Exception as exc:  # a bug in the fake must not look retryable
                    with server.lock:
                        server.problems.append(f"fake crashed: {exc!r}")
                    status, doc = 400, server.error(400, "fake crashed")
                self.answer(status, doc, extra[0] if extra else None)

            def answer(self, status: int, doc: Any, headers: dict | None = None) -> None:
                data = b"" if doc is None else json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, str(value))
                    if doc is not None:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a late answer on purpose)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def error(self, status: int, message: str) -> Any:
        """The vendor's error document, or {"message"} for a vendor without one."""
        make = getattr(self.vendor, "error_doc", None)
        return make(status, message) if make else {"message": message}

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HubSpotFake:
    """CRM v3 contacts: batch upsert and batch update by email (200 / 207), batch archive
    (204) and the GDPR delete (204). Update changes existing contacts only: an unknown email
    is an OBJECT_NOT_FOUND error. An archived contact stays restorable (HubSpot keeps it in
    the recycling bin) until a GDPR delete purges it; a GDPR delete by an email HubSpot does
    not have blocklists the address and answers 204, by an unknown contact id 404."""

    UPSERT = "/crm/v3/objects/contacts/batch/upsert"
    UPDATE = "/crm/v3/objects/contacts/batch/update"
    ARCHIVE = "/crm/v3/objects/contacts/batch/archive"
    GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"
    CATEGORIES = {
        400: "VALIDATION_ERROR",
        401: "INVALID_AUTHENTICATION",
        403: "MISSING_SCOPES",
        404: "OBJECT_NOT_FOUND",
        429: "RATE_LIMITS",
    }

    def __init__(self):
        self.contacts: dict[str, dict] = {}  # email -> {"id", "properties"}
        self.archived: dict[str, dict] = {}  # email -> contact, in the recycling bin
        self.purged: set[str] = set()  # emails of contacts GDPR-deleted
        self.blocklist: set[str] = set()  # emails GDPR-deleted before HubSpot had them
        self.invalid: set[str] = set()  # emails answered with a 207 error
        self.lost: set[str] = set()  # emails left out of a 207 answer
        self.next_id = 501

    @classmethod
    def error_doc(cls, status: int, message: str) -> dict:
        category = cls.CATEGORIES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
        return {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }

    def handle(self, method, path, query, headers, body):
        if headers.get("Authorization") != f"Bearer {HUBSPOT_TOKEN}":
            return 401, self.error_doc(401, "Authentication credentials not found.")
        paths = (self.UPSERT, self.UPDATE, self.ARCHIVE, self.GDPR_DELETE)
        require(method == "POST" and path in paths, "no such endpoint")
        require(headers.get("Content-Type", "").startswith("application/json"), "JSON body")
        doc = json.loads(body)
        if path == self.GDPR_DELETE:
            return self.gdpr_delete(doc)
        require(isinstance(doc, dict) and set(doc) == {"inputs"}, "body is {inputs: [...]}")
        inputs = doc["inputs"]
        require(isinstance(inputs, list) and 1 <= len(inputs) <= 100, "1 to 100 inputs")
        if path == self.ARCHIVE:
            return self.archive(inputs)
        return self.upsert(inputs, create=path == self.UPSERT)

    def upsert(self, inputs, create: bool = True):
        ids = [i.get("id") for i in inputs]
        require(len(set(ids)) == len(ids), "Duplicate IDs found in batch input")
        for i in inputs:
            require({"idProperty", "id", "properties"} <= set(i), "input keys missing")
            require(set(i) <= {"idProperty", "id", "properties", "objectWriteTraceId"}, "keys")
            require(i["idProperty"] == "email" and "@" in str(i["id"]), "idProperty email")
            props = i["properties"]
            require(isinstance(props, dict), "properties is an object")
            require(all(isinstance(v, str) for v in props.values()), "property values: strings")
        results, errors = [], []
        for i in inputs:
            email = i["id"].lower()
            if email in self.invalid:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "Property values were not valid",
                        "context": {"ids": [i["id"]]},
                    }
                )
                continue
            if email in self.lost:
                continue
            new = email not in self.contacts
            if new and not create:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "Could not get some CONTACT objects, they may be deleted "
                        "or not exist.",
                        "context": {"ids": [i["id"]]},
                    }
                )
                continue
            if new:
                self.contacts[email] = {"id": str(self.next_id), "properties": {"email": email}}
                self.next_id += 1
            contact = self.contacts[email]
            contact["properties"].update(i["properties"])
            contact["properties"]["email"] = email
            results.append(
                {
                    "id": contact["id"],
                    "new": new,
                    "properties": dict(contact["properties"]),
                    "objectWriteTraceId": i.get("objectWriteTraceId"),
                }
            )
        multi = errors or any(i["id"].lower() in self.lost for i in inputs)
        doc = {"status": "COMPLETE", "results": results}
        if errors:
            doc.update(errors=errors, numErrors=len(errors))
        return (207 if multi else 200), doc

    def archive(self, inputs):
        for i in inputs:
            require(set(i) == {"id"} and str(i["id"]).isdigit(), "archive inputs are {id}")
        gone = {str(i["id"]) for i in inputs}
        self.archived.update({e: c for e, c in self.contacts.items() if c["id"] in gone})
        self.contacts = {e: c for e, c in self.contacts.items() if c["id"] not in gone}
        return 204, None

    def gdpr_delete(self, doc):
        """`{"objectId": <email>, "idProperty": "email"}` or `{"objectId": <contact id>}`."""
        require(isinstance(doc, dict) and "objectId" in doc, "body is {objectId[, idProperty]}")
        require(set(doc) <= {"objectId", "idProperty"}, f"unknown body keys {sorted(doc)}")
        object_id = doc["objectId"]
        require(isinstance(object_id, str) and object_id, "objectId is a string")
        by_email = "idProperty" in doc
        if by_email:
            require(doc["idProperty"] == "email" and "@" in object_id, "idProperty email")
            email = object_id.lower()
            found = email in self.contacts or email in self.archived
        else:
            require(object_id.isdigit(), "objectId is a contact id (or give idProperty)")
            stores = (self.contacts, self.archived)
            email = next((e for d in stores for e, c in d.items() if c["id"] == object_id), "")
            found = bool(email)
        if not found and not by_email:
            return 404, self.error_doc(404, "Object not found. objectId are usually numeric.")
        if not found:
            self.blocklist.add(email)
        self.contacts.pop(email, None)
        self.archived.pop(email, None)
        self.purged.add(email)
        return 204, None


class MailchimpFake:
    """Marketing API 3.0: batch subscribe, PATCH and DELETE (archive) of one member, and the
    permanent delete of one member (`POST .../members/{hash}/actions/delete-permanent`, no
    body, 204), which also removes an archived member. A permanently deleted address cannot
    be imported again."""

    STATUSES = {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
    MEMBER_KEYS = {"email_address", "status", "merge_fields", "email_type", "language", "vip"}
    TITLES = {
        400: "Invalid Resource",
        401: "API Key Invalid",
        403: "Forbidden",
        404: "Resource Not Found",
        405: "Method Not Allowed",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }

    def __init__(self):
        self.members: dict[str, dict] = {}  # subscriber hash -> member
        self.archived: set[str] = set()
        self.deleted: set[str] = set()  # hashes deleted permanently
        self.invalid: set[str] = set()
        self.compliance: set[str] = set()  # member hashes that refuse PATCH and DELETE

    @classmethod
    def error_doc(cls, status: int, detail: str, title: str | None = None) -> dict:
        """Mailchimp's problem document."""
        return {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title or cls.TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            "instance": str(uuid.uuid4()),
        }

    def handle(self, method, path, query, headers, body):
        auth = headers.get("Authorization", "")
        user, _, password = base64.b64decode(auth[6:] or b"").decode().partition(":")
        if not auth.startswith("Basic ") or not user or password != MAILCHIMP_KEY:
            return 401, self.error_doc(401, "Your request did not include an API key.")
        base = f"/3.0/lists/{LIST_ID}"
        if method == "POST" and path == base:
            return self.batch(json.loads(body))
        member = re.escape(base) + r"/members/([0-9a-f]{32})"
        match = re.fullmatch(member + "/actions/delete-permanent", path)
        if match:
            require(method == "POST", f"delete-permanent is a POST, not {method}")
            require(not body, "delete-permanent takes no body")
            return self.delete_permanent(match.group(1))
        match = re.fullmatch(member, path)
        require(match and method in ("PATCH", "DELETE"), f"no such endpoint {method} {path}")
        member_hash = match.group(1)
        if member_hash not in self.members:
            return 404, self.error_doc(404, "The requested resource could not be found.")
        if member_hash in self.compliance:
            detail = "This member is in a compliance state and cannot be changed."
            return 400, self.error_doc(400, detail, "Member In Compliance State")
        if method == "DELETE":
            require(not body, "DELETE takes no body")
            self.archived.add(member_hash)
            del self.members[member_hash]
            return 204, None
        doc = json.loads(body)
        require(isinstance(doc, dict) and set(doc) == {"merge_fields"}, "PATCH merge_fields")
        self.members[member_hash]["merge_fields"].update(doc["merge_fields"])
        return 200, {"id": member_hash, **self.members[member_hash]}

    def delete_permanent(self, member_hash: str):
        if member_hash not in self.members and member_hash not in self.archived:
            return 404, self.error_doc(404, "The requested resource could not be found.")
        if member_hash in self.compliance:
            detail = "This member is in a compliance state and cannot be changed."
            return 400, self.error_doc(400, detail, "Member In Compliance State")
        self.members.pop(member_hash, None)
        self.archived.discard(member_hash)
        self.deleted.add(member_hash)
        return 204, None

    def batch(self, doc):
        require(set(doc) <= {"members", "update_existing", "sync_tags"}, "unknown body key")
        require(isinstance(doc.get("update_existing"), bool), "update_existing is a boolean")
        members = doc.get("members")
        require(isinstance(members, list) and 1 <= len(members) <= 500, "1 to 500 members")
        emails = [str(m.get("email_address", "")).lower() for m in members]
        require(len(set(emails)) == len(emails), "duplicate email addresses")
        for m in members:
            require(set(m) <= self.MEMBER_KEYS, f"unknown member keys {set(m) - self.MEMBER_KEYS}")
            require("@" in str(m.get("email_address")), "email_address required")
            require(m.get("status") in self.STATUSES, "status required")
            merge = m.get("merge_fields", {})
            require(isinstance(merge, dict), "merge_fields is an object")
            require(all(re.fullmatch(r"[A-Z0-9_]{1,10}", k) for k in merge), "merge tags")
        created, updated, errors = [], [], []
        for m in members:
            email = m["email_address"].lower()
            member_hash = md5(email)
            if email in self.invalid:
                errors.append(
                    {
                        "email_address": m["email_address"],
                        "error": f"{m['email_address']} looks fake or invalid",
                        "error_code": "ERROR_GENERIC",
                    }
                )
                continue
            if member_hash in self.deleted:
                errors.append(
                    {
                        "email_address": m["email_address"],
                        "error": f"{m['email_address']} was permanently deleted and cannot "
                        "be re-imported. The contact must re-subscribe to get back on the list.",
                        "error_code": "ERROR_GENERIC",
                    }
                )
                continue
            existing = self.members.get(member_hash)
            if existing and not doc["update_existing"]:
                errors.append(
                    {
                        "email_address": m["email_address"],
                        "error": f"{m['email_address']} is already a list member",
                        "error_code": "ERROR_CONTACT_EXISTS",
                    }
                )
                continue
            member = existing or {"email_address": email, "merge_fields": {}}
            member["status"] = m["status"]
            member["merge_fields"].update(m.get("merge_fields", {}))
            self.members[member_hash] = member
            (updated if existing else created).append({"id": member_hash, **member})
        return 200, {
            "new_members": created,
            "updated_members": updated,
            "errors": errors,
            "total_created": len(created),
            "total_updated": len(updated),
            "error_count": len(errors),
        }


class MetaFake:
    """Custom audience users: POST adds, DELETE removes, hashed multi-key rows."""

    KEYS = {"EMAIL", "PHONE", "FN", "LN", "GEN", "DOBY", "CT", "ST", "ZIP", "COUNTRY"}

    @staticmethod
    def error_doc(status: int, message: str) -> dict:
        """A Graph API error: code 100 (invalid parameter) for a 400, 1 (unknown) else."""
        code = {400: 100, 429: 17}.get(status, 1)
        error = {"message": message, "type": "OAuthException", "code": code}
        return {"error": {**error, "fbtrace_id": uuid.uuid4().hex[:11]}}

    def __init__(self):
        self.users: set[frozenset] = set()  # each {(schema key, hash), ...} of non-empty values
        self.matching: dict[tuple, set[frozenset]] = {}  # (EMAIL or PHONE, hash) -> users
        self.invalid: set[str] = set()  # hashes Meta counts invalid
        self.rows_per_request: list[int] = []

    def handle(self, method, path, query, headers, body):
        require(path == f"/v21.0/{AUDIENCE_ID}/users", f"no such endpoint {path}")
        require(method in ("POST", "DELETE"), "POST adds, DELETE removes")
        require("access_token" not in query, "token in the URL")
        ctype = headers.get("Content-Type", "")
        require(ctype.startswith("application/x-www-form-urlencoded"), "form body")
        form = parse_qs(body.decode(), strict_parsing=True)
        if form.get("access_token") != [META_TOKEN]:
            error = {"message": "Invalid OAuth access token.", "type": "OAuthException"}
            return 400, {"error": {**error, "code": 190}}
        require(set(form) == {"payload", "access_token"}, f"form fields {sorted(form)}")
        payload = json.loads(form["payload"][0])
        require(set(payload) == {"schema", "data"}, "payload is {schema, data}")
        schema, data = payload["schema"], payload["data"]
        require(isinstance(schema, list) and schema, "schema is a list")
        require(set(schema) <= self.KEYS and len(set(schema)) == len(schema), "schema keys")
        require(isinstance(data, list) and 1 <= len(data) <= 10_000, "1 to 10,000 rows")
        self.rows_per_request.append(len(data))
        invalid: dict[str, str] = {}
        for row in data:
            require(isinstance(row, list) and len(row) == len(schema), "row matches schema")
            require(all(v == "" or HEX64.fullmatch(v) for v in row), "SHA-256 hex or empty")
            require(any(row), "a row needs one value")
            bad = [v for v in row if v in self.invalid]
            if bad:
                invalid[bad[0]] = "invalid entry"
                continue
            user = frozenset((k, v) for k, v in zip(schema, row, strict=True) if v)
            keys = [(k, v) for k, v in user if k in ("EMAIL", "PHONE")]
            if method == "POST":
                self.users.add(user)
                for key in keys:
                    self.matching.setdefault(key, set()).add(user)
                continue
            # Meta removes the people the row matches: anyone with its email or phone
            gone = set().union(*(self.matching.get(k, ()) for k in keys)) if keys else {user}
            for match in gone & self.users:
                self.users.discard(match)
                for key in match:
                    self.matching.get(key, set()).discard(match)
        return 200, {
            "audience_id": AUDIENCE_ID,
            "session_id": "8712340987",
            "num_received": len(data),
            "num_invalid_entries": len(invalid),
            "invalid_entry_samples": invalid,
        }
