"""What a user typed, normalised by the warehouse with the models' own rule.

The rule per identifier type lives once, in dbt: macros/identity/normalise_identifier.sql.
The model int_identifiers_normalised applies it to every identifier, and the on-run-end
hook of every dbt invocation creates from the same macro the warehouse function

    intermediate.normalise_identifier(identifier_type, raw_value, country) -> text

(a macro on DuckDB, a SQL function on PostgreSQL). `normalise` asks the warehouse to
evaluate it, so `cdp explain` looks a value up in the form the models gave it, with no
second copy of the rule in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestration.warehouse import WarehouseError

FUNCTION = "intermediate.normalise_identifier"

# Identifier types whose rule does more than trim (the others are looked up as typed and
# trimmed): the ones `cdp explain` asks the warehouse to normalise.
RULE_TYPES = ("email", "phone")

Query = Callable[[str, Sequence], list[tuple]]


def normalise(
    run: Query, identifier_type: str, raw_value: str, country: str | None = None
) -> str | None:
    """The value `raw_value` takes as an identifier of `identifier_type` in the identity
    graph, or None when it is not a valid one.

    `run(sql, params)` runs a query with `?` placeholders on the warehouse (the read
    session of warehouse.read_session). `country` (ISO code) is the country of a phone
    written without its calling code; None means the project's default country
    (`identity_phone_default_country`). A warehouse built before the function existed
    raises a one-line WarehouseError that says to run `cdp run`.
    """
    try:
        rows = run(f"select {FUNCTION}(?, ?, ?)", [identifier_type, raw_value, country])
    except Exception as exc:
        if _is_missing_function(exc):
            raise WarehouseError(
                f"the warehouse has no {FUNCTION} function (it was built by an older cdp): "
                "run `cdp run` first"
            ) from exc
        raise
    return rows[0][0] if rows else None


def _is_missing_function(exc: Exception) -> bool:
    """DuckDB: 'Scalar Function with name normalise_identifier does not exist'; PostgreSQL:
    'function intermediate.normalise_identifier(unknown, ...) does not exist'."""
    text = str(exc).lower()
    return FUNCTION.rsplit(".", 1)[1] in text and "does not exist" in text
