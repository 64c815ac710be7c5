"""A change of identity at destinations that know people by it (Mailchimp and HubSpot by
email, Meta by hashed email and phone): the old identity is removed before the new one is
written, so nothing stays behind; an identity another customer holds by then (a merge, a
swap) is never removed.

The engine runs the declared syncs against the fake vendor servers of vendor_fakes.py, on
both warehouses.
"""

from __future__ import annotations

import dataclasses

import pytest
from support import segment_members, write_segment
from vendor_fakes import (
    HubSpotFake,
    MailchimpFake,
    MetaFake,
    hubspot_settings,
    mailchimp_settings,
    md5,
    meta_settings,
    sha,
)

from orchestration.activation.destinations.meta_audience import KEYS
from orchestration.activation.engine import preview, run_sync
from orchestration.activation.spec import find_sync
from orchestration.dbt_project import MANIFEST, ensure_manifest

FAST = {"timeout": 0.5, "attempts": 4, "retry_initial": 0.01}
EMAIL, PHONE, FIRST, LAST, CONSENT_EMAIL, CONSENT_ADS = 1, 2, 3, 4, 5, 6


pytestmark = pytest.mark.usefixtures("vendor_credentials")


def _sync(name: str, settings: dict):
    """The declared sync `name`, sent to a fake vendor with `settings`."""
    ensure_manifest()
    spec = find_sync(MANIFEST, name)
    return dataclasses.replace(spec, destination={"kind": spec.kind, **FAST, **settings})


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


def _mailchimp_synced(target, serve, members: int):
    """A fake Mailchimp after a first sync of `members` rows: fake, server, spec, rows and
    the first run's report."""
    fake = MailchimpFake()
    server = serve(fake)
    spec = _sync("new_subscribers_to_mailchimp", mailchimp_settings(server))
    rows = [list(r) for r in segment_members(members)]
    write_segment(target, [tuple(r) for r in rows], TABLE)
    first = run_sync(spec, target)
    return fake, server, spec, rows, first


def _emails(fake: MailchimpFake) -> set[str]:
    return {m["email_address"] for m in fake.members.values()}


def _consented_emails(rows: list[list]) -> set[str]:
    return {r[EMAIL] for r in rows if r[CONSENT_EMAIL] == "granted"}


TABLE = "new_subscribers_no_order"


def test_mailchimp_members_follow_email_changes_merges_and_swaps(any_target, serve):
    fake, server, spec, rows, first = _mailchimp_synced(any_target, serve, 20)  # one batch
    assert first.added == 18  # C0 and C10 have withdrawn email consent

    _moved(rows)
    write_segment(any_target, [tuple(r) for r in rows], TABLE)
    planned = preview(spec, any_target)
    counts = ("added", "changed", "removed", "identities_removed", "identities_kept", "failed")
    # C1, C3, C4 and C5 lose their old address (C4's and C5's come back as the other's,
    # C2's as C3's: written after every removal); C2 and C8 leave.
    assert tuple(getattr(planned, c) for c in counts) == (0, 5, 2, 4, 0, 0)
    shown = {r["key"]: r for r in planned.samples["identities_removed"]}
    assert shown["C0000001"]["email_address"] == "person1@example.com"
    assert shown["C0000001"]["operation"] == "delete"

    second = run_sync(spec, any_target)
    assert tuple(getattr(second, c) for c in counts) == (0, 5, 2, 4, 0, 0)
    assert _emails(fake) == _consented_emails(rows)
    assert fake.members[md5("person2@example.com")]["merge_fields"]["LNAME"] == "Smith3"
    assert fake.members[md5("person4@example.com")]["merge_fields"]["LNAME"] == "Smith5"
    assert fake.members[md5("person6@example.com")]["merge_fields"]["LNAME"] == "Smith-Jones"
    assert md5("person8@example.com") in fake.archived and server.problems == []

    requests = len(server.requests)
    third = run_sync(spec, any_target)
    assert third.sent == third.identities_kept == third.forgotten == 0
    assert len(server.requests) == requests
    logged = "select removed, identities_removed from syncs.sync_log order by started_at"
    assert any_target.fetch_all(logged) == [(0, 0), (2, 4), (0, 0)]


def test_a_removal_never_takes_an_address_another_record_holds(any_target, serve):
    """C4 and C5 swap emails; C4's old address cannot be removed at first, and C5 takes it
    meanwhile. The next run must leave it to C5 and still write C4's new one."""
    fake, server, spec, rows, _ = _mailchimp_synced(any_target, serve, 8)

    four, five = rows[4], rows[5]
    four[EMAIL], five[EMAIL] = five[EMAIL], four[EMAIL]
    write_segment(any_target, [tuple(r) for r in rows], TABLE)
    fake.compliance.add(md5("person4@example.com"))  # C4's old member refuses, once
    second = run_sync(spec, any_target)
    counts = ("changed", "identities_removed", "identities_kept", "failed")
    assert tuple(getattr(second, c) for c in counts) == (1, 1, 0, 1)  # C5 moved; C4 held
    assert fake.members[md5("person4@example.com")]["merge_fields"]["LNAME"] == "Smith5"

    fake.compliance.clear()
    third = run_sync(spec, any_target)
    assert tuple(getattr(third, c) for c in counts) == (1, 0, 1, 0)  # person4 is C5's
    assert _emails(fake) == _consented_emails(rows)
    assert fake.members[md5("person4@example.com")]["merge_fields"]["LNAME"] == "Smith5"
    assert fake.members[md5("person5@example.com")]["merge_fields"]["LNAME"] == "Smith4"
    assert fake.archived == {md5("person5@example.com")}  # removed once, written back
    assert run_sync(spec, any_target).sent == 0 and server.problems == []


