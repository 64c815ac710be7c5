"""Segment HTTP Tracking API messages: what a call must hold, read from a request body.

One rule for every way an SDK sends: a call to `/v1/<type>` (or its one-letter form, as
the browser SDK sends) holds one message of that type; `/v1/batch` (or `/v1/b`) holds
`{"batch": [...]}` whose messages name their own type, and the batch's `context` and
`integrations` fill in what a message leaves out. Every message of a body is checked
before any is kept: a body is taken whole or refused whole, with the reason.

Limits are Segment's: 32 KB a message, 500 KB a request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024

# path segment -> message type; the one-letter forms are the browser SDK's
TYPES = {
    "identify": "identify",
    "track": "track",
    "page": "page",
    "screen": "screen",
    "group": "group",
    "alias": "alias",
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}
BATCH_PATHS = ("batch", "b")
# fields a message of each type must hold besides an identity (userId or anonymousId)
REQUIRED = {
    "identify": (),
    "track": ("event",),
    "page": (),
    "screen": (),
    "group": ("groupId",),
    "alias": ("previousId",),
}
ID_FIELDS = ("userId", "anonymousId", "previousId", "groupId", "messageId")
OBJECT_FIELDS = ("traits", "properties", "context", "integrations")
TIME_FIELDS = ("timestamp", "sentAt", "originalTimestamp")


class Rejected(Exception):
    """The request is refused: `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Body:
    messages: list[dict]
    write_key: str | None  # the browser SDK sends it in the body, not in a header


def parse_body(raw: bytes, path_type: str) -> Body:
    """The messages of one request to `/v1/<path_type>`, checked and completed
    (messageId, receivedAt, timestamp), or Rejected with the status and reason."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Rejected(400, "the body must be a JSON object")
    write_key = body.get("writeKey") if isinstance(body.get("writeKey"), str) else None
    received = _now()
    if path_type in BATCH_PATHS:
        batch = body.get("batch")
        if not isinstance(batch, list) or not batch:
            raise Rejected(400, "`batch` must be a non-empty list of messages")
        shared = {k: body[k] for k in ("context", "integrations") if isinstance(body.get(k), dict)}
        messages = []
        for i, message in enumerate(batch):
            if not isinstance(message, dict):
                raise Rejected(400, f"batch[{i}]: a message must be a JSON object")
            if len(orjson.dumps(message)) > MAX_MESSAGE_BYTES:
                raise Rejected(413, f"batch[{i}]: a message is limited to 32 KB")
            messages.append(_checked({**shared, **message}, message.get("type"), f"batch[{i}]"))
    else:
        if len(raw) > MAX_MESSAGE_BYTES:
            raise Rejected(413, "a message is limited to 32 KB")
        body.pop("writeKey", None)
        messages = [_checked(body, TYPES[path_type], "message")]
    for message in messages:
        message["receivedAt"] = received
        message.setdefault("timestamp", message.get("originalTimestamp") or received)
    return Body(messages, write_key)


def _checked(message: dict, kind, where: str) -> dict:
    kind = TYPES.get(kind) if isinstance(kind, str) else None
    if kind is None:
        raise Rejected(400, f"{where}: `type` must be one of {', '.join(REQUIRED)}")
    message = {**message, "type": kind}
    for field in ID_FIELDS:  # Segment takes numbers as ids and stores them as strings
        value = message.get(field)
        if isinstance(value, bool) or (value is not None and not isinstance(value, str | int)):
            raise Rejected(400, f"{where}: `{field}` must be a string")
        if isinstance(value, int):
            message[field] = str(value)
    if kind == "alias":
        if not message.get("userId"):
            raise Rejected(400, f"{where}: an alias needs `userId`")
    elif not (message.get("userId") or message.get("anonymousId")):
        raise Rejected(400, f"{where}: a {kind} needs `userId` or `anonymousId`")
    for field in REQUIRED[kind]:
        if not message.get(field):
            raise Rejected(400, f"{where}: a {kind} needs `{field}`")
    if kind == "track" and not isinstance(message["event"], str):
        raise Rejected(400, f"{where}: `event` must be a string")
    for field in OBJECT_FIELDS:
        if field in message and not isinstance(message[field], dict):
            raise Rejected(400, f"{where}: `{field}` must be an object")
    for field in TIME_FIELDS:
        if field in message and not _is_time(message[field]):
            raise Rejected(400, f"{where}: `{field}` must be an ISO 8601 date and time")
    message.setdefault("messageId", f"cdp-{uuid.uuid4()}")
    return message


def _is_time(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
