"""Privacy erasure in every destination: `Destination.erase` against the fake vendors.

Each test syncs a few records the way the engine does (open, send, close), erases some of
them with a destination opened again, and checks the vendor side: the person is gone, the
others are still there. The answers are checked too: one per record, in order, a known
status, and a detail of a few words that repeats no email, phone or name. A person the
destination does not hold is answered not_found (where the vendor can tell), and a fault
(a 5xx on the delete, a refusal) fails the erasure, which then stays open.
"""

from __future__ import annotations

import csv
import json
import os
import re
from typing import Any

import pytest
from receiver import Receiver
from vendor_fakes import (
    AUDIENCE_ID,
    HUBSPOT_TOKEN,
    LIST_ID,
    MAILCHIMP_KEY,
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
    ERASURE_STATUSES,
    BatchResult,
    DeliveryError,
    Destination,
    Erasure,
    ErasureAnswer,
    Record,
)
from orchestration.activation.destinations.files import FileExport
from orchestration.activation.destinations.hubspot import HubSpotContacts
from orchestration.activation.destinations.mailchimp import MailchimpMembers
from orchestration.activation.destinations.meta_audience import MetaCustomAudience
from orchestration.activation.destinations.postgres_table import PostgresTable
from orchestration.activation.destinations.webhook import Webhook

pytestmark = pytest.mark.usefixtures("vendor_credentials")

SECRET = "s3cr3t-signing-key"

# -- helpers ---------------------------------------------------------------------------------


def rec(key: str, op: str = "upsert", dest_id: str | None = None, **fields: Any) -> Record:
    return Record(key, op, fields, idempotency_key=f"{key}:{op}", destination_id=dest_id)


def sync(dest: Destination, *batches: list[Record]) -> BatchResult:
    """What the engine does with a sync's changes: open, send each batch, close. Every
    record must be confirmed."""
    merged = BatchResult()
    dest.open()
    try:
        for batch in batches:
            result = dest.send(batch)
            merged.confirmed.update(result.confirmed)
            merged.rejected.update(result.rejected)
    finally:
        dest.close(True)
    assert merged.rejected == {}
    return merged


def personal_values(records: list[Erasure]) -> set[str]:
    """Each record's field values as sent, lowercased, and as digits (a phone's)."""
    values: set[str] = set()
    for r in records:
        for value in r.fields.values():
            text = str(value).strip()
            if len(text) >= 3:
                values |= {text, text.lower()}
            digits = re.sub(r"\D", "", text).lstrip("0")
            if len(digits) >= 6:
                values.add(digits)
    return values


def erase(dest: Destination, records: list[Erasure]) -> list[ErasureAnswer]:
    """Open, erase, close, as a privacy erasure does; checks the answers' form."""
    dest.open()
    try:
        answers = dest.erase(records)
    finally:
        dest.close(True)
    assert [a.key for a in answers] == [r.key for r in records]
    personal = personal_values(records)
    for answer in answers:
        assert answer.status in ERASURE_STATUSES, answer
        assert answer.detail.strip() and len(answer.detail) <= 200, answer
        assert "@" not in answer.detail, answer
        assert not [v for v in personal if v in answer.detail.lower() or v in answer.detail]
    return answers


def statuses(answers: list[ErasureAnswer]) -> dict[str, tuple[str, str]]:
    return {a.key: (a.status, a.detail) for a in answers}


def settings(**extra) -> dict:
    return {"timeout": TIMEOUT, "attempts": 2, "retry_initial": 0.01, **extra}


# -- Mailchimp ---------------------------------------------------------------------------------


