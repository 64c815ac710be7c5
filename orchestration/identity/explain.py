"""`cdp explain`: why a customer is one customer, or why an identifier belongs to none.

`explain(target, query)` resolves the query (a customer_id, else an identifier value as
typed or in its normalised forms, else a value a guard kept out) and collects, for each
customer it leads to (the normalised forms come from the warehouse, by the models' own rule:
orchestration/identity/normalise.py):

- the golden record (marts.dim_customers);
- the chain of source records and identifiers that joined them: a breadth-first walk of
  the bipartite graph record <-> identifier (intermediate.int_identifiers_kept on the
  customer's records) from the customer's oldest identifier, or the queried one. Every
  identifier reached is shown with the step that reached it, "A --(source:record)--> B",
  so a reader sees why it joined;
- the identifiers on the customer's records that a guard kept out, with rule and reason;
- the customer_id history rows of the customer.

Every query is filtered by customer_id or by the queried value, and the walk runs level
by level in SQL, fetching at most `max_identifiers` identifiers: a customer of a million
records costs a few small result sets, never a table loaded into Python. The SQL is
portable between DuckDB and PostgreSQL (`?` placeholders, as in warehouse.fetch_all).

The forms of the query looked up are in candidates.py, the result types in
explanation.py, and `render(explanation, console)` (render.py) prints it with rich.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from orchestration.identity.candidates import (
    Candidate,
    candidate_filter,
    candidate_rank,
    candidates,
    marks,
)
from orchestration.identity.explanation import (
    ChainStep,
    CustomerExplanation,
    Explanation,
    GuardedOnCustomer,
    GuardFinding,
    HistoryRow,
    IdentifierMatch,
)
from orchestration.identity.normalise import normalise
from orchestration.warehouse import Warehouse, WarehouseError

INTERMEDIATE = "intermediate"
MARTS = "marts"
KEPT = f"{INTERMEDIATE}.int_identifiers_kept"
NORMALISED = f"{INTERMEDIATE}.int_identifiers_normalised"
IDENTIFIERS = f"{MARTS}.bdg_customer_identifiers"
RECORDS = f"{MARTS}.bdg_customer_source_records"
CUSTOMERS = f"{MARTS}.dim_customers"
GUARD_AUDIT = f"{MARTS}.identity_guard_audit"
HISTORY = f"{MARTS}.customer_id_history"

MAX_IDENTIFIERS = 50  # identifiers shown in a customer's chain
MAX_GUARDED = 50  # guarded identifiers listed per customer
MAX_GUARD_CUSTOMERS = 20  # customers listed for a guarded value
MAX_CUSTOMERS = 3  # customers explained in full when a value matches several
MAX_GUARD_FINDINGS = 10  # guard audit rows reported for one query
MAX_HISTORY = 50
MAX_MERGE_HOPS = 20  # old customer_id -> new customer_id hops followed


# --- warehouse access ------------------------------------------------------------------

Query = Callable[[str, Sequence], list[tuple]]


@contextmanager
def _reader(target: Warehouse) -> Iterator[Query]:
    """The warehouse's read session; a missing identity table becomes a one-line error."""
    with target.read_session() as run:

        def guarded(sql: str, params: Sequence = ()) -> list[tuple]:
            try:
                return run(sql, params)
            except Exception as exc:
                if target.missing_relation(exc):
                    raise _missing(exc, target) from exc
                raise

        yield guarded


def _missing(exc: Exception, target: Warehouse) -> WarehouseError:
    first = (str(exc).strip().splitlines() or ["missing table"])[0]
    return WarehouseError(
        f"identity tables not built on {target.label} ({first}): run {target.build_command} first"
    )


# --- explain ---------------------------------------------------------------------------


def explain(
    target: Warehouse, query: str, *, max_identifiers: int = MAX_IDENTIFIERS
) -> Explanation:
    """Explain a customer_id or an identifier value; ValueError when nothing matches."""
    if query is None or not query.strip():
        raise ValueError("nothing to explain: give a customer_id or an identifier value")
    if "\n" in query or "\r" in query:
        raise ValueError("the query must be one line")
    with _reader(target) as q:
        return _explain(q, query, max_identifiers)


