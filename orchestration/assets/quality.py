"""Great Expectations suites (expectations/) as Dagster asset checks.

One multi-asset check per suite and table; each expectation is a check on the table's asset.
GX severity maps to Dagster's: critical -> ERROR, warning and info -> WARN. In suites marked
`gate` (the models that feed activation), critical checks are blocking: when one fails,
nothing downstream of that asset runs in the same run.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from orchestration.dbt_project import dbt_project
from orchestration.quality.suites import Suite, discover
from orchestration.resources import CdpSettings

SEVERITY = {
    "critical": AssetCheckSeverity.ERROR,
    "warning": AssetCheckSeverity.WARN,
    "info": AssetCheckSeverity.WARN,
}


def _suite_check(suite: Suite):
    asset = AssetKey(list(suite.asset))
    checks = suite.checks()
    specs = [
        AssetCheckSpec(
            name=check["name"],
            asset=asset,
            description=f"{check['severity']}: {check['description']} ({suite.path.name})",
            blocking=suite.gate and check["severity"] == "critical",
        )
        for check in checks
    ]

    @multi_asset_check(
        specs=specs,
        name=f"gx__{suite.table.replace('.', '__')}",
        description=f"Great Expectations suite {suite.path.relative_to(suite.path.parents[1])} on {suite.table}",
    )
    def _check(context: AssetCheckExecutionContext, cdp: CdpSettings):
        from orchestration.quality.suites import validate

        outcome = validate([suite], cdp.resolved_target(), run_id=context.run.run_id)[0]
        rows = {row["check"]: row for row in outcome.rows}
        failed = [name for name, row in rows.items() if not row["success"]]
        context.log.info(
            f"quality: {suite.table}: {len(rows) - len(failed)} of {len(rows)} checks passed"
            + (f", failed: {', '.join(failed)}" if failed else "")
            + f" ({outcome.seconds:.1f} s)"
        )
        for check in checks:
            row = rows.get(check["name"], {})
            metadata = {
                "expectation": row.get("type", ""),
                "severity": check["severity"],
                "element_count": row.get("element_count"),
                "unexpected_count": row.get("unexpected_count"),
                "sample": MetadataValue.json({"values": [str(v) for v in row.get("sample") or []]}),
            }
            if row.get("error"):
                metadata["error"] = row["error"]
            yield AssetCheckResult(
                asset_key=asset,
                check_name=check["name"],
                passed=bool(row.get("success")),
                severity=SEVERITY[check["severity"]],
                metadata={k: v for k, v in metadata.items() if v is not None},
            )

    return _check


def _identity_health_check():
    from orchestration.quality.identity_health import load_spec

    spec = load_spec()
    asset = AssetKey(spec["asset"])
    checks = spec["checks"]

    @multi_asset_check(
        specs=[
            AssetCheckSpec(
                name=c["check"],
                asset=asset,
                description=f"{c['severity']}: {c['description']} (identity/health.json)",
                blocking=c["severity"] == "critical",
            )
            for c in checks
        ],
        name="identity_health",
        description="Signs of over-merging in identity resolution (expectations/identity/health.json).",
    )
    def _check(context: AssetCheckExecutionContext, cdp: CdpSettings):
        from orchestration.quality.identity_health import measure

        for result in measure(cdp.resolved_target(), context.run.run_id):
            if not result.passed:
                context.log.warning(
                    f"identity health: {result.name} = {result.observed} (limit {result.limit})"
                )
            yield AssetCheckResult(
                asset_key=asset,
                check_name=result.name,
                passed=result.passed,
                severity=SEVERITY[result.severity],
                metadata={
                    "observed": result.observed
                    if result.observed is not None
                    else "no previous run",
                    "limit": result.limit,
                },
            )

    return _check


def quality_checks() -> list:
    suites = [_suite_check(suite) for suite in discover(dbt_project.manifest_path)]
    return [*suites, _identity_health_check()]