def test_mailchimp_erase_deletes_members_permanently(serve):
    fake = MailchimpFake()
    server = serve(fake)
    config = settings(**mailchimp_settings(server))
    people = {k: f"{k.upper()}.Person@Example.com" for k in ("ann", "bob", "cat", "dan")}
    sync(
        MailchimpMembers(config),
        [rec(k, email_address=email, FNAME=k.title()) for k, email in people.items()],
        [rec("dan", "delete", md5(people["dan"]), email_address=people["dan"])],  # archived
    )
    assert fake.archived == {md5(people["dan"])}
    server.requests.clear()

    answers = erase(
        MailchimpMembers(config),
        [
            Erasure("ann", {"email_address": people["ann"], "FNAME": "Ann"}, md5(people["ann"])),
            Erasure("dan", {"email_address": people["dan"]}),  # archived: deleted for good too
            Erasure("bob-old-id", {"FNAME": "Bob"}, md5(people["bob"])),  # by member id
            Erasure("gone", {"email_address": "never.subscribed@example.com"}),
            Erasure("anon", {"FNAME": "Nobody"}),  # no email, no member id
        ],
    )

    assert server.problems == []
    assert statuses(answers) == {
        "ann": ("deleted", "HTTP 204"),
        "dan": ("deleted", "HTTP 204"),
        "bob-old-id": ("deleted", "HTTP 204"),
        "gone": ("not_found", "HTTP 404"),
        "anon": ("cannot_delete", "no email address nor member id"),
    }
    assert set(fake.members) == {md5(people["cat"])}  # the one not erased
    assert fake.archived == set()
    assert fake.deleted == {md5(people[k]) for k in ("ann", "bob", "dan")}
    assert {path for _, path in server.requests} == {
        f"/3.0/lists/{LIST_ID}/members/{md5(e)}/actions/delete-permanent"
        for e in (people["ann"], people["dan"], people["bob"], "never.subscribed@example.com")
    }
    assert {method for method, _ in server.requests} == {"POST"}

    # Mailchimp refuses to import a permanently deleted address again
    dest = MailchimpMembers(config)
    dest.open()
    try:
        again = dest.send([rec("ann", email_address=people["ann"])])
    finally:
        dest.close(True)
    assert "permanently deleted" in again.rejected["ann"]


def test_mailchimp_erase_faults_fail_and_leave_the_member(serve):
    fake = MailchimpFake()
    server = serve(fake)
    config = settings(**mailchimp_settings(server))
    sync(
        MailchimpMembers(config),
        [rec(k, email_address=f"{k}@example.com") for k in ("ann", "bob", "cat")],
    )
    fake.compliance = {md5("cat@example.com")}

    server.faults = [("status", 500)] * 2  # both attempts
    first = erase(MailchimpMembers(config), [Erasure("ann", {"email_address": "ann@example.com"})])
    server.faults = [("status", 403)]
    second = erase(MailchimpMembers(config), [Erasure("bob", {"email": "bob@example.com"})])
    third = erase(MailchimpMembers(config), [Erasure("cat", {"email_address": "cat@example.com"})])

    assert statuses(first + second + third) == {
        "ann": ("failed", "POST: HTTP 500 after 2 attempts"),
        "bob": ("failed", "HTTP 403: Forbidden"),
        "cat": ("failed", "HTTP 400: Member In Compliance State"),
    }
    assert set(fake.members) == {md5(f"{k}@example.com") for k in ("ann", "bob", "cat")}
    assert fake.deleted == set() and server.problems == []


def test_mailchimp_fake_refuses_other_delete_shapes(serve):
    """The permanent delete is a POST without a body; the archive path is not it."""
    import httpx

    fake = MailchimpFake()
    server = serve(fake)
    fake.members[md5("a@x.io")] = {"email_address": "a@x.io", "status": "subscribed"}
    path = f"{server.url}/3.0/lists/{LIST_ID}/members/{md5('a@x.io')}/actions/delete-permanent"
    auth = ("any", MAILCHIMP_KEY)
    assert httpx.delete(path, auth=auth).status_code == 400
    refused = httpx.post(path, auth=auth, json={"email_address": "a@x.io"})
    assert refused.status_code == 400
    assert set(refused.json()) == {"type", "title", "status", "detail", "instance"}
    assert httpx.post(path, auth=("any", "wrong-us21")).status_code == 401
    assert len(server.problems) == 2 and md5("a@x.io") in fake.members
    assert httpx.post(path, auth=auth).status_code == 204
    assert fake.members == {}


# -- HubSpot ----------------------------------------------------------------------------------


