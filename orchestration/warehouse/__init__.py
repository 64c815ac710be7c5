"""One warehouse interface (base.py), one class per engine (duckdb.py, postgres.py).

Adding an engine is one class here, registered in ENGINES, plus its dbt profile output
and the `adapter.dispatch` macros where its SQL differs.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path

from orchestration.warehouse.base import (
    DEFAULT_TARGET,
    GLOB_CHARACTERS,
    PORTABLE_TYPES,
    PROJECT_DIR,
    RAW_SCHEMA,
    ServedTable,
    Session,
    Warehouse,
    WarehouseError,
    csv_rows,
    descriptor_path,
    literal_path,
    placeholders,
    qualified,
    quote_ident,
    sql_literal,
)

# target name -> "module:class"; the classes import their drivers only when used
ENGINES = {
    "duckdb": "orchestration.warehouse.duckdb:DuckDBWarehouse",
    "postgres": "orchestration.warehouse.postgres:PostgresWarehouse",
}
TARGETS = tuple(ENGINES)


def engine_class(name: str) -> type[Warehouse]:
    if name not in ENGINES:
        raise WarehouseError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def resolve_warehouse(
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    duckdb_path: Path | str | None = None,
    duckdb_default: Path | str | None = None,
) -> Warehouse:
    """The warehouse named `name`, else CDP_TARGET, else the default; each engine takes its
    own settings from the environment (CDP_DUCKDB_PATH, the libpq variables). `duckdb_path`
    overrides the DuckDB file; `duckdb_default` is the file when none is named."""
    environ = dict(os.environ if environ is None else environ)
    if duckdb_path is not None:
        environ["CDP_DUCKDB_PATH"] = str(duckdb_path)
    elif duckdb_default is not None and not environ.get("CDP_DUCKDB_PATH"):
        environ["CDP_DUCKDB_PATH"] = str(duckdb_default)
    name = (name or environ.get("CDP_TARGET") or DEFAULT_TARGET).lower()
    return engine_class(name).from_environ(environ)


__all__ = [
    "DEFAULT_TARGET",
    "ENGINES",
    "GLOB_CHARACTERS",
    "PORTABLE_TYPES",
    "PROJECT_DIR",
    "RAW_SCHEMA",
    "TARGETS",
    "ServedTable",
    "Session",
    "Warehouse",
    "WarehouseError",
    "csv_rows",
    "sql_literal",
    "descriptor_path",
    "engine_class",
    "literal_path",
    "placeholders",
    "qualified",
    "quote_ident",
    "resolve_warehouse",
]
