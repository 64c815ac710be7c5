"""A change of identity at destinations that know people by it (Mailchimp by email, Meta by
hashes): the old identity is removed before the new one is written, so nothing stays behind,
and an identity that moves between customers (a merge, a swap) ends up present.

The engine runs the declared syncs against the fake vendor servers of vendor_fakes.py, on
both warehouses.
"""

from __future__ import annotations

import dataclasses

import pytest
from support import segment_members, write_segment
from vendor_fakes import (
    AUDIENCE_ID,
    LIST_ID,
    MAILCHIMP_KEY,
    META_TOKEN,
    MailchimpFake,
    MetaFake,
    md5,
    sha,
)

from orchestration.activation.destinations.meta_audience import KEYS
from orchestration.activation.engine import preview, run_sync
from orchestration.activation.spec import find_sync
from orchestration.dbt_project import MANIFEST, ensure_manifest
from orchestration.warehouse import fetch_all

FAST = {"timeout": 0.5, "attempts": 4, "retry_initial": 0.01}
EMAIL, PHONE, FIRST, LAST, CONSENT_EMAIL, CONSENT_ADS = 1, 2, 3, 4, 5, 6


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("MC_KEY", MAILCHIMP_KEY)
    monkeypatch.setenv("META_TOKEN", META_TOKEN)


def _sync(name: str, **destination):
    ensure_manifest()
    spec = find_sync(MANIFEST, name)
    return dataclasses.replace(spec, destination={"kind": spec.kind, **FAST, **destination})


def _moved(rows: list[list]) -> None:
    """C1 gets a new email; C2 leaves and C3 takes C2's email (two customers merged); C4
    and C5 swap emails; C6 changes a name only; C8 withdraws email consent."""
    by_key = {r[0]: r for r in rows}
    by_key["C0000001"][EMAIL] = "person1.new@example.com"
    by_key["C0000003"][EMAIL] = by_key["C0000002"][EMAIL]
    rows.remove(by_key["C0000002"])
    four, five = by_key["C0000004"], by_key["C0000005"]
    four[EMAIL], five[EMAIL] = five[EMAIL], four[EMAIL]
    by_key["C0000006"][LAST] = "Smith-Jones"
    by_key["C0000008"][CONSENT_EMAIL] = "withdrawn"


def test_mailchimp_members_follow_email_changes_merges_and_swaps(any_target, serve):
    table = "new_subscribers_no_order"
    fake = MailchimpFake()
    server = serve(fake)
    # One batch holds every record: without the removals going first, Mailchimp would
    # archive the merged and swapped addresses after writing them.
    spec = _sync(
        "new_subscribers_to_mailchimp",
        base_url=f"{server.url}/3.0",
        api_key_env="MC_KEY",
        list_id=LIST_ID,
    )
    rows = [list(r) for r in segment_members(20)]
    write_segment(any_target, [tuple(r) for r in rows], table)
    first = run_sync(spec, any_target)
    assert first.added == 18  # C0 and C10 have withdrawn email consent

    _moved(rows)
    write_segment(any_target, [tuple(r) for r in rows], table)
    planned = preview(spec, any_target)
    assert (planned.changed, planned.removed, planned.identities_removed) == (5, 2, 4)
    shown = {r["key"]: r for r in planned.samples["identities_removed"]}
    assert shown["C0000001"]["email_address"] == "person1@example.com"
    assert shown["C0000001"]["operation"] == "delete"

    second = run_sync(spec, any_target)
    assert (second.added, second.changed, second.removed, second.failed) == (0, 5, 2, 0)
    assert second.identities_removed == 4
    wanted = {r[EMAIL] for r in rows if r[CONSENT_EMAIL] == "granted"}
    assert {m["email_address"] for m in fake.members.values()} == wanted
    gone = {"person1@example.com", "person3@example.com", "person8@example.com"}
    assert {md5(email) for email in gone} <= fake.archived
    assert fake.members[md5("person6@example.com")]["merge_fields"]["LNAME"] == "Smith-Jones"
    assert server.problems == []

    requests = len(server.requests)
    assert run_sync(spec, any_target).sent == 0 and len(server.requests) == requests
    logged = "select removed, identities_removed from syncs.sync_log order by started_at"
    assert fetch_all(any_target, logged) == [(0, 0), (2, 4), (0, 0)]


def _audience(rows: list[list]) -> set[frozenset]:
    """The Meta users the consented rows should be: their non-empty hashed keys."""
    fields = {"email": EMAIL, "phone": PHONE, "first_name": FIRST, "last_name": LAST}
    return {
        frozenset((KEYS[name][0], sha(KEYS[name][1](r[i]))) for name, i in fields.items() if r[i])
        for r in rows
        if r[CONSENT_ADS] == "granted"
    }


def test_meta_audience_drops_old_hashes_and_holds_a_change_it_could_not_undo(any_target, serve):
    fake = MetaFake()
    server = serve(fake)
    spec = _sync(
        "high_value_to_meta", base_url=server.url, token_env="META_TOKEN", audience_id=AUDIENCE_ID
    )
    rows = [list(r) for r in segment_members(12)]
    write_segment(any_target, [tuple(r) for r in rows])
    assert run_sync(spec, any_target).added == 12
    assert fake.users == _audience(rows)

    old = _audience(rows)
    rows[1][PHONE] = "+1 (415) 555-9999"
    rows[7][EMAIL] = "person7.new@example.com"
    fake.invalid.add(sha("person7@example.com"))  # Meta refuses to remove C7's old entry
    write_segment(any_target, [tuple(r) for r in rows])
    second = run_sync(spec, any_target)
    assert (second.changed, second.identities_removed, second.failed) == (1, 1, 1)
    held = [r for r in old if (("EMAIL", sha("person7@example.com"))) in r]
    assert fake.users == (_audience(rows) - _audience([rows[7]])) | set(held)
    [(operation, reason)] = fetch_all(
        any_target, "select operation, reason from syncs.sync_dead_letter"
    )
    assert operation == "delete" and reason.startswith("the old identity was not removed")

    fake.invalid.clear()
    third = run_sync(spec, any_target)
    assert (third.changed, third.identities_removed, third.failed) == (1, 1, 0)
    assert fake.users == _audience(rows)
    assert fetch_all(any_target, "select count(*) from syncs.sync_dead_letter") == [(0,)]
    assert server.problems == []
