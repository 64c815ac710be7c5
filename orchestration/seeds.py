"""The project's seed CSVs (seeds/), read without dbt: the files are the rules' one place."""

from __future__ import annotations

import csv

from orchestration.warehouse import PROJECT_DIR


class SeedError(ValueError):
    """No seed, or no single seed, of that name."""


def seed_rows(seed: str) -> list[dict[str, str]]:
    """The rows of seeds/**/<seed>.csv."""
    paths = sorted((PROJECT_DIR / "seeds").rglob(f"{seed}.csv"))
    if len(paths) != 1:
        raise SeedError(f"no single seed {seed}.csv under seeds/")
    with paths[0].open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def person_identifier_types() -> list[str]:
    """Identifier types a person holds a bounded number of (max_per_customer set in
    identity_identifier_types): emails, phones, cards, devices, not order ids."""
    return sorted(
        r["identifier_type"]
        for r in seed_rows("identity_identifier_types")
        if r["max_per_customer"].strip()
    )
