"""The Dagster code location (`dagster dev -m orchestration.code_location`, run workers):
the definitions for the settings of this process's environment (`cdp ui` sets them)."""

from orchestration.definitions import build_definitions
from orchestration.permissions import restrict
from orchestration.settings import Settings

# What the code location and its dbt children write is owner-only, as under `cdp`.
restrict()
defs = build_definitions(Settings.resolve().export())
