"""`cdp serve`: the profile API, read-only, over HTTP with bearer tokens.

    GET /v1/profiles/{identifier_type}/{value}   one customer's profile (JSON)
    GET /health                                   {"status": "ok"}
    GET /openapi.json                             this API's OpenAPI description

Tokens come from CDP_API_TOKENS, `name=token` pairs; `name=token:pii` may read the columns
the models tag `pii` (names, emails, phones, addresses, identifier values). Reads go to the
serving state (orchestration/live/profiles.py), so they never wait for a run.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path

import orjson

from orchestration.live.profiles import LOOKUP_TYPES, lookup
from orchestration.warehouse import WarehouseError

TOKENS_ENV = "CDP_API_TOKENS"


class ApiError(Exception):
    """A setting of the API is wrong; the message names what to change."""


def tokens_from(value: str | None) -> dict[str, tuple[str, bool]]:
    """`name=token[:pii],...` as {token: (name, may read PII)}."""
    if not value or not value.strip():
        raise ApiError(
            f"no API tokens: set {TOKENS_ENV} to name=token pairs, a token ending in :pii "
            f"may read personal data, e.g. {TOKENS_ENV}=support=Zx81...:pii,website=Qw42..."
        )
    tokens: dict[str, tuple[str, bool]] = {}
    for pair in value.split(","):
        name, sep, token = pair.strip().partition("=")
        token, pii = (token[:-4], True) if token.endswith(":pii") else (token, False)
        if not sep or not name.strip() or not token.strip():
            raise ApiError(f"{TOKENS_ENV}: `{pair.strip()}` is not name=token")
        if token.strip() in tokens:
            raise ApiError(f"{TOKENS_ENV}: a token is given to two names")
        tokens[token.strip()] = (name.strip(), pii)
    return tokens


def create_app(warehouse, tokens: dict[str, tuple[str, bool]], manifest_path: Path):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.schemas import SchemaGenerator

    from orchestration.manifest import read

    serving = warehouse.serving()
    schemas = SchemaGenerator(
        {"openapi": "3.0.0", "info": {"title": "cdp profile API", "version": "1"}}
    )

    def profile(request: Request) -> Response:
        """
        summary: One customer's profile, by any of its identifiers
        parameters:
          - {name: identifier_type, in: path, required: true,
             schema: {type: string, enum: [email, phone, user_id, anonymous_id,
                                           loyalty_card_id, customer_id]}}
          - {name: value, in: path, required: true, schema: {type: string}}
        security: [{bearer: []}]
        responses:
          200: {description: "customer_id, merged_from, profile, traits, segments, consent,
                identifiers, recent_events, served_at"}
          400: {description: an unknown identifier type}
          401: {description: a missing or unknown token}
          404: {description: no customer has this identifier}
          503: {description: nothing served yet (no build)}
        """
        caller = _caller(request, tokens)
        if caller is None:
            return _json({"error": "missing or unknown bearer token"}, 401)
        kind, value = request.path_params["identifier_type"], request.path_params["value"]
        if kind not in LOOKUP_TYPES:
            return _json({"error": f"identifier type: one of {', '.join(LOOKUP_TYPES)}"}, 400)
        try:
            found = lookup(serving, kind, value, pii=caller[1], manifest=read(manifest_path))
        except WarehouseError as exc:  # nothing published yet, or the server is down
            return _json({"error": str(exc)}, 503)
        except Exception as exc:
            if serving.missing_relation(exc):
                return _json({"error": "no profiles served yet: run `cdp run` first"}, 503)
            raise
        if found is None:
            return _json({"error": f"no customer with this {kind}"}, 404)
        return _json(found, 200)

    def health(request: Request) -> Response:
        return _json({"status": "ok"}, 200)

    def openapi(request: Request) -> Response:
        return schemas.OpenAPIResponse(request=request)

    return Starlette(
        routes=[
            Route("/v1/profiles/{identifier_type}/{value:path}", profile, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/openapi.json", openapi, include_in_schema=False),
        ]
    )


def _caller(request, tokens: dict[str, tuple[str, bool]]) -> tuple[str, bool] | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer ":
        return None
    given = header[7:].strip()
    for token, caller in tokens.items():  # compared in constant time
        if secrets.compare_digest(given.encode(), token.encode()):
            return caller
    return None


def _json(body: dict, status: int):
    from starlette.responses import Response

    content = orjson.dumps(body, default=_default, option=orjson.OPT_NAIVE_UTC)
    return Response(content, status_code=status, media_type="application/json")


def _default(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
