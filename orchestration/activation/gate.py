"""Nothing is sent while a blocking quality check is failing.

Inside a Dagster run the blocking asset checks already stop the sync assets downstream. A
sync started on its own (`cdp sync`, its schedule, the UI) reads the newest results in
quality.validation_results instead: a failed critical check of a gate suite (dim_customers,
the bridges, the traits, every segment) or of identity health blocks every sync, and so does
a landing file refused at the last load of a table whose contract blocks
(raw.load_refusals).
"""

from __future__ import annotations

from pathlib import Path

from orchestration.warehouse import Warehouse


class SyncBlocked(RuntimeError):
    """A blocking check failed at the last validation; one line naming it."""


def blocking_failures(target: Warehouse, manifest: Path) -> list[tuple[str, str]]:
    from orchestration.quality.suites import (
        RESULTS_SCHEMA,
        RESULTS_TABLE,
        discover,
        last_run_results,
    )

    if RESULTS_TABLE not in target.existing_tables(RESULTS_SCHEMA):
        return []
    gates = {s.name for s in discover(manifest) if s.gate} | {"identity_health"}
    return [
        (suite, check)
        for suite, check, severity, success, *_ in last_run_results(target, failed_only=True)
        if not success and severity == "critical" and suite in gates
    ]


def ensure_open(target: Warehouse, manifest: Path) -> None:
    from orchestration.loading.loader import blocking_refusals

    refused = blocking_refusals(target)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise SyncBlocked(
            f"blocked: a landing file was refused at the last load: {refused[0][1]}{more}; "
            "fix or replace it, or decide with `cdp landing accept|skip <file>`, then "
            "`cdp run` again"
        )
    failures = blocking_failures(target, manifest)
    if failures:
        shown = ", ".join(f"{suite} {check}" for suite, check in failures[:3])
        raise SyncBlocked(
            f"blocked: {len(failures)} blocking check(s) failed at the last validation "
            f"({shown}); fix the data and run `cdp run` again"
        )
