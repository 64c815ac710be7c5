"""The failure report built from dbt's structured log events (the JSON lines dagster-dbt
reads): every node's error with its file and dbt's message, parse errors, bounded and
wrapped for an 80-column terminal."""

from __future__ import annotations

from orchestration.run_report import MAX_LINES, DbtErrors, machine_cause_first


def _node_events(name: str, kind: str, path: str, message: str) -> list[dict]:
    node_info = {"unique_id": f"{kind}.cdp.{name}", "node_name": name, "resource_type": kind,
                 "node_path": path.split("/", 1)[1]}  # fmt: skip
    return [
        {
            "info": {"name": "LogModelResult", "level": "error", "msg": f"ERROR creating {name}"},
            "data": {"node_info": node_info, "status": "error"},
        },
        {
            "info": {"name": "RunResultFailure", "level": "error", "msg": f"Failure in {name}"},
            "data": {
                "node_info": node_info,
                "node_name": name,
                "resource_type": kind,
                "path": path,
            },  # fmt: skip
        },
        {
            "info": {"name": "RunResultError", "level": "error", "msg": message},
            "data": {"node_info": node_info, "msg": message},
        },
    ]


def _report(*events: dict) -> str:
    errors = DbtErrors()
    for event in events:
        errors.observe(event)
    return errors.report("build", "/tmp/target/dbt.log")


MACRO = (
    "  Compilation Error in model fct_support_tickets "
    "(models/marts/core/fct_support_tickets.sql)\n"
    "    'dict object' has no attribute 'no_such_macro'. This can happen when calling a macro "
    'that does not exist. Check for typos and/or install package dependencies with "dbt deps".'
)


def test_every_failed_node_is_named_with_its_file_and_message():
    report = _report(
        *_node_events("fct_support_tickets", "model", "models/marts/core/fct_support_tickets.sql",
                      MACRO),
        *_node_events("unique_fct_orders_order_id", "test", "models/marts/core/_core__models.yml",
                      "  Got 3 results, configured to fail if != 0"),
    )  # fmt: skip
    assert report.splitlines() == [
        "dbt build: 2 errors",
        "  model fct_support_tickets (models/marts/core/fct_support_tickets.sql)",
        "    Compilation Error: 'dict object' has no attribute 'no_such_macro'. This can",
        "    happen when calling a macro that does not exist. Check for typos and/or",
        '    install package dependencies with "dbt deps".',
        "  test unique_fct_orders_order_id (models/marts/core/_core__models.yml)",
        "    Got 3 results, configured to fail if != 0",
        "  dbt's log: /tmp/target/dbt.log",
    ]


def test_a_parse_error_before_any_node_ran_comes_through():
    report = _report(
        {
            "info": {
                "name": "MainEncounteredError",
                "level": "error",
                "msg": "Encountered an error:\nCompilation Error\n  Model 'model.cdp.missing_ref' "
                "(models/marts/missing_ref.sql) depends on a node named 'no_such_model' which "
                "was not found",
            },
            "data": {"exc": "..."},
        }
    )
    text = " ".join(report.split())
    assert report.startswith("dbt build: 1 error\n")
    assert (
        "Compilation Error: Model 'model.cdp.missing_ref' (models/marts/missing_ref.sql) "
        "depends on a node named 'no_such_model' which was not found" in text
    )
    assert "Encountered an error" not in report


def test_a_message_is_bounded_without_traceback_or_macro_stack():
    message = "\n".join(
        [
            "  Runtime Error in model big (models/marts/big.sql)",
            "    Conversion Error: Could not convert string 'ord_5d3' to INT32",
            *(f"    line {i}" for i in range(30)),
            "    > in macro statement (macros/etc/statement.sql)",
            "    > called by model big (models/marts/big.sql)",
            "Traceback (most recent call last):",
            '  File "x.py", line 1, in <module>',
        ]
    )
    report = _report(*_node_events("big", "model", "models/marts/big.sql", message))
    body = [line for line in report.splitlines() if line.startswith("    ")]
    assert (
        body[0]
        == "    Runtime Error: Conversion Error: Could not convert string 'ord_5d3' to INT32"
    )
    assert len(body) == MAX_LINES
    assert "more lines in dbt's log" in body[-1]
    assert "Traceback" not in report and "called by" not in report and 'File "' not in report


def test_long_file_paths_are_wrapped_whole_within_80_columns():
    path = "models/marts/" + "/".join(["a_rather_long_folder_name"] * 4) + "/fct_x.sql"
    report = _report(*_node_events("fct_x", "model", path, f"  Database Error\n    at {path}"))
    lines = report.splitlines()
    assert any(line.strip() == f"({path})" for line in lines), report
    assert all(len(line) <= 80 for line in lines if path not in line), report


def test_a_machine_cause_goes_above_a_report_and_cuts_nothing(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("IO Error: No space left on device\n")
    report = "dbt build: 1 error\n  model x (models/x.sql)\n" + "    y\n" * 40
    assert machine_cause_first(report, log) == f"no space left on device\n{report}"
