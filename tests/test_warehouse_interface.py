"""One warehouse interface: no module outside orchestration/warehouse/ branches on the
engine, opens a driver connection to the warehouse or reads the target from the
environment. Checked on the source itself (its syntax tree), so a new branch fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestration.settings import Settings
from orchestration.warehouse import PROJECT_DIR, TARGETS, WarehouseError, resolve_warehouse

PACKAGE = PROJECT_DIR / "orchestration"
INTERFACE = PACKAGE / "warehouse"
# DuckDB as a tool, not as the warehouse: the landing-file parser and the sample generator
# run in an in-memory DuckDB on every target; destinations are the vendors' own systems.
DRIVER_USERS = {
    PACKAGE / "loading" / "parse.py": {"duckdb"},
    PACKAGE / "generator" / "engine.py": {"duckdb"},
    PACKAGE / "activation" / "destinations" / "files.py": {"duckdb"},
    PACKAGE / "activation" / "destinations" / "postgres_table.py": {"psycopg2"},
}
DRIVERS = {"duckdb", "psycopg2", "sqlalchemy"}
TARGET_VARIABLES = {"CDP_TARGET", "CDP_DUCKDB_PATH", "CDP_DUCKDB_MEMORY_LIMIT"} | {
    f"PG{name}" for name in ("HOST", "PORT", "USER", "PASSWORD", "DATABASE")
}


def modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if INTERFACE not in p.parents]


def findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    allowed = DRIVER_USERS.get(path, set())
    found = []
    for node in ast.walk(tree):
        where = f"{path.name if PROJECT_DIR not in path.parents else path.relative_to(PROJECT_DIR)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                root = (name or "").split(".")[0]
                if root in DRIVERS and root not in allowed:
                    found.append(f"{where} imports {name}")
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Constant) and side.value in TARGETS:
                    found.append(f"{where} compares with the engine name {side.value!r}")
        if isinstance(node, ast.Constant) and node.value in TARGET_VARIABLES:
            found.append(f"{where} names the variable {node.value}")
    return found


def test_no_module_outside_the_interface_branches_on_the_engine():
    found = [f for path in modules() for f in findings(path)]
    assert not found, "\n".join(found)


def test_the_check_finds_a_branch(tmp_path):
    """The check above can fail: a module that branches the old way is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\nimport psycopg2\nif os.environ.get('CDP_TARGET') == 'duckdb':\n    pass\n",
        encoding="utf-8",
    )
    assert len(findings(bad)) == 3


def test_settings_resolve_once_from_arguments_then_environment(tmp_path):
    environ = {"CDP_TARGET": "postgres", "PGDATABASE": "elsewhere", "PGPORT": "6543"}
    settings = Settings.resolve(None, tmp_path, environ)
    assert settings.warehouse.name == "postgres"
    assert settings.warehouse.label == "postgres (postgres@127.0.0.1:6543/elsewhere)"
    assert settings.landing_dir == tmp_path.resolve()
    chosen = Settings.resolve("duckdb", None, {**environ, "CDP_DUCKDB_PATH": "w.duckdb"})
    assert chosen.warehouse.path == Path("w.duckdb").resolve()
    assert chosen.child_env()["CDP_TARGET"] == "duckdb"
    demo = Settings.resolve("duckdb", None, {}, duckdb_default=tmp_path / "demo.duckdb")
    assert demo.warehouse.path == tmp_path / "demo.duckdb"


def test_an_unknown_target_names_the_choices():
    from orchestration.warehouse import WarehouseError

    with pytest.raises(WarehouseError, match="choose one of duckdb, postgres"):
        resolve_warehouse("oracle", {})


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_every_portable_type_has_an_engine_type(engine):
    from orchestration.warehouse import PORTABLE_TYPES, engine_class

    assert set(engine_class(engine).types) == set(PORTABLE_TYPES)


def test_sessions_behave_alike(any_target, tmp_path):
    """The interface's promises, on each engine: a transaction is all or nothing, a savepoint
    keeps what came before it, COPY and bulk inserts append, streams come in chunks, a
    missing table is known as such, and exports read back in DuckDB."""
    columns = [("id", "integer"), ("text", "varchar")]
    with any_target.session() as s:
        s.run("create schema if not exists t")
        s.run(f"create table t.rows ({any_target.column_ddl(columns)})")
        with pytest.raises(ZeroDivisionError), s.transaction():
            s.run("insert into t.rows values (?, ?)", [1, "one"])
            raise ZeroDivisionError
        assert s.run("select count(*) from t.rows") == [(0,)]
        with s.transaction():
            s.copy_in('"t"."rows"', ["id", "text"], '1,one\r\n2,"a, b"\r\n3,\r\n')
            s.insert_rows('"t"."rows"', ["id", "text"], [(4, "four"), (5, None)])
        assert s.run("select count(*), count(text) from t.rows") == [(5, 3)]
        chunks = list(s.stream("select id from t.rows order by id", 2))
        assert [len(c) for c in chunks] == [2, 2, 1]
        try:
            s.run("select * from t.no_such_table")
        except Exception as exc:  # noqa: BLE001 - the engine's own kind
            assert any_target.missing_relation(exc)
        else:
            raise AssertionError("no error for a missing table")
        with s.lock("cdp-test") as got:
            assert got
        path, reader = s.export("select id, text from t.rows", tmp_path / "rows")
    import duckdb

    with duckdb.connect() as con:
        assert con.execute(f"select count(*) from {reader}", [str(path)]).fetchone() == (5,)
    assert any_target.replace_table("t", "kept", columns, [(1, "x")], primary_key="id") == 1
    assert any_target.replace_table("t", "kept", columns, [(2, "y")], primary_key="id") == 1
    assert any_target.fetch_all("select id, text from t.kept") == [(2, "y")]
    kept = any_target.columns("t", "kept")
    assert list(kept) == ["id", "text"]  # in the table's order, with the engine's types
    assert (kept["id"].lower(), kept["text"].lower()) in {
        ("integer", "varchar"),
        ("integer", "text"),
    }


