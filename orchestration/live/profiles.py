"""One customer's profile, looked up by any identifier, from the serving state.

The serving state is what the last build left, in a form readers never wait for: on
PostgreSQL the tables themselves, on DuckDB an indexed copy in SQLite written beside the
warehouse after each
build and swapped in whole (warehouse `publish_serving`). `SERVED` says what it holds.

A lookup takes an identifier type and a value as a caller has it: emails and phones are
normalised by the warehouse with the models' own rule (identity/normalise.py), the other
types trimmed; a customer_id merged away answers with the customer that holds its
identifiers now (`merged_from` says which id was asked for). Columns the models' YAML tags
`pii` are left out for a caller that may not read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from orchestration.identity.explain import CUSTOMERS, HISTORY, IDENTIFIERS, follow_merges
from orchestration.identity.normalise import FUNCTION, RULE_TYPES, normalise
from orchestration.warehouse import ServedTable, Warehouse

TRAITS = "marts.customer_traits"
EVENTS = "marts.fct_events"
MEMBERSHIPS = "segments.segment_memberships"
CONSENTS = "intermediate.int_customer_consents_summarised"
CALLING_CODES = "seeds.country_calling_codes"
RECENT_EVENTS = 20  # events a profile shows, newest first

# The identifier types a profile can be looked up by (customer_id: the profile's own id).
LOOKUP_TYPES = ("email", "phone", "user_id", "anonymous_id", "loyalty_card_id", "customer_id")

# What the serving state holds, and the keys each table is looked up by.
SERVED: tuple[ServedTable, ...] = (
    ServedTable(CUSTOMERS, f"select * from {CUSTOMERS}"),
    ServedTable(
        IDENTIFIERS,
        f"select * from {IDENTIFIERS}",
        keys=(("identifier_type", "identifier_value"), ("customer_id",)),
    ),
    ServedTable(HISTORY, f"select * from {HISTORY}", keys=(("old_customer_id",),)),
    ServedTable(TRAITS, f"select * from {TRAITS}"),
    ServedTable(MEMBERSHIPS, f"select * from {MEMBERSHIPS} where exited_at is null"),
    ServedTable(CONSENTS, f"select * from {CONSENTS}"),
    ServedTable(
        CALLING_CODES, f"select * from {CALLING_CODES}", keys=(), read_by_functions=True
    ),  # read by the normalise function
    ServedTable(
        EVENTS,
        f"select * from (select *, row_number() over (partition by customer_id "
        f"order by event_at desc, event_id) as recent_rank from {EVENTS} "
        f"where customer_id is not null) as ranked where recent_rank <= {RECENT_EVENTS}",
    ),
)
FUNCTIONS = (FUNCTION,)


def publish(warehouse: Warehouse) -> str:
    """Make the last build's state the one profiles are read from; says where."""
    return warehouse.publish_serving(SERVED, FUNCTIONS)


def lookup(
    serving: Warehouse, identifier_type: str, value: str, *, pii: bool, manifest
) -> dict | None:
    """The profile of the customer `value` (of `identifier_type`) belongs to, or None.
    `manifest` (orchestration.manifest.Manifest) gives each table's columns and PII tags."""
    if identifier_type not in LOOKUP_TYPES:
        raise ValueError(
            f"unknown identifier type {identifier_type!r}: one of {', '.join(LOOKUP_TYPES)}"
        )
    with serving.reader() as run:
        found = _resolve(run, serving.function_run(run), identifier_type, value)
        if found is None:
            return None
        customer_id, merged_from = found
        golden = _row(run, manifest, CUSTOMERS, customer_id, pii)
        if golden is None:
            return None
        identifiers = run(
            f"select identifier_type, identifier_value, record_count, first_seen_at, "
            f"last_seen_at from {IDENTIFIERS} where customer_id = ? "
            f"order by identifier_type, identifier_value",
            [customer_id],
        )
        consent = run(
            f"select channel, consent_status from {CONSENTS} where customer_id = ? "
            f"order by channel",
            [customer_id],
        )
        segments = run(
            f"select segment_name, entered_at from {MEMBERSHIPS} "
            f"where customer_id = ? and exited_at is null order by segment_name",
            [customer_id],
        )
        events = _recent_events(run, manifest, customer_id, pii)
        traits = _row(run, manifest, TRAITS, customer_id, pii)
    hidden = _pii(manifest, IDENTIFIERS) if not pii else set()
    return {
        "customer_id": customer_id,
        "merged_from": merged_from,
        "profile": golden,
        "traits": traits,
        "segments": [{"segment": name, "since": since} for name, since in segments],
        "consent": dict(consent),
        "identifiers": [
            {
                "type": t,
                **({} if "identifier_value" in hidden else {"value": v}),
                "records": n,
                "first_seen_at": first,
                "last_seen_at": last,
            }
            for t, v, n, first, last in identifiers
        ],
        "recent_events": events,
        "served_at": datetime.now(UTC),
    }


def _resolve(run, functions, identifier_type: str, value: str) -> tuple[str, str | None] | None:
    """(customer_id, the merged-away id asked for or None), or None when nothing matches.
    `functions` runs the warehouse's functions (the normalisation)."""
    value = value.strip()
    if not value:
        return None
    if identifier_type == "customer_id":
        if run(f"select customer_id from {CUSTOMERS} where customer_id = ?", [value]):
            return value, None
        hops = follow_merges(run, value)
        return (hops[-1].new_customer_id, value) if hops else None
    rows = _by_identifier(run, identifier_type, value)
    if not rows and identifier_type in RULE_TYPES:
        # not found as given: the rule's form (a normalised value is its own normal form,
        # so a value found as given needs no rule; tests/test_normalise.py checks this)
        value = normalise(functions, identifier_type, value)
        rows = _by_identifier(run, identifier_type, value) if value is not None else []
    return (rows[0][0], None) if rows else None


def _by_identifier(run, identifier_type: str, value: str) -> list[tuple]:
    return run(
        f"select customer_id from {IDENTIFIERS} where identifier_type = ? "
        f"and identifier_value = ? order by customer_id",
        [identifier_type, value],
    )


def _row(run, manifest, relation: str, customer_id: str, pii: bool) -> dict | None:
    columns = _columns(manifest, relation, pii)
    rows = run(f"select {', '.join(columns)} from {relation} where customer_id = ?", [customer_id])
    return dict(zip(columns, rows[0], strict=True)) if rows else None


def _recent_events(run, manifest, customer_id: str, pii: bool) -> list[dict]:
    columns = [c for c in _columns(manifest, EVENTS, pii) if c != "customer_id"]
    rows = run(
        f"select {', '.join(columns)} from {EVENTS} where customer_id = ? "
        f"order by event_at desc, event_id limit {RECENT_EVENTS}",
        [customer_id],
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _columns(manifest, relation: str, pii: bool) -> Sequence[str]:
    model = manifest.model(relation)
    if model is None or not model.columns:
        raise RuntimeError(f"{relation}: no columns in dbt's manifest (run `cdp run` first)")
    hidden = set() if pii else set(model.pii_columns)
    return [c for c in model.columns if c not in hidden]


def _pii(manifest, relation: str) -> set[str]:
    model = manifest.model(relation)
    return set(model.pii_columns) if model else set()
