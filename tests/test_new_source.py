"""A new source takes its declaration and staging files only: in a copy of the project, a
ninth source (a person registry, CSV) is added by writing models/staging/registry/ (its
contract, its models YAML with identity declarations, its staging model) and one row of the
identifier-types seed for its new identifier type; one `cdp run` then loads it, checks it,
stages it and joins its records to the customers the other sources already have."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest
from support import CDP, cdp, copy_project

from orchestration.warehouse import resolve_warehouse

pytestmark = pytest.mark.slow

SOURCES_YML = """\
version: 2

sources:
  - name: registry
    description: "Person registrations from the national registry, loaded from CSV."
    schema: raw
    config:
      loaded_at_field: _loaded_at
    tables:
      - name: persons
        identifier: registry_persons
        description: "One row per registration per export."
        config:
          meta:
            dagster:
              asset_key: ["raw", "registry", "persons"]
            cdp:
              format: csv
              pattern: "registry/persons*.csv"
              record_id: [national_id]
        columns:
          - name: national_id
            data_type: varchar
            description: "National identity number; the record id."
            config:
              tags: ["pii"]
              meta:
                cdp: {required: true}
          - name: first_name
            data_type: varchar
            description: "First name."
            config:
              tags: ["pii"]
          - name: last_name
            data_type: varchar
            description: "Last name."
            config:
              tags: ["pii"]
          - name: birth_date
            data_type: date
            description: "Date of birth, YYYYMMDD."
            config:
              tags: ["pii"]
          - name: street
            data_type: varchar
            description: "Street address."
            config:
              tags: ["pii"]
          - name: postal_code
            data_type: varchar
            description: "Postal code."
          - name: city
            data_type: varchar
            description: "City."
          - name: email
            data_type: varchar
            description: "Email address given at registration."
            config:
              tags: ["pii"]
          - name: registered_at
            data_type: timestamp
            description: "When the person registered, UTC."
            config:
              meta:
                cdp: {required: true}
"""

MODELS_YML = """\
version: 2

models:
  - name: stg_registry__persons
    config:
      meta:
        identity:
          seen_at: registered_at
          identifiers:
            - {column: national_id, type: national_id}
            - {column: email, type: email}
          attributes:
            first_name: first_name
            last_name: last_name
            birth_date: birth_date
            street: street
            postal_code: postal_code
            city: city
    description: "Registry persons, one row per national id (the first loaded copy)."
    columns:
      - name: national_id
        description: "National identity number; primary key."
        data_tests: [unique, not_null]
      - name: first_name
      - name: last_name
      - name: birth_date
      - name: street
      - name: postal_code
      - name: city
      - name: email
      - name: registered_at
"""

STAGING_SQL = """\
with

source as (
    select * from {{ source('registry', 'persons') }}
),

renamed as (
    select
        nullif(trim(national_id), '') as national_id,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        cast(birth_date as date) as birth_date,
        nullif(trim(street), '') as street,
        nullif(trim(postal_code), '') as postal_code,
        nullif(trim(city), '') as city,
        lower(nullif(trim(email), '')) as email,
        cast(registered_at as timestamp) as registered_at,
        _load_id,
        _source_file,
        _source_row,
        _loaded_at
    from source
),

deduplicated as (
    {{ cdp.first_load_per_record('renamed') }}
)

