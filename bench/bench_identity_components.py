"""Benchmark: the identity graph's connected components on DuckDB (the dbt models) vs scipy.

Both sides start from the same input, intermediate.int_identifiers_kept (source record ->
graph node_key), and both timings include turning the text node keys into integers:

- DuckDB: `dbt run` of int_identity_nodes_numbered (node_key -> node_id), int_identity_edges_built
  (star edges per source record) and int_identity_components_resolved (the rounds of
  macros/identity/connected_components.sql), i.e. the project's own SQL. The figure is the
  sum of dbt's execution_time of the three models (dbt start-up and parsing excluded); each
  statement's time comes from dbt's debug log, so the components step is broken down by round.
- scipy: the same (record, node_key) rows read into numpy (reported apart), node keys and
  record ids factorised with numpy.unique(return_inverse=True), a star from each record's
  smallest node to its other nodes, a sparse matrix, scipy.sparse.csgraph.connected_components.

The partitions are then compared (component counts, a full one-to-one check of the labels,
and sampled co-membership pairs). Target: DuckDB <= 3x scipy.

The input comes from the real pipeline: generate N customers, load them into a fresh DuckDB
file, `dbt seed` and `dbt run --select +int_identifiers_kept`. With --edges-from DB the
int_identifiers_kept table of an existing warehouse is copied into a fresh bench file
instead (the warehouse itself is only read).

    python bench/bench_identity_components.py [--customers 1000000] [--edges-from DB]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
DBT = str(Path(sys.executable).with_name("dbt"))
KEPT = "intermediate.int_identifiers_kept"
NODES = "intermediate.int_identity_nodes_numbered"
EDGES = "intermediate.int_identity_edges_built"
COMPONENTS = "intermediate.int_identity_components_resolved"
MODELS = [
    "int_identity_nodes_numbered",
    "int_identity_edges_built",
    "int_identity_components_resolved",
]
TARGET_RATIO = 3.0

GENERATE = """
import sys
from pathlib import Path
from orchestration.generator import generate
r = generate(int(sys.argv[1]), 42, Path(sys.argv[2]))
print("@@bench", sum(f.rows for f in r.files))
"""

LOAD = """
import sys
from pathlib import Path
from orchestration.loading.loader import load_tables
from orchestration.sources import all_tables
from orchestration.warehouse import resolve_warehouse
results = load_tables(resolve_warehouse("duckdb"), all_tables(), Path(sys.argv[1]))
print("@@bench", sum(r.rows_loaded for r in results), sum(len(r.errors) for r in results))
"""


def _env(db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CDP_TARGET": "duckdb",
        "CDP_DUCKDB_PATH": str(db.resolve()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def _child(code: str, *args: str, db: Path) -> tuple[float, list[str]]:
    """(seconds, fields of the @@bench line) of a Python child process."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        env=_env(db),
        cwd=PROJECT_DIR,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"stage failed with exit code {proc.returncode}")
    marked = [ln.split()[1:] for ln in proc.stdout.splitlines() if ln.startswith("@@bench ")]
    return time.perf_counter() - started, marked[-1]


def dbt(db: Path, work: Path, *args: str) -> float:
    """Run dbt on the bench file with private target and log folders; wall seconds."""
    logs = work / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    cmd = [
        DBT,
        *args,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(logs),
        "--log-format-file",
        "json",
        "--log-level-file",
        "debug",
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=_env(db),
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stdout[-4000:])
        raise SystemExit(f"`dbt {' '.join(args)}` failed with exit code {proc.returncode}")
    return seconds


