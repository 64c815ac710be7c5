"""The erasure scenario, the same on DuckDB and PostgreSQL (tests/test_privacy.py and the
end of the PostgreSQL pipeline test).

On a built warehouse and its own landing folder: a customer with web events, orders,
support tickets, consent records and segment memberships is synced to the fake HubSpot,
Mailchimp and Meta, exported (every source record of the bridge is in the export), then
erased with an interruption in the middle of the landing step, resumed, and checked:
  - nothing of theirs in any table, landing file, sync state or the fakes' stores (a search
    of its own, not the erasure's), and the receipt passes its own verification;
  - every other customer's rows unchanged (fingerprints), counts down by theirs only;
  - the next `cdp run` over the same folder does not bring them back, and a new CRM export
    holding their email (typed otherwise) is suppressed while its other row loads.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

from support import cdp
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

from orchestration.activation.engine import run_sync
from orchestration.activation.spec import SyncSpec
from orchestration.activation.state import sync_lock
from orchestration.privacy import erasure, export, intake, store
from orchestration.privacy.resolve import record_key
from orchestration.sources import all_tables
from orchestration.warehouse import qualified, quote_ident

AUDIENCE = "segments.erasure_audience"
SALT = "scenario-salt-0123456789"
REQUIRED_SOURCES = ("web_events", "shop_orders", "support_tickets", "consent_records")
KEYED = [
    "marts.dim_customers",
    "marts.bdg_customer_identifiers",
    "marts.bdg_customer_source_records",
    "marts.fct_orders",
    "marts.fct_events",
    "marts.fct_support_tickets",
    "segments.segment_memberships",
]


class Interrupted(Exception):
    """Stands for a crash in the middle of an erasure."""


def _person(target) -> str:
    wanted = " and ".join(
        f"sum(case when source = '{s}' then 1 else 0 end) > 0" for s in REQUIRED_SOURCES
    )
    rows = target.fetch_all(
        "select r.customer_id from marts.bdg_customer_source_records r "
        "join marts.dim_customers c on c.customer_id = r.customer_id "
        "where c.email is not null and c.phone is not null and r.customer_id in "
        "(select customer_id from segments.segment_memberships) "
        f"group by r.customer_id having {wanted} order by count(*) desc, r.customer_id"
    )
    assert rows, "no generated customer has every kind of record the scenario needs"
    return rows[0][0]


def _specs(servers: dict) -> list[SyncSpec]:
    fields = {
        "hubspot": {"email": "email", "firstname": "first_name", "lastname": "last_name"},
        "mailchimp": {"email_address": "email", "FNAME": "first_name", "LNAME": "last_name"},
        "meta_audience": {
            "email": "email",
            "phone": "phone",
            "first_name": "first_name",
            "last_name": "last_name",
        },
    }
    settings = {
        "hubspot": hubspot_settings,
        "mailchimp": mailchimp_settings,
        "meta_audience": meta_settings,
    }
    return [
        SyncSpec(
            name=f"erasure_to_{kind}",
            model="erasure_audience",
            relation=AUDIENCE,
            destination={"kind": kind, **settings[kind](servers[kind])},
            mode="upsert" if kind == "hubspot" else "mirror",
            on_leave="clear" if kind == "hubspot" else "delete",
            key="customer_id",
            fields=fields[kind],
            consent=None,
            schedule=None,
        )
        for kind in ("hubspot", "mailchimp", "meta_audience")
    ]


def _fingerprints(target, person_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Every other customer's rows in the keyed tables, and raw rows not the person's
    (lineage row numbers left out: they move up when lines before them go)."""
    ids = ", ".join(f"'{c}'" for c in person_ids)
    out = {}
    for relation in KEYED:
        schema, table = relation.split(".")
        cols = list(target.columns(schema, table))
        out[relation] = target.fingerprint(
            f"(select * from {relation} where customer_id not in ({ids})) as kept", cols
        )
    records = target.fetch_all(
        "select source, source_record_id from marts.bdg_customer_source_records "
        f"where customer_id in ({ids})"
    )
    for t in all_tables():
        mine = [rid for src, rid in records if src == t.raw_name]
        cols = [c for c in target.columns("raw", t.raw_name) if c != "_source_row"]
        cond = (
            f"{record_key(t, 'r')} not in ({', '.join(repr(m) for m in mine)})" if mine else "true"
        )
        out[f"raw.{t.raw_name}"] = target.fingerprint(
            f"(select * from raw.{t.raw_name} r where {cond}) as kept", cols
        )
    return out


