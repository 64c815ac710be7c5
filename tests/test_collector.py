"""The event collector: the real Segment and RudderStack SDKs, bad input, and SIGKILL."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from support import CDP, Collector, run_dbt

from orchestration.live.collector import CollectorError, write_keys_from
from orchestration.loading.loader import load_tables, raw_row_counts
from orchestration.sources import get_table

# the browser SDK from npm (tests/browser/package-lock.json; `make test` installs it)
BROWSER_SDK = Path(__file__).parent / "browser/node_modules/@segment/analytics-next/dist/umd"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRE_BROWSER = os.environ.get("CDP_REQUIRE_BROWSER") == "1"
KEYS = {"website": "wk_site_1", "backend": "wk_backend_2"}
EVENTS = get_table("web", "events")


@pytest.fixture
def collector(tmp_path):
    c = Collector(tmp_path / "landing", KEYS).start()
    try:
        yield c
    finally:
        c.stop()


def _post(c: Collector, path: str, body, key: str | None = KEYS["website"], **kw):
    auth = (key, "") if key is not None else None
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{c.url}{path}", content=content, auth=auth, timeout=10, **kw)


def test_the_python_sdks_events_arrive_whole_and_load(collector, duckdb_target):
    from rudderstack.analytics import Client as RudderClient
    from segment.analytics import Client as SegmentClient

    sent = []
    segment = SegmentClient(KEYS["website"], host=collector.url, sync_mode=True, gzip=True)
    rudder = RudderClient(KEYS["backend"], host=collector.url, sync_mode=True)
    for client, who in ((segment, "seg"), (rudder, "rud")):
        calls = [
            client.identify(f"{who}_u1", {"email": f"{who}@example.com", "plan": "pro"},
                            anonymous_id=f"{who}-device"),
            client.track(f"{who}_u1", "Order Completed", {"order_id": "o1", "total": 12.5},
                         context={"ip": "10.1.2.3"}),
            client.page(f"{who}_u1", "Docs", "Install", {"path": "/docs/install"}),
            client.screen(f"{who}_u1", "App", "Home"),
            client.group(f"{who}_u1", "acme", {"name": "Acme"}),
            client.alias(f"{who}-previous", f"{who}_u1"),
        ]  # fmt: skip
        for ok, message in calls:
            assert ok, message
            sent.append(message)
        client.flush()

    lines = collector.wait_for(len(sent))
    by_id = {line["messageId"]: line for line in lines}
    assert sorted(by_id) == sorted(m["messageId"] for m in sent)
    for message in sent:
        got = by_id[message["messageId"]]
        for key in ("type", "userId", "anonymousId", "event", "traits", "properties", "name"):
            if message.get(key) is not None:
                assert got[key] == message[key], (key, got)
        assert got["context"]["library"] == message["context"]["library"]
        assert got["receivedAt"] and got["timestamp"]
    sources = {line["userId"][:3]: line["context"]["cdpSource"] for line in lines}
    assert sources == {"seg": "website", "rud": "backend"}
    assert by_id[sent[1]["messageId"]]["context"]["ip"] == "10.1.2.3"

    # an SDK's retry: the same batch (same messageIds) again, after it was answered
    retried = {"batch": sent[:2]}
    assert _post(collector, "/v1/batch", retried, key=KEYS["backend"]).status_code == 200
    collector.stop()  # every file published: the loader takes them whole
    loads = load_tables(duckdb_target, [EVENTS], collector.landing)
    assert loads[0].errors == [] and loads[0].waiting == []
    assert sum(f.rows_quarantined for f in loads[0].files) == 0
    assert raw_row_counts(duckdb_target)["web_events"] == len(sent) + 2

    built = run_dbt("run", "--select", "stg_web__events")
    assert built.returncode == 0, built.stdout[-3000:]
    staged = duckdb_target.fetch_all(
        "select count(*), count(distinct event_id) from staging.stg_web__events"
    )
    assert staged == [(len(sent), len(sent))]


def test_bad_requests_get_their_status_and_nothing_is_kept(collector):
    good = {"userId": "u1", "event": "Signed Up"}
    big = {"userId": "u1", "event": "x", "properties": {"blob": "a" * 33_000}}
    batch = {"batch": [{"type": "track", **good, "messageId": f"m{i}"} for i in range(3)]}
    cases = [
        ("/v1/track", json.dumps(big).encode(), {}, 413, "32 KB"),
        ("/v1/batch", {"batch": [{"type": "track", **big}]}, {}, 413, "batch[0]"),
        ("/v1/batch", {"batch": [{"type": "track", **good, "x": "b" * 30_000}] * 18}, {}, 413,
         "500 KB"),
        ("/v1/batch", gzip.compress(b'{"batch": [' + b" " * 600_000 + b"]}"),
         {"Content-Encoding": "gzip"}, 413, "unzipped"),
        ("/v1/batch", b"not gzip", {"Content-Encoding": "gzip"}, 400, "not gzip"),
        ("/v1/track", b'{"userId": "u1", "event": ', {}, 400, "not JSON"),
        ("/v1/track", b"[1, 2]", {}, 400, "JSON object"),
        ("/v1/track", {"event": "x"}, {}, 400, "`userId` or `anonymousId`"),
        ("/v1/track", {"userId": "u1"}, {}, 400, "needs `event`"),
        ("/v1/group", {"userId": "u1"}, {}, 400, "needs `groupId`"),
        ("/v1/alias", {"previousId": "a"}, {}, 400, "needs `userId`"),
        ("/v1/identify", {"userId": {"id": 1}}, {}, 400, "`userId` must be a string"),
        ("/v1/identify", {"userId": "u1", "traits": "vip"}, {}, 400, "`traits` must be an obj"),
        ("/v1/track", {**good, "timestamp": "yesterday"}, {}, 400, "ISO 8601"),
        ("/v1/batch", {"batch": [*batch["batch"], {"type": "bogus", "userId": "u"}]}, {}, 400,
         "batch[3]: `type`"),
        ("/v1/batch", {"batch": []}, {}, 400, "non-empty list"),
        ("/v1/nothing", good, {}, 404, "no such call"),
    ]  # fmt: skip
    for path, body, headers, status, reason in cases:
        response = _post(collector, path, body, headers=headers)
        assert (response.status_code, response.json()["success"]) == (status, False), (
            path, reason, response.text)  # fmt: skip
        assert reason in response.json()["error"], (reason, response.text)
    assert _post(collector, "/v1/track", good, key="wk_nobody").status_code == 401
    assert _post(collector, "/v1/track", good, key=None).status_code == 401
    bearer = httpx.post(
        f"{collector.url}/v1/track", json=good, headers={"Authorization": "Bearer x"}
    )
    assert bearer.status_code == 401
    # a batch of numbers as ids, as some SDKs send them: taken, stored as strings
    ok = _post(collector, "/v1/batch", {"batch": [{"type": "identify", "userId": 42}]})
    assert ok.status_code == 200, ok.text
    time.sleep(0.5)
    assert [line["userId"] for line in collector.lines()] == ["42"]


def test_the_browser_sdk_calls_with_the_key_in_the_body(collector):
    origin = "https://shop.example"
    preflight = httpx.options(
        f"{collector.url}/v1/t",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", origin)
    body = {"writeKey": KEYS["website"], "anonymousId": "dev-1", "event": "Clicked",
            "messageId": "ajs-1", "context": {"library": {"name": "analytics.js"}}}  # fmt: skip
    response = httpx.post(
        f"{collector.url}/v1/t",
        content=json.dumps(body),
        headers={"Content-Type": "text/plain", "Origin": origin},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] in ("*", origin)
    [line] = collector.wait_for(1)
    assert (line["type"], line["messageId"], line["context"]["cdpSource"]) == (
        "track", "ajs-1", "website")  # fmt: skip
    assert "writeKey" not in line
    wrong = httpx.post(f"{collector.url}/v1/p", content=json.dumps({**body, "writeKey": "no"}))
    assert wrong.status_code == 401


def test_no_answered_event_is_lost_to_sigkill(tmp_path):
    """10,000 events in batches of 100 from 4 senders; SIGKILL half-way; every event
    answered 200 is in the landing files after the restart, and no line is torn."""
    c = Collector(tmp_path / "landing", KEYS).start()
    answered: list[str] = []
    lock = threading.Lock()
    batches = [
        [{"type": "track", "userId": f"u{i % 97}", "event": "Tick",
          "messageId": f"m-{b}-{i}-{uuid.uuid4().hex[:6]}"} for i in range(100)]
        for b in range(100)
    ]  # fmt: skip
    killed = threading.Event()

    def send(mine):
        with httpx.Client(auth=(KEYS["website"], ""), timeout=10) as client:
            for batch in mine:
                try:
                    response = client.post(f"{c.url}/v1/batch", json={"batch": batch})
                except httpx.TransportError:
                    return  # the collector is gone: this batch was never answered
                if response.status_code == 200:
                    with lock:
                        answered.extend(m["messageId"] for m in batch)
                if killed.is_set():
                    return

    senders = [threading.Thread(target=send, args=(batches[i::4],)) for i in range(4)]
    for t in senders:
        t.start()
    while len(answered) < 5_000:
        time.sleep(0.01)
    c.proc.send_signal(signal.SIGKILL)
    killed.set()
    c.proc.wait()
    for t in senders:
        t.join()
    assert 5_000 <= len(answered) < 10_000

    c.start()  # the restart publishes what the killed one left
    try:
        stored = {line["messageId"] for line in c.lines()}
        assert not (set(answered) - stored), "answered events were lost"
        assert not list((c.landing / "web" / ".collecting").glob("*.jsonl"))
    finally:
        c.stop()


def test_write_keys_are_named_pairs():
    assert write_keys_from("website=a, app=b") == {"a": "website", "b": "app"}
    for bad, says in [("", "CDP_WRITE_KEYS"), ("website", "source=key"),
                      ("a=k,b=k", "two sources")]:  # fmt: skip
        with pytest.raises(CollectorError, match=says):
            write_keys_from(bad)


PAGE = """<!doctype html><html><body><pre id="out">loading</pre>
<script src="index.js"></script>
<script>
const out = document.getElementById("out");
AnalyticsNext.AnalyticsBrowser.load({
  writeKey: "%(key)s",
  cdnSettings: {integrations: {"Segment.io": {apiKey: "%(key)s", apiHost: "%(host)s/v1",
                                              protocol: "http"}}},
}).then(async ([analytics]) => {
  await analytics.identify("user-b1", {email: "Browser.User@Example.com", plan: "pro"});
  await analytics.page("Docs", "Install", {path: "/docs/install"});
  await analytics.track("Clicked", {button: "buy"});
  out.textContent = "sent " + analytics.user().anonymousId();
}).catch((e) => { out.textContent = "error " + e; });
</script></body></html>
"""


def test_the_browser_sdk_in_chromium_sends_to_the_collector(collector, tmp_path, duckdb_target):
    """@segment/analytics-next, from npm, on a page of another origin in headless Chromium:
    identify, page and track arrive with the page's context, and reach staging."""
    missing = [what for what, ok in (("chromium", CHROMIUM), ("the SDK (npm ci in tests/browser)",
               BROWSER_SDK.is_dir())) if not ok]  # fmt: skip
    if missing:
        reason = f"needs {' and '.join(missing)}"
        if REQUIRE_BROWSER:
            pytest.fail(f"{reason} (CDP_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    site = tmp_path / "site"
    shutil.copytree(BROWSER_SDK, site, ignore=shutil.ignore_patterns("*.gz", "*.map"))
    host = collector.url.removeprefix("http://")
    (site / "index.html").write_text(PAGE % {"key": KEYS["website"], "host": host})
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = subprocess.run(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--virtual-time-budget=20000", "--dump-dom",
             f"http://127.0.0.1:{server.server_address[1]}/index.html"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert 'id="out">sent ' in page.stdout, page.stdout[-2000:] + page.stderr[-2000:]
    device = page.stdout.split('id="out">sent ')[1].split("<")[0]

    lines = collector.wait_for(3)
    assert [line["type"] for line in lines] == ["identify", "page", "track"]
    for line in lines:
        assert line["anonymousId"] == device and line["userId"] == "user-b1"
        assert line["context"]["library"]["name"] == "analytics.js"
        assert line["context"]["userAgent"].find("HeadlessChrome") >= 0
        assert line["context"]["cdpSource"] == "website"
        assert line["messageId"].startswith("ajs-")
    assert lines[0]["traits"] == {"email": "Browser.User@Example.com", "plan": "pro"}
    assert lines[1]["properties"]["path"] == "/docs/install"
    assert lines[2]["event"] == "Clicked"

    collector.stop()
    assert load_tables(duckdb_target, [EVENTS], collector.landing)[0].errors == []
    built = run_dbt("run", "--select", "stg_web__events")
    assert built.returncode == 0, built.stdout[-3000:]
    staged = duckdb_target.fetch_all(
        "select event_id, anonymous_id, user_id from staging.stg_web__events order by event_at"
    )
    assert staged == [(line["messageId"], device, "user-b1") for line in lines]


def test_a_port_in_use_is_one_line_naming_the_option(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [CDP, "collect", "--landing", str(tmp_path), "--port", str(port)],
            env={**os.environ, "CDP_WRITE_KEYS": "website=k"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"cdp: error: cannot listen on 127.0.0.1:{port} (Address already in use): "
        "choose another --port"
    )
