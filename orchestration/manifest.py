"""The one reader of dbt's manifest (target/manifest.json): segments and their owners,
the models that declare syncs, the incremental models. Everything that asks dbt's graph a
question asks it here, with one definition of each answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Model:
    name: str
    schema: str
    alias: str
    fqn: tuple[str, ...]
    tags: tuple[str, ...]
    meta: dict
    original_file_path: str
    incremental_strategy: str | None = None
    pii_columns: tuple[str, ...] = ()  # the columns the YAML tags `pii`
    columns: tuple[str, ...] = ()  # the YAML's columns, in its order (the contract's)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.alias}"

    @property
    def is_segment(self) -> bool:
        """A model in models/segments/ (one audience per model)."""
        return self.fqn[1:2] == ("segments",) and len(self.fqn) > 2

    def node(self) -> dict:
        """As dbt writes a model node (the keys the sync parser reads)."""
        return {
            "name": self.name,
            "schema": self.schema,
            "alias": self.alias,
            "meta": self.meta,
            "original_file_path": self.original_file_path,
        }


@dataclass(frozen=True)
class Manifest:
    models: tuple[Model, ...]

    def segments(self) -> list[Model]:
        return sorted((m for m in self.models if m.is_segment), key=lambda m: m.name)

    def segment_owners(self) -> dict[str, str]:
        return {m.name: str(m.meta.get("owner") or "") for m in self.segments()}

    def rebuildable_incremental_models(self) -> dict[str, str]:
        """The incremental models a full refresh rebuilds to the same rows (tag `incremental`;
        append-only logs such as customer_id_history are not tagged): name -> schema.table."""
        return {m.name: m.relation for m in self.models if "incremental" in m.tags}

    def full_refresh_stamps(self) -> dict[str, list[str]]:
        """Per incremental model, the columns a full refresh sets otherwise by design (YAML
        `meta.full_refresh_stamps`, e.g. when an id was assigned): schema.table -> columns."""
        return {
            m.relation: list(m.meta.get("full_refresh_stamps") or [])
            for m in self.models
            if "incremental" in m.tags
        }

    def customer_scoped(self) -> dict[str, str]:
        """The marts that rebuild only the customers identity changed (incremental strategy
        `customer_scope`), schema.table -> the schema.table of the list of those customers."""
        scope = next((m for m in self.models if m.name == "int_identity_scope_customers"), None)
        return {
            m.relation: scope.relation
            for m in self.models
            if scope is not None and m.incremental_strategy == "customer_scope"
        }

    def model(self, relation: str) -> Model | None:
        """The model built as schema.table, if any."""
        return next((m for m in self.models if m.relation == relation), None)

    def models_declaring(self, key: str) -> list[Model]:
        """The models whose YAML meta holds `key` (syncs, identity, ...)."""
        return [m for m in self.models if m.meta.get(key)]


def read(path: Path) -> Manifest:
    path = Path(path)
    stat = path.stat()
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int, size: int) -> Manifest:
    nodes = json.loads(Path(path).read_text(encoding="utf-8"))["nodes"].values()
    return Manifest(
        tuple(
            Model(
                name=n["name"],
                schema=n["schema"],
                alias=n.get("alias") or n["name"],
                fqn=tuple(n.get("fqn") or ()),
                tags=tuple(n.get("tags") or ()),
                meta=(n.get("config") or {}).get("meta") or n.get("meta") or {},
                original_file_path=n.get("original_file_path", ""),
                incremental_strategy=(n.get("config") or {}).get("incremental_strategy"),
                columns=tuple(n.get("columns") or ()),
                pii_columns=tuple(
                    name
                    for name, column in (n.get("columns") or {}).items()
                    if "pii" in (column.get("tags") or ())
                    or "pii" in ((column.get("config") or {}).get("tags") or ())
                ),
            )
            for n in nodes
            if n["resource_type"] == "model"
        )
    )
