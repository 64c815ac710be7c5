"""Marts are BI-ready: enforced contracts, typed and described columns, a documented grain,
personal data tagged `pii`, and `dbt docs generate` works.

Reads dbt's parsed manifest (`dbt parse`, no warehouse). dbt itself checks at build time
that each model's SQL returns exactly the contracted columns and types; these tests check
that every mart has such a contract and the documentation that goes with it.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from support import run_dbt

from orchestration.dbt_project import ensure_manifest
from orchestration.warehouse import resolve_warehouse

MARTS_DIR = "models/marts/"

# Words in a column name that say it holds personal data: contact details, names,
# addresses, birth dates, network and device ids, identifier values, free text a person
# wrote. Matched as whole words of the snake_case name.
PERSONAL_WORDS = (
    "email",
    "e_mail",
    "phone",
    "mobile",
    "name",
    "street",
    "address",
    "city",
    "postal",
    "postal_code",
    "postcode",
    "zip",
    "zip_code",
    "birth",
    "birth_date",
    "birthday",
    "dob",
    "ip",
    "ip_address",
    "anonymous_id",
    "device_id",
    "user_id",
    "loyalty_card_id",
    "identifier_value",
    "raw_value",
    "subject",
    "note",
    "notes",
    "comment",
    "message",
)
PERSONAL = re.compile(r"(^|_)(" + "|".join(map(re.escape, PERSONAL_WORDS)) + r")(_|$)")
# Counts, rates and timestamps describe personal data without holding it (email_count,
# email_open_rate, email_subscribed_at).
DERIVED = re.compile(r"_(count|rate|at)$")
# Names that match a personal word but hold none, with the reason.
NOT_PERSONAL = {
    "campaign_name": "the name of an email campaign",
    "consent_email": "a consent status (granted, withdrawn), not an address",
}


def looks_personal(column: str) -> bool:
    name = column.lower()
    return bool(PERSONAL.search(name)) and not DERIVED.search(name) and name not in NOT_PERSONAL


@pytest.fixture(scope="module")
def marts() -> dict[str, dict]:
    """The models under models/marts/ in the parsed manifest, by name."""
    with pytest.MonkeyPatch.context() as mp:
        # The profile reads CDP_DUCKDB_PATH; the Python side sets it for dbt the same way.
        if not os.environ.get("CDP_DUCKDB_PATH"):
            mp.setenv("CDP_DUCKDB_PATH", str(resolve_warehouse("duckdb").path))
        manifest = json.loads(ensure_manifest().read_text(encoding="utf-8"))
    found = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith(MARTS_DIR)
    }
    assert {"dim_customers", "fct_orders", "customer_id_history"} <= set(found), sorted(found)
    return found


def _tags(column: dict) -> set[str]:
    return set(column.get("tags") or []) | set((column.get("config") or {}).get("tags") or [])


def test_every_mart_has_an_enforced_contract(marts):
    missing = [name for name, node in marts.items() if not node["config"]["contract"]["enforced"]]
    assert not missing, f"marts without `contract: {{enforced: true}}`: {missing}"

    # dbt's rule for incremental models with a contract (it refuses to parse otherwise).
    assert marts["fct_events"]["config"]["materialized"] == "incremental"
    for name, node in marts.items():
        if node["config"]["materialized"] == "incremental":
            assert node["config"]["on_schema_change"] in ("append_new_columns", "fail"), name


def test_every_mart_column_has_a_type_and_a_description(marts):
    problems = []
    for name, node in sorted(marts.items()):
        if not node["columns"]:
            problems.append(f"{name}: no columns documented")
        for column in node["columns"].values():
            if not (column.get("data_type") or "").strip():
                problems.append(f"{name}.{column['name']}: no data_type")
            if not (column.get("description") or "").strip():
                problems.append(f"{name}.{column['name']}: no description")
    assert not problems, "\n".join(problems)


def test_every_mart_documents_its_grain(marts):
    problems = []
    for name, node in sorted(marts.items()):
        meta = {**(node.get("meta") or {}), **(node["config"].get("meta") or {})}
        grain = str(meta.get("grain") or "").strip()
        description = " ".join((node.get("description") or "").split())
        if not grain.startswith("one row per "):
            problems.append(f"{name}: meta.grain should say 'one row per ...', got {grain!r}")
        elif f"Grain: {' '.join(grain.split())}" not in description:
            problems.append(f"{name}: description should contain 'Grain: {grain}'")
    assert not problems, "\n".join(problems)


def test_personal_data_columns_are_tagged_pii(marts):
    untagged = [
        f"{name}.{column['name']}"
        for name, node in sorted(marts.items())
        for column in node["columns"].values()
        if looks_personal(column["name"]) and "pii" not in _tags(column)
    ]
    assert not untagged, f"columns that look personal without tags: ['pii']: {untagged}"


@pytest.mark.parametrize(
    ("column", "personal"),
    [
        ("email", True),
        ("requester_email", True),
        ("phone", True),
        ("first_name", True),
        ("ship_street", True),
        ("city", True),
        ("ship_postal_code", True),
        ("zip", True),
        ("birth_date", True),
        ("ip_address", True),
        ("anonymous_id", True),
        ("device_id", True),
        ("identifier_value", True),
        ("raw_value_example", True),
        ("subject", True),
        ("email_count", False),
        ("anonymous_id_count", False),
        ("email_open_rate", False),
        ("email_subscribed_at", False),
        ("emails_received", False),
        ("consent_email", False),
        ("campaign_name", False),
        ("customer_id", False),
        ("shipping_amount", False),
        ("description", False),
    ],
)
def test_personal_data_patterns(column, personal):
    assert looks_personal(column) is personal


@pytest.mark.slow
def test_dbt_docs_generate_works(tmp_path):
    """Docs compile every model against an in-memory DuckDB (the `lint` target)."""
    proc = run_dbt("docs", "generate", "--target", "lint", "--target-path", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert (tmp_path / "index.html").exists()
    catalog = json.loads((tmp_path / "catalog.json").read_text(encoding="utf-8"))
    assert not catalog.get("errors"), catalog["errors"]
    docs = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    described = {
        node["name"]
        for node in docs["nodes"].values()
        if node["original_file_path"].startswith(MARTS_DIR) and node["description"]
    }
    assert "dim_customers" in described
