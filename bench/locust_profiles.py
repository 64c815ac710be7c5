"""Locust users for bench/bench_profiles.py: profile lookups at a steady rate.

Each user asks `GET /v1/profiles/<type>/<value>` for identifiers drawn from
CDP_BENCH_IDS (a JSON list of [type, value, typed] taken from the warehouse; each kind
and form is a name of its own in the report), at
CDP_BENCH_RATE requests a second, with the bearer token CDP_BENCH_TOKEN.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from urllib.parse import quote

from locust import FastHttpUser, constant_throughput, task

IDS = json.loads(Path(os.environ["CDP_BENCH_IDS"]).read_text())
HEADERS = {"Authorization": f"Bearer {os.environ['CDP_BENCH_TOKEN']}"}


class Caller(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("CDP_BENCH_RATE", "10")))

    @task
    def lookup(self) -> None:
        kind, value, typed = random.choice(IDS)
        self.client.get(
            f"/v1/profiles/{kind}/{quote(value, safe='')}",
            headers=HEADERS,
            name=f"{kind} as typed" if typed else kind,
        )