def _explain(q: Query, query: str, cap: int) -> Explanation:
    # 1. a customer_id, possibly one merged away since
    customer_id = _find_customer(q, query.strip())
    if customer_id is not None:
        out = Explanation(query, "customer_id")
        out.customers.append(_customer(q, customer_id, None, cap, "the queried customer_id"))
        return out
    merged = follow_merges(q, query.strip())
    if merged:
        out = Explanation(query, "merged customer_id")
        chain = " -> ".join([query.strip(), *(row.new_customer_id for row in merged)])
        out.notes.append(f"{query.strip()} no longer exists: {chain}")
        final = merged[-1].new_customer_id
        out.customers.append(_customer(q, final, None, cap, f"{query.strip()} was merged into it"))
        return out

    # 2. an identifier value, as typed or normalised; 3. a value a guard kept out
    cands = candidates(query, lambda identifier_type, value: normalise(q, identifier_type, value))
    out = Explanation(query, "identifier")
    out.matches = _find_identifiers(q, cands)
    out.guards = _find_guards(q, cands)
    if not out.matches and not out.guards:
        forms = ", ".join(sorted({repr(c.value) for c in cands}))
        raise ValueError(
            f"{query.strip()!r} is no customer_id, kept identifier or guarded value "
            f"(looked up as {forms})"
        )
    if not out.matches:
        out.resolved_as = "guarded value"
    seen: list[str] = []
    for match in out.matches:
        if match.customer_id in seen:
            continue
        seen.append(match.customer_id)
        if len(seen) > MAX_CUSTOMERS:
            continue
        out.customers.append(
            _customer(
                q,
                match.customer_id,
                match,
                cap,
                f"{match.node_key} ({match.matched_as} match) belongs to it",
            )
        )
    if len(seen) > MAX_CUSTOMERS:
        out.notes.append(
            f"the query matches identifiers of {len(seen)} customers; "
            f"the first {MAX_CUSTOMERS} are explained"
        )
    return out


def resolve_customers(q: Query, query: str) -> list[str]:
    """The customer_ids a query stands for, as `explain` resolves it: a customer_id, one
    merged away since (its survivor), else the customers holding the identifier (as typed
    or normalised, the most literal form that matches). Empty when nothing matches."""
    value = query.strip()
    if not value:
        return []
    if _find_customer(q, value) is not None:
        return [value]
    if merged := follow_merges(q, value):
        return [merged[-1].new_customer_id]
    cands = candidates(query, lambda identifier_type, v: normalise(q, identifier_type, v))
    return sorted({match.customer_id for match in _find_identifiers(q, cands)})


def _find_customer(q: Query, value: str) -> str | None:
    rows = q(f"select customer_id from {CUSTOMERS} where customer_id = ?", [value])
    return rows[0][0] if rows else None


def follow_merges(q: Query, value: str) -> list[HistoryRow]:
    """History rows leading from a vanished customer_id to the one holding its identifiers."""
    hops: list[HistoryRow] = []
    current = value
    for _ in range(MAX_MERGE_HOPS):
        rows = q(
            f"select old_customer_id, new_customer_id, changed_at, change_type, reason, "
            f"identifiers_moved from {HISTORY} where old_customer_id = ? "
            f"order by changed_at desc, identifiers_moved desc, new_customer_id limit 1",
            [current],
        )
        if not rows:
            break
        hop = HistoryRow(*rows[0])
        hops.append(hop)
        current = hop.new_customer_id
        if _find_customer(q, current) is not None:
            return hops
    return []


