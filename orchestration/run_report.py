"""Why a run failed, in words a person can act on, on the console and in the Dagster UI.

- A dbt step that fails names every node that failed (model, test, seed), its file and dbt's
  own message (the compilation error with its fix, the database error), and the errors dbt
  hit before any node ran (a parse error). The messages come from dbt's structured log
  events, as dagster-dbt streams them.
- A Great Expectations check that blocks names its suite file, the check and what it found.
- `cdp run` and `cdp demo` print the failed steps' reasons (`run_failure`).

Every message is bounded (a few lines, no Python traceback, no macro call stack) and wrapped
for an 80-column terminal; a file path is never cut.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH = 80
MAX_LINES = 8  # of one dbt message
MAX_ERRORS = 20  # shown in full; the rest are named in one line
# A Dagster Failure whose metadata carries this key is a report: the console shows all of
# its description, not just its first line.
REPORT_KEY = "cdp_report"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "Compilation Error in model fct_orders (models/marts/core/fct_orders.sql)"
_HEADLINE = re.compile(r"^(?P<kind>[A-Z][\w ]*?(?:Error|Failure|Exception)) in \w+ \S+ \(.*\)$")
_KIND = re.compile(r"^[A-Z][\w ]*(?:Error|Failure|Exception)$")
# the macro call stack dbt appends to a compilation error
_MACRO_STACK = re.compile(r"^>\s+(in macro|called by)\b")
_TRACEBACK = "Traceback (most recent call last):"
# dbt events that carry a node's error; they have node_info and are gathered per node
_NODE_EVENTS = {"RunResultFailure", "RunResultError", "RunResultErrorNoMessage"}


def clean(message: str) -> list[str]:
    """dbt's message without colours, Python tracebacks, macro call stacks, common
    indentation or runs of blank lines."""
    text = _ANSI.sub("", message or "")
    if _TRACEBACK in text:
        text = text.split(_TRACEBACK, 1)[0]
    lines = [line.rstrip() for line in textwrap.dedent(text).splitlines()]
    lines = [line for line in lines if not _MACRO_STACK.match(line.strip())]
    kept: list[str] = []
    for line in lines:
        if line.strip() or (kept and kept[-1].strip()):
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def bounded(lines: list[str], limit: int = MAX_LINES) -> list[str]:
    """At most `limit` lines; what is left out is counted."""
    if len(lines) <= limit:
        return lines
    return [*lines[: limit - 1], f"... ({len(lines) - limit + 1} more lines in dbt's log)"]


def _body(message: list[str]) -> list[str]:
    """A message under its header: 'Compilation Error' and the line after it joined (dbt
    indents the rest under that line), bounded, wrapped, indented."""
    if len(message) > 1 and _KIND.match(message[0].strip()) and message[1].strip():
        rest = textwrap.dedent("\n".join(message[1:])).splitlines()
        message = [f"{message[0].strip()}: {rest[0].strip()}", *rest[1:]]
    return [line for text in bounded(message) for line in wrap(text, "    ")]


def wrap(text: str, indent: str = "", width: int = WIDTH) -> list[str]:
    """`text` wrapped at `width` with `indent` in front of every line; words (file paths
    included) are never split, a longer one stands on a line of its own."""
    if not text.strip():
        return [""]
    # a line's own leading spaces (dbt's tables and hints) are kept on its first line
    own = text[: len(text) - len(text.lstrip())]
    return textwrap.wrap(
        text.strip(),
        width=width,
        initial_indent=indent + own,
        subsequent_indent=indent + own,
        break_long_words=False,
        break_on_hyphens=False,
    )


@dataclass
class DbtError:
    """One node dbt reported as failed: a model, test, seed, snapshot or unit test."""

    unique_id: str
    resource_type: str = ""
    name: str = ""
    path: str = ""  # the file, relative to the project (original_file_path)
    message: list[str] = field(default_factory=list)
    status: str = ""

    def lines(self) -> list[str]:
        head = f"{self.resource_type or 'node'} {self.name or self.unique_id}"
        out = wrap(f"{head} ({self.path})" if self.path else head, "  ")
        message = list(self.message)
        if message and (match := _HEADLINE.match(message[0].strip())):
            message[0] = match["kind"]  # the node and file are named just above
        return out + _body(message or [f"failed ({self.status or 'no message'})"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id,
            "resource_type": self.resource_type,
            "name": self.name,
            "path": self.path,
            "message": "\n".join(self.message),
        }


class DbtErrors:
    """Gathers the errors of one dbt invocation from its structured log events (the JSON
    lines dagster-dbt reads: `DbtCliEventMessage.raw_event`)."""

    def __init__(self) -> None:
        self.nodes: dict[str, DbtError] = {}
        self.general: list[list[str]] = []  # errors outside any node (parse, connection)

    def observe(self, raw_event: Mapping[str, Any]) -> None:
        info = raw_event.get("info") or {}
        data = raw_event.get("data") or {}
        name = info.get("name")
        node_info = data.get("node_info") or {}
        unique_id = node_info.get("unique_id")
        if name in _NODE_EVENTS and unique_id:
            node = self.nodes.setdefault(unique_id, DbtError(unique_id))
            node.resource_type = data.get("resource_type") or node_info.get("resource_type", "")
            node.name = data.get("node_name") or node_info.get("node_name", "")
            if name == "RunResultFailure":
                node.path = data.get("path") or node.path
            elif name == "RunResultError":
                node.message = clean(data.get("msg") or info.get("msg", ""))
            else:
                node.status = str(data.get("status") or "")
            if not node.path and node_info.get("node_path"):
                node.path = node_info["node_path"]
        elif info.get("level") == "error" and not unique_id:
            message = clean(info.get("msg", ""))
            if message and message[0].strip().startswith("Encountered an error"):
                message = message[1:]  # dbt's preamble to the error itself
            if message and message not in self.general:
                self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.nodes or self.general)

    def count(self) -> int:
        return len(self.nodes) + len(self.general)

    def report(self, command: str, log: Path | str | None = None) -> str:
        """Every error, bounded and wrapped: the description of the step's failure."""
        n = self.count()
        lines = [f"dbt {command}: {n} error{'s' if n != 1 else ''}"]
        for message in self.general[:MAX_ERRORS]:
            lines += ["  dbt, before or outside any model:", *_body(message)]
        nodes = list(self.nodes.values())
        shown = nodes[: max(MAX_ERRORS - len(self.general), 0)]
        for node in shown:
            lines += node.lines()
        if len(nodes) > len(shown):
            rest = ", ".join(n.name for n in nodes[len(shown) :])
            lines += wrap(f"and {len(nodes) - len(shown)} more: {rest}", "  ")
        if log:
            lines += wrap(f"dbt's log: {log}", "  ")
        return "\n".join(lines)


