"""Dagster resources: which warehouse and which landing folder a run uses."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from orchestration.warehouse import Target, resolve_target


class CdpSettings(ConfigurableResource):
    """Target warehouse (duckdb|postgres) and landing folder for loader assets."""

    target: str = "duckdb"
    landing_dir: str

    def resolved_target(self) -> Target:
        return resolve_target(self.target)

    def landing_path(self) -> Path:
        return Path(self.landing_dir)
