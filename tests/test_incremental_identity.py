"""Incremental identity resolution over several days of new data, on both warehouses.

A small generated history is resolved in full; then three days of hand-written CRM contacts
and web events arrive, each resolved incrementally:

- day 1: two contacts that are one person but share nothing yet; a contact and a
  phone-only contact linked by a phone; a device that browses without logging in;
- day 2: a contact that ties the first two together (a merge); the device logs in (its
  anonymous history is stitched to the account); an account seen with one email;
- day 3: the phone turns up on a third person's contact, so it is shared by two emails and
  dropped: the phone-only contact splits off; the account shows up with a second email, one
  more than a person may hold (the limit rule drops it).

After each day the identity graph is checked, and at the end a full refresh of every
incremental model must give the same rows as the incremental builds.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from support import assert_incremental_equals_full_refresh, execute, run_dbt

from orchestration.loading.loader import load_tables
from orchestration.sources import all_tables, get_table
from orchestration.warehouse import sql_literal

pytestmark = pytest.mark.slow

CONTACT_FIELDS = [
    "contact_id", "first_name", "last_name", "email", "phone", "street", "city", "region",
    "postal_code", "country", "lifecycle_stage", "created_at", "updated_at",
]  # fmt: skip
IDENTITY = [
    "+customer_id_history",
    "+int_identity_state",
    "+identity_guard_audit",
    "+tag:incremental",
]


def contact(contact_id: str, day: int, email: str = "", phone: str = "") -> dict:
    stamp = f"2026-12-0{day} 09:00:00"
    return {
        "contact_id": contact_id, "first_name": "Test", "last_name": f"Person{contact_id}",
        "email": email, "phone": phone, "country": "US", "lifecycle_stage": "lead",
        "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip


def event(message_id: str, day: int, anonymous_id: str, user_id: str = "", email: str = ""):
    stamp = f"2026-12-0{day}T10:00:00.000Z"
    row = {
        "messageId": message_id,
        "type": "identify" if user_id else "page",
        "anonymousId": anonymous_id,
        "timestamp": stamp,
        "sentAt": stamp,
        "context": {"library": {"name": "analytics.js", "version": "2.11.1"}},
    }
    if user_id:
        row["userId"] = user_id
        row["traits"] = {"email": email} if email else {}
    else:
        row["properties"] = {"path": "/", "url": "https://larkspur.example/"}
    return row


DAYS = {
    1: (
        [
            contact("9100000001", 1, email="ivy.merge@mailbox.dev"),
            contact("9100000002", 1, phone="+1 415 555 0172"),
            contact("9100000003", 1, email="sam.split@mailbox.dev", phone="+1 415 555 0199"),
            contact("9100000004", 1, phone="+1 415 555 0199"),
        ],
        [event("d1-1", 1, "anon-stitch"), event("d1-2", 1, "anon-stitch")],
    ),
    2: (
        [contact("9100000005", 2, email="ivy.merge@mailbox.dev", phone="+1 415 555 0172")],
        [
            event("d2-1", 2, "anon-stitch", user_id="usr_incremental", email="kit@mailbox.dev"),
            event("d2-2", 2, "anon-kit", user_id="usr_incremental", email="kit@mailbox.dev"),
        ],
    ),
    3: (
        [contact("9100000006", 3, email="lee.other@mailbox.dev", phone="+1 415 555 0199")],
        [event("d3-1", 3, "anon-kit-2", user_id="usr_incremental", email="kit.alt@mailbox.dev")],
    ),
}


def write_day(landing: Path, day: int) -> None:
    contacts, events = DAYS[day]
    with open(landing / "crm" / f"contacts_day{day}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CONTACT_FIELDS)
        writer.writeheader()
        writer.writerows(contacts)
    with open(landing / "web" / f"events_day{day}.jsonl", "w") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events)


def customer_of(target, node_key: str) -> str | None:
    rows = target.fetch_all(
        "select customer_id from intermediate.int_customer_ids_assigned where node_key = ?",
        [node_key],
    )
    return rows[0][0] if rows else None


def build(target_name: str) -> str:
    proc = run_dbt("build", "--select", *IDENTITY, "--resource-type", "seed",
                   "--resource-type", "model", target=target_name)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    return proc.stdout


def test_identity_builds_incrementally_as_a_full_refresh_would(any_target, tmp_path, generated):
    import shutil

    target_name = any_target.name
    landing = tmp_path / "landing"
    shutil.copytree(generated, landing)
    load_tables(any_target, all_tables(), landing)
    build(target_name)
    scoped = "select count(*) from intermediate.int_identity_scope_values"
    assert any_target.fetch_all(scoped) == [(0,)]  # the first build is a full one
    customers_before = any_target.fetch_all(
        "select count(distinct customer_id) from intermediate.int_customer_ids_assigned"
    )[0][0]

    crm, web = get_table("crm", "contacts"), get_table("web", "events")
    for day in DAYS:
        write_day(landing, day)
        results = load_tables(any_target, [crm, web], landing)
        assert [r.rows_loaded for r in results] == [len(DAYS[day][0]), len(DAYS[day][1])]
        if day == 1:  # a partial build first: the new rows are not resolved, nor marked so
            marks = "select source, loaded_through from intermediate.int_identity_state"
            marked = any_target.fetch_all(marks)
            proc = run_dbt("run", "--select", "int_identifiers_unioned",
                           "int_identifiers_normalised", "int_identity_state",
                           target=target_name)  # fmt: skip
            assert proc.returncode == 0, proc.stdout[-3000:]
            assert sorted(any_target.fetch_all(marks)) == sorted(marked)
            assert customer_of(any_target, "email:ivy.merge@mailbox.dev") is None
        # a customer the day does not touch: its golden record is not built again
        (bystander, name), *_ = any_target.fetch_all(
            "select customer_id, first_name from marts.dim_customers order by customer_id"
        )
        execute(
            any_target,
            "update marts.dim_customers set first_name = 'untouched' "
            f"where customer_id = '{bystander}'",
        )
        build(target_name)
        changed = any_target.fetch_all(
            "select customer_id from intermediate.int_identity_scope_customers where built_at "
            "= (select max(built_at) from intermediate.int_identity_scope_customers)"
        )
        assert 0 < len(changed) < 40 and (bystander,) not in changed, changed
        assert any_target.fetch_all(
            f"select first_name from marts.dim_customers where customer_id = '{bystander}'"
        ) == [("untouched",)]
        execute(
            any_target,
            f"update marts.dim_customers set first_name = {'null' if name is None else sql_literal(name)} "
            f"where customer_id = '{bystander}'",
        )
        in_scope = any_target.fetch_all(scoped)[0][0]
        assert 0 < in_scope < 40, f"day {day}: {in_scope} values in scope"
        if day == 1:
            assert customer_of(any_target, "email:ivy.merge@mailbox.dev") != customer_of(
                any_target, "phone:+14155550172"
            )
            assert customer_of(any_target, "crm_contact_id:9100000004") == customer_of(
                any_target, "email:sam.split@mailbox.dev"
            )
            stitched_before = customer_of(any_target, "anonymous_id:anon-stitch")
        if day == 2:
            merged = customer_of(any_target, "email:ivy.merge@mailbox.dev")
            assert merged == customer_of(any_target, "phone:+14155550172")
            # the device keeps its id and now holds the account it logged in to
            assert customer_of(any_target, "anonymous_id:anon-stitch") == stitched_before
            assert customer_of(any_target, "user_id:usr_incremental") == stitched_before
        if day == 3:
            assert customer_of(any_target, "phone:+14155550199") is None  # shared: dropped
            assert customer_of(any_target, "crm_contact_id:9100000004") != customer_of(
                any_target, "email:sam.split@mailbox.dev"
            )
            assert customer_of(any_target, "email:kit.alt@mailbox.dev") is None
            assert customer_of(any_target, "email:kit@mailbox.dev") == customer_of(
                any_target, "user_id:usr_incremental"
            )

    history = any_target.fetch_all(
        "select change_type, old_customer_id, new_customer_id from marts.customer_id_history"
    )
    changes = {change for change, _, _ in history}
    assert {"merge", "split"} <= changes, history
    guards = dict(
        any_target.fetch_all(
            "select identifier_value, guard_rule from marts.identity_guard_audit "
            "where identifier_value in (?, ?)",
            ["+14155550199", "kit.alt@mailbox.dev"],
        )
    )
    assert guards == {"+14155550199": "shared_value", "kit.alt@mailbox.dev": "max_per_customer"}
    customers_after = any_target.fetch_all(
        "select count(distinct customer_id) from intermediate.int_customer_ids_assigned"
    )[0][0]
    assert customers_after > customers_before

    # node numbers are the hash the warehouse interface knows too (cdp.hash_bigint)
    assert any_target.fetch_all(
        "select count(*), count(distinct node_id) from intermediate.int_identity_nodes_numbered "
        f"where node_id = {any_target.hash_bigint.format('node_key')}"
    ) == any_target.fetch_all(
        "select count(*), count(*) from intermediate.int_identity_nodes_numbered"
    )

    # a staging table appends only new loads; once its SQL changes it is read from all loads
    (contact,), *_ = any_target.fetch_all(
        "select contact_id from staging.stg_crm__contacts order by contact_id"
    )
    contacts = "select count(*) from staging.stg_crm__contacts"
    (count,) = any_target.fetch_all(contacts)
    execute(any_target, f"delete from staging.stg_crm__contacts where contact_id = '{contact}'")
    staging = ["run", "--select", "stg_crm__contacts"]
    assert run_dbt(*staging, target=target_name).returncode == 0
    assert any_target.fetch_all(contacts) == [(count[0] - 1,)]
    execute(
        any_target,
        "update intermediate.incremental_marks set fingerprint = 'edited' "
        "where model_name = 'stg_crm__contacts'",
    )
    assert run_dbt(*staging, target=target_name).returncode == 0
    assert any_target.fetch_all(contacts) == [count]

    # the tests of a customer-scoped mart check the customers changed since they last passed
    def test_dim_customers() -> subprocess.CompletedProcess:
        return run_dbt("test", "--select", "dim_customers", "--indirect-selection", "cautious",
                       target=target_name)  # fmt: skip

    marks = "select applied_through from intermediate.incremental_marks where model_name = ?"
    assert test_dim_customers().returncode == 0
    assert any_target.fetch_all(marks, ["dim_customers:tested"]) == any_target.fetch_all(
        marks, ["dim_customers"]
    )
    (email,) = any_target.fetch_all(
        f"select email from marts.dim_customers where customer_id = '{bystander}'"
    )[0]
    execute(
        any_target,
        f"update marts.dim_customers set email = 'NOT Normalised' where customer_id = '{bystander}'",
    )
    assert test_dim_customers().returncode == 0  # an unchanged customer is not read again
    execute(
        any_target,
        "delete from intermediate.incremental_marks where model_name = 'dim_customers:tested'",
    )
    failed = test_dim_customers()  # without a mark: the whole table
    assert (
        failed.returncode != 0 and "is_normalised_identifier_dim_customers_email" in failed.stdout
    )
    assert any_target.fetch_all(marks, ["dim_customers:tested"]) == []
    execute(
        any_target,
        f"update marts.dim_customers set email = {'null' if email is None else sql_literal(email)} "
        f"where customer_id = '{bystander}'",
    )

    # staging, the identity models, and the marts that follow the changed customers
    assert_incremental_equals_full_refresh(
        any_target,
        target_name,
        ("staging.", "intermediate.", "marts.bdg_", "marts.dim_customers"),
    )
