"""Great Expectations suites (expectations/) as Dagster asset checks.

Each expectation is a check on its table's asset; the suites run as one check step per build
stage (raw, marts, predictions, traits and segments), right after that stage.
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
    Failure,
    MetadataValue,
    multi_asset_check,
)

from orchestration.dbt_project import dbt_project
from orchestration.quality.suites import Suite, discover
from orchestration.resources import CdpSettings
from orchestration.run_report import REPORT_KEY, blocking_report, check_finding, suite_file

SEVERITY = {
    "critical": AssetCheckSeverity.ERROR,
    "warning": AssetCheckSeverity.WARN,
    "info": AssetCheckSeverity.WARN,
}


def stage(suite: Suite) -> str:
    """The build stage after which a suite runs: one check step per stage, so each stage's
    gates are checked before the next stage starts."""
    if suite.asset[0] == "raw":
        return "raw"
    if suite.asset[0] == "segments" or suite.asset[-1] == "customer_traits":
        return "traits_and_segments"  # built by cdp_dbt_traits_and_segments
    if suite.asset[-1] == "customer_predictions":
        return "predictions"
    return "marts"  # built by cdp_dbt_assets: identity, customers, facts


def _stage_check(name: str, suites: list[Suite]):
    specs = [
        AssetCheckSpec(
            name=check["name"],
            asset=AssetKey(list(suite.asset)),
            description=f"{check['severity']}: {check['description']} ({suite.path.name})",
            blocking=suite.gate and check["severity"] == "critical",
        )
        for suite in suites
        for check in suite.checks()
    ]

    @multi_asset_check(
        specs=specs,
        name=f"gx_{name}",
        description=f"Great Expectations suites on {', '.join(s.table for s in suites)}",
    )
    def _check(context: AssetCheckExecutionContext, cdp: CdpSettings):
        from orchestration.quality.suites import docs_dir, docs_index, validate

        docs = docs_dir()
        outcomes = validate(suites, cdp.warehouse(), context.run.run_id, docs)
        blocked = []  # (suite file, check, finding) of each failed blocking check
        for outcome in outcomes:
            suite = outcome.suite
            where = suite_file(suite.path)
            asset = AssetKey(list(suite.asset))
            rows = {row["check"]: row for row in outcome.rows}
            failed = [name for name, row in rows.items() if not row["success"]]
            context.log.info(
                f"quality: {suite.table}: {len(rows) - len(failed)} of {len(rows)} checks passed"
                + (f", failed: {', '.join(failed)}" if failed else "")
                + f" ({outcome.seconds:.1f} s)"
            )
            for check in suite.checks():
                row = rows.get(check["name"], {})
                blocking = suite.gate and check["severity"] == "critical"
                if blocking and not row.get("success"):
                    blocked.append((where, check["name"], check_finding(row)))
                metadata = {
                    "suite_file": where,
                    "expectation": row.get("type", ""),
                    "severity": check["severity"],
                    "element_count": row.get("element_count"),
                    "unexpected_count": row.get("unexpected_count"),
                    "sample": MetadataValue.json(
                        {"values": [str(v) for v in row.get("sample") or []]}
                    ),
                    "error": row.get("error"),
                    "data_docs": MetadataValue.path(str(docs_index(docs))) if docs else None,
                }
                yield AssetCheckResult(
                    asset_key=asset,
                    check_name=check["name"],
                    passed=bool(row.get("success")),
                    severity=SEVERITY[check["severity"]],
                    metadata={k: v for k, v in metadata.items() if v is not None},
                )
        if blocked:  # Dagster would say only the asset and check names
            raise Failure(
                description=blocking_report(blocked),
                metadata={
                    REPORT_KEY: True,
                    "blocking_checks": MetadataValue.json([f"{s}: {c}" for s, c, _ in blocked]),
                },
            )

    return _check


def _identity_health_check():
    from orchestration.quality.identity_health import HEALTH_FILE, load_spec

    spec = load_spec()
    health_file = suite_file(HEALTH_FILE)
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
        from orchestration.identity.metrics import truth_file
        from orchestration.quality.identity_health import measure

        truth = truth_file(cdp.landing_path())
        blocked = []
        for result in measure(cdp.warehouse(), context.run.run_id, truth):
            if not result.passed and result.severity == "critical":
                blocked.append(
                    (health_file, result.name, f"observed {result.observed}, limit {result.limit}")
                )
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
                    "suite_file": health_file,
                },
            )
        if blocked:
            raise Failure(
                description=blocking_report(blocked),
                metadata={
                    REPORT_KEY: True,
                    "blocking_checks": MetadataValue.json([f"{s}: {c}" for s, c, _ in blocked]),
                },
            )

    return _check


def quality_checks() -> list:
    stages: dict[str, list[Suite]] = {}
    for suite in discover(dbt_project.manifest_path):
        stages.setdefault(stage(suite), []).append(suite)
    return [*(_stage_check(n, s) for n, s in stages.items()), _identity_health_check()]
