"""What every request passes before it may write: authentication (the token decides the
tenant), size limits (413), back-pressure (429 with ``Retry-After``), strict JSON (400) and
path segments decoded one by one from the raw request path (400 on anything that could
escape the data directory)."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from augur_sdk.server.config import DEFAULT_TENANT, ServerConfig
from augur_sdk.server.paths import BadName, check_tenant

AUTH_HEADERS = {"WWW-Authenticate": 'Bearer realm="augur"'}


@dataclass(frozen=True)
class Caller:
    """Who is asking: the tenant a token belongs to (or, on an open server, the tenant the
    request names). ``all_tenants`` is True only on an open server that named none."""

    tenant: str
    all_tenants: bool = False


def request_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = request.headers.get("x-augur-token", "").strip()
    return token or None


def authenticate(request: Request, config: ServerConfig) -> Caller:
    """401 without a valid token; 403 when the request names another tenant than the
    token's (``?tenant=`` or ``X-Augur-Tenant``, e.g. the DSN's ``tenant`` parameter)."""
    named = request.query_params.get("tenant") or request.headers.get("x-augur-tenant")
    if config.tokens.open:
        if named:
            try:
                return Caller(check_tenant(named))
            except BadName as exc:
                raise HTTPException(400, str(exc)) from None
        return Caller(DEFAULT_TENANT, all_tenants=True)
    token = request_token(request)
    if token is None:
        raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>' "
                                 "(or 'x-augur-token: <token>')", headers=AUTH_HEADERS)
    tenant = config.tokens.tenant_for(token)
    if tenant is None:
        raise HTTPException(401, "invalid token", headers=AUTH_HEADERS)
    if named and named != tenant:
        raise HTTPException(403, "this token does not belong to the tenant the request names")
    return Caller(tenant)


class BodyLimit:
    """ASGI middleware: a request body (chunked or not) past ``limit`` bytes ends in 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"request body is larger than {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, after checking ``Content-Length`` against ``limit`` (413)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPException(400, "invalid Content-Length") from None
        if size > limit:
            raise HTTPException(413, f"request body is larger than {limit} bytes")
    return await request.body()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, which the bundle could not store): 400 otherwise."""
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from None


def json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return data


def path_segments(request: Request, prefix: tuple[str, ...]) -> list[str]:
    """The percent-decoded segments after ``prefix`` (``("runs",)``...), from the raw path.

    Each segment is decoded on its own, so ``%2F`` stays inside its segment (and is then
    refused by the name checks) instead of becoming a separator.
    """
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    parts = [p for p in raw.split(b"/")][1:]
    if parts[:2] == [b"api", b"v1"] and prefix[:1] != ("api",):
        parts = parts[2:]
    head = [p.decode("latin-1") for p in parts[:len(prefix)]]
    if tuple(head) != prefix:
        raise HTTPException(404, "not found")
    out = []
    for part in parts[len(prefix):]:
        try:
            out.append(urllib.parse.unquote_to_bytes(part).decode("utf-8"))
        except UnicodeDecodeError:
            raise HTTPException(400, "path segments must be UTF-8") from None
    return out


class RateLimiter:
    """A token bucket per tenant: ``rate`` requests per second, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait_s(self, key: str) -> float:
        """0 when a request may go now (and take its token), else seconds until it may."""
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate


def too_many(seconds: float, why: str) -> HTTPException:
    return HTTPException(429, why, headers={"Retry-After": str(max(1, math.ceil(seconds)))})
