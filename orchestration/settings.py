"""Run-time settings, resolved once per process into one `Settings` and passed down.

`Settings.resolve()` is the one place that reads the user's environment (CDP_TARGET,
CDP_LANDING_DIR, DAGSTER_HOME, and through the engine class its own variables such as
CDP_DUCKDB_PATH or the libpq ones). `Settings.export()` writes what child processes read
(dbt's profile, Dagster's code location, libpq): the environment is their interface, not
the project's modules'.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestration.warehouse import PROJECT_DIR, Warehouse, resolve_warehouse

DEFAULT_LANDING_DIR = PROJECT_DIR / "landing"
DAGSTER_HOME_DEFAULT = PROJECT_DIR / ".dagster"

# Runs on DuckDB write one file, which allows one writing process: the run queue starts one
# such run at a time (the daily run, a landing-file run, the sync schedules) and holds the
# others until it ends. Every job carries the tag (orchestration/definitions.py) with the
# target's name; the limit holds for the engines that allow one writer.
WAREHOUSE_TAG = "cdp/warehouse"
EARLIER_INSTANCE_CONFIGS = ("telemetry:\n  enabled: false\n",)  # rewritten when found


def instance_config() -> str:
    from orchestration.warehouse import ENGINES, engine_class

    limits = "".join(
        f'    - key: "{WAREHOUSE_TAG}"\n      value: "{name}"\n      limit: 1\n'
        for name in ENGINES
        if not engine_class(name).concurrent_writers
    )
    return f"telemetry:\n  enabled: false\nrun_queue:\n  tag_concurrency_limits:\n{limits}"


@dataclass(frozen=True)
class Settings:
    warehouse: Warehouse
    landing_dir: Path
    dagster_home: Path

    @classmethod
    def resolve(
        cls,
        target: str | None = None,
        landing: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        duckdb_default: Path | None = None,
    ) -> Settings:
        """Command-line values first, then the environment, then the defaults (the
        project's, or `duckdb_default` for the DuckDB file of a command with its own)."""
        environ = os.environ if environ is None else environ
        raw_landing = landing or environ.get("CDP_LANDING_DIR")
        landing_dir = Path(raw_landing).expanduser() if raw_landing else DEFAULT_LANDING_DIR
        home = environ.get("DAGSTER_HOME")
        return cls(
            warehouse=resolve_warehouse(target, environ, duckdb_default=duckdb_default),
            landing_dir=landing_dir.resolve(),
            dagster_home=Path(home) if home else DAGSTER_HOME_DEFAULT,
        )

    @property
    def target(self) -> str:
        return self.warehouse.name

    def child_env(self) -> dict[str, str]:
        """The variables dbt, Dagster's code location and libpq read."""
        return {
            **self.warehouse.dbt_env(),
            "CDP_LANDING_DIR": str(self.landing_dir),
            "DAGSTER_HOME": str(self.dagster_home),
            "GX_ANALYTICS_ENABLED": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def export(self) -> Settings:
        """Write child_env() into this process's environment (children inherit it: dbt run
        by dagster-dbt, whose resource takes no environment of its own) and prepare the
        Dagster instance folder."""
        for key, value in self.child_env().items():
            if key in ("GX_ANALYTICS_ENABLED", "DBT_SEND_ANONYMOUS_USAGE_STATS"):
                os.environ.setdefault(key, value)
            else:
                os.environ[key] = value
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        config = self.dagster_home / "dagster.yaml"
        if not config.exists() or config.read_text(encoding="utf-8") in EARLIER_INSTANCE_CONFIGS:
            config.write_text(instance_config(), encoding="utf-8")
        return self
