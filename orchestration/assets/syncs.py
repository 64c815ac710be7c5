"""One Dagster asset per sync declared in dbt YAML (group `syncs`), downstream of its
segment, so lineage runs from the landing files to the destination and the segment's
blocking checks stop it."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    asset,
)

from orchestration.activation.spec import SyncSpec, load_syncs
from orchestration.dbt_project import MANIFEST
from orchestration.resources import CdpSettings


def _sync_asset(spec: SyncSpec) -> AssetsDefinition:
    @asset(
        key=AssetKey(spec.asset_key),
        deps=[AssetKey(["segments", spec.model])],
        group_name="syncs",
        kinds={spec.kind},
        owners=[f"team:{spec.owner}"] if spec.owner else None,
        description=(
            spec.description
            or f"Segment {spec.model} to {spec.kind} ({spec.mode}, on leave: {spec.on_leave}, "
            f"consent: {spec.consent or 'none'})."
        ),
        metadata={
            "destination": spec.kind,
            "mode": spec.mode,
            "on_leave": spec.on_leave,
            "key": spec.key,
            "fields": ", ".join(f"{d} <- {c}" for d, c in spec.fields.items()),
            "consent": spec.consent or "none",
            "schedule": spec.schedule or "none",
        },
    )
    def _sync(context: AssetExecutionContext, cdp: CdpSettings) -> MaterializeResult:
        from orchestration.activation.destinations.base import ConfigError
        from orchestration.activation.engine import run_sync
        from orchestration.activation.gate import SyncBlocked, ensure_open
        from orchestration.activation.spec import SyncSpecError
        from orchestration.activation.state import SyncBusy

        target = cdp.warehouse()
        try:
            ensure_open(target, MANIFEST)
            report = run_sync(spec, target, run_id=context.run_id[:8] + "-" + spec.name)
        except (SyncBlocked, ConfigError, SyncSpecError, SyncBusy) as exc:
            raise Failure(description=f"{spec.name}: {exc}") from None
        context.log.info(
            f"sync {spec.name}: {report.added:,} added, {report.changed:,} changed, "
            f"{report.removed:,} removed, {report.identities_removed:,} old identities removed, "
            f"{report.failed:,} failed in {report.seconds:.1f} s"
        )
        return MaterializeResult(
            metadata={
                "added": report.added,
                "changed": report.changed,
                "removed": report.removed,
                "identities_removed": report.identities_removed,
                "identities_kept": report.identities_kept,
                "failed": report.failed,
                "retries": report.retries,
                "seconds": round(report.seconds, 2),
                "status": report.status,
            }
        )

    return _sync


def sync_assets() -> list[tuple[SyncSpec, AssetsDefinition]]:
    """Each declared sync with its asset."""
    specs = load_syncs(MANIFEST) if MANIFEST.exists() else []
    return [(spec, _sync_asset(spec)) for spec in specs]
