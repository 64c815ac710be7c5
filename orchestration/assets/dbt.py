"""dbt models as Dagster assets; dbt tests as asset checks."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetMaterialization, Output
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.dbt_project import dbt_project


class CdpDbtTranslator(DagsterDbtTranslator):
    """Asset keys are [layer, model] (never the database name); sources use their meta key."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        if dbt_resource_props["resource_type"] == "seed":
            return AssetKey(["seeds", dbt_resource_props["name"]])
        fqn = dbt_resource_props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else dbt_resource_props["resource_type"]
        return AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else None


translator = CdpDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


# The traits and segments read the predictions asset (a Python asset fed by the facts), so
# the dbt project runs as two assets: everything up to the facts, then what reads the
# predictions. Two plain `dbt build`s, one after the predictions.
AFTER_PREDICTIONS = "source:predictions+"


def _build(context: AssetExecutionContext, dbt: DbtCliResource):
    """Run `dbt build` on the selected models; tests report as asset checks."""
    total_models = len(context.selected_asset_keys)
    built = 0
    for event in dbt.cli(["build"], context=context).stream():
        if isinstance(event, Output | AssetMaterialization):
            built += 1
            key = (
                context.asset_key_for_output(event.output_name)
                if isinstance(event, Output)
                else event.asset_key
            )
            context.log.info(f"built {'/'.join(key.path)} ({built} of {total_models})")
        yield event


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    exclude=AFTER_PREDICTIONS,
)
def cdp_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """Seeds, staging, identity resolution, customers and facts."""
    yield from _build(context, dbt)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    select=AFTER_PREDICTIONS,
    name="cdp_dbt_traits_and_segments",
)
def cdp_dbt_traits_and_segments(context: AssetExecutionContext, dbt: DbtCliResource):
    """Customer traits and segments, which read the predictions."""
    yield from _build(context, dbt)
