"""Destination kinds, imported only when a sync uses them."""

from __future__ import annotations

import importlib

from orchestration.activation.destinations.base import Destination

KINDS = {
    "webhook": "orchestration.activation.destinations.webhook:Webhook",
    "postgres_table": "orchestration.activation.destinations.postgres_table:PostgresTable",
    "file": "orchestration.activation.destinations.files:FileExport",
    "hubspot": "orchestration.activation.destinations.hubspot:HubSpotContacts",
    "mailchimp": "orchestration.activation.destinations.mailchimp:MailchimpMembers",
    "meta_audience": "orchestration.activation.destinations.meta_audience:MetaCustomAudience",
}


def destination_class(kind: str) -> type[Destination]:
    if kind not in KINDS:
        raise KeyError(f"unknown destination kind {kind!r}: one of {', '.join(sorted(KINDS))}")
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)