def build_input(args: argparse.Namespace, work: Path, db: Path) -> None:
    """intermediate.int_identifiers_kept in the fresh bench file `db`."""
    import duckdb

    if args.edges_from and Path(args.edges_from).resolve() == db:
        raise SystemExit(f"--edges-from {db} is the bench file itself: pass another --work")
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    if args.edges_from:
        src = Path(args.edges_from).resolve()
        started = time.perf_counter()
        with duckdb.connect(str(db)) as con:
            con.execute("attach ? as src (read_only)", [str(src)])
            con.execute("create schema intermediate")
            con.execute(f"create table {KEPT} as select * from src.{KEPT}")
            rows = con.execute(f"select count(*) from {KEPT}").fetchone()[0]
        print(
            f"input: {rows:,} rows of {KEPT} copied from {src} in {time.perf_counter() - started:.1f} s"
        )
        return
    landing = work / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    gen_s, (rows,) = _child(GENERATE, str(args.customers), str(landing), db=db)
    print(f"input: generated {args.customers:,} customers ({int(rows):,} rows) in {gen_s:.1f} s")
    load_s, (loaded, errors) = _child(LOAD, str(landing), db=db)
    print(f"input: loaded {int(loaded):,} rows ({errors} file errors) in {load_s:.1f} s")
    if not args.keep:
        shutil.rmtree(landing, ignore_errors=True)
    seed_s = dbt(db, work, "seed")
    run_s = dbt(db, work, "run", "--select", "+int_identifiers_kept")
    with duckdb.connect(str(db), read_only=True) as con:
        kept = con.execute(f"select count(*) from {KEPT}").fetchone()[0]
    print(
        f"input: dbt seed {seed_s:.1f} s, dbt run +int_identifiers_kept {run_s:.1f} s "
        f"-> {kept:,} rows in {KEPT}"
    )


# --- DuckDB side: the dbt models, timed from dbt's own records ---------------------------

STEP_PATTERNS = [  # (step, regex on the statement), first match wins
    ("init labels", r"__cc_labels\b.* as select node_id, node_id as label"),
    ("init edges", r"__cc_edges\b.* as\s+select distinct\s+least\(node_a"),
    ("hook", r"__cc_parents\b.* as select b as v, min\(a\) as p"),
    ("jump check", r"select count\(\*\) from \(select 1 from \S+__cc_parents\S* as c inner join"),
    ("jump", r"__cc_scratch\b.* as\s+select parent\.v, coalesce\(grandparent\.p"),
    ("relabel", r"__cc_scratch\b.* as\s+select labels\.node_id, coalesce\(parents\.p"),
    ("contract", r"__cc_scratch\b.* as\s+select distinct\s+least\(new_a"),
    ("edge count", r"select count\(\*\) from \(select 1 from \S+__cc_edges"),
]


def _step(sql: str) -> str:
    flat = " ".join(sql.split())
    for name, pattern in STEP_PATTERNS:
        if re.search(pattern, flat):
            return name
    return "other (drop/rename/final table/cleanup)"


def read_dbt_log(work: Path) -> tuple[list[tuple[str, str, float]], str]:
    """[(model, sql, seconds)] of every statement dbt ran for a model, and the macro's log line."""
    statements, pending, cc_line = [], {}, ""
    for line in (work / "logs" / "dbt.log").read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        name, data = event["info"]["name"], event.get("data", {})
        model = (data.get("node_info") or {}).get("node_name", "")
        if name == "SQLQuery":
            pending[model] = data.get("sql", "")
        elif name == "SQLQueryStatus" and model in pending:
            statements.append((model, pending.pop(model), float(data.get("elapsed", 0.0))))
        elif "connected components:" in event["info"].get("msg", ""):
            cc_line = event["info"]["msg"]
    return statements, cc_line


def run_duckdb(db: Path, work: Path) -> dict:
    wall = dbt(db, work, "run", "--select", *MODELS)
    results = json.loads((work / "target" / "run_results.json").read_text(encoding="utf-8"))
    per_model = {
        r["unique_id"].split(".")[-1]: float(r["execution_time"]) for r in results["results"]
    }
    statements, cc_line = read_dbt_log(work)
    m = re.search(
        r"(\d+) edges converged in (\d+) rounds \((\d+) pointer-jumping passes\) in ([\d.]+) s",
        cc_line,
    )
    return {
        "wall": wall,
        "models": per_model,
        "seconds": sum(per_model[m_] for m_ in MODELS),
        "statements": statements,
        "cc_edges": int(m.group(1)) if m else None,
        "rounds": int(m.group(2)) if m else None,
        "jumps": int(m.group(3)) if m else None,
        "cc_seconds": float(m.group(4)) if m else None,
    }


