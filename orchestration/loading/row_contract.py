"""Row-level contract at load: expectations marked `"quarantine": true` in a raw table's
suite (expectations/raw/<table>.json) are checked on each parsed batch before it reaches raw.
Rows that fail go to raw.quarantine with the name of every expectation they failed; the
others load. Tables without such expectations keep the streaming path (no extra pass).

The good rows of the parsed file are held as a DuckDB temp table (which spills to disk past
the memory limit), validated in chunks of CHUNK_ROWS with Great Expectations, and then read by
the load; they are never held whole in Python.
"""

from __future__ import annotations

import functools

from orchestration.sources import Table

CHUNK_ROWS = 100_000


def quarantine_expectations(table: Table) -> tuple[str, list[dict]] | None:
    """(suite name, its expectations marked quarantine) for a raw table, if it has any."""
    from orchestration.quality.suites import discover

    for suite in discover():  # the suites' own reader (CDP_EXPECTATIONS_DIR honoured)
        if suite.table == f"raw.{table.raw_name}":
            marked = [e for e in suite.expectations if e.get("quarantine")]
            return (suite.name, marked) if marked else None
    return None


@functools.cache
def _context():
    from orchestration.quality.gx_engine import ephemeral_context

    return ephemeral_context()


def apply(con, table: Table) -> int:
    """Move the rows of _cdp_good that fail a quarantine expectation to _cdp_bad; returns how
    many. Afterwards _cdp_good reads the held batch without them."""
    found = quarantine_expectations(table)
    if not found:
        return 0
    suite_name, expectations = found
    import pandas as pd

    from orchestration.quality.gx_engine import build_suite, columns_of, unexpected_rows

    ctx = _context()  # GX builds suites only with a context active
    suite = build_suite(expectations, "pandas", suite_name)
    columns = sorted({c for e in suite.expectations for c in columns_of(e.configuration)})
    con.execute("create or replace temp table _cdp_batch as select * from _cdp_good")
    quoted = ", ".join(f'"{c}"' for c in columns)
    result = con.execute(f"select _source_row, {quoted} from _cdp_batch")

    def chunks():
        while len(chunk := result.fetch_df_chunk(max(1, CHUNK_ROWS // 2048))):
            yield chunk

    failed = unexpected_rows(ctx, suite, chunks(), "_source_row")
    flagged = pd.DataFrame(
        {
            "_source_row": list(failed),
            "reason": [
                "; ".join(f"failed expectation {check} ({suite_name})" for check in checks)
                for checks in failed.values()
            ],
        },
        columns=["_source_row", "reason"],
    ).astype({"_source_row": "int64", "reason": "string"})
    con.register("_cdp_flagged_rows", flagged)
    try:
        con.execute(
            "create or replace temp table _cdp_flag as select _source_row::bigint as _source_row, "
            "reason::varchar as reason from _cdp_flagged_rows"
        )
    finally:
        con.unregister("_cdp_flagged_rows")
    values = ", ".join(f'"{c.name}"' for c in table.columns)
    con.execute(
        "insert into _cdp_bad select b._source_row, f.reason, "
        f"to_json(struct_pack({values}))::varchar from _cdp_batch b "
        "join _cdp_flag f using (_source_row)"
    )
    con.execute(
        "create or replace temp view _cdp_good as select * from _cdp_batch "
        "where _source_row not in (select _source_row from _cdp_flag)"
    )
    return len(failed)


def release(con) -> None:
    """Free the held batch once it is written."""
    con.execute("drop view if exists _cdp_good")
    con.execute("drop table if exists _cdp_batch")
    con.execute("drop table if exists _cdp_flag")
