"""The forms of what a user typed that `cdp explain` looks up: as typed, trimmed, lower
case, and normalised by the warehouse with the models' own rule (identity/normalise.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchestration.identity.normalise import RULE_TYPES


@dataclass(frozen=True)
class Candidate:
    """One form of the query to look up: for any identifier type, or for one type."""

    label: str
    value: str
    identifier_type: str | None = None


LABELS = {"phone": "normalised phone (E.164, default country)"}


def candidates(
    query: str, normalised: Callable[[str, str], str | None] | None = None
) -> list[Candidate]:
    """The forms of a query value, most literal first, without repeats.

    `normalised(identifier_type, value)` gives the value's form under the models' rule for
    that type (orchestration.identity.normalise, evaluated by the warehouse), or None.
    """
    trimmed = query.strip()
    out: list[Candidate] = []
    forms = [
        Candidate("exact", query),
        Candidate("trimmed", trimmed),
        Candidate("lower-cased", trimmed.lower()),
    ]
    for identifier_type in RULE_TYPES if normalised else ():
        if (value := normalised(identifier_type, query)) is not None:
            label = LABELS.get(identifier_type, f"normalised {identifier_type}")
            forms.append(Candidate(label, value, identifier_type))
    untyped = set()
    for cand in forms:
        if not cand.value or cand.value in untyped:
            continue
        if cand.identifier_type is None:
            untyped.add(cand.value)
        elif any(c.value == cand.value and c.identifier_type == cand.identifier_type for c in out):
            continue
        out.append(cand)
    return out


def candidate_rank(cands: Sequence[Candidate], identifier_type: str, value: str) -> int | None:
    for i, cand in enumerate(cands):
        if cand.value == value and cand.identifier_type in (None, identifier_type):
            return i
    return None


def candidate_filter(cands: Sequence[Candidate], column: str) -> tuple[str, list]:
    """SQL condition matching any candidate on `column` (and identifier_type when typed)."""
    untyped = [c.value for c in cands if c.identifier_type is None]
    parts, params = [], []
    if untyped:
        parts.append(f"{column} in ({marks(untyped)})")
        params.extend(untyped)
    for cand in cands:
        if cand.identifier_type is not None:
            parts.append(f"(identifier_type = ? and {column} = ?)")
            params.extend([cand.identifier_type, cand.value])
    return "(" + " or ".join(parts) + ")", params


def marks(values: Sequence) -> str:
    return ", ".join("?" for _ in values)
