"""Accuracy and health of the identity graph after a build.

With the generator's ground truth (truth/record_person.csv in the landing folder) the
record-to-customer mapping of marts.bdg_customer_source_records is scored pairwise: a pair
of source records is a true pair when the truth puts them on one person, a predicted pair
when they share a customer_id. Records of the truth without a customer count as customers
of their own. Without truth only graph health is reported.

The bridge is exported from the warehouse to a temporary Parquet or CSV file and scored in
an in-memory DuckDB, so memory stays bounded on either warehouse. Files are named to DuckDB
as bound parameters, through warehouse.literal_path: a landing folder may be called anything.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestration.seeds import person_identifier_types
from orchestration.warehouse import Warehouse, literal_path, sql_literal

TRUTH_FILE = Path("truth") / "record_person.csv"  # in the landing folder, from `cdp generate`
BRIDGE = "marts.bdg_customer_source_records"
IDENTIFIERS = "marts.bdg_customer_identifiers"
NORMALISED = "intermediate.int_identifiers_normalised"
SIZE_BUCKETS = ((1, 1), (2, 10), (11, 100), (101, 1000), (1001, None))


@dataclass
class IdentityMetrics:
    customers: int
    records_matched: int
    largest_customer_records: int
    largest_customer_identifiers: int
    identifiers_per_customer_avg: float
    identifiers_per_customer_p99: float
    records_per_customer: dict[str, int] = field(default_factory=dict)
    # with ground truth only
    truth_records: int | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    customers_spanning_people: int | None = None
    people_split: int | None = None
    # recall of linking every pair of one person's records that share any identifier
    # value, guards ignored: pairs the data gives no link for are out of any resolver's reach
    recall_ceiling: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class _Export:
    """A query's rows in a file, and the DuckDB reader of it (the file bound to its `?`)."""

    path: Path
    reader: str


def _export(target: Warehouse, sql: str, dest: Path) -> _Export:
    """Write a query's rows to a file next to dest (the engine picks the format)."""
    with target.session(read_only=True) as session:
        return _Export(*session.export(sql, dest))


def _load(con, table: str, columns: str, export: _Export) -> None:
    """create table `table` as the export's rows (columns: a select list)."""
    with literal_path(export.path) as name:
        con.execute(f"create table {table} as select {columns} from {export.reader}", [name])


def truth_file(landing: Path) -> Path | None:
    """The generator's ground truth in a landing folder, when there is one."""
    path = landing / TRUTH_FILE
    return path if path.exists() else None


def compute(target: Warehouse, truth_csv: Path | None) -> IdentityMetrics:
    from orchestration.warehouse.duckdb import connect_scratch

    with tempfile.TemporaryDirectory(prefix="cdp-identity-") as tmp:
        bridge = _export(
            target,
            f"select source, source_record_id, customer_id from {BRIDGE}",
            Path(tmp) / "bridge",
        )
        person_types = ", ".join(sql_literal(t) for t in person_identifier_types())
        idents = _export(  # values a person holds few of: an order id per order is no sign
            target,
            f"select customer_id, count(*) as n from {IDENTIFIERS} "
            f"where identifier_type in ({person_types}) group by customer_id",
            Path(tmp) / "identifiers",
        )
        con = connect_scratch()
        try:
            _load(con, "bridge", "*", bridge)
            _load(con, "idents", "customer_id, n::bigint as n", idents)
            con.execute(
                "create table sizes as select customer_id, count(*) as n "
                "from bridge group by customer_id"
            )
            sizes = con.execute("select count(*), coalesce(max(n), 0) from sizes").fetchone()
            ident_stats = con.execute(
                "select coalesce(avg(n), 0), coalesce(quantile_cont(n, 0.99), 0) from idents"
            ).fetchone()
            largest_idents = con.execute(
                "select coalesce(max(i.n), 0) from idents i join "
                "(select customer_id from sizes order by n desc, customer_id limit 1) b "
                "using (customer_id)"
            ).fetchone()[0]
            whens, bounds = [], []
            for lo, hi, label in _bucket_labels():
                whens.append("when n >= ? and n <= ? then ?" if hi else "when n >= ? then ?")
                bounds.extend([lo, hi, label] if hi else [lo, label])
            counted = dict(
                con.execute(
                    f"select case {' '.join(whens)} end, count(*) from sizes group by 1", bounds
                ).fetchall()
            )
            buckets = {label: counted.get(label, 0) for _, _, label in _bucket_labels()}
            metrics = IdentityMetrics(
                customers=sizes[0],
                records_matched=con.execute("select count(*) from bridge").fetchone()[0],
                largest_customer_records=sizes[1],
                largest_customer_identifiers=int(largest_idents),
                identifiers_per_customer_avg=round(float(ident_stats[0]), 2),
                identifiers_per_customer_p99=round(float(ident_stats[1]), 1),
                records_per_customer=buckets,
            )
            if truth_csv is not None and truth_csv.exists():
                _score(con, truth_csv, metrics)
                normalised = _export(
                    target,
                    "select source, source_record_id, "
                    "concat(identifier_type, ':', identifier_value) as node_key "
                    f"from {NORMALISED} where identifier_value is not null",
                    Path(tmp) / "normalised",
                )
                metrics.recall_ceiling = _recall_ceiling(con, normalised)
            return metrics
        finally:
            con.close()


