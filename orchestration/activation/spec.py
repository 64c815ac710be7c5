"""Syncs declared in dbt YAML, next to the segment they send (no Python to add one).

    models:
      - name: high_value_customers
        config:
          meta:
            syncs:
              - name: high_value_to_hubspot          # unique; the Dagster asset syncs/<name>
                destination:                         # kind + that destination's settings
                  kind: hubspot
                  token_env: HUBSPOT_TOKEN           # credentials: names of env variables
                mode: mirror                         # upsert | update | insert | mirror
                on_leave: delete                     # nothing | clear | delete
                key: customer_id                     # the model column that identifies a record
                fields: {email: email, firstname: first_name}   # destination field: model column
                consent: email                       # email | sms | ads | none (default: the
                                                     # destination's channel)
                schedule: "0 6 * * *"                # cron, optional

Modes: upsert sends new and changed records; update sends them as updates only (the
destination must know the record); insert sends only new records; mirror is upsert plus
removal of the records that leave the model (on_leave clear or delete; delete by default).
In upsert and update modes on_leave defaults to nothing, in insert mode it must be nothing.
A record leaves the model when it is no longer selected or loses the consent the sync needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("upsert", "update", "insert", "mirror")
ON_LEAVE = ("nothing", "clear", "delete")
CHANNELS = ("email", "sms", "ads", "push")


class SyncSpecError(ValueError):
    """A sync declaration is wrong; the message is one line naming the sync and the field."""


@dataclass(frozen=True)
class SyncSpec:
    name: str
    model: str
    relation: str  # schema.table of the model in the warehouse
    destination: dict[str, Any]
    mode: str
    on_leave: str
    key: str
    fields: dict[str, str]  # destination field -> model column
    consent: str | None  # channel whose consent a record needs, None: no consent needed
    schedule: str | None
    owner: str | None = None
    description: str = ""

    @property
    def kind(self) -> str:
        return self.destination["kind"]

    @property
    def consent_column(self) -> str | None:
        return f"consent_{self.consent}" if self.consent else None

    @property
    def asset_key(self) -> list[str]:
        return ["syncs", self.name]


def _parse(node: dict, item: dict, where: str) -> SyncSpec:
    from orchestration.activation.destinations import destination_class

    def need(key: str) -> Any:
        if item.get(key) in (None, "", {}):
            raise SyncSpecError(f"{where}: `{key}` is required")
        return item[key]

    name = need("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SyncSpecError(f"{where}: name {name!r} must be lower case letters, digits and _")
    where = f"sync {name} ({where})"
    known = {
        "name", "destination", "mode", "on_leave", "key", "fields", "consent", "schedule",
        "description",
    }  # fmt: skip
    unknown = sorted(set(item) - known)
    if unknown:
        raise SyncSpecError(f"{where}: unknown keys {unknown}")
    destination = dict(need("destination"))
    if "kind" not in destination:
        raise SyncSpecError(f"{where}: destination needs a `kind`")
    try:
        cls = destination_class(destination["kind"])
    except KeyError as exc:
        raise SyncSpecError(f"{where}: {exc.args[0]}") from None
    mode = item.get("mode", "upsert")
    if mode not in MODES:
        raise SyncSpecError(f"{where}: mode {mode!r} is not one of {', '.join(MODES)}")
    on_leave = item.get("on_leave", "delete" if mode == "mirror" else "nothing")
    if on_leave not in ON_LEAVE:
        raise SyncSpecError(f"{where}: on_leave {on_leave!r} is not one of {', '.join(ON_LEAVE)}")
    if mode == "insert" and on_leave != "nothing":
        raise SyncSpecError(f"{where}: insert mode never removes; on_leave must be nothing")
    if mode == "mirror" and on_leave == "nothing":
        raise SyncSpecError(f"{where}: mirror mode removes records; on_leave clear or delete")
    key = need("key")
    fields = {str(k): str(v) for k, v in dict(need("fields")).items()}
    schedule = item.get("schedule")
    if schedule is not None and (not isinstance(schedule, str) or len(schedule.split()) != 5):
        raise SyncSpecError(f"{where}: schedule {schedule!r} is not a five-field cron string")
    consent = item.get("consent", cls.channel)
    consent = None if consent in (None, "none") else consent
    if consent is not None and consent not in CHANNELS:
        raise SyncSpecError(
            f"{where}: consent {consent!r} is not one of none, {', '.join(CHANNELS)}"
        )
    return SyncSpec(
        name=name,
        model=node["name"],
        relation=f"{node['schema']}.{node['alias']}",
        destination=destination,
        mode=mode,
        on_leave=on_leave,
        key=key,
        fields=fields,
        consent=consent,
        schedule=schedule,
        owner=(node.get("meta") or {}).get("owner"),
        description=item.get("description") or "",
    )


def load_syncs(manifest_path: Path) -> list[SyncSpec]:
    """Every sync declared in the project, in name order; SyncSpecError on a bad one."""
    from orchestration import manifest

    specs: dict[str, SyncSpec] = {}
    for model in manifest.read(manifest_path).models_declaring("syncs"):
        node = model.node()
        for i, item in enumerate(model.meta["syncs"]):
            where = f"{model.original_file_path}, model {model.name}, syncs[{i}]"
            if not isinstance(item, dict):
                raise SyncSpecError(f"{where}: each sync is a mapping")
            spec = _parse(node, item, where)
            if spec.name in specs:
                raise SyncSpecError(f"{where}: a sync named {spec.name} is declared twice")
            specs[spec.name] = spec
    return [specs[n] for n in sorted(specs)]


def find_sync(manifest_path: Path, name: str) -> SyncSpec:
    specs = load_syncs(manifest_path)
    for spec in specs:
        if spec.name == name:
            return spec
    names = ", ".join(s.name for s in specs) or "none"
    raise SyncSpecError(f"no sync named {name!r}; declared: {names}")
