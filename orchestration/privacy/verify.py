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
from orchestration.privacy.store import PERSON_VALUES_SQL, base_tables
from orchestration.warehouse import quote_ident

TEXT_TYPES = ("varchar", "text", "character varying", "json", "jsonb", "character")


def terms(run, request_id: str) -> list[str]:
    return sorted({v for (v,) in run(PERSON_VALUES_SQL, [request_id, request_id]) if v})


def text_columns(run) -> dict[str, list[str]]:
    """{schema.table: its text columns} of every base table outside the privacy schema."""
    return {
        relation: [c for c, t in columns.items() if t.lower().startswith(TEXT_TYPES)]
        for relation, columns in base_tables(run).items()
    }


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
            f"with t as ({PERSON_VALUES_SQL}) "
            f"select count(*) from {relation} r where exists (select 1 from t where {hit})",
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