def test_copies_fingerprints_and_drops_alike(any_target):
    """A copy holds the same rows; a fingerprint ignores row order and sees one changed
    value; the hash is the dbt macro's on both engines; a dropped warehouse is gone."""
    columns = [("id", "integer"), ("text", "varchar")]
    any_target.replace_table("t", "rows", columns, [(1, "a"), (2, "b"), (3, None)])
    copy = any_target.copy_as("_copy")
    try:
        ours = any_target.fingerprint("t.rows", ["id", "text"])
        assert ours[0] == 3
        assert copy.fingerprint("t.rows", ["id", "text"]) == ours
        copy.replace_table("t", "rows", columns, [(3, None), (2, "b"), (1, "a")])
        assert copy.fingerprint("t.rows", ["id", "text"]) == ours
        copy.replace_table("t", "rows", columns, [(3, None), (2, "b"), (1, "A")])
        assert copy.fingerprint("t.rows", ["id", "text"]) != ours
        # cdp.hash_bigint('a') in dbt (tests/test_incremental_identity checks node ids)
        sql = f"select {any_target.hash_bigint.format(chr(39) + 'a' + chr(39))}"
        assert any_target.fetch_all(sql) == [(57446577476672362,)]
    finally:
        copy.drop()
    with pytest.raises(WarehouseError):
        copy.fetch_all("select 1 from t.rows")


def test_the_dbt_profile_has_one_output_per_engine_and_the_same_defaults():
    """profiles.yml is dbt's side of the same facts: an output per registered engine (and
    sqlfluff's `lint`), of the engine's adapter type, the same default target and the same
    libpq defaults."""
    import re

    import yaml

    from orchestration.warehouse import DEFAULT_TARGET, ENGINES
    from orchestration.warehouse.duckdb import UNSET_MEMORY_LIMIT
    from orchestration.warehouse.postgres import LIBPQ_DEFAULTS

    text = (PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    (profile,) = yaml.safe_load(re.sub(r"\{\{.*?\}\}", "x", text)).values()
    outputs = {n: o["type"] for n, o in profile["outputs"].items() if n != "lint"}
    assert outputs == {name: name for name in ENGINES}
    defaults = dict(re.findall(r"env_var\('(\w+)', '([^']*)'\)", text))
    assert defaults.pop("CDP_TARGET") == DEFAULT_TARGET
    assert defaults.pop("CDP_DUCKDB_MEMORY_LIMIT") == UNSET_MEMORY_LIMIT
    assert defaults == LIBPQ_DEFAULTS


def test_messages_name_the_command_that_builds_this_warehouse(tmp_path):
    from orchestration.warehouse import WarehouseError

    assert resolve_warehouse("duckdb", {}).build_command == "`cdp run`"
    assert resolve_warehouse("postgres", {}).build_command == "`cdp run --target postgres`"
    quoted = resolve_warehouse("duckdb", {"CDP_DUCKDB_PATH": str(tmp_path / "it's.duckdb")})
    with pytest.raises(WarehouseError, match="set CDP_DUCKDB_PATH to a file named without"):
        quoted.check_reachable()  # what `cdp run` asks first


def test_the_duckdb_serving_copy_keeps_types_versions_and_functions(tmp_path):
    from datetime import date, datetime
    from decimal import Decimal

    from orchestration.warehouse import ServedTable

    duck = resolve_warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    with duck.session() as session:
        session.run("create schema marts")
        session.run(
            "create table marts.people as select * from (values "
            "('c1', timestamp '2026-01-02 03:04:05.123456', date '2000-02-29', "
            "cast(12.50 as decimal(18, 2)), true, 3, 0.25, 'x'), "
            "('c2', null, null, null, false, null, null, null)) "
            "as v(customer_id, seen_at, born, spent, active, n, rate, note)"
        )
        session.run("create macro marts.shout(v) as upper(v) || '!'")
    tables = [ServedTable("marts.people", "select * from marts.people")]
    duck.publish_serving(tables, ["marts.shout"])
    serving = duck.serving()
    with serving.reader() as run:
        [row] = run("select * from marts.people where customer_id = ?", ["c1"])
        assert row == ("c1", datetime(2026, 1, 2, 3, 4, 5, 123456), date(2000, 2, 29),
                       Decimal("12.50"), True, 3, 0.25, "x")  # fmt: skip
        assert run("select active, n from marts.people where customer_id = 'c2'") == [(False, None)]
        plan = run("explain query plan select * from marts.people where customer_id = 'c1'")
        assert "people_key0" in str(plan)  # looked up by its key, not scanned
        assert serving.function_run(run)("select marts.shout(?)", ["hi"]) == [("HI!",)]

        # a new version: this reader's next call sees it; versions before the previous go
        with duck.session() as session:
            session.run("update marts.people set note = 'y' where customer_id = 'c1'")
        for _ in range(3):
            duck.publish_serving(tables, ["marts.shout"])
    with serving.reader() as run:
        assert run("select note from marts.people where customer_id = 'c1'") == [("y",)]
    versions = [p for p in tmp_path.iterdir() if p.name.startswith("w.serving.")]
    assert len(versions) == 2 and (tmp_path / "w.serving").is_symlink()
    duck.drop()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