select * from deduplicated
"""


def _add_registry(project: Path) -> None:
    folder = project / "models" / "staging" / "registry"
    folder.mkdir()
    (folder / "_registry__sources.yml").write_text(SOURCES_YML)
    (folder / "_registry__models.yml").write_text(MODELS_YML)
    (folder / "stg_registry__persons.sql").write_text(STAGING_SQL)
    seed = project / "seeds" / "identity" / "identity_identifier_types.csv"
    with seed.open("a") as fh:
        fh.write("national_id,8,1,1,National identity number from the person registry\n")


def _crm_people(landing: Path, n: int) -> list[dict[str, str]]:
    """`n` CRM contacts whose email no other contact has (so no guard keeps it out)."""
    rows = []
    for path in sorted((landing / "crm").glob("contacts*.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            rows += list(csv.DictReader(fh))
    emails = [r["email"].strip().lower() for r in rows if r.get("email")]
    unique = [
        r
        for r in rows
        if r.get("email")
        and emails.count(r["email"].strip().lower()) == 1
        and r["email"].strip().lower().endswith((".com", ".net", ".org"))
        and "test" not in r["email"].lower()
    ]
    return unique[:n]


def _write_registry_landing(landing: Path, people: list[dict[str, str]]) -> dict[str, str]:
    """One CSV of registrations; returns national id -> CRM contact id."""
    (landing / "registry").mkdir()
    out = {}
    with (landing / "registry" / "persons_1.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["national_id", "first_name", "last_name", "birth_date", "street", "postal_code",
             "city", "email", "registered_at"]
        )  # fmt: skip
        for i, p in enumerate(people):
            national_id = f"NID{i:06d}"
            out[national_id] = p["contact_id"]
            birth = f" {1950 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}"  # compact, leading space
            writer.writerow(
                [national_id, p["first_name"], p["last_name"], birth, p["street"],
                 p["postal_code"], p["city"], p["email"], "2026-03-01 09:00:00"]
            )  # fmt: skip
    return out


def test_a_ninth_source_from_its_files_only_joins_existing_customers(tmp_path, monkeypatch):
    project = tmp_path / "project"
    copy_project(project)
    _add_registry(project)

    landing = tmp_path / "landing"
    generated = cdp("generate", "-n", "200", "--seed", "5", "--out", str(landing))
    assert generated.returncode == 0, generated.stderr[-2000:]
    people = _crm_people(landing, 25)
    assert len(people) >= 15
    ids = _write_registry_landing(landing, people)

    db = tmp_path / "cdp.duckdb"
    env = {
        **os.environ,
        "PYTHONPATH": str(project),  # the copy's orchestration package, hence its project
        "CDP_DUCKDB_PATH": str(db),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    proc = subprocess.run(
        [CDP, "run", "--target", "duckdb", "--landing", str(landing)],
        capture_output=True, text=True, env=env, cwd=project, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    generated_macro = (project / "macros/identity/_generated_identity_inputs.sql").read_text()
    assert "'stg_registry__persons'" in generated_macro

    monkeypatch.setenv("CDP_DUCKDB_PATH", str(db))
    target = resolve_warehouse("duckdb")
    assert target.fetch_all("select count(*) from raw.registry_persons") == [(len(ids),)]
    assert target.fetch_all(
        "select count(*) from raw.quarantine where table_name = 'registry_persons'"
    ) == [(0,)]
    births = target.fetch_all(
        "select count(*) from staging.stg_registry__persons where birth_date is null"
    )
    assert births == [(0,)]
    national = target.fetch_all(
        "select count(*) from marts.bdg_customer_identifiers where identifier_type = 'national_id'",
    )
    # a person with two CRM contacts got two registrations: the per-customer limit of the
    # new type (1) keeps one of the two national ids, and the guard audit says so
    guarded = target.fetch_all(
        "select guard_rule, count(*) from marts.identity_guard_audit "
        "where identifier_type = 'national_id' group by 1",
    )
    assert set(dict(guarded)) <= {"max_per_customer"}
    assert national[0][0] + sum(dict(guarded).values()) == len(ids) and national[0][0] > 0
    records = target.fetch_all(
        "select source, source_record_id, customer_id from marts.bdg_customer_source_records "
        "where source in ('registry_persons', 'crm_contacts')",
    )
    customer = {(s, r): c for s, r, c in records}
    joined = [
        n
        for n, contact in ids.items()
        if customer.get(("registry_persons", n))
        and customer.get(("registry_persons", n)) == customer.get(("crm_contacts", contact))
    ]
    assert len(joined) >= 0.9 * len(ids), (len(joined), len(ids))
    failed = target.fetch_all(
        "select suite, check_name from quality.validation_results where not success "
        "and severity = 'critical' and run_id = (select run_id from quality.validation_results "
        "order by validated_at desc limit 1)",
    )
    assert failed == []
