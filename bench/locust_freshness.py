"""Locust users for bench/bench_freshness.py: a steady event load on the collector.

Each user posts one batch of CDP_BENCH_BATCH track events a second to `/v1/batch` (users x
batch = events a second), from the known devices listed one per line in CDP_BENCH_DEVICES,
stamped with the time they are sent.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path

from locust import FastHttpUser, constant_throughput, task
from locust_run import write_key_headers  # the locustfile's folder is on the path

KEY = os.environ["CDP_BENCH_WRITE_KEY"]
BATCH = int(os.environ.get("CDP_BENCH_BATCH", "100"))
DEVICES = Path(os.environ["CDP_BENCH_DEVICES"]).read_text().split()
AUTH = write_key_headers(KEY)


def _event(now: str) -> dict:
    return {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "anonymousId": random.choice(DEVICES),
        "event": "Product Viewed",
        "properties": {"product_id": f"SKU-{random.randrange(300)}", "price": 19.99},
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        "timestamp": now,
    }


class Sender(FastHttpUser):
    wait_time = constant_throughput(1)

    @task
    def send(self) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        body = {"batch": [_event(now) for _ in range(BATCH)]}
        self.client.post("/v1/batch", data=json.dumps(body), headers=AUTH)
