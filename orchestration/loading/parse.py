"""Parse one landing file into a typed batch and its quarantine, inside DuckDB.

DuckDB's readers do the heavy lifting (parallel, vectorised). Structural errors
(wrong column count, invalid UTF-8, over-long lines) come from the CSV reader's
reject tables; value errors (bad dates, numbers, missing required values, broken
JSON) are found with try_cast in SQL so each bad row gets a precise reason.

The file is read once: every row is parsed, checked and typed into a temp table (held in
memory up to the memory limit, spilled to disk past it), from which the good rows load and
the bad rows (with the reader's rejects) go to quarantine.

After `parse_file`, the connection holds:
  _cdp_good(<declared columns>, [payload], _source_row)  a view of the good rows
  _cdp_bad(_source_row, reason, raw_text)                 a temp table (bad rows)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from orchestration.sources import Column, Table
from orchestration.warehouse import sql_literal
from orchestration.warehouse.duckdb import DuckDBWarehouse

DUCK_TYPES = DuckDBWarehouse.types  # the parser is DuckDB, whatever the warehouse
# A byte that never appears unescaped in a valid JSON line, used as "no delimiter".
_JSONL_DELIM = "\x1f"


# Evidence and messages are bounded: at most TEXT_LIMIT characters, the length said.
TEXT_LIMIT = 1000
HEADER_LIMIT = 1 << 16


def bounded(
    text: str, limit: int = TEXT_LIMIT, total: int | None = None, unit: str = "characters"
) -> str:
    """`text` in at most `limit` characters: NUL shown as \\x00, and a text cut ends with
    its whole length. A bounded text is its own bound (applying it twice changes nothing)."""
    text = text.replace("\x00", "\\x00")
    total = len(text) if total is None else total
    if len(text) <= limit and total <= len(text):
        return text
    note = f"… ({total:,} {unit} in all)"
    return text[: max(limit - len(note), 0)] + note


def _evidence_macro(con) -> None:
    """_cdp_evidence(x): `bounded` in SQL, for the quarantine's reason and raw text."""
    note = "'… (' || format('{:,}', length(y)) || ' characters in all)'"
    con.execute(
        "create or replace temp macro _cdp_cut(y) as "
        f"case when length(y) > {TEXT_LIMIT} then left(y, {TEXT_LIMIT} - length({note})) "
        f"|| {note} else y end"
    )
    con.execute(
        "create or replace temp macro _cdp_evidence(x) as _cdp_cut(replace(x, chr(0), '\\x00'))"
    )


class BatchError(ValueError):
    """The whole file cannot be loaded (unreadable, wrong header); one line for the user,
    without the file's name: the loader puts its landing path in front."""


@dataclass(frozen=True)
class ParseResult:
    """Bad rows are counted at parse time; good rows when they are written (one pass).
    `close()` after the good rows are written frees what _cdp_good reads (a copy)."""

    rows_bad: int
    copy: object = None  # a temporary file _cdp_good reads, when the file was copied

    def close(self) -> None:
        if self.copy is not None:
            self.copy.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _numbered(con, reader: str) -> str:
    """The reader's rows numbered in file order, as a temp table (spilled to disk past the
    memory limit); returns its name. Numbering (a window over the file, which runs on one
    thread) is all this step does: the checks and types run after it, on every thread."""
    con.execute(
        f"create or replace temp table _cdp_read as select row_number() over () as _k, * "
        f"from {reader}"
    )
    return "_cdp_read"