def _find_identifiers(q: Query, cands: Sequence[Candidate]) -> list[IdentifierMatch]:
    cond, params = candidate_filter(cands, "identifier_value")
    rows = q(
        f"select identifier_type, identifier_value, customer_id, record_count, "
        f"first_seen_at, last_seen_at from {IDENTIFIERS} where {cond}",
        params,
    )
    ranked = []
    for row in rows:
        rank = candidate_rank(cands, row[0], row[1])
        if rank is not None:
            ranked.append((rank, row))
    if not ranked:
        return []
    best = min(rank for rank, _ in ranked)
    found = sorted((row for rank, row in ranked if rank == best), key=lambda r: (r[0], r[2]))
    label = cands[best].label
    return [
        IdentifierMatch(t, v, cid, label, int(n or 0), first, last)
        for t, v, cid, n, first, last in found
    ]


def _find_guards(q: Query, cands: Sequence[Candidate]) -> list[GuardFinding]:
    cond, params = candidate_filter(cands, "identifier_value")
    raws = list(dict.fromkeys(c.value for c in cands[:2]))  # as typed, trimmed
    rows = q(
        f"select identifier_type, identifier_value, raw_value_example, guard_rule, "
        f"guard_reason, record_count, source_count, first_seen_at, last_seen_at "
        f"from {GUARD_AUDIT} where {cond} or raw_value_example in ({marks(raws)}) "
        f"order by identifier_type, identifier_value, guard_rule",
        [*params, *raws],
    )
    findings = []
    for row in rows[:MAX_GUARD_FINDINGS]:
        rank = candidate_rank(cands, row[0], row[1])
        matched_as = cands[rank].label if rank is not None else "raw value"
        customers, total, orphans = _guard_customers(q, row[0], row[1], row[3])
        findings.append(
            GuardFinding(
                identifier_type=row[0],
                identifier_value=row[1],
                raw_value_example=row[2],
                guard_rule=row[3],
                guard_reason=row[4],
                record_count=int(row[5] or 0),
                source_count=int(row[6] or 0),
                first_seen_at=row[7],
                last_seen_at=row[8],
                matched_as=matched_as,
                customers=customers,
                customers_total=total,
                records_without_customer=orphans,
            )
        )
    return findings


def _guard_customers(
    q: Query, identifier_type: str, value: str, rule: str
) -> tuple[tuple[tuple[str, int], ...], int, int]:
    """Customers the records of a guarded value belong to (through other identifiers)."""
    if rule == "invalid_format":
        carrier = "n.identifier_value is null and trim(n.raw_value) = ?"
    else:
        carrier = "n.identifier_value = ?"
    rows = q(
        f"""
        with carriers as (
            select distinct n.source, n.source_record_id
            from {NORMALISED} as n
            where n.identifier_type = ? and {carrier}
        ),
        owners as (
            select r.customer_id, count(*) as records
            from carriers as c
            left join {RECORDS} as r
                on c.source = r.source and c.source_record_id = r.source_record_id
            group by r.customer_id
        )
        select customer_id, records, count(*) over () as owner_count
        from owners
        order by case when customer_id is null then 0 else 1 end, records desc, customer_id
        limit ?
        """,
        [identifier_type, value, MAX_GUARD_CUSTOMERS + 1],
    )
    orphans = 0
    customers = []
    total = 0
    for cid, n, owner_count in rows:
        total = int(owner_count)
        if cid is None:
            orphans = int(n)
            continue
        customers.append((cid, int(n)))
    if orphans:
        total -= 1
    return tuple(customers[:MAX_GUARD_CUSTOMERS]), total, orphans


# --- one customer ----------------------------------------------------------------------