def _bucket_labels() -> list[tuple[int, int | None, str]]:
    """(low, high, label) of each customer-size bucket: '1', '2-10', ..., '>1000'."""
    return [
        (lo, hi, f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi else f">{lo - 1}"))
        for lo, hi in SIZE_BUCKETS
    ]


def _score(con, truth_csv: Path, metrics: IdentityMetrics) -> None:
    with literal_path(truth_csv) as name:
        con.execute(
            "create table truth as select source, source_record_id, person_id "
            "from read_csv(?, header = true, all_varchar = true) where person_id is not null",
            [name],
        )
    con.execute(
        """
        create table joined as
        select t.person_id,
               coalesce(b.customer_id, 'unmatched:' || t.source || ':' || t.source_record_id) as cid
        from truth t
        left join bridge b using (source, source_record_id)
        """
    )
    pairs = "sum(n * (n - 1) / 2)"
    tp = con.execute(
        f"select coalesce({pairs}, 0) from (select count(*)::hugeint n from joined group by cid, person_id)"
    ).fetchone()[0]
    predicted = con.execute(
        f"select coalesce({pairs}, 0) from (select count(*)::hugeint n from joined group by cid)"
    ).fetchone()[0]
    actual = con.execute(
        f"select coalesce({pairs}, 0) from (select count(*)::hugeint n from joined group by person_id)"
    ).fetchone()[0]
    precision = float(tp) / float(predicted) if predicted else 1.0
    recall = float(tp) / float(actual) if actual else 1.0
    metrics.truth_records = con.execute("select count(*) from truth").fetchone()[0]
    metrics.precision = round(precision, 5)
    metrics.recall = round(recall, 5)
    metrics.f1 = round(2 * precision * recall / (precision + recall), 5) if tp else 0.0
    metrics.customers_spanning_people = con.execute(
        "select count(*) from (select cid from joined where cid not like 'unmatched:%' "
        "group by cid having count(distinct person_id) > 1)"
    ).fetchone()[0]
    metrics.people_split = con.execute(
        "select count(*) from (select person_id from joined group by person_id "
        "having count(distinct cid) > 1)"
    ).fetchone()[0]


def _recall_ceiling(con, normalised: _Export) -> float:
    """Pairwise recall of the best grouping the identifiers allow within each person."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    con.execute(
        "create table truth_records as select row_number() over () - 1 as rid, source, "
        "source_record_id, dense_rank() over (order by person_id) - 1 as person from truth"
    )
    with literal_path(normalised.path) as name:
        con.execute(
            f"""
            create table person_links as
            select r.rid, dense_rank() over (order by r.person, n.node_key) - 1 as node
            from truth_records r
            join {normalised.reader} n using (source, source_record_id)
            """,
            [name],
        )
    records = con.execute("select count(*) from truth_records").fetchone()[0]
    nodes = con.execute("select coalesce(max(node) + 1, 0) from person_links").fetchone()[0]
    links = con.execute("select rid, node from person_links").fetchnumpy()
    size = records + nodes
    graph = coo_matrix(
        (np.ones(len(links["rid"]), dtype=np.int8), (links["rid"], links["node"] + records)),
        shape=(size, size),
    )
    _, labels = connected_components(graph, directed=False)
    person = con.execute("select person from truth_records order by rid").fetchnumpy()["person"]
    groups = person.astype(np.int64) * size + labels[:records]
    linkable = _pairs(np.unique(groups, return_counts=True)[1])
    actual = _pairs(np.unique(person, return_counts=True)[1])
    return round(linkable / actual, 5) if actual else 1.0


def _pairs(counts) -> int:
    return int(sum(int(n) * (int(n) - 1) // 2 for n in counts))
