"""The serving state of the profile API, published after each build of traits and segments."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from orchestration.dbt_project import MANIFEST
from orchestration.manifest import read
from orchestration.resources import CdpSettings

SERVING_KEY = AssetKey(["serving", "profiles"])


def _upstream() -> list[AssetKey]:
    models = read(MANIFEST).segments()
    return [AssetKey(["marts", "customer_traits"]), *(AssetKey([m.schema, m.name]) for m in models)]


def serving_asset():
    @asset(
        key=SERVING_KEY,
        deps=_upstream(),
        group_name="serving",
        description=(
            "What `cdp serve` answers from: the golden records, identifiers, traits, current "
            "segments, consent and recent events of the last build. On DuckDB a copy beside "
            "the warehouse, swapped in whole; on PostgreSQL the tables themselves."
        ),
    )
    def serving_profiles(context: AssetExecutionContext, cdp: CdpSettings) -> MaterializeResult:
        from orchestration.live.profiles import publish

        where = publish(cdp.warehouse())
        context.log.info(f"profiles: {where}")
        return MaterializeResult(metadata={"served": where})

    return serving_profiles