def test_hubspot_erase_gdpr_deletes_contacts(serve):
    fake = HubSpotFake()
    server = serve(fake)
    config = settings(**hubspot_settings(server))
    first = sync(
        HubSpotContacts(config),
        [rec(k, email=f"{k}@example.com", firstname=k.title()) for k in ("ann", "bob", "cat")],
    )
    sync(HubSpotContacts(config), [rec("bob", "delete", first.confirmed["bob"])])
    assert set(fake.archived) == {"bob@example.com"}
    server.requests.clear()

    answers = erase(
        HubSpotContacts(config),
        [
            Erasure(
                "ann", {"email": "Ann@Example.com", "firstname": "Ann"}, first.confirmed["ann"]
            ),
            Erasure("bob", {"email": "bob@example.com"}),  # archived: purged for good
            Erasure("cat", {"firstname": "Cat"}, first.confirmed["cat"]),  # by contact id
            Erasure("ghost", {"firstname": "Ghost"}, "999999"),
            Erasure("anon", {"firstname": "Nobody"}),
        ],
    )

    assert server.problems == []
    assert statuses(answers) == {
        "ann": ("deleted", "HTTP 204"),
        "bob": ("deleted", "HTTP 204"),
        "cat": ("deleted", "HTTP 204"),
        "ghost": ("not_found", "HTTP 404"),
        "anon": ("cannot_delete", "no email nor contact id to name the contact"),
    }
    assert fake.contacts == {} and fake.archived == {}
    assert fake.purged == {"ann@example.com", "bob@example.com", "cat@example.com"}
    assert server.requests == [("POST", "/crm/v3/objects/contacts/gdpr-delete")] * 4


def test_hubspot_erase_of_an_unknown_email_blocklists_it(serve):
    """HubSpot documents no 404 for an email: it blocklists the address and answers 204."""
    fake = HubSpotFake()
    server = serve(fake)
    config = settings(**hubspot_settings(server))
    sync(HubSpotContacts(config), [rec("ann", email="ann@example.com")])
    answers = erase(HubSpotContacts(config), [Erasure("zed", {"email": "zed@example.com"})])
    assert statuses(answers) == {"zed": ("deleted", "HTTP 204")}
    assert fake.blocklist == {"zed@example.com"} and set(fake.contacts) == {"ann@example.com"}
    assert server.problems == []


def test_hubspot_erase_faults_fail_and_leave_the_contact(serve):
    fake = HubSpotFake()
    server = serve(fake)
    config = settings(**hubspot_settings(server))
    sync(HubSpotContacts(config), [rec(k, email=f"{k}@example.com") for k in ("ann", "bob")])

    server.faults = [("status", 500)] * 2 + [("status", 403)]
    answers = erase(
        HubSpotContacts(config),
        [
            Erasure("ann", {"email": "ann@example.com"}),
            Erasure("bob", {"email": "bob@example.com"}),
        ],
    )
    assert statuses(answers) == {
        "ann": ("failed", "POST: HTTP 500 after 2 attempts"),
        "bob": ("failed", "HTTP 403: MISSING_SCOPES"),
    }
    assert set(fake.contacts) == {"ann@example.com", "bob@example.com"}
    assert fake.purged == set() and server.problems == []


def test_hubspot_fake_refuses_other_gdpr_delete_shapes(serve):
    import httpx

    fake = HubSpotFake()
    server = serve(fake)
    url = f"{server.url}/crm/v3/objects/contacts/gdpr-delete"
    auth = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
    for body in (
        {"email": "a@x.io"},
        {"objectId": "a@x.io"},  # an email without idProperty
        {"objectId": "a@x.io", "idProperty": "hs_object_id", "extra": 1},
    ):
        refused = httpx.post(url, headers=auth, json=body)
        assert refused.status_code == 400
        assert refused.json()["category"] == "VALIDATION_ERROR"
    assert httpx.delete(url, headers=auth).status_code == 400
    unauthorised = httpx.post(url, json={"objectId": "1"})
    assert unauthorised.status_code == 401
    assert unauthorised.json()["category"] == "INVALID_AUTHENTICATION"
    assert len(server.problems) == 4


# -- Meta -------------------------------------------------------------------------------------