def _values(target, customer_id: str) -> dict[str, list[str]]:
    """The person's values a search must not find afterwards."""
    ids = [customer_id] + [
        r[0]
        for r in target.fetch_all(
            "select old_customer_id from marts.customer_id_history where new_customer_id = ?",
            [customer_id],
        )
    ]
    identifiers = target.fetch_all(
        "select identifier_type, identifier_value from marts.bdg_customer_identifiers "
        "where customer_id = ?",
        [customer_id],
    )
    return {
        "customer_ids": ids,
        "identifiers": [v for t, v in identifiers if t in ("email", "phone", "anonymous_id")],
        "email": [v for t, v in identifiers if t == "email"],
    }


def _search_warehouse(target, needles: list[str]) -> list[str]:
    """schema.table.column where a needle is found (every table, every column, as text)."""
    found = []
    needles = [n.lower() for n in needles]
    tables = target.fetch_all(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_catalog = current_database() "
        "and table_schema not in ('information_schema', 'pg_catalog', 'privacy')"
    )
    for schema, table in tables:
        cols = list(target.columns(schema, table))
        if not cols:
            continue
        rows = target.fetch_all(
            "select "
            + ", ".join(f"cast({quote_ident(c)} as varchar)" for c in cols)
            + f" from {qualified(schema, table)}"
        )
        for row in rows:
            for col, value in zip(cols, row, strict=True):
                if value and any(n in value.lower() for n in needles):
                    found.append(f"{schema}.{table}.{col}")
    return sorted(set(found))


def _search_files(folder: Path, needles: list[str]) -> list[str]:
    import duckdb

    found = []
    pattern = re.compile("|".join(re.escape(n.lower()) for n in needles))
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            text = "\n".join(
                str(r) for r in duckdb.connect().execute(f"select * from '{path}'").fetchall()
            )
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
        if pattern.search(text.lower()):
            found.append(str(path.relative_to(folder)))
    return found


