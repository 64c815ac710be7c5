"""The components step at run time (the iterative path of connected_components) on graphs
built to be hard: a long chain numbered in random order, a star, and the max-rounds guard."""

from __future__ import annotations

import math
import random
import re
import subprocess
from pathlib import Path

import duckdb
import pytest
from support import run_dbt

pytestmark = pytest.mark.slow


def _graph(db: Path, nodes: list[int], edges: list[tuple[int, int]]) -> None:
    con = duckdb.connect(str(db))
    con.execute("create schema if not exists intermediate")
    con.execute("create or replace table intermediate.int_identity_nodes_numbered (node_id bigint)")
    con.execute(
        "create or replace table intermediate.int_identity_edges_built (node_a bigint, node_b bigint)"
    )
    # Whole lists in one statement each (DuckDB's executemany is one statement per row).
    con.execute(
        "insert into intermediate.int_identity_nodes_numbered select unnest(?::bigint[])", [nodes]
    )
    con.execute(
        "insert into intermediate.int_identity_edges_built "
        "select unnest(?::bigint[]), unnest(?::bigint[])",
        [[a for a, _ in edges], [b for _, b in edges]],
    )
    con.close()


def _components(db: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_dbt(
        "run", "--select", "int_identity_components_resolved", *extra, CDP_DUCKDB_PATH=str(db)
    )


def _result(db: Path) -> dict[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select node_id, component_id from intermediate.int_identity_components_resolved"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def test_chain_of_ten_thousand_converges_in_logarithmic_rounds(tmp_path):
    n = 10_000
    ids = list(range(1, n + 1))
    random.Random(7).shuffle(ids)  # hash order: the chain is numbered out of order
    star = list(range(n + 1, n + 501))  # a star of 500 around its largest node
    _graph(
        tmp_path / "g.duckdb",
        ids + star + [n + 1000],  # and one isolated node
        [(a, b) for a, b in zip(ids, ids[1:], strict=False)] + [(star[-1], s) for s in star[:-1]],
    )

    proc = _components(tmp_path / "g.duckdb")
    assert proc.returncode == 0, proc.stdout[-3000:]
    rounds = int(re.search(r"converged in (\d+) rounds", proc.stdout).group(1))
    assert rounds <= 2 * math.log2(n) + 4, rounds

    result = _result(tmp_path / "g.duckdb")
    assert {result[i] for i in ids} == {1}
    assert {result[s] for s in star} == {n + 1}
    assert result[n + 1000] == n + 1000
    assert len(result) == n + 501


def test_max_rounds_guard_fails_loudly(tmp_path):
    ids = list(range(1, 2001))
    random.Random(3).shuffle(ids)
    _graph(tmp_path / "g.duckdb", ids, list(zip(ids, ids[1:], strict=False)))

    proc = _components(tmp_path / "g.duckdb", "--vars", "{identity_components_max_rounds: 1}")
    assert proc.returncode != 0
    assert "did not converge in 1 rounds" in proc.stdout