def test_meta_erase_removes_people_from_the_audience(serve):
    fake = MetaFake()
    server = serve(fake)
    config = settings(**meta_settings(server))
    ann = {"email": "Ann@Example.com", "phone": "+1 650 555 0101", "first_name": "Ann"}
    sync(
        MetaCustomAudience(config),
        [
            rec("ann", **ann),
            rec("bob", email="bob@example.com"),
            rec("cat", phone="+44 20 7946 0958"),
        ],
    )
    server.requests.clear()

    answers = erase(
        MetaCustomAudience(config),
        [
            Erasure("ann", ann),
            Erasure("cat", {"phone": "0044 20 7946 0958"}),  # the same number, normalised
            Erasure("zed", {"email": "zed@example.com"}),  # never added: Meta cannot tell
            Erasure("anon", {"first_name": None}),
        ],
    )

    assert server.problems == []
    assert statuses(answers) == {
        "ann": ("deleted", "removed from the audience"),
        "cat": ("deleted", "removed from the audience"),
        "zed": ("deleted", "removed from the audience"),
        "anon": ("cannot_delete", "no email, phone or name to match on"),
    }
    assert fake.users == {frozenset({("EMAIL", sha("bob@example.com"))})}
    assert server.requests == [("DELETE", f"/v21.0/{AUDIENCE_ID}/users")]


def test_meta_erase_batches_at_the_vendor_limit(serve):
    fake = MetaFake()
    server = serve(fake)
    # a 10,000-row request may take longer than the fault tests' short timeout on a busy
    # machine, and a retry would send it twice: this test is about batching only
    config = settings(**{**meta_settings(server), "timeout": 10})
    records = [rec(f"u{i}", email=f"user{i}@example.com") for i in range(10_003)]
    sync(MetaCustomAudience(config), records[:10_000], records[10_000:])
    fake.rows_per_request.clear()

    erased = [Erasure(r.key, r.fields) for r in records[1:]]
    answers = erase(MetaCustomAudience(config), erased)

    assert fake.rows_per_request == [10_000, 2]
    assert {a.status for a in answers} == {"deleted"}
    assert fake.users == {frozenset({("EMAIL", sha("user0@example.com"))})}
    assert server.problems == []


def test_meta_erase_faults_fail_and_leave_the_audience(serve, monkeypatch):
    fake = MetaFake()
    server = serve(fake)
    config = settings(**meta_settings(server))
    sync(MetaCustomAudience(config), [rec(k, email=f"{k}@example.com") for k in "abc"])
    users = set(fake.users)

    server.faults = [("status", 500)] * 2
    down = erase(MetaCustomAudience(config), [Erasure("a", {"email": "a@example.com"})])
    fake.invalid = {sha("b@example.com")}
    invalid = erase(
        MetaCustomAudience(config),
        [Erasure("b", {"email": "b@example.com"}), Erasure("c", {"email": "c@example.com"})],
    )
    monkeypatch.setenv("META_TOKEN", "EAAG-WRONG-token")
    refused = erase(MetaCustomAudience(config), [Erasure("a", {"email": "a@example.com"})])

    assert statuses(down) == {"a": ("failed", "DELETE: HTTP 500 after 2 attempts")}
    assert statuses(invalid) == {
        "b": ("failed", "Meta counted it invalid"),
        "c": ("deleted", "removed from the audience"),
    }
    assert statuses(refused) == {"a": ("failed", "HTTP 400 (type OAuthException, code 190)")}
    assert fake.users == users - {frozenset({("EMAIL", sha("c@example.com"))})}
    assert server.problems == []


# -- webhook ----------------------------------------------------------------------------------


def webhook(url: str, **extra) -> Webhook:
    config = {"url": url, "secret_env": "CDP_ERASE_SECRET", "sync_name": "people", **extra}
    return Webhook(settings(**config))


def test_webhook_erase_sends_signed_erase_events(monkeypatch):
    monkeypatch.setenv("CDP_ERASE_SECRET", SECRET)
    with Receiver(SECRET) as rx:
        people = [rec(k, email=f"{k}@example.com", phone="+44 20 7946 0958") for k in "abc"]
        sync(webhook(rx.url), people, [rec("b", "delete", email="b@example.com")])
        assert set(rx.latest()) == {"a", "b", "c"}

        answers = erase(
            webhook(rx.url, batch_size=2),
            [
                Erasure("b", {"email": "b@example.com", "phone": "+44 20 7946 0958"}),
                Erasure("ghost", {"email": "ghost@example.com"}),  # a receiver cannot tell
                Erasure("c", {"email": "c@example.com"}),
            ],
        )

        assert statuses(answers) == {k: ("deleted", "HTTP 200") for k in ("b", "ghost", "c")}
        assert set(rx.latest()) == {"a"}  # every change of b and c is gone
        assert rx.erased == {"b", "ghost", "c"}
        assert rx.bad_requests == [] and rx.batch_sizes[-2:] == [2, 1]


