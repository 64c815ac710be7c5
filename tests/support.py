"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from orchestration.dbt_project import ensure_manifest
from orchestration.quality.suites import segment_models

PROJECT = Path(__file__).resolve().parent.parent
CDP = str(Path(sys.executable).with_name("cdp"))
DBT = str(Path(sys.executable).with_name("dbt"))

# The segment models under models/segments/, from the parsed project.
SEGMENTS = tuple(segment_models(ensure_manifest()))


# What a copy of the project leaves out, at its top level only (orchestration/warehouse/ is
# code): the virtualenv, caches, warehouses, run logs and generated data.
LEFT_OUT = {
    ".git", ".venv", "target", "logs", "warehouse", ".dagster", "landing", "demo",
    "quality_docs", "exports", "bench", ".pytest_cache", ".ruff_cache", "cdp.egg-info",
    "dbt_packages",
}  # fmt: skip


def copy_project(dest: Path) -> Path:
    """A copy of the project to change in a test; dbt's partial parse goes along as a head
    start. Run it with its own package first on the path (cwd or PYTHONPATH = the copy)."""
    import shutil

    def left_out(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == PROJECT
        return {n for n in names if (top and n in LEFT_OUT) or n == "__pycache__"}

    shutil.copytree(PROJECT, dest, ignore=left_out)
    parsed = PROJECT / "target" / "partial_parse.msgpack"
    if parsed.exists():
        (dest / "target").mkdir()
        shutil.copy(parsed, dest / "target" / parsed.name)
    return dest


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 60) -> None:
    """Return once the server `proc` answers GET `url`/health with 200; fail the test
    with its error output when it exits first or does not answer within `timeout`."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.args
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{proc.args[:2]} did not answer /health within {timeout:.0f} s")


class Collector:
    """`cdp collect` in its own process, on a free port."""

    def __init__(self, landing: Path, keys: dict[str, str], env: dict[str, str] | None = None):
        self.landing = landing
        self.keys = keys
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Collector:
        env = {
            **os.environ,
            **self.env,
            "CDP_WRITE_KEYS": ",".join(f"{s}={k}" for s, k in self.keys.items()),
        }
        self.proc = subprocess.Popen(
            [CDP, "collect", "--landing", str(self.landing), "--port", str(self.port),
             "--roll-seconds", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_healthy(self.proc, self.url)
        return self

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def lines(self) -> list[dict]:
        """Every published line, each parsed (a torn line fails the test)."""
        files = sorted((self.landing / "web").glob("events-collected-*.jsonl"))
        return [json.loads(line) for f in files for line in f.read_text().splitlines()]

    def wait_for(self, n: int, timeout: float = 20) -> list[dict]:
        """The published lines once there are `n` (or what there is after `timeout`)."""
        deadline = time.monotonic() + timeout
        while len(lines := self.lines()) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return lines


def cdp(*args: str, timeout: float = 400, **env: str) -> subprocess.CompletedProcess:
    """The `cdp` command in a child process, with `env` over this process's environment."""
    return subprocess.run(
        [CDP, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout
    )


def cdp_run(
    landing: Path,
    home: Path,
    target: str = "duckdb",
    *,
    ok: bool = True,
    extra: list[str] | None = None,
    **env: str,
) -> subprocess.CompletedProcess:
    """`cdp run` in a child process with its own Dagster home; fails the test when its exit
    status is not what `ok` says."""
    proc = cdp("run", "--target", target, "--landing", str(landing), *(extra or []),
               DAGSTER_HOME=str(home / "dagster_home"), **env)  # fmt: skip
    assert (proc.returncode == 0) == ok, proc.stderr[-3000:]
    return proc


def run_dbt(*args: str, target: str = "duckdb", **env: str) -> subprocess.CompletedProcess:
    """dbt in a child process from the project folder (CDP_DUCKDB_PATH etc. from os.environ).
    Each call writes to its own target folder (tests run in parallel), seeded with the
    project's partial parse so dbt does not parse from scratch."""
    import shutil
    import tempfile

    target_path = Path(tempfile.mkdtemp(prefix="cdp-dbt-target-"))
    parsed = PROJECT / "target" / "partial_parse.msgpack"
    if parsed.exists():
        shutil.copy(parsed, target_path / parsed.name)
    try:
        return subprocess.run(
            [DBT, *args],
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "CDP_TARGET": target,
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DBT_TARGET_PATH": str(target_path),
                **env,
            },
            cwd=PROJECT,
            timeout=300,
        )
    finally:
        shutil.rmtree(target_path, ignore_errors=True)


