"""The verification pass of an erasure: every table of the warehouse (but the privacy
schema's own) and every file of the landing folders searched for the person's values.

The values searched are the person's customer_ids, identifier values (normalised) and the
identifiers as the sources wrote them, each as text inside any text column or line, in any
case. Values shorter than MIN_SEARCH_LENGTH are left out: a short record number would be
found inside other values.
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestration.privacy.intake import FOLDER as INTAKE_FOLDER
from orchestration.privacy.resolve import MIN_SEARCH_LENGTH
from orchestration.privacy.store import ITEMS, SCHEMA
from orchestration.warehouse import qualified, quote_ident

TEXT_TYPES = ("varchar", "text", "character varying", "json", "jsonb", "character")


def terms(run, request_id: str) -> list[str]:
    rows = run(
        f"select lower(k1) from {ITEMS} where request_id = ? and kind = 'customer' "
        f"union select lower(k2) from {ITEMS} where request_id = ? "
        "and kind in ('identifier', 'raw_value')",
        [request_id, request_id],
    )
    return sorted({r[0] for r in rows if r[0] and len(r[0]) >= MIN_SEARCH_LENGTH})


def text_columns(run) -> dict[str, list[str]]:
    """{schema.table: its text columns} of every base table outside the privacy schema."""
    base = {
        (s, t)
        for s, t in run(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_catalog = current_database() "
            "and table_schema not in ('information_schema', 'pg_catalog', ?)",
            [SCHEMA],
        )
    }
    out: dict[str, list[str]] = {}
    for schema, table, column, data_type in run(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() order by table_schema, table_name, "
        "ordinal_position"
    ):
        if (schema, table) in base and data_type.lower().startswith(TEXT_TYPES):
            out.setdefault(qualified(schema, table), []).append(column)
    for key in base:  # tables without text columns are searched too (nothing to find)
        out.setdefault(qualified(*key), [])
    return dict(sorted(out.items()))


def search_tables(run, request_id: str) -> tuple[int, list[dict]]:
    """(tables searched, [{table, rows}] where a value was found)."""
    found = []
    tables = text_columns(run)
    for relation, columns in tables.items():
        if not columns:
            continue
        hit = " or ".join(
            f"position(t.v in lower(cast(r.{quote_ident(c)} as varchar))) > 0" for c in columns
        )
        [(rows,)] = run(
            f"with t as (select lower(k1) as v from {ITEMS} where request_id = ? "
            "and kind = 'customer' union select lower(k2) from "
            f"{ITEMS} where request_id = ? and kind in ('identifier', 'raw_value')) "
            f"select count(*) from {relation} r where exists (select 1 from t "
            f"where length(t.v) >= {MIN_SEARCH_LENGTH} and ({hit}))",
            [request_id, request_id],
        )
        if rows:
            found.append({"table": relation, "rows": int(rows)})
    return len(tables), found


def search_files(folders: list[Path], values: list[str]) -> tuple[int, list[dict]]:
    """(files searched, [{file, lines}] where a value was found), in the landing folders."""
    if not values:
        return 0, []
    pattern = re.compile("|".join(re.escape(v) for v in values).encode())
    searched, found = 0, []
    for folder in folders:
        if not folder.is_dir():
            continue
        requests = folder / INTAKE_FOLDER  # the requests themselves, scrubbed once taken
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.is_relative_to(requests):
                continue
            searched += 1
            lines = 0
            if path.suffix.lower() == ".parquet":
                lines = _parquet_rows_holding(path, values)
            else:
                with open(path, "rb") as fh:
                    for line in fh:
                        if pattern.search(line.lower()):
                            lines += 1
            if lines:
                found.append({"file": str(path), "lines": lines})
    return searched, found


def _parquet_rows_holding(path: Path, values: list[str]) -> int:
    """Rows of a Parquet file whose text (as JSON) holds one of the values."""
    from orchestration.warehouse.duckdb import connect_scratch

    con = connect_scratch(None)
    try:
        con.execute("create temp table _cdp_terms (v varchar)")
        con.executemany("insert into _cdp_terms values (?)", [[v] for v in values])
        return int(
            con.execute(
                "select count(*) from read_parquet(?) as t where exists (select 1 from "
                "_cdp_terms x where position(x.v in lower(to_json(t)::varchar)) > 0)",
                [str(path)],
            ).fetchone()[0]
        )
    except Exception:  # not readable as Parquet: searched as bytes instead
        pattern = re.compile("|".join(re.escape(v) for v in values).encode())
        return len(pattern.findall(path.read_bytes().lower()))
    finally:
        con.close()