def test_webhook_erase_faults_and_rejections_fail(monkeypatch):
    monkeypatch.setenv("CDP_ERASE_SECRET", SECRET)
    with Receiver(SECRET) as rx:
        sync(webhook(rx.url), [rec(k, email=f"{k}@example.com") for k in "abc"])

        rx.faults.erase_status = 500
        down = erase(webhook(rx.url), [Erasure("a", {"email": "a@example.com"})])
        rx.faults.erase_status = 400
        refused = erase(webhook(rx.url), [Erasure("a", {"email": "a@example.com"})])
        rx.faults.erase_status = 0
        rx.faults.reject_keys = {"b"}
        rejected = erase(
            webhook(rx.url),
            [Erasure("b", {"email": "b@example.com"}), Erasure("c", {"email": "c@example.com"})],
        )

        assert statuses(down) == {"a": ("failed", "POST: HTTP 500 after 2 attempts")}
        assert statuses(refused) == {"a": ("failed", "webhook answered HTTP 400")}
        assert statuses(rejected) == {
            "b": ("failed", "rejected by the receiver"),
            "c": ("deleted", "HTTP 200"),
        }
        assert set(rx.latest()) == {"a", "b"} and rx.bad_requests == []


def test_webhook_receiver_refuses_unknown_operations(monkeypatch):
    """The receiver checks the operation too: only the sync's operations and erase."""
    monkeypatch.setenv("CDP_ERASE_SECRET", SECRET)
    with Receiver(SECRET) as rx:
        dest = webhook(rx.url)
        dest.open()
        try:
            with pytest.raises(DeliveryError, match="HTTP 400"):
                dest.send([rec("a", "forget", email="a@example.com")])
        finally:
            dest.close(True)
        assert rx.bad_requests == ["bad shape"] and rx.latest() == {}


# -- PostgreSQL table --------------------------------------------------------------------------


def _sql(dbname: str, *statements: str) -> list[tuple]:
    """Run the statements in one transaction; the last one's rows."""
    import psycopg2

    con = psycopg2.connect(f"dbname={dbname}")
    try:
        with con, con.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        con.close()


@pytest.mark.postgres
def test_postgres_table_erase_deletes_rows(pg_database, monkeypatch):
    monkeypatch.setenv("CDP_ERASE_DSN", f"dbname={pg_database}")
    config = {"table": "cdp_sync.people", "dsn_env": "CDP_ERASE_DSN"}

    never = erase(PostgresTable(config), [Erasure("a", {"email": "a@example.com"})])
    assert statuses(never) == {"a": ("not_found", "no table")}

    sync(PostgresTable(config), [rec(k, email=f"{k}@example.com") for k in "abc"])
    answers = erase(
        PostgresTable(config),
        [
            Erasure("b", {"email": "b@example.com"}),
            Erasure("zed", {"email": "zed@example.com"}),
        ],
    )
    assert statuses(answers) == {
        "b": ("deleted", "row deleted"),
        "zed": ("not_found", "no row with this key"),
    }
    assert _sql(pg_database, "select cdp_key, email from cdp_sync.people order by 1") == [
        ("a", "a@example.com"),
        ("c", "c@example.com"),
    ]


