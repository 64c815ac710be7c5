"""`cdp collect`: the Segment HTTP Tracking API, writing to the web source's landing folder.

An event is answered 200 only once it is on disk: requests hand their lines to one writer,
which appends everything that arrived meanwhile to the open file and fsyncs it once (group
commit), then answers them all. Every `roll_seconds` the open file, kept under
`<landing>/web/.collecting/`, is closed and renamed to `<landing>/web/events-collected-*.jsonl`,
where the web source's loads find it (a whole file, never one still growing). A collector
killed at any point loses no answered event: at its next start the files left under
`.collecting/` are cut back to their last whole line (what follows was never answered) and
published the same way.

The lines are the messages as sent, with `receivedAt` (and `timestamp`, when the SDK left it
out) set here; the loader's record id is `messageId`, so a batch an SDK sends again is
stored once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from orchestration.live.events import (
    BATCH_PATHS,
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    TYPES,
    Rejected,
    parse_body,
)
from orchestration.loading.landing import PUBLISHED_WHOLE

SOURCE_FOLDER = "web"  # the web source's landing folder (its pattern: web/events*.jsonl)
WORKING_FOLDER = ".collecting"
PUBLISHED_PREFIX = f"events{PUBLISHED_WHOLE}"  # taken by the loader at once
WRITE_KEYS_ENV = "CDP_WRITE_KEYS"
CORS_ENV = "CDP_COLLECTOR_CORS_ORIGINS"


class CollectorError(Exception):
    """A setting of the collector is wrong; the message names what to change."""


def write_keys_from(value: str | None) -> dict[str, str]:
    """`source=key,source=key` (one write key per source) as {key: source}."""
    if not value or not value.strip():
        raise CollectorError(
            f"no write keys: set {WRITE_KEYS_ENV} to source=key pairs, e.g. "
            f"{WRITE_KEYS_ENV}=website=Zx81...,app=Qw42..."
        )
    keys: dict[str, str] = {}
    for pair in value.split(","):
        source, sep, key = pair.strip().partition("=")
        if not sep or not source.strip() or not key.strip():
            raise CollectorError(f"{WRITE_KEYS_ENV}: `{pair.strip()}` is not source=key")
        if key.strip() in keys:
            raise CollectorError(f"{WRITE_KEYS_ENV}: a write key is given to two sources")
        keys[key.strip()] = source.strip()
    return keys


@dataclass
class _Waiting:
    data: bytes
    done: asyncio.Future


@dataclass
class DurableLog:
    """Append-only JSON lines under `<landing>/web/`, acknowledged after fsync."""

    landing_dir: Path
    roll_seconds: float = 2.0
    _pending: list[_Waiting] = field(default_factory=list)
    _wake: asyncio.Event | None = None
    _file = None
    _opened_at: float = 0.0
    _seq: int = 0

    @property
    def folder(self) -> Path:
        return self.landing_dir / SOURCE_FOLDER

    @property
    def working(self) -> Path:
        return self.folder / WORKING_FOLDER

    def recover(self) -> int:
        """Publish what a collector that stopped without closing left behind; the lines
        published (a torn last line, never answered, is cut off)."""
        self.working.mkdir(parents=True, exist_ok=True)
        published = 0
        for path in sorted(self.working.glob("*.jsonl")):
            with path.open("r+b") as f:
                data = f.read()
                whole = data.rfind(b"\n") + 1
                if whole < len(data):
                    f.truncate(whole)
                    f.flush()
                    os.fsync(f.fileno())
            if whole:
                self._publish(path)
                published += data[:whole].count(b"\n")
            else:
                path.unlink()
        return published

    async def append(self, lines: bytes) -> None:
        """Return once `lines` are on disk."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiting(lines, done))
        self._wake.set()
        await done

    async def run(self) -> None:
        """The writer: group commits until cancelled, then closes and publishes."""
        self._wake = asyncio.Event()
        try:
            while True:
                timeout = self.roll_seconds if self._file else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                batch, self._pending = self._pending, []
                if batch:
                    try:
                        await asyncio.to_thread(self._write, b"".join(w.data for w in batch))
                    except Exception as exc:  # disk full, ...: these requests get a 500
                        for waiting in batch:
                            waiting.done.set_exception(exc)
                    else:
                        for waiting in batch:
                            waiting.done.set_result(None)
                if self._file and time.monotonic() - self._opened_at >= self.roll_seconds:
                    await asyncio.to_thread(self._roll)
        finally:
            if self._file:
                self._roll()

    def _write(self, data: bytes) -> None:
        if self._file is None:
            self._seq += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            name = f"{stamp}-{os.getpid()}-{self._seq:06d}.jsonl"
            self._file = (self.working / name).open("ab")
            self._opened_at = time.monotonic()
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())

    def _roll(self) -> None:
        path = Path(self._file.name)
        self._file.close()
        self._file = None
        self._publish(path)

    def _publish(self, path: Path) -> None:
        target = self.folder / f"{PUBLISHED_PREFIX}{path.name}"
        os.replace(path, target)
        _fsync_dir(self.folder)
        _fsync_dir(self.working)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_app(landing_dir: Path, write_keys: dict[str, str], *, roll_seconds: float = 2.0):
    """The ASGI app: the tracking API's routes, `/health`, CORS for the browser SDK."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    log = DurableLog(Path(landing_dir), roll_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        log.recover()
        writer = asyncio.create_task(log.run())
        try:
            yield
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def collect(request: Request) -> JSONResponse:
        kind = request.path_params["kind"]
        if kind not in TYPES and kind not in BATCH_PATHS:
            return _error(404, f"no such call: /v1/{kind}")
        limit = MAX_BATCH_BYTES if kind in BATCH_PATHS else MAX_MESSAGE_BYTES
        try:
            # a key in the header is checked before the body is read; the browser SDK's,
            # in the body, once it is parsed
            basic = _header_key(request)
            if basic is not None:
                source = _source(basic, write_keys)
            raw = await _read_body(request, limit)
            body = parse_body(raw, kind)
            if basic is None:
                source = _source(body.write_key, write_keys)
        except Rejected as exc:
            return _error(exc.status, str(exc))
        for message in body.messages:
            message.pop("writeKey", None)
            message.setdefault("context", {})
            if isinstance(message["context"], dict):
                message["context"] = {**message["context"], "cdpSource": source}
        lines = b"".join(orjson.dumps(m) + b"\n" for m in body.messages)
        try:
            await log.append(lines)
        except OSError as exc:
            return _error(503, f"the event could not be stored: {exc.strerror or exc}")
        return JSONResponse({"success": True})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    origins = [o.strip() for o in os.environ.get(CORS_ENV, "*").split(",") if o.strip()]
    return Starlette(
        routes=[
            Route("/v1/{kind}", collect, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["POST"],
                allow_headers=["Content-Type", "Authorization", "Content-Encoding"],
                max_age=3600,
            )
        ],
        lifespan=lifespan,
    )


async def _read_body(request, limit: int) -> bytes:
    """The body, gunzipped when it says so, refused past `limit` bytes (either way)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"the request is over {limit // 1024} KB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"the request is over {limit // 1024} KB")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        inflate = zlib.decompressobj(wbits=31)
        try:
            raw = inflate.decompress(raw, limit + 1)
        except zlib.error:
            raise Rejected(400, "the body says gzip but is not gzip") from None
        if len(raw) > limit or inflate.unconsumed_tail:
            raise Rejected(413, f"the request is over {limit // 1024} KB once unzipped")
    return raw


def _header_key(request) -> str | None:
    """The write key of an HTTP Basic Authorization header (the user name), if any."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    if header[:6].lower() != "basic ":
        raise Rejected(401, "the Authorization header must be HTTP Basic (the write key)")
    try:
        return base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        raise Rejected(401, "the Authorization header is not valid HTTP Basic") from None


def _source(key: str | None, write_keys: dict[str, str]) -> str:
    """The source a write key belongs to, else Rejected 401."""
    if not key:
        raise Rejected(401, "no write key: send it as the HTTP Basic user name")
    if key not in write_keys:
        raise Rejected(401, "unknown write key")
    return write_keys[key]


def _error(status: int, message: str):
    from starlette.responses import JSONResponse

    return JSONResponse({"success": False, "error": message}, status_code=status)
