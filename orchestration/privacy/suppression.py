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

MAX_TEXT = 320  # longer texts are no identifier
CHUNK = 1000  # values per insert


def listed(session, warehouse) -> dict[str, set[str]]:
    """{identifier type: salted hashes} of the suppression list (empty before any erasure)."""
    if not store.exists(warehouse, session.run):
        return {}
    out: dict[str, set[str]] = {}
    for identifier_type, digest in session.run(
        f"select identifier_type, identifier_hash from {store.SUPPRESSED}"
    ):
        out.setdefault(identifier_type, set()).add(digest)
    return out


def apply(sink, table: Table, hashes: dict[str, set[str]]) -> int:
    """Leave the rows of the parsed batch (`_cdp_good` of the sink's parser) that hold a
    suppressed identifier out of it; how many."""
    if not hashes:
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
    values = [r[0] for r in parser.execute("select distinct v from _cdp_texts").fetchall()]
    found = _matching(sink.session, values, hashes)
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


def _matching(session, values: list[str], hashes: dict[str, set[str]]) -> set[str]:
    """The values whose normal form, for a listed type, is on the list."""
    if not values:
        return set()
    key = store.salt()
    session.run("create temp table if not exists _cdp_suppress_check (v varchar)")
    session.run("delete from _cdp_suppress_check")
    try:
        for start in range(0, len(values), CHUNK):  # plain inserts: the parser's names are
            part = values[start : start + CHUNK]  # its own (on DuckDB it is this connection)
            marks = ", ".join("(?)" for _ in part)
            session.run(f"insert into _cdp_suppress_check values {marks}", part)
        found = set()
        for identifier_type, digests in hashes.items():
            rows = session.run(
                f"select v, {FUNCTION}(?, v, cast(null as varchar)) from _cdp_suppress_check",
                [identifier_type],
            )
            found |= {
                v
                for v, normal in rows
                if normal is not None and store.keyed_hash(identifier_type, normal, key) in digests
            }
        return found
    finally:
        session.run("drop table if exists _cdp_suppress_check")
