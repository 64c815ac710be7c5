"""What the generator writes for each source table, and how it plants defects.

The SQL file of a table (sql/<source>_<table>.sql) selects one row per record with the
declared columns already formatted as text, plus p (person index), pid (truth person
id), r (row index within the person) and file_row (0-based position in the file). This
module wraps it into a view `<source>_<table>_rows` with the file line, the planted
defect kind (NULL for a good row) and the record id, so the data file, the ground
truth and the defect list all come from the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sources import Table, get_table
from .vocab import sql_str

# Values that make a field unparseable under the contract.
BAD_TIMESTAMPS = ["2026-02-30 10:15:00", "not a date", "31/12/2025 14:00"]
BAD_DATES = ["1985-02-30", "unknown", "31/12/1985"]
NON_NUMERIC = ["N/A", "abc", "12.3.4", '"1,234.50"']
# chr(1) marks a byte that is patched to 0xE9 (cp1252 'é') after the file is written,
# which makes the line invalid UTF-8.
MARK = "' || chr(1) || '"


@dataclass(frozen=True)
class Spec:
    source: str
    table: str
    ext: str
    count_column: str  # per-person row count in the persons table
    tag: int  # hash tag base for this table's defect draws
    invalid_utf8: tuple[str, str] | None = None  # (column, SQL expression with a marker)

    @property
    def raw(self) -> str:
        return f"{self.source}_{self.table}"

    @property
    def contract(self) -> Table:
        return get_table(self.source, self.table)

    def file(self, part: int) -> str:
        return f"{self.source}/{self.table}_part-{part:04d}.{self.ext}"

    @property
    def header_lines(self) -> int:
        return 1 if self.ext == "csv" else 0

    @property
    def line_base(self) -> int:
        """Physical line (or parquet row) number of file_row 0."""
        return 1 + self.header_lines


SPECS: tuple[Spec, ...] = (
    Spec("web", "events", "jsonl", "cnt_web", 3000),
    Spec("crm", "contacts", "csv", "cnt_crm", 3010, ("first_name", f"'Jos{MARK}'")),
    Spec("shop", "orders", "csv", "cnt_orders", 3020, ("ship_name", f"'Ren{MARK}e Dubois'")),
    Spec("shop", "order_items", "parquet", "cnt_items", 3030),
    Spec("pos", "transactions", "csv", "cnt_pos", 3040, ("payment_method", f"'carte d{MARK}bit'")),
    Spec("loyalty", "members", "csv", "cnt_loyalty", 3050, ("first_name", f"'Andr{MARK}'")),
    Spec("email", "events", "csv", "cnt_email", 3060, ("campaign_name", f"'Soir{MARK}e VIP'")),
    Spec(
        "support", "tickets", "csv", "cnt_support", 3070, ("requester_name", f"'Jos{MARK} Garcia'")
    ),
    Spec(
        "consent",
        "records",
        "csv",
        "cnt_consent",
        3080,
        ("collection_point", f"'pr{MARK}ferences'"),
    ),
)


def _pick(values: list[str], tag: int) -> str:
    return f"[{', '.join(sql_str(v) for v in values)}][1 + hi3(p, r, {tag}) % {len(values)}]"


def csv_defect_kinds(spec: Spec) -> list[str]:
    t = spec.contract
    types = {c.type for c in t.columns}
    kinds = ["bad_timestamp", "extra_field", "missing_field", "empty_required"]
    if spec.invalid_utf8:
        kinds.append("invalid_utf8")
    if types & {"decimal", "integer", "bigint", "double"}:
        kinds.append("non_numeric")
    if "date" in types:
        kinds.append("bad_date")
    return kinds


def _csv_line(cols: list[str], values: dict[str, str]) -> str:
    parts: list[str] = []
    for i, name in enumerate(cols):
        if i:
            parts.append("','")
        parts.append(values[name])
    return "concat(" + ", ".join(parts) + ")"


def csv_line_expr(spec: Spec) -> str:
    """SQL for the text of a CSV line, by planted defect kind."""
    t = spec.contract
    cols = [c.name for c in t.columns]
    good = {c.name: f"q_{c.name}" for c in t.columns}  # quoted fields, see rows_view_sql
    ts_col = next(c.name for c in t.columns if c.type == "timestamp" and c.required)
    num_cols = [c for c in t.columns if c.type in ("decimal", "integer", "bigint", "double")]
    num_col = next((c.name for c in num_cols if c.required), num_cols[0].name if num_cols else None)
    date_col = next((c.name for c in t.columns if c.type == "date"), None)
    required = [c.name for c in t.columns if c.required]
    tag = spec.tag

    branches = {
        "bad_timestamp": _csv_line(cols, {**good, ts_col: _pick(BAD_TIMESTAMPS, tag + 2)}),
        "extra_field": f"concat({_csv_line(cols, good)}, ',unexpected')",
        "missing_field": _csv_line(cols[:-1], good),
    }
    empty = "''"
    empties = " ".join(
        f"when {i} then {_csv_line(cols, {**good, name: empty})}" for i, name in enumerate(required)
    )
    branches["empty_required"] = f"case hi3(p, r, {tag + 3}) % {len(required)} {empties} end"
    if spec.invalid_utf8:
        col, value = spec.invalid_utf8
        branches["invalid_utf8"] = _csv_line(cols, {**good, col: f"({value})"})
    if num_col:
        branches["non_numeric"] = _csv_line(cols, {**good, num_col: _pick(NON_NUMERIC, tag + 4)})
    if date_col:
        branches["bad_date"] = _csv_line(cols, {**good, date_col: _pick(BAD_DATES, tag + 5)})
    whens = " ".join(f"when {sql_str(k)} then {v}" for k, v in branches.items())
    return f"case defect {whens} else {_csv_line(cols, good)} end"


def record_id_expr(spec: Spec) -> str:
    ids = list(spec.contract.record_id)
    if len(ids) == 1:
        return ids[0]
    return "concat(" + ", '|', ".join(f"{c}::varchar" for c in ids) + ")"


def defect_flag(spec: Spec, rate: float, forced: int) -> str:
    return f"(hu3(p, r, {spec.tag}) < {rate!r} or file_row = {forced})"


def rows_view_sql(spec: Spec, inner_sql: str, rate: float, forced: int) -> str:
    """The `<raw>_rows` view over a table's SQL: person_id, file_row, rid, dup, defect, line."""
    view = f"{spec.raw}_rows"
    flag = defect_flag(spec, rate, forced)
    if spec.ext == "csv":
        kinds = csv_defect_kinds(spec)
        quoted = ", ".join(
            f"csvq({c.name}) as q_{c.name}" if c.type == "varchar" else f"{c.name} as q_{c.name}"
            for c in spec.contract.columns
        )
        return f"""
create view {view} as
select person_id, file_row, rid, dup, defect, {csv_line_expr(spec)} as line
from (
    select
        pid as person_id, file_row, {record_id_expr(spec)} as rid, false as dup, defect, p, r,
        {quoted}
    from (
        select *, case when {flag} then {_kind_pick(kinds, spec.tag + 1)} end as defect
        from ({inner_sql})
    )
)"""
    if spec.ext == "parquet":
        cols = [c.name for c in spec.contract.columns]
        select_cols = ", ".join(
            "case when defect is null then order_id end as order_id" if c == "order_id" else c
            for c in cols
        )
        return f"""
create view {view} as
select pid as person_id, file_row, {record_id_expr(spec)} as rid, false as dup, defect,
    {select_cols}
from (
    select *, case when {flag} then 'null_order_id' end as defect
    from ({inner_sql})
)"""
    raise ValueError(f"{spec.raw}: the web events view is written in SQL")


def _kind_pick(kinds: list[str], tag: int) -> str:
    return f"[{', '.join(sql_str(k) for k in kinds)}][1 + hi3(p, r, {tag}) % {len(kinds)}]"
