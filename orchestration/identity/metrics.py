"""Accuracy and health of the identity graph after a build.

With the generator's ground truth (truth/record_person.csv in the landing folder) the
record-to-customer mapping of marts.bdg_customer_source_records is scored pairwise: a pair
of source records is a true pair when the truth puts them on one person, a predicted pair
when they share a customer_id. Records of the truth without a customer count as customers
of their own. Without truth only graph health is reported.

The bridge is exported from the warehouse to a temporary Parquet or CSV file and scored in
an in-memory DuckDB, so memory stays bounded on either warehouse.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestration.warehouse import Target, duckdb_connect, pg_connect

BRIDGE = "marts.bdg_customer_source_records"
IDENTIFIERS = "marts.bdg_customer_identifiers"
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

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _export(target: Target, sql: str, dest: Path) -> str:
    """Write a query's rows to dest; return the DuckDB reader expression for it."""
    if target.name == "duckdb":
        with duckdb_connect(target.duckdb_path, read_only=True) as con:
            con.execute(f"copy ({sql}) to '{dest}.parquet' (format parquet)")
        return f"read_parquet('{dest}.parquet')"
    with pg_connect() as con, con.cursor() as cur, open(f"{dest}.csv", "w", encoding="utf-8") as fh:
        cur.copy_expert(f"copy ({sql}) to stdout with (format csv, header true)", fh)
        con.rollback()
    return f"read_csv('{dest}.csv', header = true, all_varchar = false)"


def compute(target: Target, truth_csv: Path | None) -> IdentityMetrics:
    import duckdb

    with tempfile.TemporaryDirectory(prefix="cdp-identity-") as tmp:
        bridge = _export(
            target,
            f"select source, source_record_id, customer_id from {BRIDGE}",
            Path(tmp) / "bridge",
        )
        idents = _export(
            target,
            f"select customer_id, count(*) as n from {IDENTIFIERS} group by customer_id",
            Path(tmp) / "identifiers",
        )
        con = duckdb.connect()
        try:
            con.execute(f"create table bridge as select * from {bridge}")
            con.execute(f"create table idents as select * from {idents}")
            sizes = con.execute(
                "select count(*), coalesce(max(n), 0) from "
                "(select customer_id, count(*) as n from bridge group by customer_id)"
            ).fetchone()
            ident_stats = con.execute(
                "select coalesce(max(n), 0), coalesce(avg(n), 0), "
                "coalesce(quantile_cont(n, 0.99), 0) from idents"
            ).fetchone()
            largest_idents = con.execute(
                "select coalesce(max(i.n), 0) from idents i join "
                "(select customer_id from bridge group by customer_id "
                " order by count(*) desc limit 1) b using (customer_id)"
            ).fetchone()[0]
            buckets = {}
            for lo, hi in SIZE_BUCKETS:
                cond = f"n >= {lo}" + (f" and n <= {hi}" if hi else "")
                label = f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi else f">{lo - 1}")
                buckets[label] = con.execute(
                    "select count(*) from (select count(*) as n from bridge "
                    f"group by customer_id) where {cond}"
                ).fetchone()[0]
            metrics = IdentityMetrics(
                customers=sizes[0],
                records_matched=con.execute("select count(*) from bridge").fetchone()[0],
                largest_customer_records=sizes[1],
                largest_customer_identifiers=int(largest_idents),
                identifiers_per_customer_avg=round(float(ident_stats[1]), 2),
                identifiers_per_customer_p99=round(float(ident_stats[2]), 1),
                records_per_customer=buckets,
            )
            if truth_csv is not None and truth_csv.exists():
                _score(con, truth_csv, metrics)
            return metrics
        finally:
            con.close()


def _score(con, truth_csv: Path, metrics: IdentityMetrics) -> None:
    con.execute(
        "create table truth as select source, source_record_id, person_id "
        f"from read_csv('{truth_csv}', header = true, all_varchar = true) "
        "where person_id is not null"
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
