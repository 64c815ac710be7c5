"""Rows that carry an erased person's identifier are not loaded.

While a file loads, before its rows are written: every text of the parsed batch (each text
column, and each string inside a kept JSON payload) is normalised by the warehouse's own
rule (the function `normalise_identifier`, as the identity models normalise) for each
identifier type on the suppression list, hashed with the salt, and looked up in the list.
A row holding a listed identifier in any of its texts is left out of the load, counted
(privacy.suppressed_loads and the run summary) without its values, and kept nowhere.
With an empty list nothing of this runs.
"""

from __future__ import annotations

from orchestration.identity.normalise import FUNCTION
from orchestration.privacy import store
from orchestration.sources import Table
from orchestration.warehouse import csv_rows

MAX_TEXT = 320  # longer texts are no identifier


def active(session, warehouse) -> bool:
    """Whether the suppression list holds anything (it is empty before any erasure)."""
    if not store.exists(session.run):
        return False
    return session.run(f"select count(*) from {store.SUPPRESSED}")[0][0] > 0


def apply(sink, table: Table, listed: bool) -> int:
    """Leave the rows of the parsed batch (`_cdp_good` of the sink's parser) that hold a
    suppressed identifier out of it; how many. `listed`: the list holds anything."""
    if not listed:
        return 0
    parser = sink.parser
    parts = [
        f'select _source_row, "{c.name}" as v from _cdp_good where "{c.name}" is not null'
        for c in table.columns
        if c.type == "varchar"
    ]
    if table.keep_payload:
        parts.append(
            "select g._source_row, json_extract_string(j.atom, '$') as v "
            "from _cdp_good as g, json_tree(g.payload) as j where j.type = 'VARCHAR'"
        )
    if not parts:
        return 0
    parser.execute(
        "create or replace temp table _cdp_texts as select _source_row, trim(v) as v from ("
        + " union all ".join(parts)
        + f") as t where length(trim(v)) between 1 and {MAX_TEXT}"
    )
    found = _matching(sink)
    if not found:
        parser.execute("drop table _cdp_texts")
        return 0
    parser.execute("create or replace temp table _cdp_found (v varchar)")
    parser.executemany("insert into _cdp_found values (?)", [[v] for v in sorted(found)])
    parser.execute(
        "create or replace temp table _cdp_kept as select * from _cdp_good where _source_row "
        "not in (select t._source_row from _cdp_texts t join _cdp_found f on t.v = f.v)"
    )
    before = parser.execute("select count(*) from _cdp_good").fetchone()[0]
    parser.execute("create or replace temp view _cdp_good as select * from _cdp_kept")
    after = parser.execute("select count(*) from _cdp_good").fetchone()[0]
    parser.execute("drop table _cdp_texts")
    parser.execute("drop table _cdp_found")
    return int(before - after)


def record(session, manifest: dict) -> None:
    """The count of a load's suppressed rows (no values) in privacy.suppressed_loads."""
    session.run(
        f"insert into {store.SUPPRESSED_LOADS} values (?, ?, ?, ?, ?)",
        [
            manifest["load_id"],
            manifest["table_name"],
            manifest["file_path"],
            manifest["rows_suppressed"],
            store.now(),
        ],
    )


def release(parser) -> None:
    """After the load: what apply() held."""
    parser.execute("drop view if exists _cdp_good")
    parser.execute("drop table if exists _cdp_kept")


def _matching(sink) -> set[str]:
    """The batch's texts whose normal form, for a listed type, is on the list: normalised
    and hashed in the warehouse, where the list is. Where the batch was parsed beside the
    warehouse (PostgreSQL), its distinct texts are copied over first."""
    session, warehouse = sink.session, sink.warehouse
    if warehouse.reads_files:  # parsed in the warehouse itself: the texts are there
        texts = "(select distinct v from _cdp_texts)"
    else:
        session.run("create temp table if not exists _cdp_suppress_check (v varchar)")
        session.run("delete from _cdp_suppress_check")
        rows = sink.parser.execute("select distinct v from _cdp_texts").fetchall()
        data, _ = csv_rows(rows)
        session.copy_in("_cdp_suppress_check", ["v"], data)
        texts = "_cdp_suppress_check"
    normal = f"{FUNCTION}(y.identifier_type, t.v, cast(null as varchar))"
    hashed, params = store.keyed_hash_sql(warehouse, "y.identifier_type", normal)
    try:
        rows = session.run(  # hashes first, then an equality join (a hash join)
            f"with hashed as (select t.v, y.identifier_type, {hashed} as h from {texts} as t "
            f"cross join (select distinct identifier_type from {store.SUPPRESSED}) as y) "
            f"select distinct hashed.v from hashed join {store.SUPPRESSED} as s "
            "on s.identifier_type = hashed.identifier_type and s.identifier_hash = hashed.h",
            params,
        )
    finally:
        if not warehouse.reads_files:
            session.run("drop table if exists _cdp_suppress_check")
    return {v for (v,) in rows}
