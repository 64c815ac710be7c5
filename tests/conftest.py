"""Shared fixtures: isolated DuckDB files, throw-away Postgres databases, generated data."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REQUIRE_POSTGRES = os.environ.get("CDP_REQUIRE_POSTGRES") == "1"
# GX Data Docs cost about 0.5 s a suite; test_quality builds them into a temp folder.
os.environ.setdefault("CDP_QUALITY_DOCS", "0")
# Test files are written whole before they are loaded: no settle period (the tests of the
# settle rule set their own).
os.environ.setdefault("CDP_LANDING_SETTLE_SECONDS", "0")


# The two longest files run first, one on each worker, so neither is left running alone at
# the end (xdist hands out whole files in collection order with --no-loadscope-reorder,
# which the Makefile passes; by default it would start with the files holding most tests).
LONGEST_FIRST = (
    "test_pipeline.py",
    "test_new_source.py",
    "test_identity.py",
    "test_run_errors.py",
    "test_incremental_identity.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as is


def _pg_admin():
    import psycopg2

    from orchestration.warehouse import resolve_warehouse

    params = resolve_warehouse("postgres").params(os.environ.get("CDP_PG_ADMIN_DB", "postgres"))
    con = psycopg2.connect(connect_timeout=3, **params)
    con.autocommit = True
    return con


@pytest.fixture
def duckdb_target(tmp_path, monkeypatch):
    """A DuckDB target on a fresh file under the test's tmp folder."""
    from orchestration.warehouse import resolve_warehouse

    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("CDP_TARGET", "duckdb")
    return resolve_warehouse("duckdb")


@pytest.fixture
def pg_database(monkeypatch):
    """A fresh PostgreSQL database (PGDATABASE points at it), dropped afterwards.

    Skips with the reason when no server is reachable, unless CDP_REQUIRE_POSTGRES=1,
    where an unreachable server fails the test instead.
    """
    try:
        admin = _pg_admin()
    except Exception as exc:  # psycopg2.OperationalError and friends
        reason = f"PostgreSQL not reachable: {str(exc).strip().splitlines()[0]}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason} (CDP_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    name = f"cdp_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    monkeypatch.setenv("PGDATABASE", name)
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@pytest.fixture
def pg_target(pg_database, monkeypatch):
    from orchestration.warehouse import resolve_warehouse

    monkeypatch.setenv("CDP_TARGET", "postgres")
    return resolve_warehouse("postgres")


@pytest.fixture(params=["duckdb", "postgres"])
def any_target(request):
    """Each test using it runs once per warehouse."""
    name = "duckdb_target" if request.param == "duckdb" else "pg_target"
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """A small generated landing folder, shared by the tests that only read it."""
    from orchestration.generator import generate

    out = tmp_path_factory.mktemp("landing")
    generate(400, 7, out)
    return out


@pytest.fixture
def serve():
    """Starts fake vendor servers (tests/vendor_fakes.py) and stops them after the test."""
    from vendor_fakes import FakeServer

    servers: list[FakeServer] = []

    def start(vendor) -> FakeServer:
        servers.append(FakeServer(vendor))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def vendor_credentials(monkeypatch):
    """The fake vendors' credentials in the environment variables their settings name."""
    from vendor_fakes import CREDENTIALS

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