# -- Great Expectations --------------------------------------------------------------


def suite_file(path: Path) -> str:
    """A suite's file as a person finds it: relative to the project when inside it."""
    from orchestration.warehouse import PROJECT_DIR

    path = Path(path)
    try:
        return str(path.resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def check_finding(row: Mapping[str, Any]) -> str:
    """What a failed check found, in a few words: '12 of 2,000 rows', 'observed 300'."""
    if row.get("error"):
        first = str(row["error"]).strip().splitlines()
        return f"error: {first[0][:200]}" if first else "error"
    unexpected, elements = row.get("unexpected_count"), row.get("element_count")
    if unexpected is not None and elements is not None:
        return f"{unexpected:,} of {elements:,} rows"
    if row.get("observed") is not None:
        return f"observed {row['observed']}"
    return "failed"


def blocking_report(failures: Iterable[tuple[str, str, str]]) -> str:
    """(suite file, check, finding) of the failed blocking checks: the description of the
    check step's failure, one wrapped line each."""
    failures = list(failures)
    n = len(failures)
    lines = [f"{n} blocking check{'s' if n != 1 else ''} failed; what is downstream does not run"]
    for suite, check, finding in failures:
        lines += wrap(f"{suite}: {check} ({finding})", "  ")
    return "\n".join(lines)


# -- the console summary of a run -----------------------------------------------------


def _innermost(error):
    while error is not None and error.cause is not None:
        error = error.cause  # the user's exception, not Dagster's wrapper
    return error


def step_reason(event, run_log: Path) -> str:
    """Why one step failed: a report in full, otherwise the error's first line."""
    data = event.step_failure_data
    user = getattr(data, "user_failure_data", None)
    if user is not None and REPORT_KEY in (user.metadata or {}) and user.description:
        return user.description.strip()
    error = _innermost(data.error)
    message = error.message.strip().splitlines()[0] if error and error.message.strip() else ""
    if error is not None and error.cls_name == "Failure":
        message = message.split(": ", 1)[-1]  # a Failure's text is the message
    elif error is not None and error.cls_name == "DagsterDbtCliRuntimeError":
        message = f"dbt failed (its output: {run_log})"
    return machine_cause_first(message, run_log)


def run_failure(events: Iterable, run_log: Path) -> str:
    """The failed steps of a run and why, one after the other; a reason of several lines
    starts on a line of its own."""
    parts = []
    for event in events:
        if not event.is_step_failure:
            continue
        reason = step_reason(event, run_log)
        parts.append(f"{event.step_key}:\n{reason}" if "\n" in reason else
                     f"{event.step_key}: {reason}")  # fmt: skip
    return "\n".join(parts)


def machine_cause_first(message: str, run_log: Path) -> str:
    """A failure whose cause is the machine's (a full disk, a permission) says so first: a
    dbt step's own message only points at its output, which the run log holds."""
    from orchestration.loading.loader import machine_cause_in

    cause = machine_cause_in(message)
    if cause is None and "dbt" in message:
        try:
            with run_log.open(encoding="utf-8", errors="replace") as fh:
                cause = next(filter(None, map(machine_cause_in, fh)), None)
        except OSError:
            cause = None
    if not cause or cause in message.lower():
        return message
    if "\n" in message:  # a report: the cause on a line of its own above it
        return f"{cause}\n{message}"
    return f"{cause}; {message}" if len(message) < 300 else f"{cause}; {message[:300]}…"
