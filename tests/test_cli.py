"""The CLI answers bad input with one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CDP = str(Path(sys.executable).with_name("cdp"))


def _cdp(*args: str, env: dict | None = None, cwd: Path | None = None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [CDP, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120
    )


def _one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cdp: error:")
    return lines[0]


def test_help_lists_the_commands():
    proc = _cdp("--help")
    assert proc.returncode == 0
    for command in ("generate", "run", "demo", "ui"):
        assert command in proc.stdout


def test_unknown_target_is_rejected():
    line = _one_error_line(_cdp("run", "--target", "oracle"))
    assert "oracle" in line


def test_bad_customer_count_is_rejected(tmp_path):
    line = _one_error_line(_cdp("generate", "--customers", "0", "--out", str(tmp_path)))
    assert "customers" in line


def test_missing_landing_folder(tmp_path):
    line = _one_error_line(_cdp("run", "--landing", str(tmp_path / "missing")))
    assert "does not exist" in line


def test_a_stream_on_an_unbuilt_warehouse_says_to_build_it_first(tmp_path):
    (tmp_path / "landing").mkdir()
    db = tmp_path / "new.duckdb"
    env = {"CDP_DUCKDB_PATH": str(db), "DAGSTER_HOME": str(tmp_path / "dagster")}
    line = _one_error_line(_cdp("stream", "--landing", str(tmp_path / "landing"), env=env))
    assert str(db) in line and "run `cdp run` first" in line, line


@pytest.mark.parametrize("port", ["1"])
def test_unreachable_postgres(tmp_path, port):
    (tmp_path / "landing").mkdir()
    proc = _cdp(
        "run",
        "--target",
        "postgres",
        "--landing",
        str(tmp_path / "landing"),
        env={"PGHOST": "127.0.0.1", "PGPORT": port},
    )
    line = _one_error_line(proc)
    assert proc.returncode == 1
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in line


def test_locked_duckdb_file_is_one_line(tmp_path):
    import duckdb

    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        (tmp_path / "landing").mkdir()
        proc = _cdp(
            "run", "--landing", str(tmp_path / "landing"), env={"CDP_DUCKDB_PATH": str(path)}
        )
        line = _one_error_line(proc)
        assert "cannot open DuckDB file" in line
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    del duckdb


def test_a_failure_says_the_machines_cause_first(tmp_path):
    """A dbt step's own message only points at its output: a full disk found there comes
    first; a message that already names its cause is left as it is."""
    from orchestration.run_report import machine_cause_first as _machine_cause_first

    log = tmp_path / "run.log"
    log.write_text("12:00:01 Running 42 models\nIO Error: No space left on device\n")
    message = _machine_cause_first(f"dbt failed (its output: {log})", log)
    assert message == f"no space left on device; dbt failed (its output: {log})"
    said = "cannot write a.csv to duckdb: no space left on device (nothing kept)"
    assert _machine_cause_first(said, log) == said
    log.write_text("12:00:01 Running 42 models\nDatabase Error in model x\n")
    assert _machine_cause_first(f"dbt failed (its output: {log})", log).startswith("dbt failed")


def test_generate_never_writes_over_landing_files(tmp_path):
    assert _cdp("generate", "--customers", "20", "--out", str(tmp_path)).returncode == 0
    line = _one_error_line(_cdp("generate", "--customers", "20", "--out", str(tmp_path)))
    assert "already holds landing files" in line and "new folder" in line
