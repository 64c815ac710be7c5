"""The source contract: each raw table's dbt source, read as typed objects.

The contract of a raw table is its table in the dbt sources YAML of its source,
`models/staging/<source>/_<source>__sources.yml`: columns with `data_type`, descriptions and
pii tags for dbt, and under `config.meta.cdp` what the loader needs (format, landing file
pattern, record id, payload, delivery overrides; per column: required, JSON path, date
format). dbt reads it as the source of the staging model; this module reads the same files
with plain YAML (no dbt, no manifest) for the loaders, the generator, the raw suites and the
tests. Project-wide loading settings (settle period, default delivery contract) are the
`cdp_loading` var of dbt_project.yml.

A table is in the contract when its dbt source table has `config.meta.cdp`; other dbt
sources (e.g. the predictions written by Python) are not loaded from landing files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from orchestration.warehouse.base import PORTABLE_TYPES, PROJECT_DIR

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
# the portable column types are the warehouse interface's (each engine maps them)
FORMATS = {"csv", "jsonl", "parquet"}
PAYLOAD_COLUMN = "payload"  # the whole JSON line, with keep_payload

# Columns every raw table carries besides the declared ones: (type, description). Declared
# here only; the sources YAML does not repeat them.
LINEAGE = {
    "_load_id": ("varchar", "Id of the loader run that inserted the row."),
    "_source_file": ("varchar", "Landing file the row came from."),
    "_source_row": ("bigint", "Row (line) number within the landing file."),
    "_loaded_at": ("timestamp", "When the loader inserted the row, UTC."),
}
LINEAGE_COLUMNS = {name: type_ for name, (type_, _) in LINEAGE.items()}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    path: str | None = None  # key in a JSON event, dotted for nesting
    format: str | None = None  # date / timestamp: a strptime format the values are written in
    description: str = ""


CHANGED_FILE_RULES = ("refuse", "append")
ON_REFUSED = ("block", "warn")


@dataclass(frozen=True)
class Delivery:
    """A table's batch contract (`meta.cdp.delivery`, over dbt_project.yml's
    `vars.cdp_loading.delivery`)."""

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
    description: str = ""
    path: Path | None = None  # the sources YAML that declares it

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
            cols.append((PAYLOAD_COLUMN, "json"))
        return cols + list(LINEAGE_COLUMNS.items())


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    tables: tuple[Table, ...] = field(default_factory=tuple)


class SourceSpecError(ValueError):
    """The contract declares something the loaders cannot load."""


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
        raise SourceSpecError(
            f"{where}: delivery needs {exc} (see vars.cdp_loading.delivery in dbt_project.yml)"
        ) from None
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


def cdp_meta(entry: dict) -> dict | None:
    """`meta.cdp` of a dbt YAML entry (a source table or a column): under `config.meta` as
    dbt 1.10+ writes it, or a top-level `meta`; None when absent."""
    for meta in ((entry.get("config") or {}).get("meta"), entry.get("meta")):
        if isinstance(meta, dict) and meta.get("cdp") is not None:
            return meta["cdp"]
    return None


def _parse_column(where: str, spec: dict) -> Column:
    name = spec.get("name")
    col_type = spec.get("data_type")
    if col_type not in PORTABLE_TYPES:
        raise SourceSpecError(
            f"{where}.{name}: data_type must be one of {', '.join(sorted(PORTABLE_TYPES))}, "
            f"got {col_type!r}"
        )
    meta = cdp_meta(spec) or {}
    unknown = set(meta) - {"required", "path", "format"}
    if unknown:
        raise SourceSpecError(f"{where}.{name}: unknown meta.cdp keys {sorted(unknown)}")
    fmt = meta.get("format")
    if fmt is not None and col_type not in ("date", "timestamp"):
        raise SourceSpecError(f"{where}.{name}: a format is for date and timestamp columns")
    return Column(
        name=name,
        type=col_type,
        required=bool(meta.get("required", False)),
        path=meta.get("path"),
        format=fmt,
        description=spec.get("description") or "",
    )


def _parse_table(source: str, spec: dict, meta: dict, defaults: dict, path: Path) -> Table:
    name = spec["name"]
    where = f"{source}.{name} ({path.name})"
    fmt = meta.get("format")
    if fmt not in FORMATS:
        raise SourceSpecError(f"{where}: format must be one of {sorted(FORMATS)}, got {fmt!r}")
    if not meta.get("pattern"):
        raise SourceSpecError(f"{where}: meta.cdp.pattern names no landing files")
    keep_payload = bool(meta.get("keep_payload", False))
    columns = []
    for col in spec.get("columns") or []:
        if col.get("name") in LINEAGE:
            raise SourceSpecError(
                f"{where}: {col['name']} is added to every raw table by the loader; "
                "do not declare it"
            )
        if keep_payload and col.get("name") == PAYLOAD_COLUMN:
            continue  # documented for dbt; the loader adds it
        columns.append(_parse_column(where, col))
    if not columns:
        raise SourceSpecError(f"{where}: no columns declared")
    record_id = tuple(meta.get("record_id") or ())
    unknown = set(record_id) - {c.name for c in columns}
    if not record_id or unknown:
        raise SourceSpecError(f"{where}: meta.cdp.record_id must name declared columns")
    delivery = _parse_delivery(where, _merged(defaults, meta.get("delivery")))
    if fmt == "parquet" and delivery.changed_file == "append":
        raise SourceSpecError(f"{where}: a Parquet file cannot be appended to")
    return Table(
        source=source,
        name=name,
        format=fmt,
        pattern=meta["pattern"],
        record_id=record_id,
        columns=tuple(columns),
        delivery=delivery,
        keep_payload=keep_payload,
        description=" ".join((spec.get("description") or "").split()),
        path=path,
    )


@cache
def project_document(project_dir: Path = PROJECT_DIR) -> dict:
    """dbt_project.yml, as YAML (its `vars` hold no Jinja that matters here)."""
    with open(project_dir / "dbt_project.yml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader) or {}


def loading_settings(project_dir: Path = PROJECT_DIR) -> dict:
    """dbt_project.yml `vars.cdp_loading`: landing_settle_seconds and the default delivery."""
    return (project_document(project_dir).get("vars") or {}).get("cdp_loading") or {}


def yaml_files(project_dir: Path = PROJECT_DIR) -> list[Path]:
    """The YAML files under the dbt project's model paths, in path order."""
    found = []
    for folder in project_document(project_dir).get("model-paths") or ["models"]:
        root = project_dir / folder
        found += [p for p in root.rglob("*.y*ml") if p.suffix in (".yml", ".yaml")]
    return sorted(found)


