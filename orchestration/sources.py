"""Source declarations (sources.yml) as typed objects.

The declarations are the contract between the landing files, the generator, the
loaders and the dbt sources: one place names every column and its type.
"""

from __future__ import annotations

import os
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


CHANGED_FILE_RULES = ("refuse", "append")
ON_REFUSED = ("block", "warn")


@dataclass(frozen=True)
class Delivery:
    """A table's batch contract (sources.yml `delivery`, over `defaults.delivery`)."""

    min_ratio: float
    history: int
    after_loads: int
    changed_file: str
    on_refused: str
    json_max_depth: int


@dataclass(frozen=True)
class Table:
    source: str
    name: str
    format: str
    pattern: str
    record_id: tuple[str, ...]
    columns: tuple[Column, ...]
    delivery: Delivery
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


def _merged(defaults: dict, own: dict) -> dict:
    out = dict(defaults)
    for key, value in (own or {}).items():
        out[key] = _merged(out[key], value) if isinstance(out.get(key), dict) else value
    return out


def _parse_delivery(where: str, spec: dict) -> Delivery:
    try:
        volume = spec["volume"]
        delivery = Delivery(
            min_ratio=float(volume["min_ratio"]),
            history=int(volume["history"]),
            after_loads=int(volume["after_loads"]),
            changed_file=spec["changed_file"],
            on_refused=spec["on_refused"],
            json_max_depth=int(spec["json_max_depth"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceSpecError(f"{where}: delivery needs {exc} (see defaults.delivery)") from None
    if delivery.changed_file not in CHANGED_FILE_RULES:
        raise SourceSpecError(
            f"{where}: delivery.changed_file must be one of {', '.join(CHANGED_FILE_RULES)}"
        )
    if delivery.on_refused not in ON_REFUSED:
        raise SourceSpecError(
            f"{where}: delivery.on_refused must be one of {', '.join(ON_REFUSED)}"
        )
    if not 0 <= delivery.min_ratio <= 1 or delivery.history < 1 or delivery.json_max_depth < 1:
        raise SourceSpecError(
            f"{where}: delivery.volume.min_ratio must be within 0..1, volume.history and "
            "json_max_depth at least 1"
        )
    return delivery


def _parse_table(source: str, name: str, spec: dict, defaults: dict) -> Table:
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
    delivery = _parse_delivery(f"{source}.{name}", _merged(defaults, spec.get("delivery")))
    if fmt == "parquet" and delivery.changed_file == "append":
        raise SourceSpecError(f"{source}.{name}: a Parquet file cannot be appended to")
    return Table(
        source=source,
        name=name,
        format=fmt,
        pattern=spec["pattern"],
        record_id=record_id,
        columns=tuple(columns),
        delivery=delivery,
        keep_payload=bool(spec.get("keep_payload", False)),
    )


def parse_sources(doc: dict) -> dict[str, Source]:
    out = {}
    defaults = (doc.get("defaults") or {}).get("delivery") or {}
    for src_name, src in (doc.get("sources") or {}).items():
        tables = tuple(
            _parse_table(src_name, t, spec, defaults) for t, spec in src["tables"].items()
        )
        out[src_name] = Source(src_name, src.get("description", ""), tables)
    return out


@cache
def load_sources(path: Path = SOURCES_FILE) -> dict[str, Source]:
    return parse_sources(_document(path))


@cache
def _document(path: Path = SOURCES_FILE) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def settle_seconds() -> float:
    """How long a landing file must be left unchanged before it is loaded
    (CDP_LANDING_SETTLE_SECONDS, else sources.yml `landing.settle_seconds`)."""
    raw = os.environ.get("CDP_LANDING_SETTLE_SECONDS")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            raise SourceSpecError(
                f"CDP_LANDING_SETTLE_SECONDS must be a number of seconds, got {raw!r}"
            ) from None
    return float((_document().get("landing") or {}).get("settle_seconds", 0))


def all_tables() -> list[Table]:
    return [t for s in load_sources().values() for t in s.tables]


def get_table(source: str, table: str) -> Table:
    for t in load_sources()[source].tables:
        if t.name == table:
            return t
    raise KeyError(f"{source}.{table}")
