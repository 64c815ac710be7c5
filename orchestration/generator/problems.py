"""Plant the problems data quality must catch, as new deliveries next to a generated landing
folder. Their part numbers follow the highest generated `<table>_part-NNNN` file (one per
250,000 customers), so one run loads the clean files first. For a folder of under 250,000
customers:

| problem | delivery | what must happen |
|---|---|---|
| a file missing a column | crm/contacts_part-0002.csv without `phone` | file refused (header), the other files load |
| a batch of invalid emails | crm/contacts_part-0003.csv | rows load; raw.crm_contacts `email_format` fails (warning) |
| a junk identifier shared by thousands | crm/contacts_part-0004.csv, one phone on every row | the shared-value guard keeps it out; identity health `largest_shared_value_records` warns |
| a sudden tenfold volume drop | support/tickets_part-0002..0004.csv as usual (as many as the loader's volume check needs), then _part-0005.csv with half its minimum share of the rows | the small file is refused (volume), the others load |

`plant_problems` returns the list, also written to truth/planted_problems.json.
"""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

JUNK_SHARED_PHONE = "(614) 730-2200"  # a store's phone typed in for thousands of sign-ups
JUNK_SHARED_ROWS = 1_200
INVALID_EMAIL_SHARE = 0.25  # of the contacts table after the planted deliveries


def _next_part(folder: Path, table: str) -> int:
    """The part number after the highest `<table>_part-NNNN.*` file in `folder`."""
    taken = [int(f.name.split("_part-")[1][:4]) for f in folder.glob(f"{table}_part-*")]
    return max(taken, default=0) + 1


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and the well-formed rows (the generator's own planted defects left out)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _contact(header: list[str], template: list[str], **values: str) -> list[str]:
    stamp = {"created_at": "2026-01-05 09:00:00", "updated_at": "2026-01-05 09:00:00"}
    row = dict(zip(header, template, strict=True)) | stamp | values
    return [row[c] for c in header]


def plant_problems(landing: Path, seed: int = 0) -> list[dict]:
    """Write the planted deliveries into `landing` (a generated folder); returns what each
    must trip."""
    from orchestration.sources import get_table

    contract = get_table("support", "tickets").delivery
    rng = random.Random(seed)
    header, contacts = _read(landing / "crm" / "contacts_part-0001.csv")
    part = _next_part(landing / "crm", "contacts")  # missing column, invalid emails, junk
    idx = {c: i for i, c in enumerate(header)}
    problems = []

    # 1. A file missing a column: a tenth of the contacts again, without `phone`.
    missing = [c for c in header if c != "phone"]
    sample = rng.sample(contacts, max(1, len(contacts) // 10))
    path = f"crm/contacts_part-{part:04d}.csv"
    _write(
        landing / path,
        missing,
        [[r[idx[c]] for c in missing] for r in sample],
    )
    problems.append(
        {
            "problem": "file missing a column",
            "file": path,
            "rows": len(sample),
            "trips": "load refused: header",
        }
    )

    # 3 (written before 2, which is sized on it). A junk phone shared by thousands of
    # otherwise unrelated contacts.
    junk = [
        _contact(
            header,
            rng.choice(contacts),
            contact_id=f"PLANTED-SHARED-{i:05d}",
            email=f"signup{i:05d}@example.net",
            phone=JUNK_SHARED_PHONE,
            country="US",
        )
        for i in range(JUNK_SHARED_ROWS)
    ]
    junk_path = f"crm/contacts_part-{part + 2:04d}.csv"
    _write(landing / junk_path, header, junk)

    # 2. A batch of invalid emails: enough for a quarter of the contacts table.
    n_invalid = math.ceil(
        INVALID_EMAIL_SHARE * (len(contacts) + len(junk)) / (1 - INVALID_EMAIL_SHARE)
    )
    invalid = [
        _contact(
            header,
            rng.choice(contacts),
            contact_id=f"PLANTED-BADEMAIL-{i:05d}",
            email=f"customer{i:05d} at example dot com",
            phone="",
        )
        for i in range(n_invalid)
    ]
    path = f"crm/contacts_part-{part + 1:04d}.csv"
    _write(landing / path, header, invalid)
    problems.append(
        {
            "problem": "batch of invalid emails",
            "file": path,
            "rows": n_invalid,
            "trips": "raw.crm_contacts email_format (warning)",
        }
    )
    problems.append(
        {
            "problem": "junk identifier shared by thousands",
            "file": junk_path,
            "rows": JUNK_SHARED_ROWS,
            "value": JUNK_SHARED_PHONE,
            "trips": "identity health largest_shared_value_records (warning)",
        }
    )

    # 4. A sudden volume drop: as many usual ticket deliveries as the loader's volume check
    # needs for a median, then one with half its minimum share of the rows.
    t_header, tickets = _read(landing / "support" / "tickets_part-0001.csv")
    t_id = t_header.index("ticket_id")
    first = _next_part(landing / "support", "tickets")
    usual = [
        f"support/tickets_part-{n:04d}.csv" for n in range(first, first + contract.after_loads)
    ]
    path = f"support/tickets_part-{first + contract.after_loads:04d}.csv"
    small = tickets[: max(1, math.floor(len(tickets) * contract.min_ratio / 2))]
    for delivery, rows in [*((u, tickets) for u in usual), (path, small)]:
        day = int(delivery[-8:-4])
        batch = [[f"{r[t_id]}-D{day}" if i == t_id else v for i, v in enumerate(r)] for r in rows]
        _write(landing / delivery, t_header, batch)
    problems.append(
        {
            "problem": "sudden tenfold volume drop",
            "file": path,
            "rows": len(small),
            "usual_files": usual,
            "usual_rows": len(tickets),
            "trips": "load refused: volume drop",
        }
    )

    truth = landing / "truth"
    truth.mkdir(exist_ok=True)
    (truth / "planted_problems.json").write_text(json.dumps(problems, indent=2) + "\n")
    return problems
