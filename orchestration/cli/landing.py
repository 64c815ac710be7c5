"""cdp landing accept|skip: decisions on landing files the batch contract refuses."""

from __future__ import annotations

from pathlib import Path

import click

from orchestration.cli.app import (
    LANDING_OPTION,
    TARGET_OPTION,
    CliError,
    app,
    console,
    settings_for,
)


@app.group()
def landing() -> None:
    """Decide about a landing file the batch contract refuses (by its content)."""


def _decide(decision: str, target: str, landing_dir: Path | None, files, reason: str) -> None:
    from orchestration.loading.loader import LoadError, decide
    from orchestration.warehouse import WarehouseError

    settings = settings_for(target, landing_dir)
    for file in files:
        try:
            table, rel, digest = decide(
                settings.warehouse, settings.landing_dir, file, decision, reason
            )
        except (LoadError, WarehouseError) as exc:
            raise CliError(str(exc)) from None
        what = (
            "is accepted: the volume and changed-file rules let it load at the next run"
            if decision == "accept"
            else "is left out of every load"
        )
        known = (
            "by its kind, size and time"
            if digest.startswith("entry:")
            else (f"sha256 {digest[:12]}")
        )
        console.print(f"{rel} ({table.source}.{table.name}, {known}) {what}")


_REASON = click.option(
    "--reason", "-r", required=True, help="Why; kept with the decision in raw.load_decisions."
)


_DECISION_HELP = {
    "accept": "Load FILES at the next run although they break the volume or changed-file "
    "rule (a changed file loads as a new version). FILES: landing paths as messages name them.",
    "skip": "Leave FILES out of every load without refusing them (as long as their content "
    "is the same). FILES: landing paths as messages name them.",
}


def _decision_command(decision: str):
    def command(target: str, landing: Path | None, reason: str, files) -> None:
        _decide(decision, target, landing, files, reason)

    for option in (click.argument("files", nargs=-1, required=True), _REASON, LANDING_OPTION,
                   TARGET_OPTION):  # fmt: skip
        command = option(command)
    return landing.command(decision, help=_DECISION_HELP[decision])(command)


landing_accept, landing_skip = (_decision_command(d) for d in ("accept", "skip"))
