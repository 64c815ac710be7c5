"""dbt models as Dagster assets; dbt tests as asset checks."""

import contextlib
import importlib
import threading
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    Failure,
    MetadataValue,
    Output,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.dbt_project import dbt_project, keep_partial_parse
from orchestration.resources import CdpSettings
from orchestration.run_report import REPORT_KEY, DbtErrors


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


def _needed_later(context: AssetExecutionContext) -> tuple[str, ...]:
    """The heavy modules the run's later steps import (about 2.5 s each), to import while dbt
    runs in its own process: Great Expectations for the checks, pymc-marketing for the
    predictions."""
    import os

    from orchestration.assets.predictions import PREDICTIONS_KEY

    selected = context.run.asset_selection  # empty or None: every asset of the job
    modules = ["great_expectations"]
    if (not selected or PREDICTIONS_KEY in selected) and os.environ.get("CDP_PREDICTIONS") != "0":
        modules.append("pymc_marketing.clv")
    return tuple(modules)


def _import_meanwhile(modules: tuple[str, ...]) -> threading.Thread:
    """Import `modules` in a thread; the step joins it before it ends, so no other step
    imports at the same time. A failed import is left for the step that needs it to raise."""

    def load() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    thread = threading.Thread(target=load, name="cdp-imports", daemon=True)
    thread.start()
    return thread


def _build(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    cdp: CdpSettings,
    later: tuple[str, ...] = (),
):
    """Run `dbt build` on the selected models; tests report as asset checks. When dbt fails,
    the step fails with every error dbt reported: the node, its file and dbt's message.
    A run of the live job (orchestration/live/stream.py) runs the models only, in this
    process, with its environment variable set for dbt."""
    from orchestration.live.stream import LIVE_TAG

    if context.run.tags.get(LIVE_TAG):
        yield from _run_live(context, dbt, cdp.warehouse())
        return
    total_models = len(context.selected_asset_keys)
    invocation = dbt.cli(["build"], context=context, raise_on_error=False)
    importing = _import_meanwhile(later)
    try:
        yield from _stream(context, invocation, total_models)
    finally:
        importing.join()


def _run_live(context: AssetExecutionContext, dbt: DbtCliResource, warehouse):
    """`dbt run` of the selected models in this process (dbt_project.run_in_process): a live
    cycle every few seconds pays no dbt start-up. Each built model is an output; when dbt
    fails, the step fails with every error it reported, as `_stream` says them."""
    import os

    from dagster_dbt.asset_utils import (
        DAGSTER_DBT_UNIQUE_ID_METADATA_KEY,
        get_manifest_and_translator_from_dbt_assets,
    )
    from dbt_common.events.functions import msg_to_dict

    from orchestration.dbt_project import DBT_LOG, run_in_process
    from orchestration.live.stream import LIVE_ENV

    # unique_id -> (dbt selector, asset key) of the models this step is to build, from the
    # manifest dagster-dbt holds for these assets
    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    metadata = context.assets_def.metadata_by_key
    wanted = {}
    for key in context.selected_asset_keys:
        unique_id = metadata[key][DAGSTER_DBT_UNIQUE_ID_METADATA_KEY]
        wanted[unique_id] = (".".join(manifest["nodes"][unique_id]["fqn"]), key)
    errors = DbtErrors()
    name, value = LIVE_ENV
    previous = os.environ.get(name)
    os.environ[name] = value  # read by the models as dbt renders them
    try:
        result = run_in_process(
            ["run", "--select", *(selector for selector, _ in wanted.values())],
            target=dbt.target,
            callbacks=[lambda event: errors.observe(msg_to_dict(event))],
        )
    finally:
        warehouse.release_dbt()
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous
    if isinstance(result.exception, KeyboardInterrupt | SystemExit) or (
        result.exception is not None and "Interrupt" in type(result.exception).__name__
    ):
        raise result.exception
    built = 0
    for node in getattr(result.result, "results", None) or []:
        if node.node.unique_id in wanted and str(node.status) == "success":
            built += 1
            key = wanted[node.node.unique_id][1]
            context.log.info(f"built {'/'.join(key.path)} ({built} of {len(wanted)})")
            yield Output(None, output_name=context.assets_def.get_output_name_for_asset_key(key))
    if result.success:
        return
    if not errors and result.exception is not None:
        errors.general.append([f"{type(result.exception).__name__}: {result.exception}"])
    raise Failure(
        description=errors.report("run", DBT_LOG),
        metadata={REPORT_KEY: True, "dbt_log": MetadataValue.path(str(DBT_LOG))},
    )


def _stream(context: AssetExecutionContext, invocation, total_models: int):
    built = 0
    errors = DbtErrors()
    # The raw events, turned into Dagster events as `invocation.stream()` does, so that the
    # errors among them are kept too.
    for raw in invocation.stream_raw_events():
        errors.observe(raw.raw_event)
        for event in raw.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=context,
            target_path=invocation.target_path,
            project=invocation.project,
        ):
            if isinstance(event, Output | AssetMaterialization):
                built += 1
                key = (
                    context.asset_key_for_output(event.output_name)
                    if isinstance(event, Output)
                    else event.asset_key
                )
                context.log.info(f"built {'/'.join(key.path)} ({built} of {total_models})")
            yield event
    keep_partial_parse(invocation.target_path)
    if invocation.is_successful():
        return
    log = invocation.target_path / "dbt.log"
    if not errors:
        code = invocation.process.returncode
        raise Failure(
            description=f"dbt build: exited with code {code} and reported no error; "
            f"dbt's log: {log}",
            metadata={REPORT_KEY: True, "dbt_log": MetadataValue.path(str(log))},
        )
    raise Failure(
        description=errors.report("build", log),
        metadata={
            REPORT_KEY: True,
            "dbt_errors": MetadataValue.json(
                [e.as_dict() for e in errors.nodes.values()]
                + [{"message": "\n".join(m)} for m in errors.general]
            ),
            "dbt_log": MetadataValue.path(str(log)),
        },
    )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    exclude=AFTER_PREDICTIONS,
)
def cdp_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, cdp: CdpSettings):
    """Seeds, staging, identity resolution, customers and facts."""
    yield from _build(context, dbt, cdp, later=_needed_later(context))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    select=AFTER_PREDICTIONS,
    name="cdp_dbt_traits_and_segments",
)
def cdp_dbt_traits_and_segments(
    context: AssetExecutionContext, dbt: DbtCliResource, cdp: CdpSettings
):
    """Customer traits and segments, which read the predictions."""
    yield from _build(context, dbt, cdp)
