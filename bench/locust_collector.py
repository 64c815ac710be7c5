"""Locust users for bench/bench_collector.py: SDK-like senders to the collector.

Each user posts, without pause, either batches of CDP_BENCH_BATCH track events to
`/v1/batch` (as the server SDKs send) or, with CDP_BENCH_BATCH=1, one event to `/v1/track`
(as a page sends). Events look like the web source's: ids, properties and context.
"""

from __future__ import annotations

import json
import os
import uuid

from locust import FastHttpUser, constant, task
from locust_run import write_key_headers  # the locustfile's folder is on the path

KEY = os.environ["CDP_BENCH_WRITE_KEY"]
BATCH = int(os.environ.get("CDP_BENCH_BATCH", "100"))
AUTH = write_key_headers(KEY)


def _event(i: int) -> dict:
    return {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "anonymousId": f"dev-{i % 5000}",
        "userId": f"usr_{i % 2000}",
        "event": "Product Viewed",
        "properties": {"product_id": f"SKU-{i % 300}", "price": 19.99, "currency": "EUR"},
        "context": {
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
            "library": {"name": "analytics-python", "version": "2.4.0"},
            "page": {"path": "/p/sku", "url": "https://shop.example/p/sku"},
        },
        "timestamp": "2026-12-07T10:00:00.000Z",
    }


class Sender(FastHttpUser):
    wait_time = constant(0)

    @task
    def send(self) -> None:
        if BATCH == 1:
            self.client.post("/v1/track", data=json.dumps(_event(0)), headers=AUTH)
        else:
            body = {"batch": [_event(i) for i in range(BATCH)]}
            self.client.post("/v1/batch", data=json.dumps(body), headers=AUTH)