def report_statements(statements: list[tuple[str, str, float]]) -> None:
    by_model: dict[str, float] = defaultdict(float)
    for model, _, secs in statements:
        by_model[model] += secs
    print("  SQL time per model (sum of statement times from dbt's debug log):")
    for model in MODELS:
        print(f"    {model:<36} {by_model[model]:8.2f} s")
    rounds: list[dict[str, list[float]]] = [defaultdict(list)]  # round 0 = set-up and teardown
    for model, sql, secs in statements:
        if model != MODELS[2]:
            continue
        step = _step(sql)
        if step == "hook":
            rounds.append(defaultdict(list))
        rounds[-1][step].append(secs)
    print("  components step, per round (seconds; n = statements):")
    steps = [name for name, _ in STEP_PATTERNS] + ["other (drop/rename/final table/cleanup)"]
    for i, r in enumerate(rounds):
        parts = [
            f"{step} {sum(r[step]):.2f}" + (f" (n={len(r[step])})" if len(r[step]) > 1 else "")
            for step in steps
            if r.get(step)
        ]
        total = sum(sum(v) for v in r.values())
        label = "set-up/teardown" if i == 0 else f"round {i}"
        print(f"    {label:<16} {total:7.2f} s: " + ", ".join(parts))
    totals: dict[str, float] = defaultdict(float)
    for r in rounds:
        for step, v in r.items():
            totals[step] += sum(v)
    print("  components step, per kind of statement over all rounds:")
    for step in steps:
        if step in totals:
            print(f"    {step:<40} {totals[step]:7.2f} s")


# --- scipy side --------------------------------------------------------------------------


def _fixed_width(values):
    """Object array of str -> numpy fixed-width bytes (ASCII fast path, else UTF-8)."""
    import numpy as np

    try:
        return values.astype(np.bytes_)
    except UnicodeEncodeError:
        return np.array([v.encode() for v in values], dtype=np.bytes_)


