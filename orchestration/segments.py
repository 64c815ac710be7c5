"""The segments' build history (segments.segment_runs, written by each segment model's
post-hook, macros/segments/record_segment_membership.sql), as the CLI and reports read it."""

from __future__ import annotations

from orchestration.warehouse import Warehouse

SCHEMA, RUNS = "segments", "segment_runs"

LATEST_BUILDS_SQL = f"""
    select r.segment_name, r.run_at, r.size, r.entered, r.exited,
           (select count(*) from {SCHEMA}.{RUNS} p where p.segment_name = r.segment_name)
    from {SCHEMA}.{RUNS} r
    where r.run_at = (select max(l.run_at) from {SCHEMA}.{RUNS} l
                      where l.segment_name = r.segment_name)
    order by r.segment_name
"""


def latest_builds(warehouse: Warehouse) -> list[tuple] | None:
    """(segment, built at, size, entered, exited, builds so far) of each segment's newest
    build, or None before the first build."""
    if RUNS not in warehouse.existing_tables(SCHEMA):
        return None
    return warehouse.fetch_all(LATEST_BUILDS_SQL)
