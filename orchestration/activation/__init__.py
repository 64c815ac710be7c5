"""Reverse ETL: segments synced to destinations, only what changed, nothing lost.

spec.py          syncs declared in dbt YAML (a segment model's `meta.syncs`)
state.py         the warehouse tables: sync_state, sync_log, sync_dead_letter
engine.py        diff against the state, batches, concurrency, confirmations
http.py          one HTTP client with retries (backoff and jitter, Retry-After on 429)
destinations/    one module per destination kind
"""
