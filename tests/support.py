"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CDP = str(Path(sys.executable).with_name("cdp"))

# The segment models under models/segments/.
SEGMENTS = (
    "high_value_customers",
    "at_risk_of_churn",
    "lapsed_buyers",
    "abandoned_carts_7d",
    "new_subscribers_no_order",
    "frequent_support_contacts",
)


def cdp_run(landing: Path, home: Path, target: str = "duckdb") -> subprocess.CompletedProcess:
    """`cdp run` in a child process with its own Dagster home; fails the test on error."""
    env = {**os.environ, "DAGSTER_HOME": str(home / "dagster_home")}
    proc = subprocess.run(
        [CDP, "run", "--target", target, "--landing", str(landing)],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
