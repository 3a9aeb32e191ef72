"""What every request passes before it may write: authentication (the token decides the
tenant), reading and decoding its body (``server/admission.py`` admits it first,
``server/decode.py`` decodes it: strict JSON, 400 otherwise), the rate limiter (429 with
``Retry-After``), and path segments decoded one by one from the raw request path (400 on
anything that could escape the data directory)."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

from augur_sdk.server import decode
from augur_sdk.server.admission import charge
from augur_sdk.server.config import DEFAULT_TENANT, INGEST, ServerConfig
from augur_sdk.server.paths import BadName, check_tenant

AUTH_HEADERS = {"WWW-Authenticate": 'Bearer realm="augur"'}
DIGEST = "augur.body_digest"  # in the ASGI scope: see keep_digest
T = TypeVar("T")


def _without_frames(exc: BaseException) -> BaseException:
    """``exc`` with the tracebacks of it and its chain dropped (the frames they hold keep
    a request's body and decoded records alive)."""
    seen: set[int] = set()
    item: BaseException | None = exc
    while item is not None and id(item) not in seen:
        seen.add(id(item))
        item.__traceback__ = None
        item = item.__cause__ or item.__context__
    return exc


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a worker thread. An exception comes back without the worker's
    frames: one crossing the thread's future forms a reference cycle (future, exception,
    traceback, frame) that keeps the frames' locals (a 31 MiB body...) alive until the
    cyclic garbage collector happens to run."""

    def call() -> tuple[bool, Any]:
        try:
            return True, fn(*args)
        except Exception as exc:  # re-raised on the event loop below
            return False, _without_frames(exc)

    ok, value = await run_in_threadpool(call)
    if ok:
        return value  # type: ignore[no-any-return]
    try:
        raise value
    finally:
        del value  # no cycle between this frame and the exception


@dataclass(frozen=True)
class Caller:
    """Who is asking: the tenant a token belongs to (or, on an open server, the tenant the
    request names). ``all_tenants`` is True only on an open server that named none."""

    tenant: str
    all_tenants: bool = False
    role: str = INGEST  # "control" tokens may also issue intervention commands
    name: str | None = None  # the token's name in the tokens file, if it has one


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
    info = config.tokens.lookup(token)
    if info is None:
        raise HTTPException(401, "invalid token", headers=AUTH_HEADERS)
    if named and named != info.tenant:
        raise HTTPException(403, "this token does not belong to the tenant the request names")
    return Caller(info.tenant, role=info.role, name=info.name)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, after checking ``Content-Length`` against ``limit`` (413). It is read within
    the request's admission (``server/admission.py``); with an ``Idempotency-Key`` its
    digest is kept for the key's check."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPException(400, "invalid Content-Length") from None
        if size > limit:
            raise HTTPException(413, f"request body is larger than {limit} bytes")
    body = await request.body()
    if "idempotency-key" in request.headers:
        keep_digest(request, body)
    return body


def keep_digest(request: Request, data: bytes) -> None:
    """What identifies this request's content for its Idempotency-Key (a screenshot's PNG,
    not its multipart encoding, whose boundary differs on each try)."""
    request.scope[DIGEST] = decode.digest(data)


def body_digest(request: Request) -> str:
    value = request.scope.get(DIGEST)
    return value if isinstance(value, str) else ""


# Bodies up to this size are parsed on the event loop; larger ones on a worker thread, so
# that other connections are served meanwhile.
_PARSE_INLINE = 64 * 1024


async def decode_json(request: Request, body: bytes) -> Any:
    """``body`` as strict JSON (``decode.strict_json``), once the memory decoding it takes
    is held (413 if it never fits, 429 if not now)."""
    charge(request, decode.decoded_cost(body), _retry_after(request))
    if len(body) <= _PARSE_INLINE:
        return decode.strict_json(body)
    return await in_thread(decode.strict_json, body)


async def decode_object(request: Request, body: bytes) -> dict[str, Any]:
    value = await decode_json(request, body)
    if not isinstance(value, dict):
        raise decode.BodyError("the body must be a JSON object")
    return value


async def read_object(request: Request, limit: int) -> dict[str, Any]:
    """Read and decode a JSON object body."""
    return await decode_object(request, await read_body(request, limit))


def _retry_after(request: Request) -> float:
    config = getattr(request.app.state.augur, "config", None)
    return float(getattr(config, "retry_after_s", 1))


def parse_json(body: bytes) -> Any:
    """Strict JSON (``decode.strict_json``): 400 otherwise. Prefer :func:`decode_json`,
    which also charges the memory decoding takes."""
    return decode.strict_json(body)


def json_object(body: bytes) -> dict[str, Any]:
    return decode.json_object(body)


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