def read_pairs(db: Path):
    """(source, source_record_id, node_key) of every kept row as fixed-width byte arrays.

    One column per query (a plain scan keeps insertion order), so that only one column of
    Python strings is alive at a time."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        nulls = con.execute(
            f"select count(*) from {KEPT} where source_record_id is null"
        ).fetchone()[0]
        if nulls:  # SQL's partition by puts them in one record per source; so does ''
            print(f"  note: {nulls:,} kept rows have no source_record_id")
        return tuple(
            _fixed_width(con.execute(f"select {expr} as c from {KEPT}").fetchnumpy()["c"])
            for expr in ("source", "coalesce(source_record_id, '')", "node_key")
        )


def factorise_unique(values):
    """(sorted distinct values, code of each value): numpy.unique(return_inverse=True)."""
    import numpy as np

    return np.unique(values, return_inverse=True)


def factorise_hashed(values):
    """Same as factorise_unique but grouped on a 64-bit hash of the bytes (distinct values
    in first-seen-of-hash order), checked exactly afterwards; numpy.unique on a collision."""
    import numpy as np

    n, width = len(values), values.dtype.itemsize
    words = -(-width // 8)
    buf = np.zeros((n, words * 8), dtype=np.uint8)
    buf[:, :width] = values.view(np.uint8).reshape(n, width)
    cols = buf.view(np.uint64)
    h = np.full(n, 0x9E3779B97F4A7C15, dtype=np.uint64)
    for w in range(words):
        h ^= cols[:, w]
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    _, first, codes = np.unique(h, return_index=True, return_inverse=True)
    if not np.array_equal(cols[first][codes], cols):  # a hash collision: exact fallback
        return factorise_unique(values)
    return values[first], codes


def run_scipy(source, record_id, node_key, factorise=factorise_unique) -> dict:
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    t0 = time.perf_counter()
    keys, node = factorise(node_key)
    _, src = factorise(source)
    rids, rid = factorise(record_id)
    record = src.astype(np.int64) * len(rids) + rid
    n = len(keys)
    t1 = time.perf_counter()
    # star from each record's smallest node to its other nodes
    order = np.argsort(record, kind="stable")
    record_sorted, node_sorted = record[order], node[order].astype(np.int64)
    first = np.empty(len(order), dtype=bool)
    first[:1] = True
    np.not_equal(record_sorted[1:], record_sorted[:-1], out=first[1:])
    hub = np.minimum.reduceat(node_sorted, np.flatnonzero(first))[np.cumsum(first) - 1]
    keep = node_sorted != hub
    a, b = hub[keep], node_sorted[keep]
    t2 = time.perf_counter()
    graph = coo_matrix((np.ones(len(a), dtype=np.float64), (a, b)), shape=(n, n)).tocsr()
    t3 = time.perf_counter()
    count, labels = connected_components(graph, directed=False)
    t4 = time.perf_counter()
    return {
        "keys": keys,
        "labels": labels,
        "nodes": n,
        "components": int(count),
        "star_edges": len(a),
        "distinct_edges": graph.nnz,
        "factorise": t1 - t0,
        "edges": t2 - t1,
        "matrix": t3 - t2,
        "cc": t4 - t3,
        "seconds": t4 - t0,
    }


def compare(db: Path, sp: dict, samples: int) -> tuple[bool, int, str]:
    """Same partition? (ok, DuckDB component count, detail)."""
    import duckdb
    import numpy as np

    with duckdb.connect(str(db), read_only=True) as con:
        cols = con.execute(
            f"select n.node_key as k, c.component_id as c from {NODES} as n"
            f" inner join {COMPONENTS} as c on c.node_id = n.node_id"
        ).fetchnumpy()
    duck_keys = _fixed_width(cols["k"])
    duck_comp = np.asarray(cols["c"], dtype=np.int64)
    keys, labels = sp["keys"], sp["labels"].astype(np.int64)
    by_key = np.argsort(keys)
    keys, labels = keys[by_key], labels[by_key]
    if len(duck_keys) != len(keys):
        return (
            False,
            len(np.unique(duck_comp)),
            f"node counts differ: {len(duck_keys):,} vs {len(keys):,}",
        )
    idx = np.searchsorted(keys, duck_keys)
    idx[idx >= len(keys)] = 0
    if not np.array_equal(keys[idx], duck_keys):
        return False, len(np.unique(duck_comp)), "node keys differ"
    sp_comp = labels[idx]  # scipy label of each DuckDB row
    n_duck = len(np.unique(duck_comp))
    pairs = len(np.unique(duck_comp * (sp["components"] + 1) + sp_comp))
    one_to_one = n_duck == sp["components"] == pairs
    # sampled co-membership: random pairs, and pairs drawn inside one DuckDB component
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(duck_comp), samples), rng.integers(0, len(duck_comp), samples)
    random_ok = np.array_equal(duck_comp[i] == duck_comp[j], sp_comp[i] == sp_comp[j])
    order = np.argsort(duck_comp, kind="stable")
    comp_sorted = duck_comp[order]
    starts = np.searchsorted(comp_sorted, comp_sorted, side="left")
    sizes = np.searchsorted(comp_sorted, comp_sorted, side="right") - starts
    pos = rng.integers(0, len(order), samples)
    mate = order[starts[pos] + (rng.random(samples) * sizes[pos]).astype(np.int64)]
    same_ok = bool(np.all(sp_comp[order[pos]] == sp_comp[mate]))
    multi = int(np.sum(sizes[pos] > 1))
    ok = one_to_one and random_ok and same_ok
    detail = (
        f"one-to-one label mapping {'yes' if one_to_one else 'NO'} ({pairs:,} label pairs); "
        f"{samples:,} random node pairs {'agree' if random_ok else 'DISAGREE'}; "
        f"{samples:,} same-component pairs ({multi:,} in components of 2+ nodes) "
        f"{'agree' if same_ok else 'DISAGREE'}"
    )
    return ok, n_duck, detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--edges-from",
        metavar="DB",
        help="reuse intermediate.int_identifiers_kept of this DuckDB warehouse (read only)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/cdp_bench_identity"))
    parser.add_argument("--samples", type=int, default=100_000, help="co-membership pairs to check")
    parser.add_argument(
        "--keep", action="store_true", help="keep the landing files and bench database"
    )
    args = parser.parse_args()

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.duckdb"
    build_input(args, work, db)

    duck = run_duckdb(db, work)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        nodes = con.execute(f"select count(*) from {NODES}").fetchone()[0]
        edges = con.execute(f"select count(*) from {EDGES}").fetchone()[0]
        kept = con.execute(f"select count(*) from {KEPT}").fetchone()[0]

    started = time.perf_counter()
    pairs = read_pairs(db)
    read_s = time.perf_counter() - started
    sp = run_scipy(*pairs)
    hashed = run_scipy(*pairs, factorise=factorise_hashed)
    del pairs

    ok, duck_components, detail = compare(db, sp, args.samples)
    ok_hashed, _, _ = compare(db, hashed, 1000)
    scale = f"{args.customers:,} customers" if not args.edges_from else f"input {args.edges_from}"
    print(f"\nidentity connected components, {scale}: {kept:,} kept (record, node) rows")
    print(f"graph: {nodes:,} nodes, {edges:,} edges (int_identity_edges_built)")
    m = duck["models"]
    print(
        f"DuckDB (dbt models, execution_time): {duck['seconds']:.2f} s = "
        f"numbering {m[MODELS[0]]:.2f} s + edges {m[MODELS[1]]:.2f} s + components {m[MODELS[2]]:.2f} s; "
        f"{duck['rounds']} rounds, {duck['jumps']} pointer-jumping passes, "
        f"macro log {duck['cc_seconds']} s for {duck['cc_edges']:,} edges; "
        f"dbt wall incl. start-up {duck['wall']:.1f} s"
    )
    report_statements(duck["statements"])
    for label, result in (("scipy (numpy.unique)", sp), ("scipy (hashed factorisation)", hashed)):
        print(
            f"{label}: {result['seconds']:.2f} s = factorise {result['factorise']:.2f} s"
            f" + star edges {result['edges']:.2f} s + sparse matrix {result['matrix']:.2f} s"
            f" + connected_components {result['cc']:.2f} s"
        )
    print(
        f"scipy graph: {sp['nodes']:,} nodes, {sp['star_edges']:,} star edges "
        f"({sp['distinct_edges']:,} distinct; hubs follow a different numbering than the SQL's); "
        f"reading the rows into numpy (not included) {read_s:.2f} s"
    )
    print(
        f"components: DuckDB {duck_components:,}, scipy {sp['components']:,} (hashed {hashed['components']:,})"
    )
    print(
        f"same partition: {'yes' if ok else 'NO'} ({detail}); hashed variant {'yes' if ok_hashed else 'NO'}"
    )
    ratio = duck["seconds"] / sp["seconds"]
    print(
        f"ratio DuckDB/scipy: {ratio:.2f}x "
        f"[target <= {TARGET_RATIO:g}x scipy: {'met' if ratio <= TARGET_RATIO else 'MISSED'}]"
    )
    ratio_h = duck["seconds"] / hashed["seconds"]
    print(
        f"ratio DuckDB/scipy with hashed factorisation: {ratio_h:.2f}x "
        f"[{'met' if ratio_h <= TARGET_RATIO else 'MISSED'} against that baseline]"
    )
    ok = ok and ok_hashed
    if not args.keep:
        for stale in (db, db.with_suffix(".duckdb.wal")):
            stale.unlink(missing_ok=True)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
