"""Nothing is sent while a blocking quality check is failing.

Inside a Dagster run the blocking asset checks already stop the sync assets downstream. A
sync started on its own (`cdp sync`, its schedule, the UI) reads the newest results in
quality.validation_results instead: a failed critical check of a gate suite (dim_customers,
the bridges, the traits, every segment) or of identity health blocks every sync.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.warehouse import Target, existing_tables


class SyncBlocked(RuntimeError):
    """A blocking check failed at the last validation; one line naming it."""


def blocking_failures(target: Target, manifest: Path) -> list[tuple[str, str]]:
    from orchestration.quality.suites import (
        RESULTS_SCHEMA,
        RESULTS_TABLE,
        discover,
        last_run_results,
    )

    if RESULTS_TABLE not in existing_tables(target, RESULTS_SCHEMA):
        return []
    gates = {s.name for s in discover(manifest) if s.gate} | {"identity_health"}
    return [
        (suite, check)
        for suite, check, severity, success, *_ in last_run_results(target, failed_only=True)
        if not success and severity == "critical" and suite in gates
    ]


def ensure_open(target: Target, manifest: Path) -> None:
    failures = blocking_failures(target, manifest)
    if failures:
        shown = ", ".join(f"{suite} {check}" for suite, check in failures[:3])
        raise SyncBlocked(
            f"blocked: {len(failures)} blocking check(s) failed at the last validation "
            f"({shown}); fix the data and run `cdp run` again"
        )