def run(target, landing: Path, env: dict[str, str], serve, monkeypatch) -> None:
    """The scenario on `target`, built from `landing` (its own copy: the erasure rewrites
    it). `env` is what `cdp` needs for this target (CDP_TARGET, DAGSTER_HOME, ...)."""
    monkeypatch.setenv("CDP_PRIVACY_SALT", SALT)
    env = {**env, "CDP_PRIVACY_SALT": SALT, "CDP_LANDING_SETTLE_SECONDS": "0"}
    person = _person(target)
    values = _values(target, person)
    needles = values["customer_ids"] + values["identifiers"]

    # synced to the three vendors, with five other customers
    target_execute(
        target,
        f"create table {AUDIENCE} as select customer_id, email, phone, first_name, last_name "
        f"from marts.dim_customers where email is not null and phone is not null and "
        f"(customer_id = '{person}' or customer_id in (select customer_id from "
        f"marts.dim_customers where email is not null and phone is not null "
        f"and customer_id <> '{person}' order by customer_id limit 5))",
    )
    servers = {
        "hubspot": serve(HubSpotFake()),
        "mailchimp": serve(MailchimpFake()),
        "meta_audience": serve(MetaFake()),
    }
    specs = _specs(servers)
    for spec in specs:
        report = run_sync(spec, target)
        assert report.failed == 0 and report.sent == 6, (spec.name, vars(report))
    email = values["email"][0]
    hubspot, mailchimp, meta = (servers[k].vendor for k in servers)
    assert email in hubspot.contacts and md5(email) in mailchimp.members
    assert any(("EMAIL", sha(email)) in u for u in meta.users)

    # an access request: every source record the bridge links to them is in the export
    bridge = set(
        target.fetch_all(
            "select source, source_record_id from marts.bdg_customer_source_records "
            "where customer_id = ?",
            [person],
        )
    )
    _, json_path, zip_path, doc = export.export(target, email.upper(), landing.parent / "exp")
    assert {(r["source"], r["source_record_id"]) for r in doc["source_records"]} == bridge
    assert all(r["raw_rows"] for r in doc["source_records"]), "a source record without raw rows"
    assert doc["customer"][0]["customer_id"] == person
    assert {s["sync"] for s in doc["sent"]} == {s.name for s in specs}
    assert json.loads(json_path.read_text())["customer_ids"] == doc["customer_ids"]
    with zipfile.ZipFile(zip_path) as archive:
        assert "customer.csv" in archive.namelist()
        assert any(n.startswith("source_records/") for n in archive.namelist())
    assert oct(json_path.stat().st_mode)[-3:] == "600"

    before = _fingerprints(target, values["customer_ids"])
    raw_before = {t.raw_name: target.fetch_all(f"select count(*) from raw.{t.raw_name}")[0][0]
                  for t in all_tables()}  # fmt: skip

    # interrupted once a landing file's rewrite is planned, before it replaces the file
    held = []

    def crash(event: str, what: str) -> None:
        if event == "step" and what == "warehouse" and target.name == "postgres":
            for spec in specs:  # no run of a sync may start while their rows go
                with target.session() as other, other.lock(sync_lock(spec.name), wait=False) as got:
                    held.append(not got)
        if event == "file planned":
            raise Interrupted(what)

    try:
        erasure.erase(target, email, requested_by="scenario", progress=crash, syncs=specs)
        raise AssertionError("the erasure was not interrupted")
    except Interrupted:
        pass
    assert held == ([True] * len(specs) if target.name == "postgres" else [])
    [(status,)] = target.fetch_all(f"select status from {store.REQUESTS} where kind = 'erase'")
    assert status == "open"
    outcome = erasure.erase(target, email, requested_by="scenario", syncs=specs)  # resumes
    assert outcome.status == "done", outcome
    assert target.fetch_all(f"select count(*) from {store.REQUESTS} where kind = 'erase'") == [(1,)]
    steps = outcome.receipt["steps"]
    assert not outcome.receipt["steps_open"]
    assert steps["verify"]["found_in_tables"] == [] and steps["verify"]["found_in_files"] == []
    assert steps["verify"]["tables_searched"] > 50 and steps["verify"]["files_searched"] >= 9
    deleted = steps["warehouse"]["rows_deleted"]
    for relation in ("raw.web_events", "raw.shop_orders", "raw.support_tickets",
                     "raw.consent_records", "staging.stg_web__events", "marts.dim_customers",
                     "segments.segment_memberships", "syncs.sync_state", AUDIENCE):  # fmt: skip
        assert deleted.get(relation, 0) > 0, relation
    assert {f["file"].split("/")[0] for f in steps["landing"]["files"]} >= {
        "web", "shop", "support", "consent"}  # fmt: skip
    for spec in specs:
        assert steps["destinations"]["syncs"][spec.name]["by_status"] == {"deleted": 1}
    assert target.fetch_all(f"select count(*) from {store.ITEMS}") == [(0,)]

    # found nowhere: warehouse, landing, sync state, the vendors
    assert _search_warehouse(target, needles) == []
    assert _search_files(landing, needles) == []
    assert email not in hubspot.contacts and email not in hubspot.archived
    assert md5(email) not in mailchimp.members
    assert not any(("EMAIL", sha(email)) in u for u in meta.users)
    assert len(hubspot.contacts) == len(mailchimp.members) == len(meta.users) == 5

    # every other customer as before; raw down by the person's rows only
    assert _fingerprints(target, values["customer_ids"]) == before
    raw_after = {t.raw_name: target.fetch_all(f"select count(*) from raw.{t.raw_name}")[0][0]
                 for t in all_tables()}  # fmt: skip
    for name, n in raw_after.items():
        assert raw_before[name] - n == deleted.get(f"raw.{name}", 0), name

    # the next run over the same folder, where a new CRM export holds their email (typed
    # otherwise) and someone new: only the new person loads; nothing of theirs comes back
    crm = sorted((landing / "crm").glob("*.csv"))[0]
    with crm.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    rows = [
        {"contact_id": "9900000001", "email": f"  {email.upper()} ", "created_at": "2026-01-02 03:04:05"},
        {"contact_id": "9900000002", "email": "noor.haddad.9900@proton.me",
         "created_at": "2026-01-02 03:04:05"},
    ]  # fmt: skip
    with (landing / "crm" / "contacts_part-9900.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    proc = cdp("run", "--landing", str(landing), **env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "crm/contacts: 1 rows suppressed" in proc.stdout
    assert email not in proc.stdout
    raw_after["crm_contacts"] += 1  # the new person; every other table as it was
    assert {t.raw_name: target.fetch_all(f"select count(*) from raw.{t.raw_name}")[0][0]
            for t in all_tables()} == raw_after  # fmt: skip
    assert target.fetch_all(
        "select count(*) from marts.bdg_customer_identifiers where identifier_value = ?",
        ["noor.haddad.9900@proton.me"],
    ) == [(1,)]
    assert _search_warehouse(target, needles) == []
    assert target.fetch_all(f"select rows_suppressed from {store.SUPPRESSED_LOADS}") == [(1,)]
    # the suppression list holds hashes, never the values
    listed = target.fetch_all(f"select identifier_hash from {store.SUPPRESSED}")
    assert listed and all(re.fullmatch(r"[0-9a-f]{64}", h) for (h,) in listed)

    # requests from a ticketing system's export in the landing folder
    others = target.fetch_all(
        "select customer_id, phone, email from marts.dim_customers where phone is not null "
        "and email is not null order by customer_id desc limit 2"
    )
    (erased_id, phone, _), (_, _, exported_email) = others
    intake_file = landing / "privacy" / "requests_2026-12.csv"
    intake_file.parent.mkdir()
    intake_file.write_text(
        "request_ref,kind,identifier,requested_by\n"
        f"T-1,erase,{phone},support\nT-2,export,{exported_email},support\n"
        "T-3,delete,x@y.org,support\n"
    )
    taken = intake.take(target, landing, landing.parent / "exp", syncs=specs)
    assert [(r["request_ref"], r["outcome"]) for r in taken.rows] == [
        ("T-1", "done"),
        ("T-2", "done"),
    ]
    assert taken.errors and "T-3" in taken.errors[0] and "erase or export" in taken.errors[0]
    text = intake_file.read_text()
    assert phone not in text and exported_email not in text and "[request " in text
    assert target.fetch_all(
        "select count(*) from marts.dim_customers where customer_id = ?", [erased_id]
    ) == [(0,)]
    again = intake.take(target, landing, landing.parent / "exp", syncs=specs)
    assert again.rows == []  # each row once

    status = cdp("privacy", "status", **env)
    assert status.returncode == 0 and outcome.request_id in status.stdout, status.stderr


def target_execute(target, *statements: str) -> None:
    with target.session() as session:
        for sql in statements:
            session.run(sql)


def rebase(target, old: Path, new: Path) -> None:
    """The warehouse's loads of `old` now read `new` (a copy of that landing folder)."""
    with target.session() as session:
        session.run(
            "update raw.load_manifest set landing_dir = ? where landing_dir = ?",
            [str(new.resolve()), str(old.resolve())],
        )
