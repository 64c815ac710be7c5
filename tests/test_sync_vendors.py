"""HubSpot, Mailchimp and Meta destinations against fake vendor servers on 127.0.0.1.

Each fake checks the request shape the vendor documents (path, method, auth, body keys,
batch limits, hashed values) and answers 400 when it is wrong, so a wrong shape fails the
test; it keeps the vendor-side state, so a test can compare what the vendor ended up with
against what it should hold. Faults are injected per request: a 5xx, a 429 with Retry-After,
or a stall longer than the adapter's timeout (the fakes are in vendor_fakes.py). No network,
no database.
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
from typing import Any

import httpx
import pytest
from vendor_fakes import (
    AUDIENCE_ID,
    HEX64,
    HUBSPOT_TOKEN,
    LIST_ID,
    MAILCHIMP_KEY,
    META_TOKEN,
    STALL,
    TIMEOUT,
    HubSpotFake,
    MailchimpFake,
    MetaFake,
    hubspot_settings,
    mailchimp_settings,
    md5,
    meta_settings,
    sha,
)

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

pytestmark = pytest.mark.usefixtures("vendor_credentials")

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
    return HubSpotContacts(settings(**hubspot_settings(server), **extra))


def mailchimp(server, **extra) -> MailchimpMembers:
    return MailchimpMembers(settings(**mailchimp_settings(server), **extra))


def meta(server, **extra) -> MetaCustomAudience:
    return MetaCustomAudience(settings(**meta_settings(server), **extra))


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


def test_hubspot_update_clear_and_archive_touch_existing_contacts_only(serve):
    fake = HubSpotFake()
    server = serve(fake)
    first = deliver(
        hubspot(server),
        [
            rec("a", "upsert", email="a@example.com", firstname="Ann", plan="gold"),
            rec("b", "upsert", email="b@example.com", firstname="Bob"),
            rec("e", "upsert", email="e@example.com", firstname="Eve"),
        ],
    )
    later = [
        rec("a", "clear", email="a@example.com", firstname="Ann", plan="gold"),
        rec("b", "delete", first.confirmed["b"], email="b@example.com"),
        rec("c", "delete", None, email="c@example.com"),  # never confirmed: no contact id
        rec("d", "update", email="d@example.com", firstname="Dee"),  # not in HubSpot
        rec("e", "update", email="E@example.com", firstname="Evelyn"),
        rec("f", "clear", email="f@example.com", firstname="Fay"),  # not in HubSpot: done
    ]
    result = deliver(hubspot(server), later)

    assert server.problems == []
    assert result.confirmed == {**{k: first.confirmed[k] for k in "abe"}, "f": None}
    assert "no HubSpot contact id" in result.rejected["c"]
    assert "OBJECT_NOT_FOUND" in result.rejected["d"] and set(result.rejected) == {"c", "d"}
    assert fake.contacts == {
        "a@example.com": {
            "id": first.confirmed["a"],
            "properties": {"email": "a@example.com", "firstname": "", "plan": ""},
        },
        "e@example.com": {
            "id": first.confirmed["e"],
            "properties": {"email": "e@example.com", "firstname": "Evelyn"},
        },
    }
    assert sum(path.endswith("/batch/update") for _, path in server.requests) == 1


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


def test_mailchimp_update_and_clear_keep_status_and_delete_archives(serve):
    fake = MailchimpFake()
    server = serve(fake)
    members = (("a@example.com", "unsubscribed"), ("b@example.com", "subscribed"))
    for email, status in (*members, ("e@example.com", "unsubscribed")):
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
        rec("e", "update", email_address="E@example.com", FNAME="Eve", PLAN="silver"),
        rec("f", "update", email_address="new@example.com", FNAME="Fay"),  # not a member
    ]
    result = deliver(mailchimp(server), records)

    assert server.problems == []
    assert result.confirmed == {
        "a": md5("a@example.com"),
        "b": md5("b@example.com"),
        "c": md5("gone@example.com"),
        "e": md5("e@example.com"),
    }
    assert "no email address" in result.rejected["d"]
    assert "not a member" in result.rejected["f"]
    assert fake.archived == {md5("b@example.com")}
    assert fake.members == {
        md5("a@example.com"): {
            "email_address": "a@example.com",
            "status": "unsubscribed",  # a clear never subscribes anyone again
            "merge_fields": {"FNAME": "", "PLAN": "", "CITY": "Oslo"},
        },
        md5("e@example.com"): {
            "email_address": "e@example.com",
            "status": "unsubscribed",  # nor does an update
            "merge_fields": {"FNAME": "Eve", "PLAN": "silver", "CITY": "Oslo"},
        },
    }
    assert not any(m == "POST" for m, _ in server.requests)  # no batch subscribe


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


def test_rate_limit_spaces_requests_across_threads():
    """per_second=20: ten requests from four threads take at least 9 intervals of 0.05 s."""
    from orchestration.activation.http import RateLimiter

    limiter = RateLimiter(20)
    times: list[float] = []
    lock = threading.Lock()

    def request(_):
        limiter.wait()
        with lock:
            times.append(time.monotonic())

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(request, range(10)))
    times.sort()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times[-1] - times[0] >= 9 * 0.05 - 0.01
    assert min(gaps) >= 0.04


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


# -- what the HTTP client retries ----------------------------------------------------------------


class Counted:
    """A vendor answering 200 {} to everything; the FakeServer counts the requests."""

    def handle(self, method, path, query, headers, body):
        return 200, {}


def _http(**extra):
    from orchestration.activation.http import Http

    options = {"timeout": TIMEOUT, "attempts": 4, "initial": 0.01, "max_wait": 0.05}
    return Http("", **{**options, **extra})


@pytest.mark.parametrize(
    "url",
    [
        "htp://127.0.0.1:{port}/x",  # unsupported scheme
        "ftp://127.0.0.1:{port}/x",
        "not a url",  # no scheme
        "http:///x?token=query-secret",  # no host
        "http://[::1/x",  # not a URL httpx can parse
    ],
)
def test_requests_that_cannot_work_are_not_retried(serve, url):
    """An unsupported scheme or an invalid URL fails the first attempt, whatever the backoff:
    a DeliveryError naming the kind of failure, never the URL."""
    server = serve(Counted())
    port = server.url.rsplit(":", 1)[1]
    http = _http(initial=2.0, max_wait=2.0)  # a retry would take seconds
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        http.request("POST", url.format(port=port), json={})
    assert time.monotonic() - started < 1
    assert http.retries == 0 and server.requests == []
    assert "not retried" in str(failed.value) and "secret" not in str(failed.value)
    assert "127.0.0.1" not in str(failed.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_4xx_answers_are_returned_at_once(serve, status):
    server = serve(Counted())
    server.faults = [("status", status)] * 4
    http = _http(initial=2.0, max_wait=2.0)
    assert http.request("POST", server.url + "/x", json={}).status_code == status
    assert len(server.requests) == 1 and http.retries == 0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_answers_are_retried(serve, status):
    server = serve(Counted())
    server.faults = [("status", status)] * 2
    http = _http()
    assert http.request("POST", server.url + "/x", json={}).status_code == 200
    assert len(server.requests) == 3 and http.retries == 2

    server.faults = [("status", status)] * 4  # attempts run out
    with pytest.raises(DeliveryError, match=f"HTTP {status} after 4 attempts"):
        http.request("POST", server.url + "/x", json={})


def test_refused_connections_and_timeouts_are_retried(serve):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = _http()
    with pytest.raises(DeliveryError, match="ConnectError after 4 attempts"):
        http.request("POST", f"http://127.0.0.1:{port}/x", json={})
    assert http.retries == 3

    server = serve(Counted())
    server.faults = [("stall", STALL)]
    http = _http()
    assert http.request("POST", server.url + "/x", json={}).status_code == 200
    assert len(server.requests) == 2 and http.retries == 1


BASE_URLS = {
    "hubspot": (HubSpotContacts, hubspot_settings),
    "mailchimp": (MailchimpMembers, mailchimp_settings),
    "meta_audience": (MetaCustomAudience, meta_settings),
}


@pytest.mark.parametrize("vendor", BASE_URLS)
@pytest.mark.parametrize(
    "base_url", ["htp://api.example.com", "not a url", "https://", "https://user:pw-secret@"]
)
def test_a_vendor_base_url_that_cannot_work_is_refused(serve, vendor, base_url):
    """Refused when the destination opens, before any request, naming the setting."""
    cls, vendor_settings = BASE_URLS[vendor]
    server = serve(Counted())
    config = settings(**{**vendor_settings(server), "base_url": base_url})
    with pytest.raises(ConfigError) as refused:
        cls(config).open()
    message = str(refused.value)
    assert message.startswith(f"{vendor}: `base_url` is not a usable URL: ")
    assert "secret" not in message and len(message.splitlines()) == 1
    assert server.requests == []
