"""cdp generate: sample landing files of a fictional retailer."""

from __future__ import annotations

from pathlib import Path

import click

from orchestration.cli.app import CliError, app, console, customers_option, err


@app.command()
@customers_option(10_000)
@click.option(
    "--seed",
    "-s",
    type=int,
    default=42,
    show_default=True,
    help="Random seed; same seed, same files.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=Path("landing"),
    show_default=True,
    help="Landing folder to write.",
)
@click.option(
    "--plant-problems",
    is_flag=True,
    help="Also write deliveries with the problems data quality must catch "
    "(listed in truth/planted_problems.json).",
)
def generate(customers: int, seed: int, out: Path, plant_problems: bool) -> None:
    """Write sample landing files of a fictional omnichannel retailer (eight sources)."""
    from orchestration.sources import all_tables

    present = sorted(p for t in all_tables() for p in out.glob(t.pattern)) if out.is_dir() else []
    if present:  # a loaded delivery rewritten under its name would be refused as changed
        raise CliError(
            f"{out} already holds landing files ({present[0].relative_to(out)} and "
            f"{len(present) - 1:,} more); generate into a new folder, or remove them first"
        )
    generate_files(customers, seed, out)
    if plant_problems:
        from orchestration.generator.problems import plant_problems as plant

        for problem in plant(out, seed):
            console.print(f"planted {problem['problem']}: {problem['file']} -> {problem['trips']}")


def generate_files(customers: int, seed: int, out: Path) -> None:
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    from orchestration.generator import generate as run_generator

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed:,}/{task.total:,} customers",
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("generating", total=customers)
        try:
            result = run_generator(
                customers, seed, out, progress=lambda done, total: bar.update(task, completed=done)
            )
        except (ValueError, OSError) as exc:
            raise CliError(str(exc)) from exc
    rows = sum(f.rows for f in result.files)
    console.print(
        f"generated {customers:,} customers, {rows:,} rows in {len(result.files)} files "
        f"under {out} in {result.seconds:.1f} s"
    )
