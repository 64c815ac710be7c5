"""HubSpot, Mailchimp and Meta destinations against fake vendor servers on 127.0.0.1.

Each fake checks the request shape the vendor documents (path, method, auth, body keys,
batch limits, hashed values) and answers 400 when it is wrong, so a wrong shape fails the
test; it keeps the vendor-side state, so a test can compare what the vendor ended up with
against what it should hold. Faults are injected per request: a 5xx, a 429 with Retry-After,
or a stall longer than the adapter's timeout. No network, no database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from orchestration.activation.destinations.base import (
    BatchResult,
    ConfigError,
    DeliveryError,
    Record,
)
from orchestration.activation.destinations.hubspot import HubSpotContacts
from orchestration.activation.destinations.mailchimp import MailchimpMembers
from orchestration.activation.destinations.meta_audience import (
    MetaCustomAudience,
    normalise_email,
    normalise_name,
    normalise_phone,
    sha256_hex,
)

HUBSPOT_TOKEN = "pat-na1-7f3e9c1a-SECRET-hubspot"
MAILCHIMP_KEY = "5f1e2d3c4b5a69788796a5b4c3d2e1f0-us21"
META_TOKEN = "EAAG-SECRET-meta-token-0123456789"
LIST_ID = "a1b2c3d4e5"
AUDIENCE_ID = "23851234567890123"
STALL = 1.0  # seconds a stalled answer takes; the adapters time out after TIMEOUT
TIMEOUT = 0.4
HEX64 = re.compile(r"[0-9a-f]{64}")


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
    """ThreadingHTTPServer on a free port that hands requests to a fake vendor's `handle`."""

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
                    return self.answer(int(fault[1]), {"message": "injected fault"})
                if fault and fault[0] == "retry_after":
                    return self.answer(429, {"message": "slow down"}, {"Retry-After": fault[1]})
                try:
                    status, doc = server.vendor.handle(
                        self.command, url.path, parse_qs(url.query), self.headers, body
                    )
                except Shape as exc:
                    with server.lock:
                        server.problems.append(f"{self.command} {url.path}: {exc}")
                    status, doc = 400, {"message": f"bad request: {exc}"}
                except Exception as exc:  # a bug in the fake must not look retryable
                    with server.lock:
                        server.problems.append(f"fake crashed: {exc!r}")
                    status, doc = 400, {"message": "fake crashed"}
                self.answer(status, doc)

            def answer(self, status: int, doc: Any, headers: dict | None = None) -> None:
                data = b"" if doc is None else json.dumps(doc).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, str(value))
                if doc is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers: list[FakeServer] = []

    def start(vendor) -> FakeServer:
        servers.append(FakeServer(vendor))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class HubSpotFake:
    """CRM v3 contacts: batch upsert by email (200 / 207) and batch archive (204)."""

    UPSERT = "/crm/v3/objects/contacts/batch/upsert"
    ARCHIVE = "/crm/v3/objects/contacts/batch/archive"

    def __init__(self):
        self.contacts: dict[str, dict] = {}  # email -> {"id", "properties"}
        self.invalid: set[str] = set()  # emails answered with a 207 error
        self.lost: set[str] = set()  # emails left out of a 207 answer
        self.next_id = 501

    def handle(self, method, path, query, headers, body):
        if headers.get("Authorization") != f"Bearer {HUBSPOT_TOKEN}":
            return 401, {"status": "error", "category": "INVALID_AUTHENTICATION"}
        require(method == "POST" and path in (self.UPSERT, self.ARCHIVE), "no such endpoint")
        require(headers.get("Content-Type", "").startswith("application/json"), "JSON body")
        doc = json.loads(body)
        require(isinstance(doc, dict) and set(doc) == {"inputs"}, "body is {inputs: [...]}")
        inputs = doc["inputs"]
        require(isinstance(inputs, list) and 1 <= len(inputs) <= 100, "1 to 100 inputs")
        return self.upsert(inputs) if path == self.UPSERT else self.archive(inputs)

    def upsert(self, inputs):
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
        self.contacts = {e: c for e, c in self.contacts.items() if c["id"] not in gone}
        return 204, None


