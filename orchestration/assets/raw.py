"""Loader assets: one Dagster multi-asset per source, one asset key per raw table.

Landing folders are external assets upstream of them, so the lineage starts at the
files: landing/<source> -> raw/<source>/<table> -> staging/stg_<source>__<table>.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetObservation,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from orchestration.resources import CdpSettings
from orchestration.sources import Source, load_sources
from orchestration.warehouse import TARGETS

LANDING_GROUP = "landing"
RAW_GROUP = "raw"


def landing_spec(source: Source) -> AssetSpec:
    patterns = ", ".join(t.pattern for t in source.tables)
    return AssetSpec(
        key=["landing", source.name],
        description=f"Landing files of {source.name}: {patterns}. {source.description}",
        group_name=LANDING_GROUP,
        kinds={"file"},
        metadata={"patterns": patterns},
    )


def _table_specs(source: Source) -> list[AssetSpec]:
    return [
        AssetSpec(
            key=t.asset_key,
            deps=[["landing", source.name]],
            description=f"raw.{t.raw_name}: {t.format} files {t.pattern}, append-only.",
            group_name=RAW_GROUP,
            kinds={"python", *TARGETS},
            metadata={"raw_table": f"raw.{t.raw_name}", "record_id": ", ".join(t.record_id)},
        )
        for t in source.tables
    ]


def build_loader_asset(source: Source):
    @multi_asset(
        name=f"load_{source.name}",
        specs=_table_specs(source),
        check_specs=[
            AssetCheckSpec(
                "batch_contract",
                asset=t.asset_key,
                blocking=t.delivery.on_refused == "block",
                description=(
                    "Every new landing file was loaded: a regular file inside the landing "
                    "folder, readable, with the declared header, holding rows, no sudden "
                    "volume drop against recent loads, not changed since it was loaded. A "
                    "refused file loads nothing and is tried again at the next run; "
                    + (
                        "until then nothing that depends on the table runs "
                        "(`cdp landing accept|skip <file>` decides)."
                        if t.delivery.on_refused == "block"
                        else "the run goes on without it (delivery.on_refused: warn)."
                    )
                ),
            )
            for t in source.tables
        ],
        pool="warehouse_writer",
        description=f"Load {source.name} landing files into raw, quarantining bad rows.",
    )
    def _load(context: AssetExecutionContext, cdp: CdpSettings):
        from orchestration.loading.loader import LoadError, load_source
        from orchestration.warehouse import WarehouseError

        target = cdp.warehouse()
        try:
            results = load_source(
                target,
                source.name,
                cdp.landing_path(),
                progress=lambda msg, _bytes: context.log.info(msg),
            )
        except (LoadError, WarehouseError) as exc:
            raise Failure(description=str(exc)) from None
        errors = []
        for res in results:
            errors.extend(res.errors)
            # A table with a blocking refusal is not reported materialised: what reads it
            # does not start (a yielded output would let it), and the step fails below.
            emit = AssetObservation if res.blocking else MaterializeResult
            yield emit(
                asset_key=res.table.asset_key,
                metadata={
                    "target": target.name,
                    "rows_loaded": res.rows_loaded,
                    "rows_quarantined": res.rows_quarantined,
                    "rows_suppressed": res.rows_suppressed,
                    "files_loaded": res.files_loaded,
                    "files_skipped": res.files_skipped,
                    "files": MetadataValue.md(
                        "\n".join(
                            f"- `{f.file}`: "
                            + (
                                f.note or "already loaded"
                                if f.skipped
                                else f"{f.rows_loaded:,} rows, {f.rows_quarantined:,} quarantined, "
                                f"{f.seconds:.1f} s" + (f" ({f.note})" if f.note else "")
                            )
                            for f in res.files
                        )
                        or "no files"
                    ),
                    "files_waiting": MetadataValue.md(
                        "\n".join(f"- `{w}`: still being written" for w in res.waiting) or "none"
                    ),
                    "errors": MetadataValue.md("\n".join(f"- {e}" for e in res.errors) or "none"),
                },
            )
            yield AssetCheckResult(
                asset_key=res.table.asset_key,
                check_name="batch_contract",
                passed=not res.errors,
                severity=AssetCheckSeverity.ERROR if res.blocking else AssetCheckSeverity.WARN,
                metadata={"files_refused": len(res.errors), "reasons": " | ".join(res.errors)},
            )
        for error in errors:
            context.log.error(f"file refused: {error}")
        for res in results:
            for waiting in res.waiting:
                context.log.warning(f"{waiting}: still being written; loaded at the next run")
        blocked = [(rel, e) for res in results if res.blocking
                   for rel, e in zip(res.refused, res.errors, strict=True)]  # fmt: skip
        if blocked:  # the blocking checks above stop what is downstream; this says why
            from orchestration.loading.loader import landing_command

            more = f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else ""
            where = {"target": target.name, "landing_dir": str(cdp.landing_path().resolve())}
            raise Failure(
                description=f"file refused: {blocked[0][1]}{more}; nothing that depends on it "
                "runs until it loads, is replaced, or is left out with "
                f"`{landing_command('skip', blocked[0][0], where)}`"
            )

    return _load


def loader_assets():
    sources = load_sources().values()
    return [landing_spec(s) for s in sources], [build_loader_asset(s) for s in sources]