def _reason_expr(table: Table, text_of: dict[str, str], *, nul: bool = True) -> str:
    """SQL for a '; '-joined list of everything wrong with a row (empty when fine).

    text_of maps column name -> SQL expression of its value as text (NULL when absent).
    `nul`: a text holding a NUL character is quarantined (PostgreSQL cannot store one; the
    rule is the same on every warehouse).
    """
    parts = []
    for col in table.columns:
        text = text_of[col.name]
        if nul:
            parts.append(
                f"case when strpos({text}, chr(0)) > 0 then 'NUL character in {col.name}' end"
            )
        if col.required:
            parts.append(
                f"case when nullif(trim({text}), '') is null "
                f"then 'missing required value in {col.name}' end"
            )
        if col.type not in ("varchar", "json"):
            parts.append(
                f"case when {text} is not null and {_value_expr(col, text)} "
                f"is null then 'bad {col.type} in {col.name}: ' || left({text}, 60) end"
            )
    return "concat_ws('; ', " + ", ".join(parts) + ")" if parts else "''"


def _value_expr(col: Column, text: str) -> str:
    """SQL for a column's value from its text; NULL when the text does not parse. A column
    with a `format` (date, timestamp) is read with it, spaces around allowed; a date without
    one takes what DuckDB casts (ISO, spaces around allowed) or compact YYYYMMDD. Landing
    files are parsed here for every warehouse, so the rule is the same on each."""
    duck_type = DUCK_TYPES[col.type]
    if col.format:
        return f"try_strptime(trim({text}), {sql_literal(col.format)})::{duck_type}"
    if col.type == "date":
        compact = (
            f"case when regexp_full_match(trim({text}), '[0-9]{{8}}') "
            f"then try_strptime(trim({text}), '%Y%m%d')::DATE end"
        )
        return f"coalesce(try_cast({text} as DATE), {compact})"
    return f"try_cast({text} as {duck_type})"


def _typed_expr(col: Column, text: str) -> str:
    if col.type == "varchar":
        return text
    return _value_expr(col, text)


def _csv_header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline(HEADER_LIMIT + 1)
    if len(first) > HEADER_LIMIT:
        raise BatchError(f"no header line within the first {HEADER_LIMIT:,} bytes")
    try:
        line = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise BatchError("header is not valid UTF-8") from None
    line = line.split("\r")[0]  # a file with CR line ends
    return [h.strip().strip('"') for h in line.split(",")]


def _names(names: list[str], most: int = 8) -> str:
    shown = ", ".join(bounded(n, 40) for n in names[:most])
    return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _read_csv_sql(
    path: Path, columns: dict[str, str], *, header: bool, delim: str, quote: str,
    strict: bool = True,
):  # fmt: skip
    cols = "{" + ", ".join(f"{sql_literal(n)}: {sql_literal(t)}" for n, t in columns.items()) + "}"
    return (
        f"read_csv({sql_literal(str(path))}, columns = {cols}, header = {str(header).lower()}, "
        f"delim = {sql_literal(delim)}, quote = {sql_literal(quote)}, escape = {sql_literal(quote)}, "
        f"auto_detect = false, strict_mode = {str(strict).lower()}, store_rejects = true, "
        "rejects_table = '_cdp_reject_errors', rejects_scan = '_cdp_reject_scans', "
        "rejects_limit = 0, max_line_size = 4000000)"
    )


def _parse_csv(con, table: Table, path: Path, strict: bool = True) -> None:
    header = _csv_header(path)
    expected = [c.name for c in table.columns]
    if header != expected:
        missing = [c for c in expected if c not in header]
        extra = [c for c in header if c not in expected]
        detail = []
        if missing:
            detail.append("missing " + _names(missing))
        if extra:
            detail.append("unexpected " + _names(extra))
        raise BatchError(
            f"header does not match {table.source}.{table.name} "
            f"({'; '.join(detail) or 'columns out of order'})"
        )
    reader = _read_csv_sql(
        path, {n: "VARCHAR" for n in expected}, header=True, delim=",", quote='"', strict=strict
    )
    text_of = {c.name: _ident(c.name) for c in table.columns}
    select_typed = ", ".join(
        f"{_typed_expr(c, _ident(c.name))} as {_ident(c.name)}" for c in table.columns
    )
    csv_fields = " || ',' || ".join(f"coalesce(_cdp_csv_field({_ident(n)}), '')" for n in expected)
    numbered = _numbered(con, reader)
    con.execute(
        "create or replace temp macro _cdp_csv_field(x) as "
        "case when x similar to '.*[,\"].*' then '\"' || replace(x, '\"', '\"\"') || '\"' else x end"
    )
    con.execute(
        f"""
        create or replace temp view _cdp_parsed as
        with checked as (
            select *, {_reason_expr(table, text_of)} as _reason from {numbered}
        ),
        typed as (
            select _k, {select_typed}, _reason,
                   case when _reason <> '' then _cdp_evidence({csv_fields}) end as _raw_text
            from checked
        )
        select * from typed
        """
    )


