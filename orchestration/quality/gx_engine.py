"""Great Expectations 1.x engine: suites from reviewable JSON files, validation of a pandas
frame stream in bounded memory (chunks), and results as plain rows.

GX has no DuckDB datasource that works (see the README): DuckDB tables are read in chunks
of `chunk_rows` rows. Row-wise expectations (not null, regex, in set, between, ...) run on
every chunk and their counts are summed, so `mostly` holds for the whole table; schema
expectations must pass on every chunk; the others (unique, row count, proportions) run once
on a frame of only the columns they need. Postgres tables are validated in the database.

Import lazily: great_expectations takes about 3 s to import.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.expectations.expectation_configuration import (  # noqa: E402
    ExpectationConfiguration,
)

# --------------------------------------------------------------------------- context


def file_context(root):
    """A GX file context under `root` (gx/: suites, validation results, Data Docs)."""
    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def ephemeral_context():
    """In-memory context (writes no files). Progress bars off."""
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


# --------------------------------------------------------------------------- suites

_OWN_KEYS = {"check", "only", "quarantine"}  # ours, stripped before GX sees the dict
_GX_KEYS = {"type", "kwargs", "meta", "severity", "notes", "description"}


def build_suite(expectations: list[dict], backend: str, name: str) -> gx.ExpectationSuite:
    """Build an ExpectationSuite from [{"type", "kwargs", ...}] items (no GX ids).

    Strict: unknown expectation types or bad kwargs raise (gx.ExpectationSuite(expectations=
    [dicts]) would only log such items and drop them). `only` keeps an item to one backend
    (pandas or postgres); `check` is its stable name.
    """
    suite = gx.ExpectationSuite(name=name)
    seen: set[str] = set()
    for i, item in enumerate(expectations):
        if item.get("only") not in (None, backend):
            continue
        unknown = set(item) - _OWN_KEYS - _GX_KEYS
        if unknown:
            raise ValueError(f"{name}[{i}]: unknown keys {sorted(unknown)}")
        meta = dict(item.get("meta") or {})
        meta["check"] = item.get("check") or f"{item['type']}:{item['kwargs'].get('column', '')}"
        cfg = ExpectationConfiguration(
            type=item["type"],
            kwargs=item.get("kwargs", {}),
            meta=meta,
            severity=item.get("severity", "critical"),  # FailureSeverity: critical|warning|info
            notes=item.get("notes"),
            description=item.get("description"),
        )
        if meta["check"] in seen:
            raise ValueError(f"{name}[{i}]: duplicate check name {meta['check']!r}")
        seen.add(meta["check"])
        suite.add_expectation(
            cfg.to_domain_obj()
        )  # raises InvalidExpectationConfigurationError etc.
    return suite


# --------------------------------------------------------------------------- chunking

# Row-wise expectations: per-chunk counts add up exactly.
ROW_WISE = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list",
    "expect_column_values_to_match_like_pattern",
    "expect_column_values_to_not_match_like_pattern",
    "expect_column_values_to_match_like_pattern_list",
    "expect_column_values_to_not_match_like_pattern_list",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal",
    "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_dateutil_parseable",
    "expect_column_values_to_be_json_parseable",
    "expect_column_values_to_match_json_schema",
    "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_pair_values_to_be_in_set",
    "expect_select_column_values_to_be_unique_within_record",
    "expect_multicolumn_sum_to_equal",
    # dtype checks: pandas evaluates the column dtype (observed_value) unless dtype is object,
    # then row-wise; both aggregate (AND / sums).
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_be_in_type_list",
}
# Schema checks: same answer on every chunk -> AND.
PER_CHUNK_AND = {
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_column_to_exist",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
}
# Everything else (unique, proportion unique, distinct sets, mean/median/quantiles, row count,
# increasing/decreasing, compound unique, ...) is "whole-table": validated once on a narrow frame
# holding only the referenced columns (row count: a zero-column frame of the right length).


def _key(cfg: ExpectationConfiguration) -> tuple[str, str]:
    # Result configs carry extra kwargs (e.g. batch_id): match on type + our stable "check" name.
    return cfg.type, cfg.meta["check"]


def columns_of(cfg: ExpectationConfiguration) -> list[str]:
    kw = cfg.kwargs
    cols = [kw[k] for k in ("column", "column_A", "column_B") if kw.get(k)]
    cols += list(kw.get("column_list") or [])
    return list(dict.fromkeys(cols))


def _merge_row_wise(results: list[ExpectationValidationResult], cfg, n_sample: int) -> dict:
    exc = next(
        (r.exception_info for r in results if (r.exception_info or {}).get("raised_exception")),
        None,
    )
    if exc:
        return {"success": False, "result": {}, "exception_info": exc}
    if all("unexpected_count" not in r.result for r in results):  # dtype path (observed_value)
        return {
            "success": all(r.success for r in results),
            "result": {
                "observed_value": sorted({str(r.result.get("observed_value")) for r in results})
            },
        }
    element = sum(r.result.get("element_count") or 0 for r in results)
    unexpected = sum(r.result.get("unexpected_count") or 0 for r in results)
    has_missing = any("missing_count" in r.result for r in results)
    missing = sum(r.result.get("missing_count") or 0 for r in results)
    considered = element - missing  # GX: nonnull rows (not_be_null: all rows)
    mostly = cfg.kwargs.get("mostly", 1.0)
    success = True if considered == 0 else (considered - unexpected) / considered >= mostly
    sample, idx, counts = [], [], Counter()
    for r in results:
        sample += r.result.get("partial_unexpected_list") or []
        idx += r.result.get("partial_unexpected_index_list") or []
        for c in r.result.get("partial_unexpected_counts") or []:
            if "value" in c:
                counts[c["value"]] += c["count"]  # approximate: top-N per chunk
    res: dict[str, Any] = {
        "element_count": element,
        "unexpected_count": unexpected,
        "unexpected_percent": 100 * unexpected / considered if considered else None,
        "partial_unexpected_list": sample[:n_sample],
    }
    if has_missing:
        res |= {
            "missing_count": missing,
            "missing_percent": 100 * missing / element if element else None,
            "unexpected_percent_total": 100 * unexpected / element if element else None,
        }
    if idx:
        res["partial_unexpected_index_list"] = idx[:n_sample]
    if counts:
        res["partial_unexpected_counts"] = [
            {"value": v, "count": c} for v, c in counts.most_common(n_sample)
        ]
    return {"success": success, "result": res}


def _frame_batches(ctx, source: str, asset_name: str):
    """A whole-dataframe batch definition on a fresh asset of the pandas source `source`."""
    try:
        ds = ctx.data_sources.get(source)
    except Exception:  # noqa: BLE001 - KeyError-like DataContextError when absent
        ds = ctx.data_sources.add_pandas(source)
    if asset_name in ds.get_asset_names():
        ds.delete_asset(asset_name)
    return ds.add_dataframe_asset(asset_name).add_batch_definition_whole_dataframe("whole")


def row_wise_columns(suite: gx.ExpectationSuite) -> list[str]:
    """The columns the row-wise expectations of `suite` read: all that chunks need to hold
    when its schema checks run on a schema frame (see validate_chunks)."""
    return sorted(
        {
            c
            for e in suite.expectations
            if e.expectation_type in ROW_WISE
            for c in columns_of(e.configuration)
        }
    )


def validate_chunks(
    ctx,
    suite: gx.ExpectationSuite,
    chunks: Iterable[pd.DataFrame],
    load_columns: Callable[[list[str], int], pd.DataFrame],
    *,
    asset_name: str = "frame",
    n_sample: int = 10,
    index_columns: list[str] | None = None,
    table_rows: int | None = None,
    schema_frame: pd.DataFrame | None = None,
) -> ExpectationSuiteValidationResult:
    """Validate `suite` over an iterator of DataFrame chunks with bounded memory.

    Row-wise and schema expectations run on every chunk and are merged; the rest run once on
    load_columns(cols, total_rows) -> a full-height frame of only the columns they need.
    `table_rows`: the chunks are part of a table of that many rows, which the rest (read by
    load_columns, and row counts) are about. `schema_frame`: the table without rows; schema
    checks run once on it, and the chunks need to hold only row_wise_columns(suite) (none
    are read when there are no row-wise checks).
    """
    bd = _frame_batches(ctx, "chunks", asset_name)

    exps = list(suite.expectations)
    # schema checks: once on the schema frame when there is one, else on every chunk
    per_chunk = ROW_WISE if schema_frame is not None else ROW_WISE | PER_CHUNK_AND
    on_schema = [e for e in exps if e.expectation_type in PER_CHUNK_AND - per_chunk]
    chunk_exps = [e for e in exps if e.expectation_type in per_chunk]
    global_exps = [e for e in exps if e.expectation_type not in ROW_WISE | PER_CHUNK_AND]
    chunk_suite = gx.ExpectationSuite(
        name=suite.name + "__chunk", expectations=[copy.copy(e) for e in chunk_exps]
    )
    rf: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": n_sample}
    if index_columns:
        rf["unexpected_index_column_names"] = index_columns

    per_check: dict[str, list[ExpectationValidationResult]] = {}
    total_rows, n_chunks, meta = 0, 0, {}
    for chunk in chunks if chunk_exps else ():
        n_chunks += 1
        total_rows += len(chunk)
        r = bd.get_batch(batch_parameters={"dataframe": chunk}).validate(
            chunk_suite, result_format=rf
        )
        meta = r.meta
        for er in r.results:
            per_check.setdefault(_key(er.expectation_config), []).append(er)
        del chunk, r

    merged: list[ExpectationValidationResult] = []
    for e in chunk_exps:
        cfg = e.configuration
        rs = per_check.get(_key(cfg), [])
        if not rs:
            raise RuntimeError(f"no chunk results for {_key(cfg)} (empty input?)")
        if e.expectation_type in PER_CHUNK_AND:
            bad = next((r for r in rs if not r.success), rs[0] if rs else None)
            out = {
                "success": all(r.success for r in rs),
                "result": dict(bad.result) if bad else {},
                "exception_info": bad.exception_info if bad else None,
            }
        else:
            out = _merge_row_wise(rs, cfg, n_sample)
        merged.append(ExpectationValidationResult(expectation_config=cfg, **out))

    if global_exps:
        cols = sorted({c for e in global_exps for c in columns_of(e.configuration)})
        frame = (
            load_columns(cols, total_rows)
            if cols
            else pd.DataFrame(index=pd.RangeIndex(total_rows if table_rows is None else table_rows))
        )
        gsuite = gx.ExpectationSuite(
            name=suite.name + "__global", expectations=[copy.copy(e) for e in global_exps]
        )
        gr = bd.get_batch(batch_parameters={"dataframe": frame}).validate(gsuite, result_format=rf)
        del frame
        meta = meta or gr.meta
        merged += gr.results

    if on_schema:
        ssuite = gx.ExpectationSuite(
            name=suite.name + "__schema", expectations=[copy.copy(e) for e in on_schema]
        )
        sr = bd.get_batch(batch_parameters={"dataframe": schema_frame}).validate(
            ssuite, result_format=rf
        )
        meta = meta or sr.meta
        merged += sr.results

    meta = dict(meta)
    meta["chunking"] = {"chunks": n_chunks, "rows": total_rows}
    return _suite_result(suite, merged, meta)


def _suite_result(suite: gx.ExpectationSuite, results: list, meta: dict):
    """One suite's result from the results of its expectations, in the suite's order."""
    order = {_key(e.configuration): i for i, e in enumerate(suite.expectations)}
    results = sorted(results, key=lambda r: order[_key(r.expectation_config)])
    n_ok = sum(bool(r.success) for r in results)
    return ExpectationSuiteValidationResult(
        success=n_ok == len(results),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": n_ok,
            "unsuccessful_expectations": len(results) - n_ok,
            "success_percent": 100 * n_ok / len(results) if results else None,
        },
        meta=meta,
    )


def split_suite(
    suite: gx.ExpectationSuite, first
) -> tuple[gx.ExpectationSuite, gx.ExpectationSuite]:
    """(expectations where first(e), the others) as two suites."""
    chosen = [e for e in suite.expectations if first(e)]
    return tuple(
        gx.ExpectationSuite(name=f"{suite.name}__{i}", expectations=[copy.copy(e) for e in part])
        for i, part in enumerate((chosen, [e for e in suite.expectations if not first(e)]))
    )


def combine(
    suite: gx.ExpectationSuite, parts: list[ExpectationSuiteValidationResult]
) -> ExpectationSuiteValidationResult:
    """The result of `suite` from the results of the suites split_suite made of it."""
    return _suite_result(suite, [r for part in parts for r in part.results], dict(parts[0].meta))


def unexpected_rows(
    ctx, suite: gx.ExpectationSuite, chunks: Iterable[pd.DataFrame], index_column: str
) -> dict[Any, list[str]]:
    """{index value: [check names]} of every row that fails a row-wise expectation of `suite`,
    over a stream of chunks (each holding `index_column`). `mostly` does not apply: a row
    either meets an expectation or not."""
    not_row_wise = [
        e.expectation_type for e in suite.expectations if e.expectation_type not in ROW_WISE
    ]
    if not_row_wise:
        raise ValueError(
            f"{suite.name}: only row-wise expectations can quarantine rows, not {not_row_wise}"
        )
    bd = _frame_batches(ctx, "rows", "rows")
    rf = {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": [index_column],
        "return_unexpected_index_query": False,
    }
    failed: dict[Any, list[str]] = {}
    for chunk in chunks:
        result = bd.get_batch(batch_parameters={"dataframe": chunk}).validate(
            suite, result_format=rf
        )
        for er in result.results:
            if (er.exception_info or {}).get("raised_exception"):
                raise RuntimeError(
                    f"{er.expectation_config.meta['check']}: {er.exception_info['exception_message']}"
                )
            for row in er.result.get("unexpected_index_list") or []:
                failed.setdefault(int(row[index_column]), []).append(
                    er.expectation_config.meta["check"]
                )
    return failed


# --------------------------------------------------------------------------- reporting


def summary_rows(result: ExpectationSuiteValidationResult, n: int = 3) -> list[dict]:
    rows = []
    for er in result.results:
        c, r = er.expectation_config, er.result or {}
        exc = (
            (er.exception_info or {}).get("exception_message")
            if (er.exception_info or {}).get("raised_exception")
            else None
        )
        rows.append(
            {
                "check": (c.meta or {}).get("check"),
                "type": c.type,
                "column": c.kwargs.get("column"),
                "severity": getattr(c.severity, "value", c.severity),
                "success": er.success,
                "element_count": r.get("element_count"),
                # GX's SQL engine leaves it out when there are no rows; pandas says 0
                "unexpected_count": 0 if r.get("element_count") == 0 else r.get("unexpected_count"),
                "observed": r.get("observed_value"),
                "sample": (r.get("partial_unexpected_list") or [])[:n],
                "error": exc,
            }
        )
    return rows


def store_for_docs(
    ctx, result: ExpectationSuiteValidationResult, batch_name: str
) -> ValidationResultIdentifier:
    """Put any (e.g. merged) result into the context's in-memory results store for Data Docs."""
    run_id = RunIdentifier(run_name=batch_name, run_time=dt.datetime.now(dt.UTC))
    result.meta.setdefault("run_id", run_id)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
        run_id=run_id,
        batch_identifier=batch_name,
    )
    ctx.validation_results_store.store_validation_results(result, key)
    return key


# duckdb 2.0 + pandas 3.1: fetch_df*/df() emit "Pandas4Warning: The inplace keyword in DataFrame.drop"
warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.drop")