def parse_sources(files: list[tuple[Path, dict]], defaults: dict) -> dict[str, Source]:
    """The contract tables of the dbt sources in `files` ((path, YAML document) pairs)."""
    out: dict[str, Source] = {}
    raw_names: dict[str, str] = {}
    for path, doc in files:
        for src in (doc or {}).get("sources") or []:
            tables = []
            for spec in src.get("tables") or []:
                meta = cdp_meta(spec)
                if meta is None:
                    continue
                table = _parse_table(src["name"], spec, meta, defaults, path)
                if table.raw_name in raw_names:
                    raise SourceSpecError(
                        f"{table.source}.{table.name}: raw table {table.raw_name} is declared "
                        f"twice ({raw_names[table.raw_name]}, {path})"
                    )
                raw_names[table.raw_name] = str(path)
                tables.append(table)
            if tables:
                if src["name"] in out:
                    raise SourceSpecError(f"source {src['name']} is declared twice ({path})")
                description = " ".join((src.get("description") or "").split())
                out[src["name"]] = Source(src["name"], description, tuple(tables))
    return out


@cache
def load_sources(project_dir: Path = PROJECT_DIR) -> dict[str, Source]:
    """Every contract source of the dbt project, by name, in the order of their files."""
    defaults = loading_settings(project_dir).get("delivery") or {}
    files = []
    for path in yaml_files(project_dir):
        text = path.read_text(encoding="utf-8")
        if "sources:" in text and "cdp:" in text:  # skip the models YAML without parsing
            files.append((path, yaml.load(text, Loader=_Loader) or {}))
    return parse_sources(files, defaults)


def settle_seconds() -> float:
    """How long a landing file must be left unchanged before it is loaded
    (CDP_LANDING_SETTLE_SECONDS, else dbt_project.yml `vars.cdp_loading.landing_settle_seconds`)."""
    raw = os.environ.get("CDP_LANDING_SETTLE_SECONDS")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            raise SourceSpecError(
                f"CDP_LANDING_SETTLE_SECONDS must be a number of seconds, got {raw!r}"
            ) from None
    return float(loading_settings().get("landing_settle_seconds", 0))


def all_tables() -> list[Table]:
    return [t for s in load_sources().values() for t in s.tables]


def get_table(source: str, table: str) -> Table:
    for t in load_sources()[source].tables:
        if t.name == table:
            return t
    raise KeyError(f"{source}.{table}")
