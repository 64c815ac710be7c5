"""The one normalisation rule per identifier type, on both warehouses: the model
int_identifiers_normalised and the warehouse function normalise_identifier (what `cdp
explain` asks) give every case of tests/normalise_cases.py its expected value, and leave
every normalised value as it is."""

from __future__ import annotations

from datetime import datetime

import pytest
from normalise_cases import CASES
from support import execute, run_dbt

from orchestration.identity.normalise import FUNCTION, normalise
from orchestration.warehouse import WarehouseError

# Only the columns int_identifiers_normalised reads of its input.
UNIONED = (
    "create table intermediate.int_identifiers_unioned (source {t}, source_record_id {t}, "
    "identifier_type {t}, raw_value {t}, country_code {t}, seen_at timestamp, "
    "loaded_at timestamp)"
)
TYPES = {"duckdb": "varchar", "postgres": "text"}


def _sql_text(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def _plant_cases(target) -> None:
    """int_identifiers_unioned as the union model would write it: one record per case."""
    now = datetime(2024, 1, 1).isoformat(sep=" ")
    rows = ", ".join(
        f"('cases', 'r{i}', {_sql_text(kind)}, {_sql_text(raw)}, {_sql_text(country)}, "
        f"timestamp '{now}', timestamp '{now}')"
        for i, (kind, raw, country, _) in enumerate(CASES)
    )
    execute(
        target,
        "create schema if not exists intermediate",
        UNIONED.format(t=TYPES[target.name]),
        f"insert into intermediate.int_identifiers_unioned values {rows}",
    )


@pytest.mark.slow
def test_model_and_warehouse_function_apply_the_one_rule(any_target):
    target = any_target
    _plant_cases(target)

    # a warehouse built before the function existed: one line that says what to do
    with target.read_session() as run, pytest.raises(WarehouseError) as info:
        normalise(run, "email", "Ann@X.com")
    assert str(info.value) == (
        f"the warehouse has no {FUNCTION} function (it was built by an older cdp): "
        "run `cdp run` first"
    )

    # the seed and the model; the function comes from the invocation's on-run-end hook
    proc = run_dbt(
        "build",
        "--select",
        "country_calling_codes",
        "int_identifiers_normalised",
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
        target=target.name,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]

    with target.read_session() as run:
        model = dict(
            run(
                "select source_record_id, identifier_value "
                "from intermediate.int_identifiers_normalised",
                [],
            )
        )
        function = [normalise(run, kind, raw, country) for kind, raw, country, _ in CASES]
        # a normalised value is its own normal form (the profile API looks a value up as
        # given before it asks the rule, so it relies on this)
        again = [(kind, out, normalise(run, kind, out)) for kind, _, _, out in CASES if out]
    assert [(k, v) for k, v, twice in again if twice != v] == []
    expected = [case[3] for case in CASES]
    by_model = [model[f"r{i}"] for i in range(len(CASES))]
    wrong = [
        (case, got_model, got_function)
        for case, got_model, got_function in zip(CASES, by_model, function, strict=True)
        if not got_model == got_function == case[3]
    ]
    assert not wrong, f"(case, model, function) that differ: {wrong}"
    assert by_model == function == expected
