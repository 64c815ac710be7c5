"""Dagster resources: which warehouse and which landing folder a run uses."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, resolve_warehouse


class CdpSettings(ConfigurableResource):
    """The run's warehouse target and landing folder (from `Settings`, resolved once)."""

    target: str
    landing_dir: str
    duckdb_path: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> CdpSettings:
        path = getattr(settings.warehouse, "path", None)
        return cls(
            target=settings.target,
            landing_dir=str(settings.landing_dir),
            duckdb_path=str(path) if path else None,
        )

    def warehouse(self) -> Warehouse:
        return resolve_warehouse(self.target, duckdb_path=self.duckdb_path)

    def landing_path(self) -> Path:
        return Path(self.landing_dir)
