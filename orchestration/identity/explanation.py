"""What `cdp explain` finds: the result types, filled by identity/explain.py and printed
by identity/render.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class IdentifierMatch:
    """A kept identifier the query matched, and its customer."""

    identifier_type: str
    identifier_value: str
    customer_id: str
    matched_as: str  # the candidate label: exact, trimmed, normalised email, ...
    record_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None

    @property
    def node_key(self) -> str:
        return f"{self.identifier_type}:{self.identifier_value}"


@dataclass(frozen=True)
class GuardFinding:
    """A value a guard kept out of the identity graph (a row of identity_guard_audit)."""

    identifier_type: str
    identifier_value: str
    raw_value_example: str | None
    guard_rule: str
    guard_reason: str
    record_count: int
    source_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    matched_as: str = ""
    # customers its records belong to through other identifiers: (customer_id, records)
    customers: tuple[tuple[str, int], ...] = ()
    customers_total: int = 0
    records_without_customer: int = 0


@dataclass(frozen=True)
class ChainStep:
    """An identifier reached by the walk, and the record that linked it to an earlier one.

    The first step is the starting identifier (no from_*/via_*).
    """

    position: int
    depth: int
    identifier_type: str
    identifier_value: str
    from_type: str | None = None
    from_value: str | None = None
    via_source: str | None = None
    via_record_id: str | None = None
    via_seen_at: datetime | None = None
    records_by_source: tuple[tuple[str, int], ...] = ()

    @property
    def node_key(self) -> str:
        return f"{self.identifier_type}:{self.identifier_value}"

    @property
    def from_key(self) -> str | None:
        return None if self.from_type is None else f"{self.from_type}:{self.from_value}"

    @property
    def record_count(self) -> int:
        return sum(n for _, n in self.records_by_source)

    def describe(self) -> str:
        if self.from_type is None:
            return f"{self.node_key} (start)"
        return f"{self.from_key} --({self.via_source}:{self.via_record_id})--> {self.node_key}"


@dataclass(frozen=True)
class GuardedOnCustomer:
    """An identifier on the customer's records that a guard kept out."""

    identifier_type: str
    identifier_value: str
    raw_value_example: str | None
    guard_rule: str
    guard_reason: str
    records_here: int  # of this customer's records carrying it
    record_count: int | None  # all records carrying it (identity_guard_audit)


@dataclass(frozen=True)
class HistoryRow:
    old_customer_id: str
    new_customer_id: str
    changed_at: datetime | None
    change_type: str
    reason: str
    identifiers_moved: int


@dataclass
class CustomerExplanation:
    customer_id: str
    golden: dict[str, object]
    chain: list[ChainStep]
    identifiers_total: int
    records_by_source: list[tuple[str, int]]
    guarded: list[GuardedOnCustomer]
    guarded_total: int
    history: list[HistoryRow]
    chain_complete: bool  # False when the walk stopped at the cap
    reached_via: str = ""  # why this customer is explained (how the query led here)

    @property
    def records_total(self) -> int:
        return sum(n for _, n in self.records_by_source)

    @property
    def identifiers_not_shown(self) -> int:
        return max(self.identifiers_total - len(self.chain), 0)


@dataclass
class Explanation:
    query: str
    resolved_as: str  # customer_id | merged customer_id | identifier | guarded value
    matches: list[IdentifierMatch] = field(default_factory=list)
    guards: list[GuardFinding] = field(default_factory=list)
    customers: list[CustomerExplanation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def customer(self) -> CustomerExplanation | None:
        return self.customers[0] if self.customers else None
