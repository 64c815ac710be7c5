"""A run that fails says why on the console: each dbt error with its model, file and dbt's
own message (compilation errors, a database error, a failing test, all of them in one run),
and a failed blocking check with its suite file, check and finding."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import cdp, copy_project

pytestmark = pytest.mark.slow


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _cdp_in(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`cdp` of the copied project: its own package first on the path, so its PROJECT_DIR is
    the copy."""
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=900,
    )


def _blocks(report: str) -> dict[str, str]:
    """A dbt report's node blocks: header line -> its message, wrapped lines joined."""
    blocks: dict[str, list[str]] = {}
    header = None
    for line in report.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            header = line.strip()
            blocks[header] = []
        elif header and line.startswith("    "):
            blocks[header].append(line.strip())
    return {h: " ".join(lines) for h, lines in blocks.items()}


def test_a_failed_dbt_build_names_every_model_file_and_message(tmp_path):
    project = copy_project(tmp_path / "project")
    marts = project / "models" / "marts" / "core"
    # a macro that does not exist
    _edit(marts / "fct_support_tickets.sql", "        tickets.channel,",
          "        {{ cdp.no_such_macro() }} as oops,\n        tickets.channel,")  # fmt: skip
    # a ref dbt cannot see at parse time (its fix: a `-- depends_on` line)
    _edit(marts / "fct_email_engagement.sql", "\nwith\n",
          "\n{% if execute %}{% set unused = ref('dim_customers') %}{% endif %}\nwith\n")  # fmt: skip
    # a database error: order ids are not numbers
    scratch = project / "models" / "marts" / "scratch"
    scratch.mkdir()
    (scratch / "order_numbers.sql").write_text(
        "select cast(order_id as integer) as order_number\nfrom {{ ref('stg_shop__orders') }}\n"
    )
    # an error-severity test that fails
    (project / "tests" / "data_tests" / "assert_no_orders_at_all.sql").write_text(
        "select order_id from {{ ref('fct_orders') }}\n"
    )
    landing = tmp_path / "landing"
    assert cdp("generate", "-n", "100", "--out", str(landing)).returncode == 0
    proc = _cdp_in(project, "run", "--landing", str(landing),
                   CDP_DUCKDB_PATH=str(tmp_path / "cdp.duckdb"),
                   DAGSTER_HOME=str(tmp_path / "dagster_home"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    error = proc.stderr[proc.stderr.index("cdp: error: run") :]
    assert "Traceback" not in error
    # 80 columns, but a file path is never cut: a longer one stands alone on its line
    long = [line for line in error.splitlines()[1:] if len(line) > 80]
    assert all(len(line.split()) == 1 and "/" in line for line in long), error
    expected = [
        ("model fct_support_tickets (models/marts/core/fct_support_tickets.sql)",
         "Compilation Error: 'dict object' has no attribute 'no_such_macro'"),
        ("model fct_email_engagement (models/marts/core/fct_email_engagement.sql)",
         "-- depends_on: {{ ref('dim_customers') }}"),
        ("model order_numbers (models/marts/scratch/order_numbers.sql)", "Conversion Error"),
        ("test assert_no_orders_at_all (tests/data_tests/assert_no_orders_at_all.sql)",
         "configured to fail if != 0"),
    ]  # fmt: skip
    blocks = _blocks(error)
    for header, message in expected:
        assert header in blocks, error
        assert message in blocks[header], (message, error)
    assert re.search(r"cdp_dbt_assets:\ndbt build: 4 errors\n", error), error
    assert "dbt failed (its output" not in error


def test_a_model_that_does_not_parse_names_its_file_before_the_run(tmp_path):
    """dbt parses before the run starts: an unknown ref stops `cdp run` at once, and the
    console says which model, in which file, and dbt's own message."""
    project = copy_project(tmp_path / "project")
    bad = project / "models" / "marts" / "core" / "fct_orders.sql"
    _edit(bad, "\nwith\n", "\n-- depends_on: {{ ref('no_such_model') }}\nwith\n")
    landing = tmp_path / "landing"
    landing.mkdir()
    proc = _cdp_in(project, "run", "--landing", str(landing),
                   CDP_DUCKDB_PATH=str(tmp_path / "w.duckdb"))  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "dbt parse: 1 error" in out, out
    assert "models/marts/core/fct_orders.sql" in out, out
    assert "no_such_model" in out and "was not found" in out, out
    assert "Traceback" not in out, out
