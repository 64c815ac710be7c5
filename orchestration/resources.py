"""Dagster resources: which warehouse and which landing folder a run uses, and dbt."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

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


class CdpDbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI resource, without what cdp does not use. Before each `dbt build`,
    dagster-dbt runs `dbt --version` and opens an in-process dbt adapter (importing dbt and
    parsing its macros, about 5 s) that serves only column metadata and row counts fetched
    after the build, which cdp does not ask for. The version is that of the dbt-core
    installed next to this code, which is the dbt the runs start (`cdp-dbt`)."""

    @cached_property
    def _cli_version(self):
        from importlib.metadata import version

        from packaging.version import parse

        return parse(version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None