def _customer(
    q: Query, customer_id: str, start: IdentifierMatch | None, cap: int, reached_via: str
) -> CustomerExplanation:
    golden = _golden(q, customer_id)
    if start is None:
        rows = q(
            f"select identifier_type, identifier_value from {IDENTIFIERS} "
            f"where customer_id = ? "
            f"order by first_seen_at nulls last, identifier_type, identifier_value limit 1",
            [customer_id],
        )
        root = rows[0] if rows else None
    else:
        root = (start.identifier_type, start.identifier_value)
    identifiers_total = q(
        f"select count(*) from {IDENTIFIERS} where customer_id = ?", [customer_id]
    )[0][0]
    chain = _walk(q, customer_id, root, cap) if root else []
    chain = _with_record_counts(q, customer_id, chain)
    records_by_source = [
        (source, int(n))
        for source, n in q(
            f"select source, count(*) from {RECORDS} where customer_id = ? "
            f"group by source order by count(*) desc, source",
            [customer_id],
        )
    ]
    guarded, guarded_total = _guarded_on_customer(q, customer_id)
    history = [
        HistoryRow(*row)
        for row in q(
            f"select old_customer_id, new_customer_id, changed_at, change_type, reason, "
            f"identifiers_moved from {HISTORY} "
            f"where old_customer_id = ? or new_customer_id = ? "
            f"order by changed_at nulls last, old_customer_id, new_customer_id limit ?",
            [customer_id, customer_id, MAX_HISTORY],
        )
    ]
    return CustomerExplanation(
        customer_id=customer_id,
        golden=golden,
        chain=chain,
        identifiers_total=int(identifiers_total),
        records_by_source=records_by_source,
        guarded=guarded,
        guarded_total=guarded_total,
        history=history,
        chain_complete=len(chain) >= int(identifiers_total),
        reached_via=reached_via,
    )


def _golden(q: Query, customer_id: str) -> dict[str, object]:
    columns = [
        name
        for (name,) in q(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [MARTS, "dim_customers"],
        )
    ]
    rows = q(f"select * from {CUSTOMERS} where customer_id = ?", [customer_id])
    if not rows:
        return {"customer_id": customer_id}
    if len(columns) != len(rows[0]):
        columns = [f"column_{i + 1}" for i in range(len(rows[0]))]
    return dict(zip(columns, rows[0], strict=True))


def _walk(q: Query, customer_id: str, root: tuple[str, str], cap: int) -> list[ChainStep]:
    """Breadth-first walk identifier -> record -> identifier over the customer's records.

    Each level is one query: the identifiers on the records of the frontier that were not
    reached yet, each with the first link to it (earliest frontier identifier, then the
    earliest record), at most as many as the cap still allows.
    """
    steps = [ChainStep(1, 0, root[0], root[1])]
    visited = {steps[0].node_key}
    frontier = [steps[0]]
    depth = 0
    while frontier and len(steps) < cap:
        depth += 1
        values = ", ".join("(?, ?)" for _ in frontier)
        rows = q(
            f"""
            with frontier (node_key, pos) as (values {values}),
            customer_records as (
                select source, source_record_id from {RECORDS} where customer_id = ?
            ),
            links as (
                select
                    b.node_key as to_key,
                    b.identifier_type,
                    b.identifier_value,
                    a.identifier_type as from_type,
                    a.identifier_value as from_value,
                    f.pos,
                    a.source,
                    a.source_record_id,
                    a.seen_at
                from frontier as f
                inner join {KEPT} as a on a.node_key = f.node_key
                inner join customer_records as r
                    on a.source = r.source and a.source_record_id = r.source_record_id
                inner join {KEPT} as b
                    on a.source = b.source and a.source_record_id = b.source_record_id
                where b.node_key not in ({marks(visited)})
            ),
            ranked as (
                select
                    links.*,
                    row_number() over (
                        partition by to_key
                        order by pos, seen_at nulls last, source, source_record_id
                    ) as link_rank
                from links
            )
            select to_key, identifier_type, identifier_value, from_type, from_value,
                source, source_record_id, seen_at
            from ranked
            where link_rank = 1
            order by pos, seen_at nulls last, source, source_record_id, to_key
            limit ?
            """,
            [
                *(v for step in frontier for v in (step.node_key, step.position)),
                customer_id,
                *visited,
                cap - len(steps),
            ],
        )
        frontier = []
        for key, itype, ivalue, ftype, fvalue, source, record_id, seen_at in rows:
            if key in visited:  # defensive: the query already excludes them
                continue
            visited.add(key)
            step = ChainStep(
                position=len(steps) + 1,
                depth=depth,
                identifier_type=itype,
                identifier_value=ivalue,
                from_type=ftype,
                from_value=fvalue,
                via_source=source,
                via_record_id=record_id,
                via_seen_at=seen_at,
            )
            steps.append(step)
            frontier.append(step)
    return steps