def test_a_refused_write_then_a_return_leaves_nothing_behind(any_target, serve):
    """C2 withdraws consent and C3 takes C2's address, which Mailchimp refuses; then C3
    goes back to its own address. C2's member must go, and C3's must come back."""
    fake, server, spec, rows, _ = _mailchimp_synced(any_target, serve, 8)

    rows[2][CONSENT_EMAIL] = "withdrawn"
    rows[3][EMAIL] = "person2@example.com"
    fake.invalid.add("person2@example.com")
    write_segment(any_target, [tuple(r) for r in rows], TABLE)
    second = run_sync(spec, any_target)
    assert (second.removed, second.identities_removed, second.failed) == (1, 1, 1)

    rows[3][EMAIL] = "person3@example.com"
    fake.invalid.clear()
    write_segment(any_target, [tuple(r) for r in rows], TABLE)
    third = run_sync(spec, any_target)
    assert (third.added, third.changed, third.removed, third.failed) == (1, 0, 0, 0)
    assert _emails(fake) == _consented_emails(rows)
    assert "person2@example.com" not in _emails(fake)
    assert run_sync(spec, any_target).sent == 0 and server.problems == []


def test_hubspot_clears_the_contact_of_an_old_email(any_target, serve):
    fake = HubSpotFake()
    server = serve(fake)
    spec = _sync("high_value_to_hubspot", hubspot_settings(server))
    rows = [list(r) for r in segment_members(6)]
    write_segment(any_target, [tuple(r) for r in rows])
    assert run_sync(spec, any_target).added == 5
    old_id = fake.contacts["person1@example.com"]["id"]

    rows[1][EMAIL] = "person1.new@example.com"
    rows[2][LAST] = "Smith-Jones"  # same email: the same contact, updated
    write_segment(any_target, [tuple(r) for r in rows])
    second = run_sync(spec, any_target)
    assert (second.changed, second.identities_removed, second.failed) == (2, 1, 0)
    old = fake.contacts["person1@example.com"]
    assert old["id"] == old_id and old["properties"]["lastname"] == ""  # on_leave: clear
    new = fake.contacts["person1.new@example.com"]
    assert new["id"] != old_id and new["properties"]["lastname"] == "Smith1"
    assert fake.contacts["person2@example.com"]["properties"]["lastname"] == "Smith-Jones"
    assert len(fake.contacts) == 6 and server.problems == []


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
    spec = _sync("high_value_to_meta", meta_settings(server))
    rows = [list(r) for r in segment_members(12)]
    write_segment(any_target, [tuple(r) for r in rows])
    assert run_sync(spec, any_target).added == 12
    assert fake.users == _audience(rows)

    before = [list(r) for r in rows]
    rows[1][EMAIL], rows[1][PHONE] = "person1.new@example.com", "+1 (415) 555-9999"
    rows[2][PHONE] = "+1 (415) 555-8888"  # the email stays: the same person, not removed
    rows[7][EMAIL], rows[7][PHONE] = "person7.new@example.com", "+1 (415) 555-7777"
    fake.invalid.add(sha("person7@example.com"))  # Meta refuses to remove C7's old entry
    write_segment(any_target, [tuple(r) for r in rows])
    second = run_sync(spec, any_target)
    assert (second.changed, second.identities_removed, second.failed) == (2, 1, 1)
    expected = (_audience(rows) - _audience([rows[7]])) | _audience([before[2], before[7]])
    assert fake.users == expected
    [(operation, reason)] = any_target.fetch_all(
        "select operation, reason from syncs.sync_dead_letter"
    )
    assert operation == "delete" and reason.startswith("the old identity was not removed")

    fake.invalid.clear()
    third = run_sync(spec, any_target)
    assert (third.changed, third.identities_removed, third.failed) == (1, 1, 0)
    assert fake.users == _audience(rows) | _audience([before[2]])
    assert any_target.fetch_all("select count(*) from syncs.sync_dead_letter") == [(0,)]
    assert server.problems == []


def test_meta_keeps_a_shared_phone_and_removes_the_rest(any_target, serve):
    """C1 and C2 share a household phone; C3 and C4 are two records of one person (same
    email and phone). When C1 and C4 leave, Meta must keep C2 (remove C1 by email only) and
    C3 (nothing to remove for C4)."""
    fake = MetaFake()
    server = serve(fake)
    spec = _sync("high_value_to_meta", meta_settings(server))
    rows = [list(r) for r in segment_members(6)]
    rows[2][PHONE] = rows[1][PHONE]
    rows[4][EMAIL], rows[4][PHONE] = rows[3][EMAIL], rows[3][PHONE]
    write_segment(any_target, [tuple(r) for r in rows])
    run_sync(spec, any_target)
    assert fake.users == _audience(rows)

    one, four = rows[1], rows[4]
    one[CONSENT_ADS] = four[CONSENT_ADS] = "withdrawn"
    write_segment(any_target, [tuple(r) for r in rows])
    second = run_sync(spec, any_target)
    assert (second.removed, second.identities_kept, second.forgotten) == (1, 1, 1)
    c4 = [*four[:CONSENT_ADS], "granted", *four[CONSENT_ADS + 1 :]]  # C4's row as it was sent
    assert fake.users == _audience(rows) | _audience([c4])  # C3's person, as C4 sent it
    assert run_sync(spec, any_target).sent == 0 and server.problems == []
