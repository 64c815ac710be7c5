"""The `cdp` group, its shared options, and the settings each command resolves once."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _target_choices() -> list[str]:
    from orchestration.warehouse import TARGETS

    return list(TARGETS)


TARGET_OPTION = click.option(
    "--target",
    "-t",
    type=click.Choice(_target_choices()),
    default=None,
    help="Warehouse target (default: CDP_TARGET, else duckdb).",
)
LANDING_OPTION = click.option(
    "--landing",
    "-l",
    type=click.Path(path_type=Path),
    default=None,
    help="Landing folder (default: CDP_LANDING_DIR, else the project's landing/).",
)


def customers_option(default: int):
    return click.option(
        "--customers",
        "-n",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help="People to simulate.",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Warehouse-native customer data platform."""


class CliError(click.ClickException):
    """An error for the user: printed as one line, exit status 1."""


def settings_for(target: str | None, landing: Path | None = None, **defaults):
    """The settings of this command, resolved once (written out for dbt and Dagster)."""
    from orchestration.settings import Settings
    from orchestration.warehouse import WarehouseError

    try:
        return Settings.resolve(target, landing, **defaults).export()
    except WarehouseError as exc:
        raise CliError(str(exc)) from None


def prepare(target: str | None, landing: Path | None, **defaults):
    from orchestration.warehouse import WarehouseError

    if landing is not None and not landing.is_dir():
        raise CliError(
            f"landing folder {landing} does not exist (try `cdp generate --out {landing}`)"
        )
    settings = settings_for(target, landing, **defaults)
    try:  # fail early, in one line, when the warehouse cannot be reached
        settings.warehouse.check_reachable()
    except WarehouseError as exc:
        raise CliError(str(exc)) from exc
    from orchestration.dbt_project import ensure_manifest

    try:
        ensure_manifest()
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    return settings


def check_free(host: str, port: int) -> None:
    """One line naming the option to change, before the server starts, when the address
    is taken or cannot be used."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CliError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CliError(
                f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port"
            ) from None
