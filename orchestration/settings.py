"""Run-time settings from the environment, with project-local defaults.

Everything the loaders, dbt and Dagster need is resolved here once, so that dbt sees
the same environment at parse and at run time (otherwise it re-parses fully).
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.warehouse import PROJECT_DIR, duckdb_path

DEFAULT_LANDING_DIR = PROJECT_DIR / "landing"
DAGSTER_HOME_DEFAULT = PROJECT_DIR / ".dagster"


# Runs on DuckDB write one file, which allows one writing process: the run queue starts one
# such run at a time (the daily run, a landing-file run, the sync schedules) and holds the
# others until it ends. Every job carries the tag (orchestration/definitions.py).
WAREHOUSE_TAG = "cdp/warehouse"
INSTANCE_CONFIG = f"""telemetry:
  enabled: false
run_queue:
  tag_concurrency_limits:
    - key: "{WAREHOUSE_TAG}"
      value: "duckdb"
      limit: 1
"""
EARLIER_INSTANCE_CONFIGS = ("telemetry:\n  enabled: false\n",)  # rewritten when found


def landing_dir() -> Path:
    raw = os.environ.get("CDP_LANDING_DIR")
    return (Path(raw).expanduser() if raw else DEFAULT_LANDING_DIR).resolve()


def apply_defaults(target: str | None = None, landing: Path | None = None) -> None:
    """Fill the process environment so dbt, Dagster and loaders agree on every path."""
    if target:
        os.environ["CDP_TARGET"] = target
    os.environ.setdefault("CDP_TARGET", "duckdb")
    if landing is not None:
        os.environ["CDP_LANDING_DIR"] = str(Path(landing).expanduser().resolve())
    os.environ["CDP_DUCKDB_PATH"] = str(duckdb_path())
    os.environ.setdefault("CDP_LANDING_DIR", str(landing_dir()))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(DAGSTER_HOME_DEFAULT)
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") in EARLIER_INSTANCE_CONFIGS:
        config.write_text(INSTANCE_CONFIG, encoding="utf-8")