@pytest.mark.postgres
def test_postgres_table_erase_fault_rolls_back_and_fails(pg_database, monkeypatch):
    monkeypatch.setenv("CDP_ERASE_DSN", f"dbname={pg_database}")
    config = {"table": "cdp_sync.people", "dsn_env": "CDP_ERASE_DSN"}
    sync(PostgresTable(config), [rec(k, email=f"{k}@example.com") for k in "abc"])
    _sql(
        pg_database,
        "create function cdp_sync.refuse() returns trigger language plpgsql as $$ begin "
        "if old.cdp_key = 'c' then raise exception 'refused %', old.email; end if; "
        "return old; end $$",
        "create trigger refuse before delete on cdp_sync.people "
        "for each row execute function cdp_sync.refuse()",
    )

    answers = erase(
        PostgresTable(config),
        [Erasure("a", {"email": "a@example.com"}), Erasure("c", {"email": "c@example.com"})],
    )
    assert statuses(answers) == {
        "a": ("failed", "RaiseException (P0001)"),
        "c": ("failed", "RaiseException (P0001)"),
    }
    assert _sql(pg_database, "select cdp_key from cdp_sync.people order by 1") == [
        ("a",),
        ("b",),
        ("c",),
    ]


# -- files ------------------------------------------------------------------------------------


def _exported(folder, fmt: str) -> dict[str, list[dict]]:
    """File name -> its rows, as a reader of the export sees them."""
    import duckdb

    out = {}
    for path in sorted(folder.iterdir()):
        if fmt == "csv":
            with open(path, newline="", encoding="utf-8") as fh:
                out[path.name] = list(csv.DictReader(fh))
        elif fmt == "jsonl":
            out[path.name] = [json.loads(line) for line in path.read_text().splitlines()]
        else:
            rel = duckdb.sql(f"select * from read_parquet('{path}')")
            out[path.name] = [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]
    return out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_file_erase_rewrites_the_export_files(tmp_path, fmt):
    config = {"folder": str(tmp_path), "format": fmt, "sync_name": "people"}
    folder = tmp_path / "people"
    sync(
        FileExport(config),
        [rec("ann", email="ann@example.com"), rec("bob", email="bob@example.com")],
        [rec("cat", email="cat@example.com", phone="+44 20 7946 0958"), rec("=evil", email="x")],
        [rec("bob", "delete", email="bob@example.com"), rec("dan", email="dan@example.com")],
        [rec("eve", email="eve@example.com")],
    )
    names = sorted(p.name for p in folder.iterdir())
    untouched = folder / names[3]  # eve's file holds no one erased
    before = (untouched.read_bytes(), untouched.stat().st_mtime_ns)
    os.chmod(folder / names[0], 0o640)
    (folder / "notes.txt").write_text("bob\n")  # not an export file: left alone

    answers = erase(
        FileExport(config),
        [
            Erasure("bob", {"email": "bob@example.com"}),
            Erasure("=evil", {"email": "x"}),
            Erasure("zed", {"email": "zed@example.com"}),
        ],
    )

    assert statuses(answers) == {
        "bob": ("deleted", "removed from 2 export files"),
        "=evil": ("deleted", "removed from 1 export file"),
        "zed": ("not_found", "in no export file"),
    }
    (folder / "notes.txt").unlink()
    exported = _exported(folder, fmt)
    assert sorted(exported) == names  # same names, no temporary file left
    keys = {name: [row["_key"] for row in rows] for name, rows in exported.items()}
    assert keys == dict(zip(names, [["ann"], ["cat"], ["dan"], ["eve"]], strict=True))
    cat = exported[names[1]][0]
    # CSV cells are copied as written: the phone keeps its one leading quote
    assert cat["phone"] == ("'+44 20 7946 0958" if fmt == "csv" else "+44 20 7946 0958")
    assert (untouched.read_bytes(), untouched.stat().st_mtime_ns) == before
    assert (folder / names[0]).stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_file_erase_fails_on_a_file_it_cannot_read(tmp_path, fmt):
    """The other files are cleaned all the same; the answers fail, as the broken file may
    hold the person's rows."""
    config = {"folder": str(tmp_path), "format": fmt, "sync_name": "people"}
    folder = tmp_path / "people"
    sync(FileExport(config), [rec("ann", email="ann@example.com"), rec("bob", email="b@x.io")])
    broken = folder / f"20000101T000000Z-00001-0badf11e.{fmt}"
    broken.write_bytes(b"\x00not an export\n")

    answers = erase(FileExport(config), [Erasure("bob", {"email": "b@x.io"})])

    [answer] = answers
    assert answer.status == "failed"
    assert answer.detail.startswith(f"could not rewrite {broken.name}: ")
    broken.unlink()
    assert [row["_key"] for rows in _exported(folder, fmt).values() for row in rows] == ["ann"]