class MailchimpFake:
    """Marketing API 3.0: batch subscribe, PATCH and DELETE (archive) of one member."""

    STATUSES = {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
    MEMBER_KEYS = {"email_address", "status", "merge_fields", "email_type", "language", "vip"}

    def __init__(self):
        self.members: dict[str, dict] = {}  # subscriber hash -> member
        self.archived: set[str] = set()
        self.invalid: set[str] = set()

    def handle(self, method, path, query, headers, body):
        auth = headers.get("Authorization", "")
        user, _, password = base64.b64decode(auth[6:] or b"").decode().partition(":")
        if not auth.startswith("Basic ") or not user or password != MAILCHIMP_KEY:
            return 401, {"title": "API Key Invalid", "status": 401, "detail": "Check your key"}
        base = f"/3.0/lists/{LIST_ID}"
        if method == "POST" and path == base:
            return self.batch(json.loads(body))
        match = re.fullmatch(re.escape(base) + r"/members/([0-9a-f]{32})", path)
        require(match and method in ("PATCH", "DELETE"), f"no such endpoint {method} {path}")
        member_hash = match.group(1)
        if member_hash not in self.members:
            return 404, {"title": "Resource Not Found", "status": 404}
        if method == "DELETE":
            require(not body, "DELETE takes no body")
            self.archived.add(member_hash)
            del self.members[member_hash]
            return 204, None
        doc = json.loads(body)
        require(isinstance(doc, dict) and set(doc) == {"merge_fields"}, "PATCH merge_fields")
        self.members[member_hash]["merge_fields"].update(doc["merge_fields"])
        return 200, {"id": member_hash, **self.members[member_hash]}

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

    def __init__(self):
        self.users: set[frozenset] = set()  # each {(schema key, hash), ...} of non-empty values
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
            if method == "POST":
                self.users.add(user)
            else:
                self.users.discard(user)
        return 200, {
            "audience_id": AUDIENCE_ID,
            "session_id": "8712340987",
            "num_received": len(data),
            "num_invalid_entries": len(invalid),
            "invalid_entry_samples": invalid,
        }


# -- helpers ---------------------------------------------------------------------------------


def rec(key: str, op: str, dest_id: str | None = None, **fields: Any) -> Record:
    return Record(key, op, fields, idempotency_key=f"{key}:{op}", destination_id=dest_id)


def deliver(dest, records: list[Record]) -> BatchResult:
    """What the engine does: open, batches of batch_size on `concurrency` threads, close.
    Checks that every record ends confirmed or rejected (with a reason), never both."""
    dest.open()
    size = dest.batch_size
    batches = [records[i : i + size] for i in range(0, len(records), size)]
    try:
        with ThreadPoolExecutor(max_workers=dest.concurrency) as pool:
            results = list(pool.map(dest.send, batches))
    finally:
        dest.close(True)
    merged = BatchResult()
    for result in results:
        merged.confirmed.update(result.confirmed)
        merged.rejected.update(result.rejected)
    keys = {r.key for r in records}
    assert set(merged.confirmed) | set(merged.rejected) == keys
    assert not set(merged.confirmed) & set(merged.rejected)
    assert all(isinstance(why, str) and why.strip() for why in merged.rejected.values())
    return merged


def settings(**extra) -> dict:
    return {"timeout": TIMEOUT, "attempts": 4, "retry_initial": 0.01, **extra}


def hubspot(server, **extra) -> HubSpotContacts:
    return HubSpotContacts(settings(base_url=server.url, token_env="HS_TOKEN", **extra))


def mailchimp(server, **extra) -> MailchimpMembers:
    config = {"base_url": f"{server.url}/3.0", "api_key_env": "MC_KEY", "list_id": LIST_ID}
    return MailchimpMembers(settings(**config, **extra))


def meta(server, **extra) -> MetaCustomAudience:
    config = {"base_url": server.url, "token_env": "META_TOKEN", "audience_id": AUDIENCE_ID}
    return MetaCustomAudience(settings(**config, **extra))


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("HS_TOKEN", HUBSPOT_TOKEN)
    monkeypatch.setenv("MC_KEY", MAILCHIMP_KEY)
    monkeypatch.setenv("META_TOKEN", META_TOKEN)


# -- Meta normalisation ------------------------------------------------------------------------


def test_meta_normalisers_match_documented_examples():
    # Email: trim, lowercase. Documented pair (input, hash) from a Conversions API reference
    # using the same rule: "Person@Example.com" -> 542d2401...
    assert normalise_email("  Person@Example.com ") == "person@example.com"
    assert sha256_hex(normalise_email("Person@Example.com")) == (
        "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"
    )
    # Phone: digits only with the country code, no "+", no leading zeros. Meta's customer
    # list guide writes numbers as "+44 844 412 4653" and "1-234-567-8910".
    assert normalise_phone("+44 844 412 4653") == "448444124653"
    assert normalise_phone("1-234-567-8910") == "12345678910"
    assert normalise_phone("00 44 844 412 4653") == "448444124653"  # leading zeros dropped
    assert sha256_hex(normalise_phone("+44 844 412 4653")).startswith("dc008fda46e2e64002cf2f82a")
    # Names: lowercase, no punctuation or spaces, accents kept as UTF-8 (composed form).
    assert normalise_name("  Mary-Jane O'Neil ") == "maryjaneoneil"
    assert normalise_name("E\u0301milie") == "émilie" == normalise_name("ÉMILIE")
    assert sha256_hex(normalise_name("Émilie")) == sha("émilie")
    # Hashes are lowercase hex of the UTF-8 bytes; unknown values stay empty, not hashed.
    assert sha256_hex("test@example.com") == hashlib.sha256(b"test@example.com").hexdigest()
    assert HEX64.fullmatch(sha256_hex("x"))
    assert sha256_hex(normalise_email(None)) == "" == sha256_hex(normalise_phone("  "))


# -- HubSpot -------------------------------------------------------------------------------------


def test_hubspot_upserts_partial_failures_and_faults(serve):
    fake = HubSpotFake()
    server = serve(fake)
    records = [
        rec(f"c{i}", "upsert", email=f"User{i}@Example.com", firstname=f"Name{i}", score=i)
        for i in range(230)
    ]
    records += [
        rec("no-email", "upsert", firstname="Nobody"),
        rec("dup", "upsert", email="USER201@example.com", firstname="Twin"),  # same batch
        rec("nulls", "upsert", email="nulls@example.com", firstname=None, vip=True),
    ]
    fake.invalid = {"user5@example.com", "user150@example.com"}
    fake.lost = {"user77@example.com"}
    server.faults = [("status", 503), ("stall", STALL), ("status", 502)]
    result = deliver(hubspot(server, per_second=50), records)

    assert server.problems == []
    assert server.faults == [] and len(server.requests) == 3 + 3  # 3 batches of <= 100, 3 faults
    assert set(result.rejected) == {"c5", "c150", "c77", "no-email", "dup"}
    assert "Property values were not valid" in result.rejected["c5"]
    assert "neither" in result.rejected["c77"]
    assert "no email" in result.rejected["no-email"]
    assert "same email" in result.rejected["dup"]
    # the vendor holds exactly the confirmed contacts, with the ids it gave them
    expected = {f"user{i}@example.com" for i in range(230) if i not in (5, 150, 77)}
    assert set(fake.contacts) == expected | {"nulls@example.com"}
    for i in (0, 1, 201, 229):
        contact = fake.contacts[f"user{i}@example.com"]
        assert result.confirmed[f"c{i}"] == contact["id"]
        assert contact["properties"] == {
            "email": f"user{i}@example.com",
            "firstname": f"Name{i}",
            "score": str(i),
        }
    nulls = fake.contacts["nulls@example.com"]["properties"]
    assert nulls == {"email": "nulls@example.com", "firstname": "", "vip": "true"}


def test_hubspot_clear_and_archive(serve):
    fake = HubSpotFake()
    server = serve(fake)
    first = deliver(
        hubspot(server),
        [
            rec("a", "upsert", email="a@example.com", firstname="Ann", plan="gold"),
            rec("b", "upsert", email="b@example.com", firstname="Bob"),
        ],
    )
    later = [
        rec("a", "clear", email="a@example.com", firstname="Ann", plan="gold"),
        rec("b", "delete", first.confirmed["b"], email="b@example.com"),
        rec("c", "delete", None, email="c@example.com"),  # never confirmed: no contact id
    ]
    result = deliver(hubspot(server), later)

    assert server.problems == []
    assert result.confirmed == {"a": first.confirmed["a"], "b": first.confirmed["b"]}
    assert "no HubSpot contact id" in result.rejected["c"]
    assert fake.contacts == {
        "a@example.com": {
            "id": first.confirmed["a"],
            "properties": {"email": "a@example.com", "firstname": "", "plan": ""},
        }
    }


# -- Mailchimp ----------------------------------------------------------------------------------


def test_mailchimp_batch_subscribe_partial_failures_and_faults(serve):
    fake = MailchimpFake()
    server = serve(fake)
    fake.members[md5("user3@example.com")] = {
        "email_address": "user3@example.com",
        "status": "subscribed",
        "merge_fields": {"FNAME": "Old", "CITY": "Lyon"},
    }
    records = [
        rec(f"m{i}", "upsert", email_address=f"User{i}@Example.com", FNAME=f"N{i}", SCORE=i)
        for i in range(620)
    ]
    records += [
        rec("no-email", "upsert", FNAME="X"),
        rec("dup", "upsert", email="user609@example.com"),
    ]
    fake.invalid = {"user42@example.com", "user600@example.com"}
    server.faults = [("status", 500), ("stall", STALL)]
    result = deliver(mailchimp(server), records)

    assert server.problems == []
    assert server.faults == [] and len(server.requests) == 2 + 2  # 500 + 120 members, 2 faults
    assert set(result.rejected) == {"m42", "m600", "no-email", "dup"}
    assert "looks fake or invalid (ERROR_GENERIC)" in result.rejected["m42"]
    assert result.confirmed["m3"] == md5("user3@example.com")  # updated, not created
    assert result.confirmed["m0"] == md5("user0@example.com")
    expected = {md5(f"user{i}@example.com") for i in range(620) if i not in (42, 600)}
    assert set(fake.members) == expected
    assert fake.members[md5("user3@example.com")]["merge_fields"] == {
        "FNAME": "N3",
        "CITY": "Lyon",
        "SCORE": 3,
    }
    assert {m["status"] for m in fake.members.values()} == {"subscribed"}

    # insert mode: an existing member is left alone and counts as confirmed
    inserted = deliver(
        mailchimp(server),
        [
            rec("m3", "insert", email_address="user3@example.com", FNAME="Changed"),
            rec("new", "insert", email_address="new@example.com", FNAME="Neo"),
        ],
    )
    assert inserted.confirmed == {"m3": md5("user3@example.com"), "new": md5("new@example.com")}
    assert fake.members[md5("user3@example.com")]["merge_fields"]["FNAME"] == "N3"
    assert fake.members[md5("new@example.com")]["merge_fields"] == {"FNAME": "Neo"}


def test_mailchimp_clear_keeps_status_and_delete_archives(serve):
    fake = MailchimpFake()
    server = serve(fake)
    for email, status in (("a@example.com", "unsubscribed"), ("b@example.com", "subscribed")):
        fake.members[md5(email)] = {
            "email_address": email,
            "status": status,
            "merge_fields": {"FNAME": "F", "PLAN": "gold", "CITY": "Oslo"},
        }
    server.faults = [("status", 503)]
    records = [
        rec("a", "clear", email_address="a@example.com", FNAME="F", PLAN="gold"),
        rec("b", "delete", md5("b@example.com"), email_address="b@example.com"),
        rec("c", "delete", None, email_address="gone@example.com"),  # 404: already gone
        rec("d", "delete", None, FNAME="no email, no id"),
    ]
    result = deliver(mailchimp(server), records)

    assert server.problems == []
    assert result.confirmed == {
        "a": md5("a@example.com"),
        "b": md5("b@example.com"),
        "c": md5("gone@example.com"),
    }
    assert "no email address" in result.rejected["d"]
    assert fake.archived == {md5("b@example.com")}
    assert fake.members == {
        md5("a@example.com"): {
            "email_address": "a@example.com",
            "status": "unsubscribed",  # a clear never subscribes anyone again
            "merge_fields": {"FNAME": "", "PLAN": "", "CITY": "Oslo"},
        }
    }


def test_mailchimp_data_center_comes_from_the_key(monkeypatch):
    dest = MailchimpMembers({"list_id": LIST_ID, "api_key_env": "MC_KEY"})
    dest.open()
    try:
        assert str(dest.http.client.base_url) == "https://us21.api.mailchimp.com/3.0/"
    finally:
        dest.close(True)
    monkeypatch.setenv("MC_KEY", "0123456789abcdef-SECRETNODC")
    with pytest.raises(ConfigError) as caught:
        MailchimpMembers({"list_id": LIST_ID, "api_key_env": "MC_KEY"}).open()
    assert "SECRETNODC" not in str(caught.value) and "data center" in str(caught.value)


# -- Meta -------------------------------------------------------------------------------------


def test_meta_adds_and_removes_hashed_users(serve):
    fake = MetaFake()
    server = serve(fake)
    ann = {
        "email": " Ann@Example.com ",
        "phone": "+1 (650) 555-0101",
        "first_name": "Ann-Marie",
        "last_name": "O'Hara",
    }
    records = [rec("ann", "upsert", **ann)]
    records += [rec(f"u{i}", "upsert", email=f"User{i}@Example.com") for i in range(10_050)]
    records += [
        rec("phone-only", "insert", phone="0044 20 7946 0958"),
        rec("nothing", "upsert", email="  ", phone=None),
        rec("bad", "upsert", email="bad@example.com"),
    ]
    fake.invalid = {sha("bad@example.com")}
    server.faults = [("status", 503), ("stall", STALL)]
    result = deliver(meta(server), records)

    assert server.problems == []
    # 10,000 at most per request (a slow answer under load may be sent twice: same rows)
    assert sorted(set(fake.rows_per_request)) == [53, 10_000]
    assert set(result.rejected) == {"nothing", "bad"}
    assert "invalid" in result.rejected["bad"]
    assert set(result.confirmed.values()) == {None}
    ann_user = frozenset(
        {
            ("EMAIL", sha("ann@example.com")),
            ("PHONE", sha("16505550101")),
            ("FN", sha("annmarie")),
            ("LN", sha("ohara")),
        }
    )
    expected = {ann_user, frozenset({("PHONE", sha("442079460958"))})}
    expected |= {frozenset({("EMAIL", sha(f"user{i}@example.com"))}) for i in range(10_050)}
    assert fake.users == expected

    removed = deliver(
        meta(server),
        [rec("ann", "delete", **ann), rec("u1", "clear", email="user1@example.com")],
    )
    assert removed.confirmed == {"ann": None, "u1": None}
    assert ann_user not in fake.users
    assert frozenset({("EMAIL", sha("user1@example.com"))}) not in fake.users
    assert len(fake.users) == len(expected) - 2


# -- across vendors ---------------------------------------------------------------------------

VENDORS = {
    "hubspot": (HubSpotFake, hubspot, lambda k: rec(k, "upsert", email=f"{k}@example.com")),
    "mailchimp": (MailchimpFake, mailchimp, lambda k: rec(k, "upsert", email=f"{k}@example.com")),
    "meta": (MetaFake, meta, lambda k: rec(k, "upsert", email=f"{k}@example.com")),
}
SECRETS = {
    "hubspot": (HUBSPOT_TOKEN, "HS_TOKEN"),
    "mailchimp": (MAILCHIMP_KEY, "MC_KEY"),
    "meta": (META_TOKEN, "META_TOKEN"),
}


@pytest.mark.parametrize("vendor", VENDORS)
def test_retry_after_is_honoured(serve, vendor):
    fake_cls, make, record = VENDORS[vendor]
    server = serve(fake_cls())
    server.faults = [("retry_after", 1)]
    started = time.monotonic()
    result = deliver(make(server), [record("r1")])
    elapsed = time.monotonic() - started

    assert result.confirmed.keys() == {"r1"}
    assert len(server.requests) == 2 and server.problems == []
    assert elapsed >= 1.0  # retry_initial is 0.01 s: only Retry-After explains the wait


@pytest.mark.parametrize("vendor", VENDORS)
def test_secrets_stay_out_of_logs_and_errors(serve, vendor, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    fake_cls, make, record = VENDORS[vendor]
    value, env = SECRETS[vendor]
    wrong = value.replace("SECRET", "WRONG1") if "SECRET" in value else value[:-4] + "us99"
    leaks = [value, wrong, base64.b64encode(f"cdp:{value}".encode()).decode()]
    server = serve(fake_cls())

    server.faults = [("status", 503), ("stall", STALL)]
    assert deliver(make(server), [record("ok")]).confirmed.keys() == {"ok"}

    server.faults = [("status", 503)] * 2  # attempts run out
    with pytest.raises(DeliveryError) as exhausted:
        deliver(make(server, attempts=2), [record("late")])
    assert "503" in str(exhausted.value)

    monkeypatch.setenv(env, wrong)  # the vendor refuses the credential: the batch fails
    with pytest.raises(DeliveryError) as refused:
        deliver(make(server), [record("denied")])
    assert re.search(r"HTTP (400|401)", str(refused.value))

    monkeypatch.delenv(env)
    with pytest.raises(ConfigError) as missing:
        make(server).open()
    assert env in str(missing.value)

    texts = [caplog.text]
    for caught in (exhausted, refused, missing):
        exc: BaseException | None = caught.value
        while exc is not None:
            texts.append(f"{exc} {exc!r}")
            exc = exc.__cause__ or exc.__context__
    assert "retry" in caplog.text  # the logs were captured at all
    for text in texts:
        for leak in leaks:
            assert leak not in text


@pytest.mark.parametrize(
    ("vendor", "method", "path", "kwargs"),
    [
        (
            "hubspot",
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            {
                "headers": {"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
                "json": {
                    "inputs": [
                        {"idProperty": "email", "id": f"u{i}@x.io", "properties": {}}
                        for i in range(101)
                    ]
                },
            },
        ),
        (
            "mailchimp",
            "POST",
            f"/3.0/lists/{LIST_ID}",
            {
                "auth": ("any", MAILCHIMP_KEY),
                "json": {
                    "members": [{"email_address": "a@x.io", "status_if_new": "subscribed"}],
                    "update_existing": True,
                },
            },
        ),
        (
            "meta",
            "POST",
            f"/v21.0/{AUDIENCE_ID}/users",
            {
                "data": {
                    "access_token": META_TOKEN,
                    "payload": json.dumps({"schema": ["EMAIL"], "data": [["a@x.io"]]}),
                }
            },
        ),
    ],
)
def test_fakes_refuse_wrong_shapes(serve, vendor, method, path, kwargs):
    """The checks the adapters pass are real: a request off the documented shape gets 400."""
    server = serve(VENDORS[vendor][0]())
    response = httpx.request(method, server.url + path, timeout=5, **kwargs)
    assert response.status_code == 400
    assert len(server.problems) == 1