def _with_record_counts(q: Query, customer_id: str, chain: list[ChainStep]) -> list[ChainStep]:
    """Each shown identifier's records on this customer, counted per source."""
    if not chain:
        return chain
    keys = [step.node_key for step in chain]
    rows = q(
        f"""
        select k.node_key, k.source, count(distinct k.source_record_id)
        from {KEPT} as k
        inner join {RECORDS} as r
            on k.source = r.source and k.source_record_id = r.source_record_id
        where r.customer_id = ? and k.node_key in ({marks(keys)})
        group by k.node_key, k.source
        order by k.node_key, count(distinct k.source_record_id) desc, k.source
        """,
        [customer_id, *keys],
    )
    counts: dict[str, list[tuple[str, int]]] = {}
    for key, source, n in rows:
        counts.setdefault(key, []).append((source, int(n)))
    return [
        ChainStep(
            position=s.position,
            depth=s.depth,
            identifier_type=s.identifier_type,
            identifier_value=s.identifier_value,
            from_type=s.from_type,
            from_value=s.from_value,
            via_source=s.via_source,
            via_record_id=s.via_record_id,
            via_seen_at=s.via_seen_at,
            records_by_source=tuple(counts.get(s.node_key, ())),
        )
        for s in chain
    ]


def _guarded_on_customer(q: Query, customer_id: str) -> tuple[list[GuardedOnCustomer], int]:
    rows = q(
        f"""
        with customer_records as (
            select source, source_record_id from {RECORDS} where customer_id = ?
        ),
        own as (
            select n.source, n.source_record_id, n.identifier_type, n.identifier_value,
                n.raw_value
            from {NORMALISED} as n
            inner join customer_records as r
                on n.source = r.source and n.source_record_id = r.source_record_id
        ),
        hits as (
            select o.identifier_type, g.identifier_value, g.guard_rule, g.guard_reason,
                o.raw_value, o.source, o.source_record_id, g.record_count
            from own as o
            inner join {GUARD_AUDIT} as g
                on
                    o.identifier_type = g.identifier_type
                    and o.identifier_value = g.identifier_value
                    and g.guard_rule <> 'invalid_format'
            union all
            select o.identifier_type,
                coalesce(g.identifier_value, trim(o.raw_value)),
                coalesce(g.guard_rule, 'invalid_format'),
                coalesce(g.guard_reason, concat('not a valid ', o.identifier_type)),
                o.raw_value, o.source, o.source_record_id, g.record_count
            from own as o
            left join {GUARD_AUDIT} as g
                on
                    o.identifier_type = g.identifier_type
                    and g.guard_rule = 'invalid_format'
                    and trim(o.raw_value) = g.identifier_value
            where o.identifier_value is null
        ),
        grouped as (
            select identifier_type, identifier_value, guard_rule, guard_reason,
                min(raw_value) as raw_value_example,
                count(distinct concat(source, ':', source_record_id)) as records_here,
                max(record_count) as record_count
            from hits
            group by identifier_type, identifier_value, guard_rule, guard_reason
        )
        select identifier_type, identifier_value, raw_value_example, guard_rule,
            guard_reason, records_here, record_count, count(*) over () as total
        from grouped
        order by guard_rule, records_here desc, identifier_type, identifier_value
        limit ?
        """,
        [customer_id, MAX_GUARDED],
    )
    guarded = [
        GuardedOnCustomer(
            identifier_type=t,
            identifier_value=v,
            raw_value_example=raw,
            guard_rule=rule,
            guard_reason=reason,
            records_here=int(here),
            record_count=None if total_records is None else int(total_records),
        )
        for t, v, raw, rule, reason, here, total_records, _ in rows
    ]
    return guarded, int(rows[0][7]) if rows else 0