def _json_depth(text: str) -> int:
    """Deepest nesting of objects and arrays in a JSON text (brackets in strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest


def _deeper_than(limit: int) -> str:
    """SQL: the line nests deeper than `limit`. Counting brackets bounds the depth from
    above in SQL; only lines with more than `limit` brackets are measured exactly."""
    return (
        f"length(line) - length(replace(replace(line, '{{', ''), '[', '')) > {limit} "
        f"and _cdp_json_depth(line) > {limit}"
    )


def _register_json_depth(con) -> None:
    import duckdb

    try:
        con.create_function(
            "_cdp_json_depth", _json_depth, [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("INTEGER"), side_effects=False,
        )  # fmt: skip
    except (duckdb.CatalogException, duckdb.NotImplementedException):
        pass  # registered on this connection already


def _parse_jsonl(con, table: Table, path: Path) -> None:
    _register_json_depth(con)
    reader = _read_csv_sql(path, {"line": "VARCHAR"}, header=False, delim=_JSONL_DELIM, quote="")
    paths = [f"$.{c.path or c.name}" for c in table.columns]
    # One JSON parse per line: extract every declared path at once.
    text_of = {
        c.name: f"nullif(_v[{i + 1}], 'null')" if c.type != "json" else f"_j[{i + 1}]"
        for i, c in enumerate(table.columns)
    }
    select_typed = ", ".join(
        f"{_typed_expr(c, text_of[c.name])}::{DUCK_TYPES[c.type]} as {_ident(c.name)}"
        for c in table.columns
    )
    payload = ", _doc::JSON as payload" if table.keep_payload else ""
    path_list = "[" + ", ".join(sql_literal(p) for p in paths) + "]"
    numbered = _numbered(con, reader)
    con.execute(
        f"""
        create or replace temp view _cdp_parsed as
        with valid as (
            select _k, line,
                   case when json_valid(line) and json_type(line) = 'OBJECT' then line end as _doc
            from {numbered}
        ),
        extracted as (
            select *, json_extract_string(_doc, {path_list}) as _v,
                      json_extract(_doc, {path_list}) as _j
            from valid
        ),
        checked as (
            select *,
                   case when _doc is null then 'malformed JSON'
                        when strpos(line, '\\u0000') > 0
                             and regexp_matches(line, '(^|[^\\\\])(\\\\\\\\)*\\\\u0000')
                        then 'NUL character (\\u0000) in JSON'
                        when {_deeper_than(table.delivery.json_max_depth)}
                        then 'JSON nested deeper than {table.delivery.json_max_depth} levels'
                        else {_reason_expr(table, text_of, nul=False)} end as _reason
            from extracted
        ),
        typed as (
            select _k, {select_typed}{payload}, _reason,
                   case when _reason <> '' then _cdp_evidence(line) end as _raw_text
            from checked
        )
        select * from typed
        """
    )


def _parse_parquet(con, table: Table, path: Path) -> None:
    names = [c.name for c in table.columns]
    try:
        schema = {
            r[0] for r in con.execute("select name from parquet_schema(?)", [str(path)]).fetchall()
        }
    except Exception as exc:  # duckdb raises several kinds for unreadable files
        first = (str(exc).splitlines() or [""])[0]
        raise BatchError(f"not a readable Parquet file ({bounded(first, 200)})") from None
    missing = [n for n in names if n not in schema]
    if missing:
        raise BatchError(
            f"Parquet schema of {table.source}.{table.name} lacks {', '.join(missing)}"
        )
    text_of = {c.name: f"{_ident(c.name)}::VARCHAR" for c in table.columns}
    select_typed = ", ".join(
        f"{_typed_expr(c, text_of[c.name])} as {_ident(c.name)}" for c in table.columns
    )
    cols = ", ".join(_ident(n) for n in names)
    con.execute(
        f"""
        create or replace temp view _cdp_parsed as
        with src as (
            select file_row_number + 1 as _k, {cols}
            from read_parquet({sql_literal(str(path))}, file_row_number = true)
        ),
        checked as (select *, {_reason_expr(table, text_of)} as _reason from src)
        select _k, {select_typed}, _reason,
               case when _reason <> '' then _cdp_evidence(to_json(struct_pack({cols}))::VARCHAR) end
                   as _raw_text
        from checked
        """
    )


def _line_end(fh, term: bytes) -> int:
    """Reads on to just after the next line end (or the end of the file); returns the
    offset reached. Reads in blocks: a line of any length costs no memory."""
    while block := fh.read(1 << 20):
        at = block.find(term)
        if at >= 0:
            fh.seek(at + 1 - len(block), 1)
            return fh.tell()
    return fh.tell()


def _line_start(fh, pos: int, term: bytes) -> int:
    """Offset of the start of the physical line holding byte `pos`."""
    while pos > 0:
        back = min(pos, 1 << 16)
        fh.seek(pos - back)
        at = fh.read(back).rfind(term)
        if at >= 0:
            return pos - back + at + 1
        pos -= back
    return 0


def _skeleton(text: str) -> str:
    """Letters and digits before the first character DuckDB may have rendered otherwise (a
    non-ASCII one, or its `?` for undecodable bytes, which sometimes takes a neighbour)."""
    head = []
    for c in text[: 4 * TEXT_LIMIT]:
        if not c.isascii() or c == "?":
            break
        if c.isalnum():
            head.append(c)
    return "".join(head)[:200]


def _same_record(body: bytes, seen: str) -> bool:
    ours, theirs = _skeleton(body.decode("utf-8", errors="replace")), _skeleton(seen)
    return ours.startswith(theirs) or theirs.startswith(ours)


def _record_text(fh, pos: int, csv_line: str | None, term: bytes) -> str:
    """The bytes of the rejected record that the reader saw at about byte `pos`: as many
    physical lines as the reader's own text of it spans (a quote left open takes the lines
    after it), checked against that text; the line before or after when the reader's
    position was off. Bounded: TEXT_LIMIT characters, then the length."""
    seen = (csv_line or "").lstrip("\r\n")
    lines = 1 + seen.count(term.decode())
    start = _line_start(fh, pos, term)
    for offset in (0, 1, -1):
        at = start
        if offset == 1:
            fh.seek(start)
            at = _line_end(fh, term)
        elif offset == -1:
            at = _line_start(fh, max(start - 1, 0), term) if start else None
        if at is None:
            continue
        fh.seek(at)
        head = fh.read(4 * TEXT_LIMIT)
        fh.seek(at)
        end = at
        for _ in range(lines):
            end = _line_end(fh, term)
        size = end - at
        body = head[: max(size, 0)].rstrip(b"\r\n")
        text = body.decode("utf-8", errors="backslashreplace")
        if not seen or _same_record(body, seen):
            whole = size <= len(head)  # else only its first bytes were read
            return bounded(text) if whole else bounded(text, total=size, unit="bytes")
    return bounded(seen)  # nothing matched: the reader's own rendering of the record


def _terminator(fh) -> bytes:
    head = fh.read(1 << 16)
    fh.seek(0)
    return b"\r" if b"\n" not in head and b"\r" in head else b"\n"


def _collect_rejects(con, path: Path | None) -> None:
    """One row per rejected record, with the exact bytes of the record."""
    rows = []
    if path is not None:
        rows = con.execute(
            """
        select line, min(line_byte_position), any_value(csv_line),
               string_agg(distinct lower(error_type), '; ' order by lower(error_type))
        from _cdp_reject_errors group by line order by line
        """
        ).fetchall()
    out = []
    if rows:
        with open(path, "rb") as fh:
            term = _terminator(fh)
            for line, pos, csv_line, kinds in rows:
                reason = kinds.replace("invalid encoding", "invalid UTF-8 (wrong encoding)")
                out.append((line, reason, _record_text(fh, pos, csv_line, term)))
    con.execute(
        "create or replace temp table _cdp_reject_lines "
        "(line bigint, reason varchar, raw_text varchar)"
    )
    if out:
        con.execute(
            "insert into _cdp_reject_lines select unnest(?), unnest(?), unnest(?)",
            [list(column) for column in zip(*out, strict=True)],
        )


# Pass one keeps every _BUCKET-th row as a sentinel, so the flagged rows bound the row count.
_BUCKET = 4096


def _place(con, table: Table, header_lines: int, row_offset: int) -> None:
    """Map reader ordinals to physical line numbers; define good rows, collect bad ones.

    The k-th row the reader returned sits after every rejected line j whose count of
    good lines before it (its data index minus its rank among rejects) is below k. The
    shift is constant on intervals of k; each interval is spread over fixed-size buckets
    of k so the big side meets it in an ordinary (streaming, order-keeping) hash join.
    """
    cols = [c.name for c in table.columns] + (["payload"] if table.keep_payload else [])
    col_sql = ", ".join(f"p.{_ident(c)}" for c in cols)
    con.execute(
        """
        create or replace temp table _cdp_steps as
        with rejects as (
            select line - ? - row_number() over (order by line) as good_before,
                   row_number() over (order by line) as n_before
            from _cdp_reject_lines
        )
        select good_before, max(n_before) as n_before from rejects group by good_before
        """,
        [header_lines],
    )
    con.execute(
        f"""
        create or replace temp table _cdp_shift as
        with starts as (
            select 1::bigint as lo, 0::bigint as n
            union all
            select good_before + 1, n_before from _cdp_steps where good_before >= 0
        ),
        intervals as (
            select lo, coalesce(lead(lo) over (order by lo) - 1,
                                (select coalesce(max(_k), 0) from _cdp_flagged) + {_BUCKET}) as hi,
                   max(n) over (order by lo) as n
            from starts
        )
        select b, lo, hi, n from intervals, generate_series(lo // {_BUCKET}, hi // {_BUCKET}) t(b)
        where lo <= hi
        """
    )
    shifted = con.execute("select count(*) from _cdp_steps").fetchone()[0] > 0
    base = int(header_lines) + int(row_offset)
    if shifted:
        row = f"p._k + {base} + s.n"
        join = f"join _cdp_shift as s on p._k // {_BUCKET} = s.b and p._k between s.lo and s.hi"
    else:
        row, join = f"p._k + {base}", ""
    con.execute(
        f"""
        create or replace temp view _cdp_good as
        select {col_sql}, {row} as _source_row
        from _cdp_rows as p {join}
        where p._reason = ''
        """
    )
    con.execute(
        f"""
        create or replace temp table _cdp_bad as
        select {row} as _source_row, p._reason as reason, p._raw_text as raw_text
        from _cdp_flagged as p {join}
        where p._reason <> ''
        union all
        select line + {int(row_offset)}, reason, raw_text from _cdp_reject_lines
        """
    )


def release(con) -> None:
    """Free what a parsed file holds, once its rows are written."""
    con.execute("drop view if exists _cdp_good")
    con.execute("drop table if exists _cdp_rows")
    con.execute("drop table if exists _cdp_read")


def _line_ends_normalised(path: Path, out) -> None:
    """Copy a JSON-lines file with CRLF and lone CR line ends written as LF (the reader
    stops at a line end it does not expect); a CR inside a line is a line end, as the CSV
    reader takes it."""
    with open(path, "rb") as src:
        carry = b""
        while block := src.read(1 << 20):
            block = carry + block
            carry = b"\r" if block.endswith(b"\r") else b""
            block = block[:-1] if carry else block
            out.write(block.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        out.write(carry.replace(b"\r", b"\n"))
    out.flush()


def _reader_failed(exc: Exception) -> bool:
    return "state machine reached an invalid state" in str(exc)


def parse_file(con, table: Table, path: Path, *, row_offset: int = 0) -> ParseResult:
    """`_parse_file`, once more where the strict reader gives up on mixed line ends: CSV
    with the lenient reader, JSON lines from a copy with LF line ends. Any other error of
    the reader refuses the file in one line."""
    import tempfile

    import duckdb

    try:
        return _parse_file(con, table, path, row_offset=row_offset)
    except duckdb.Error as exc:
        if not _reader_failed(exc):
            raise BatchError(reader_error(exc)) from None
    try:
        if table.format == "csv":
            return _parse_file(con, table, path, row_offset=row_offset, strict=False)
        from orchestration.warehouse import descriptor_path

        copy = tempfile.NamedTemporaryFile(suffix=".jsonl")  # noqa: SIM115 - closed by the caller
        try:
            _line_ends_normalised(path, copy)
            same = Path(descriptor_path(copy.fileno()) or copy.name)
            parsed = _parse_file(con, table, same, row_offset=row_offset)
        except BaseException:
            copy.close()
            raise
        return ParseResult(parsed.rows_bad, copy)
    except duckdb.Error as exc:
        raise BatchError(reader_error(exc)) from None


def is_reader_error(exc: Exception) -> bool:
    """The error is DuckDB's reader's about the file (not the warehouse's)."""
    import duckdb

    return isinstance(exc, duckdb.InvalidInputException | duckdb.ConversionException)


def reader_error(exc: Exception) -> str:
    """DuckDB's first line, without the reader's own path (a descriptor), bounded."""
    first = (str(exc).strip().splitlines() or ["unreadable"])[0]
    return "cannot be parsed: " + bounded(
        re.sub(r"/proc/self/fd/\d+|/dev/fd/\d+", "the file", first), 300
    )


def _parse_file(
    con, table: Table, path: Path, *, row_offset: int = 0, strict: bool = True
) -> ParseResult:
    """Parse `path` for `table` into the temp tables _cdp_good and _cdp_bad; source rows
    are counted from `row_offset` (the lines of a file before the part given)."""
    if not path.is_file():
        raise BatchError("file not found")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise BatchError(f"cannot read file ({exc.strerror})") from exc
    for name in ("_cdp_reject_errors", "_cdp_reject_scans"):
        con.execute(f"drop table if exists {name}")
    _evidence_macro(con)
    if table.format == "csv":
        _parse_csv(con, table, path, strict)
        header_lines = 1
    elif table.format == "jsonl":
        _parse_jsonl(con, table, path)
        header_lines = 0
    else:
        _parse_parquet(con, table, path)
        header_lines = 0  # file_row_number already is the row's position
    # The one pass over the file: every row parsed, checked and typed once, held in a temp
    # table (which spills to disk past the memory limit) that the rest reads; the reader
    # fills its reject tables on the way. Then the bad rows are kept, plus a sentinel every
    # _BUCKET rows.
    con.execute("create or replace temp table _cdp_rows as select * from _cdp_parsed")
    con.execute("drop table if exists _cdp_read")  # the text as read, typed into _cdp_rows
    con.execute(
        "create or replace temp table _cdp_flagged as "
        "select _k, _reason, _raw_text from _cdp_rows "
        f"where _reason <> '' or _k % {_BUCKET} = 0"
    )
    _collect_rejects(con, path if table.format != "parquet" else None)
    _place(con, table, header_lines, row_offset)
    bad = con.execute("select count(*) from _cdp_bad").fetchone()[0]
    return ParseResult(rows_bad=bad)
