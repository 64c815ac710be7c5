"""What the Locust benchmarks share: a `cdp` server on a free port, a headless Locust run
against it, and Locust's figures (requests/s, latency percentiles, failures) with the
server's own peak memory."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CDP = str(Path(sys.executable).with_name("cdp"))
LOCUST = str(Path(sys.executable).with_name("locust"))


def build_warehouse(work: Path, customers: int, **env: str) -> Path:
    """A DuckDB warehouse in `work` built by `cdp run` from `customers` generated customers
    (with `env` set for both steps); its path."""
    landing, db = work / "landing", work / "cdp.duckdb"
    env = {**os.environ, "CDP_DUCKDB_PATH": str(db), "CDP_LANDING_SETTLE_SECONDS": "0",
           "DAGSTER_HOME": str(work / "dagster"), **env}  # fmt: skip
    for args in (["generate", "--customers", str(customers), "--out", str(landing)],
                 ["run", "--landing", str(landing)]):  # fmt: skip
        proc = subprocess.run([CDP, *args], env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"cdp {args[0]} failed:\n{proc.stderr[-2000:]}")
    return db


def write_key_headers(key: str) -> dict[str, str]:
    """The headers of a Segment HTTP API call with write key `key` (HTTP Basic, no
    password), as the server SDKs send them."""
    token = base64.b64encode(f"{key}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command: list[str], env: dict[str, str], log=subprocess.DEVNULL):
    """(process, port): `cdp <command> --port P` started on a free port, answering /health."""
    port = free_port()
    server = subprocess.Popen(
        [CDP, *command, "--port", str(port)], env={**os.environ, **env}, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return server, port
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"cdp {command[0]} did not answer /health")
            time.sleep(0.1)


def stop(process) -> float:
    """SIGTERM to a started process; its peak RSS in MiB once it ended."""
    process.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024


def start_locust(locustfile: str, users: int, seconds: int, port: int, report: Path,
                 locust_env: dict[str, str], log) -> subprocess.Popen:  # fmt: skip
    """Headless Locust with `users` users (all started at once) for `seconds` against the
    server on `port`; its JSON report goes to `report`."""
    return subprocess.Popen(
        [LOCUST, "-f", str(HERE / locustfile), "--headless",
         "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
         "--host", f"http://127.0.0.1:{port}",
         "--json-file", str(report.with_suffix("")), "--skip-log"],
        env={**os.environ, **locust_env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def run_against(
    command: list[str], env: dict[str, str], locustfile: str, users: int, seconds: int,
    locust_env: dict[str, str], work: Path, name: str,
) -> dict:  # fmt: skip
    """Start `cdp <command> --port P` (answering /health), run Locust's `locustfile` with
    `users` users for `seconds` against it, stop it; Locust's figures and the server's."""
    server, port = start_server(command, env)
    report = work / f"locust_{name}.json"
    try:
        with (work / f"locust_{name}.log").open("w") as log:
            start_locust(locustfile, users, seconds, port, report, locust_env, log).wait()
    finally:
        peak_mib = stop(server)
    return {**locust_figures(report), "peak_mib": peak_mib}


def locust_figures(report: Path) -> dict:
    """Requests/s, latency percentiles (ms), requests and failures of a Locust JSON report."""
    stats = json.loads(report.read_text())
    times: dict[int, int] = {}
    for entry in stats:
        for ms, n in entry["response_times"].items():
            times[int(ms)] = times.get(int(ms), 0) + n
    counts = sorted(times.items())
    requests = sum(e["num_requests"] for e in stats)
    span = max(e["last_request_timestamp"] for e in stats) - min(e["start_time"] for e in stats)
    return {
        "rps": requests / span,
        "p50": _percentile(counts, 0.50),
        "p95": _percentile(counts, 0.95),
        "p99": _percentile(counts, 0.99),
        "requests": requests,
        "failures": sum(e["num_failures"] for e in stats),
        "p99_by_name": {
            e["name"]: _percentile(
                sorted((int(ms), n) for ms, n in e["response_times"].items()), 0.99
            )
            for e in stats
            if e["response_times"]
        },  # fmt: skip
    }


def _percentile(counts: list[tuple[int, int]], share: float) -> int:
    """The response time (ms, as Locust rounds it) below which `share` of requests fall."""
    total, seen = sum(n for _, n in counts), 0
    for ms, n in counts:
        seen += n
        if seen >= share * total:
            return ms
    return counts[-1][0]
