"""`cdp explain`'s explanation printed with rich."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from orchestration.identity.explanation import CustomerExplanation, Explanation


def _ts(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def _per_source(counts: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{source} {n:,}" for source, n in counts)


def render(explanation: Explanation, console) -> None:
    """Print an explanation on a rich Console."""
    from rich.markup import escape
    from rich.table import Table

    e = explanation
    console.print(f"[bold]cdp explain[/bold] {escape(e.query)!s}  →  {e.resolved_as}")
    for note in e.notes:
        console.print(f"  note: {escape(note)}")

    if e.matches:
        table = Table(title="matching identifiers", title_justify="left")
        for col in ("type", "value", "customer_id", "match", "records", "first seen", "last seen"):
            table.add_column(col, overflow="fold")
        for m in e.matches:
            table.add_row(
                m.identifier_type,
                escape(m.identifier_value),
                m.customer_id,
                m.matched_as,
                f"{m.record_count:,}",
                _ts(m.first_seen_at),
                _ts(m.last_seen_at),
            )
        console.print(table)

    for g in e.guards:
        console.print(
            f"\n[bold yellow]guarded[/bold yellow]: {g.identifier_type} "
            f"{escape(repr(g.identifier_value))} (raw e.g. {escape(repr(g.raw_value_example))}, "
            f"{g.matched_as} match) was kept out of the identity graph"
        )
        console.print(f"  rule:    {g.guard_rule}")
        console.print(f"  reason:  {escape(g.guard_reason)}")
        console.print(
            f"  records: {g.record_count:,} in {g.source_count} source(s), "
            f"seen {_ts(g.first_seen_at)} .. {_ts(g.last_seen_at)}"
        )
        if g.customers:
            shown = ", ".join(
                f"{cid} ({n} record{'s' if n != 1 else ''})" for cid, n in g.customers
            )
            more = g.customers_total - len(g.customers)
            console.print(
                f"  its records belong to {g.customers_total:,} customer(s) through other "
                f"identifiers: {shown}" + (f", and {more:,} more" if more > 0 else "")
            )
        else:
            console.print("  none of its records belongs to a customer through other identifiers")
        if g.records_without_customer:
            console.print(
                f"  {g.records_without_customer:,} of its records have no other kept "
                f"identifier (no customer)"
            )

    for c in e.customers:
        _render_customer(c, console, escape, Table)


def _render_customer(c: CustomerExplanation, console, escape, Table) -> None:
    console.rule(f"customer {c.customer_id}")
    if c.reached_via:
        console.print(f"({escape(c.reached_via)})")

    golden = Table(title="golden record (marts.dim_customers)", title_justify="left")
    golden.add_column("attribute")
    golden.add_column("value", overflow="fold")
    for name, value in c.golden.items():
        if value is None or name == "customer_id":
            continue
        golden.add_row(name, escape(_ts(value)))
    console.print(golden)

    console.print(
        f"\n[bold]why these {c.identifiers_total:,} identifiers and {c.records_total:,} "
        f"source records are one customer[/bold] ({_per_source(c.records_by_source)})"
    )
    if c.chain:
        console.print(
            f"walk from {escape(c.chain[0].node_key)}, breadth first: each identifier with "
            f"the source record that linked it to one reached before"
        )
    chain = Table(show_header=True, box=None, pad_edge=False)
    chain.add_column("#", justify="right")
    chain.add_column("step", overflow="fold")
    chain.add_column("records of the identifier")
    for s in c.chain:
        chain.add_row(str(s.position), escape(s.describe()), _per_source(s.records_by_source))
    console.print(chain)
    if c.identifiers_not_shown:
        why = (
            f"the walk stops at {len(c.chain)}"
            if not c.chain_complete
            else "not reachable from the start"
        )
        console.print(f"… and {c.identifiers_not_shown:,} more identifiers ({why})")

    console.print()
    if c.guarded:
        guarded = Table(
            title="kept out by guards (on this customer's records)", title_justify="left"
        )
        for col in ("type", "value", "raw e.g.", "rule", "reason", "records here", "records all"):
            guarded.add_column(col, overflow="fold")
        for g in c.guarded:
            guarded.add_row(
                g.identifier_type,
                escape(g.identifier_value),
                escape(g.raw_value_example or ""),
                g.guard_rule,
                escape(g.guard_reason),
                f"{g.records_here:,}",
                "" if g.record_count is None else f"{g.record_count:,}",
            )
        console.print(guarded)
        if c.guarded_total > len(c.guarded):
            console.print(f"… and {c.guarded_total - len(c.guarded):,} more guarded identifiers")
    else:
        console.print("no guarded identifier on this customer's records")

    if c.history:
        history = Table(title="customer_id history", title_justify="left")
        for col in ("changed at", "type", "old", "new", "moved", "reason"):
            history.add_column(col, overflow="fold")
        for h in c.history:
            history.add_row(
                _ts(h.changed_at),
                h.change_type,
                h.old_customer_id,
                h.new_customer_id,
                str(h.identifiers_moved),
                escape(h.reason or ""),
            )
        console.print(history)
    else:
        console.print("no customer_id changes for this customer")