def incremental_rows(target, within: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every row of every incremental model (only those whose schema.table starts with one
    of `within`, if given), in a stable order (without the columns a full refresh stamps
    otherwise by design)."""
    from orchestration.dbt_project import full_refresh_stamps, rebuildable_incremental_models

    stamps = full_refresh_stamps()

    def hashable(row: tuple) -> tuple:  # Postgres returns json columns as dicts
        return tuple(
            json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in row
        )

    def columns(table: str) -> str:
        schema, name = table.split(".")
        kept = [c for c in target.columns(schema, name) if c not in stamps.get(table, [])]
        return ", ".join(kept)

    return {
        table: sorted(
            (hashable(r) for r in target.fetch_all(f"select {columns(table)} from {table}")),
            key=repr,
        )
        for table in rebuildable_incremental_models().values()
        if not within or table.startswith(within)
    }


def assert_incremental_equals_full_refresh(
    target, target_name: str, within: tuple[str, ...] = ()
) -> None:
    """Rebuild the incremental models (those whose schema.table starts with one of `within`,
    if given) from scratch and compare them row for row."""
    incremental = incremental_rows(target, within)
    if not within:
        assert {"marts.fct_events", "marts.fct_sessions"} <= set(incremental)
    # every table holds rows, but those of the limit rule when no customer broke a limit
    limit_rule = {t for t in incremental if "rechecked" in t or "limits_checked" in t}
    empty = {t for t, rows in incremental.items() if not rows} - limit_rule
    assert not empty, {t: len(r) for t, r in incremental.items()}
    models = [table.split(".")[1] for table in incremental]
    proc = run_dbt("run", "--full-refresh", "--select", *models, target=target_name)
    assert proc.returncode == 0, proc.stdout[-3000:]
    full = incremental_rows(target, within)
    for table, rows in incremental.items():
        assert len(rows) == len(full[table]), table
        diff = set(rows) ^ set(full[table])
        assert not diff, (table, sorted(diff, key=repr)[:5])


def execute(target, *statements: str) -> None:
    """Run write statements on the target and commit."""
    with target.session() as session, session.transaction():
        for sql in statements:
            session.run(sql)


def assert_incremental_build_repairs(target, target_name: str) -> None:
    """Make the incremental models stale the ways new data and merges do, then check that
    one incremental build brings back exactly the rows they had."""
    expected = incremental_rows(target)
    execute(
        target,
        # a load not staged yet (its rows are re-read from raw)
        "delete from staging.stg_email__events where _loaded_at = "
        "(select max(_loaded_at) from staging.stg_email__events)",
        # a web load not processed yet, and events whose customer has since merged away
        "delete from marts.fct_events where source = 'web_events' and loaded_at = "
        "(select max(loaded_at) from marts.fct_events where source = 'web_events')",
        "update marts.fct_events set customer_id = 'merged-away' where event_id in "
        "(select event_id from marts.fct_events where customer_id is not null "
        "order by event_id limit 300)",
        "update marts.fct_events set customer_id = null where event_id in "
        "(select event_id from marts.fct_events where customer_id is not null "
        "order by event_id desc limit 100)",
        # sessions of devices whose events changed
        "delete from marts.fct_sessions where anonymous_id in "
        "(select anonymous_id from marts.fct_sessions order by anonymous_id limit 50)",
    )
    assert incremental_rows(target) != expected
    proc = run_dbt("run", "--select", "tag:incremental", target=target_name)
    assert proc.returncode == 0, proc.stdout[-3000:]
    repaired = incremental_rows(target)
    for table, rows in expected.items():
        diff = set(rows) ^ set(repaired[table])
        assert len(rows) == len(repaired[table]) and not diff, (table, sorted(diff, key=repr)[:5])


# -- segment tables the sync tests write (the columns the segment models have) --------

SEGMENT_COLUMNS = [
    ("customer_id", "varchar"),
    ("email", "varchar"),
    ("phone", "varchar"),
    ("first_name", "varchar"),
    ("last_name", "varchar"),
    ("consent_email", "varchar"),
    ("consent_ads", "varchar"),
    ("revenue_total", "decimal"),
    ("orders_count", "bigint"),
    ("rfm_segment", "varchar"),
]


def segment_members(n: int, *, start: int = 0) -> list[tuple]:
    """Rows of a segment table: every tenth member has withdrawn email consent."""
    return [
        (
            f"C{i:07d}",
            f"person{i}@example.com",
            f"+1415555{i % 10000:04d}",
            "Ann",
            f"Smith{i}",
            "granted" if i % 10 else "withdrawn",  # every tenth has withdrawn email consent
            "granted",
            Decimal(f"{1000 + i}.50"),
            2 + i % 5,
            "champions",
        )
        for i in range(start, start + n)
    ]


def write_segment(
    target,
    rows: list[tuple],
    table: str = "high_value_customers",
    columns: list[tuple[str, str]] = SEGMENT_COLUMNS,
) -> None:
    """(Re)create segments.<table> with `rows`."""
    target.replace_table("segments", table, columns, rows)
