"""The source contract (each raw table's dbt source, models/staging/<source>/_<source>__sources.yml)
and what follows from it do not drift apart: the dbt sources, the staging models and their
record ids, the identity declarations, the raw suites and the generated macro lists."""

from __future__ import annotations

import csv
import json

import pytest

from orchestration.dbt_inputs import COMMAND, render, stale
from orchestration.dbt_project import ensure_manifest
from orchestration.quality.suites import discover
from orchestration.sources import LINEAGE, PORTABLE_TYPES, all_tables, cdp_meta, settle_seconds
from orchestration.warehouse import PROJECT_DIR

TABLES = all_tables()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text(encoding="utf-8"))


def _staging(manifest: dict) -> dict[str, dict]:
    return {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["fqn"][1:2] == ["staging"]
    }


def _contract_source(manifest: dict, node: dict) -> dict:
    found = [
        manifest["sources"][uid]
        for uid in node["depends_on"]["nodes"]
        if uid.startswith("source.") and cdp_meta(manifest["sources"][uid])
    ]
    assert len(found) == 1, f"{node['name']} reads {len(found)} contract sources, not one"
    return found[0]


def test_the_generated_macro_lists_are_up_to_date():
    assert set(render()) and not stale(), f"stale: {stale()}; run `{COMMAND}`"


def test_every_contract_table_is_a_dbt_source_of_its_raw_table(manifest):
    assert len(TABLES) == 9  # eight sources, shop has two tables
    sources = {(s["source_name"], s["name"]): s for s in manifest["sources"].values()}
    for table in TABLES:
        source = sources[(table.source, table.name)]
        assert source["schema"] == "raw" and source["identifier"] == table.raw_name, table
        assert source["meta"]["dagster"]["asset_key"] == table.asset_key, table
        assert source["loaded_at_field"] == "_loaded_at", table
        assert all(c.type in PORTABLE_TYPES for c in table.columns)
        assert set(table.record_id) <= {c.name for c in table.columns}
        documented = set(source["columns"])
        assert not documented & set(LINEAGE), f"{table.path}: lineage columns are not declared"
        assert documented == {c for c, _ in table.raw_columns()} - set(LINEAGE), table


def test_every_contract_table_has_one_staging_model_whose_record_id_it_keeps(manifest):
    staging = _staging(manifest)
    read = {}
    for name, node in staging.items():
        source = _contract_source(manifest, node)
        read.setdefault((source["source_name"], source["name"]), []).append(name)
        identity = node["config"]["meta"].get("identity") or {}
        record_id = identity.get("record_id") or cdp_meta(source)["record_id"]
        if identity.get("record_id") == cdp_meta(source)["record_id"]:
            pytest.fail(f"{name}: meta.identity.record_id repeats the contract's; leave it out")
        missing = set(record_id) - set(node["columns"])
        assert not missing, f"{name}: record id columns {missing} not among its columns"
    assert {k: len(v) for k, v in read.items()} == {(t.source, t.name): 1 for t in TABLES}


def test_identity_declarations_use_declared_types_and_columns(manifest):
    with (PROJECT_DIR / "seeds/identity/identity_identifier_types.csv").open() as fh:
        types = {row["identifier_type"] for row in csv.DictReader(fh)}
    declared = [
        n for n in manifest["nodes"].values() if n["config"].get("meta", {}).get("identity")
    ]
    assert len(declared) >= 9
    for node in declared:
        decl = node["config"]["meta"]["identity"]
        columns = set(node["columns"])
        for ident in decl.get("identifiers", []):
            for t in ident.get("types", {}).values() if "types" in ident else [ident["type"]]:
                assert t in types, f"{node['name']}: identifier type {t} is not in the seed"
            assert ident["column"] in columns, (node["name"], ident["column"])
        for column in decl.get("attributes", {}).values():
            assert column in columns, (node["name"], column)


def test_raw_suites_check_contract_columns_only():
    suites = {s.table: s for s in discover() if s.table.startswith("raw.")}
    assert set(suites) == {f"raw.{t.raw_name}" for t in TABLES}
    for table in TABLES:
        suite = suites[f"raw.{table.raw_name}"]
        columns = {c for c, _ in table.raw_columns()}
        checks = [e["check"] for e in suite.expectations]
        assert checks[0] == "columns" and len(checks) == len(set(checks)), suite.path
        assert {f"{c}_present" for c in table.required} <= set(checks)
        for item in suite.expectations:
            kwargs = item["kwargs"]
            named = [kwargs["column"]] if "column" in kwargs else kwargs.get("column_list", [])
            assert set(named) <= columns, (suite.path, item["check"])
    for path in (PROJECT_DIR / "expectations" / "raw").glob("*.json"):
        spec = json.loads(path.read_text())
        assert "table" not in spec and "asset" not in spec, path
        assert not [e for e in spec["expectations"] if e["check"] == "columns"], path


def test_no_expectation_file_lists_identifier_types_or_sources():
    suites = {s.table: s for s in discover()}
    with (PROJECT_DIR / "seeds/identity/identity_identifier_types.csv").open() as fh:
        types = sorted(row["identifier_type"] for row in csv.DictReader(fh))
    (allowed_types,) = [
        e["kwargs"]["value_set"]
        for e in suites["marts.bdg_customer_identifiers"].expectations
        if e["check"] == "identifier_type_allowed"
    ]
    (allowed_sources,) = [
        e["kwargs"]["value_set"]
        for e in suites["marts.bdg_customer_source_records"].expectations
        if e["check"] == "source_allowed"
    ]
    assert allowed_types == types
    assert allowed_sources == sorted(t.raw_name for t in TABLES)
    for path in (PROJECT_DIR / "expectations").rglob("*.json"):
        for item in json.loads(path.read_text()).get("expectations", []):
            if item["kwargs"].get("column") in ("identifier_type", "source"):
                assert "value_set" not in item["kwargs"], (path, item["check"])


def test_loading_settings_are_dbt_project_vars(monkeypatch):
    monkeypatch.delenv("CDP_LANDING_SETTLE_SECONDS", raising=False)
    assert settle_seconds() == 5
    assert not (PROJECT_DIR / "orchestration" / "sources.yml").exists()
