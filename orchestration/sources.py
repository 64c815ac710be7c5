"""Source declarations (sources.yml) as typed objects.

The declarations are the contract between the landing files, the generator, the
loaders and the dbt sources: one place names every column and its type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

SOURCES_FILE = Path(__file__).with_name("sources.yml")

PORTABLE_TYPES = {
    "varchar",
    "integer",
    "bigint",
    "decimal",
    "double",
    "boolean",
    "date",
    "timestamp",
    "json",
}
FORMATS = {"csv", "jsonl", "parquet"}

# Columns every raw table carries besides the declared ones.
LINEAGE_COLUMNS = {
    "_load_id": "varchar",
    "_source_file": "varchar",
    "_source_row": "bigint",
    "_loaded_at": "timestamp",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    path: str | None = None  # key in a JSON event, dotted for nesting


@dataclass(frozen=True)
class Table:
    source: str
    name: str
    format: str
    pattern: str
    record_id: tuple[str, ...]
    columns: tuple[Column, ...]
    keep_payload: bool = False

    @property
    def raw_name(self) -> str:
        """Name of the raw table in the warehouse's raw schema."""
        return f"{self.source}_{self.name}"

    @property
    def asset_key(self) -> list[str]:
        return ["raw", self.source, self.name]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def raw_columns(self) -> list[tuple[str, str]]:
        """(name, portable type) of every column of the raw table, in order."""
        cols = [(c.name, c.type) for c in self.columns]
        if self.keep_payload:
            cols.append(("payload", "json"))
        return cols + list(LINEAGE_COLUMNS.items())


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    tables: tuple[Table, ...] = field(default_factory=tuple)


class SourceSpecError(ValueError):
    """sources.yml declares something the loaders cannot load."""


def _parse_table(source: str, name: str, spec: dict) -> Table:
    fmt = spec.get("format")
    if fmt not in FORMATS:
        raise SourceSpecError(
            f"{source}.{name}: format must be one of {sorted(FORMATS)}, got {fmt!r}"
        )
    columns = []
    for col_name, col in (spec.get("columns") or {}).items():
        col_type = col.get("type")
        if col_type not in PORTABLE_TYPES:
            raise SourceSpecError(f"{source}.{name}.{col_name}: unknown type {col_type!r}")
        columns.append(
            Column(col_name, col_type, bool(col.get("required", False)), col.get("path"))
        )
    if not columns:
        raise SourceSpecError(f"{source}.{name}: no columns declared")
    record_id = tuple(spec.get("record_id") or ())
    unknown = set(record_id) - {c.name for c in columns}
    if not record_id or unknown:
        raise SourceSpecError(f"{source}.{name}: record_id must name declared columns")
    return Table(
        source=source,
        name=name,
        format=fmt,
        pattern=spec["pattern"],
        record_id=record_id,
        columns=tuple(columns),
        keep_payload=bool(spec.get("keep_payload", False)),
    )


def parse_sources(doc: dict) -> dict[str, Source]:
    out = {}
    for src_name, src in (doc.get("sources") or {}).items():
        tables = tuple(_parse_table(src_name, t, spec) for t, spec in src["tables"].items())
        out[src_name] = Source(src_name, src.get("description", ""), tables)
    return out


@cache
def load_sources(path: Path = SOURCES_FILE) -> dict[str, Source]:
    with open(path, encoding="utf-8") as fh:
        return parse_sources(yaml.safe_load(fh))


def all_tables() -> list[Table]:
    return [t for s in load_sources().values() for t in s.tables]


def get_table(source: str, table: str) -> Table:
    for t in load_sources()[source].tables:
        if t.name == table:
            return t
    raise KeyError(f"{source}.{table}")
