"""Admission of request bodies, before a byte of them is read (ASGI middleware).

A writing request (``POST``/``PUT``) passes, in this order, before its body is read:

1. its ``Content-Length``, if any, is at most ``max_body_bytes`` (413);
2. fewer than ``max_inflight`` writing requests are in progress (429 with ``Retry-After``);
3. its tenant's rate limit (429);
4. a share of the server's body memory (``max_body_memory_bytes``), waited for at most
   ``admission_wait_s`` (429; 413 if it can never fit): three times its declared length
   for a JSON body (the bytes, their text, the strings parsed out of them), twice for
   others (a PNG: the bytes and a copy). A chunked body takes its share as it arrives;
   decoding a JSON body takes the rest of its estimated cost (``decode.decoded_cost``)
   before it is parsed, or is refused (429, or 413 if it can never fit).

While the body is read, it must keep coming: a pause of ``body_timeout_s``, or an average
below ``min_body_rate`` bytes/s once ``body_timeout_s`` has passed, ends the request with
408 and closes the connection; a body past ``max_body_bytes`` ends it with 413.

A request without a valid token passes untouched: the route answers 401 without reading
it. So the memory of every body in the server is bounded by ``max_body_memory_bytes``,
whatever the number of connections (uvicorn itself buffers at most a few hundred KiB of a
body the application has not asked for).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TICKET = "augur.ticket"  # the request's Ticket, in the ASGI scope
CHUNKED_SHARE = 2 * 65536  # the first share of a body of unknown length
SMALL_BODY = 65536  # a refused body up to this size is drained, a larger one not waited for


class MemoryBudget:
    """Bytes of request bodies in memory, all requests together (one event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed: asyncio.Condition | None = None

    def try_take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    async def take(self, size: int, timeout_s: float) -> bool:
        """Take ``size`` bytes, waiting at most ``timeout_s`` for them; False if not."""
        if self.try_take(size):
            return True
        if size > self.limit:
            return False
        if self._changed is None:
            self._changed = asyncio.Condition()
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: self.used + size <= self.limit)
                self.used += size
                return True
        except TimeoutError:
            return False

    async def give(self, size: int) -> None:
        self.used -= size
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()


class Ticket:
    """One request's share of the body memory."""

    def __init__(self, budget: MemoryBudget) -> None:
        self.budget = budget
        self.held = 0

    def grow_to(self, size: int) -> bool:
        """Hold at least ``size`` bytes now (never waits); False when they are not free."""
        extra = size - self.held
        if extra <= 0:
            return True
        if not self.budget.try_take(extra):
            return False
        self.held = size
        return True

    async def release(self) -> None:
        held, self.held = self.held, 0
        if held:
            await self.budget.give(held)


def share_of(headers: Headers, declared: int | None) -> int:
    """The memory a body of ``declared`` bytes takes before it is decoded further."""
    if declared is None:
        return CHUNKED_SHARE
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    binary = media.startswith(("image/", "multipart/")) or media in (
        "application/octet-stream", "application/x-protobuf")
    return (2 if binary else 3) * declared


def ticket_of(request: Request) -> Ticket | None:
    ticket = request.scope.get(TICKET)
    return ticket if isinstance(ticket, Ticket) else None


def busy(seconds: float, why: str, *, close: bool = False) -> HTTPException:
    headers = {"Retry-After": str(max(1, math.ceil(seconds)))}
    if close:
        headers["Connection"] = "close"
    return HTTPException(429, why, headers=headers)


def charge(request: Request, size: int, retry_after_s: float) -> None:
    """Hold ``size`` bytes of body memory for this request from now on: 413 when no body
    of that cost can ever fit, 429 when the memory is not free now."""
    ticket = ticket_of(request)
    if ticket is None or ticket.grow_to(size):
        return
    if size > ticket.budget.limit:
        raise HTTPException(413, f"decoding this body takes more memory than the server "
                                 f"gives all bodies together ({ticket.budget.limit} bytes)")
    raise busy(retry_after_s, "the server is decoding other large bodies; retry later")


class Admission:
    """The ASGI middleware described in the module docstring. ``state`` is the app's
    ``ServerState`` (config, rate limiter, in-flight count, body memory)."""

    def __init__(self, app: ASGIApp, state: Any,
                 tenant_of: Callable[[Request], str | None]) -> None:
        self.app = app
        self.state = state
        self.tenant_of = tenant_of  # the tenant of a valid token (None: no valid token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        try:
            ticket = await self._admit(scope)
        except HTTPException as exc:
            response = JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                                    headers=exc.headers)
            await response(scope, receive, send)
            return
        if ticket is None:  # no valid token: the route answers 401 without reading
            await self.app(scope, self._guarded(scope, receive, None), send)
            return
        state = self.state
        state.inflight += 1
        scope[TICKET] = ticket
        try:
            await self.app(scope, self._guarded(scope, receive, ticket), send)
        finally:
            state.inflight -= 1
            await ticket.release()

    async def _admit(self, scope: Scope) -> Ticket | None:
        state = self.state
        config = state.config
        headers = Headers(scope=scope)
        declared: int | None = None
        if "content-length" in headers:
            try:
                declared = int(headers["content-length"])
            except ValueError:
                declared = -1
            if declared < 0:
                raise HTTPException(400, "invalid Content-Length",
                                    headers={"Connection": "close"})
        close = declared is None or declared > SMALL_BODY
        if declared is not None and declared > config.max_body_bytes:
            raise HTTPException(413, f"request body is larger than {config.max_body_bytes} "
                                     f"bytes", headers={"Connection": "close"})
        tenant = self.tenant_of(Request(scope))
        if tenant is None:
            return None
        if state.inflight >= config.max_inflight:
            raise busy(config.retry_after_s, "the server is busy; retry later", close=close)
        if state.limiter is not None:
            wait = state.limiter.wait_s(tenant)
            if wait > 0:
                raise busy(wait, "rate limit of this tenant reached; retry later",
                           close=close)
        ticket = Ticket(state.body_memory)
        share = share_of(headers, declared)
        if share > state.body_memory.limit:
            raise HTTPException(413, f"this body needs more memory than the server gives all "
                                     f"bodies together ({state.body_memory.limit} bytes)",
                                headers={"Connection": "close"})
        if not await state.body_memory.take(share, config.admission_wait_s):
            raise busy(config.retry_after_s, "the server is receiving other large bodies; "
                                             "retry later", close=close)
        ticket.held = share
        return ticket

    def _guarded(self, scope: Scope, receive: Receive, ticket: Ticket | None) -> Receive:
        """``receive`` with the body's size limit, its timeouts and its memory share."""
        config = self.state.config
        limit = config.max_body_bytes
        headers = Headers(scope=scope)
        try:
            declared: int | None = int(headers.get("content-length", ""))
        except ValueError:
            declared = None
        started = time.monotonic()
        seen = 0
        done = False

        async def receive_body() -> Message:
            nonlocal seen, done
            if done:
                return await receive()
            expected = declared if declared is not None else seen + 65536
            allowed = config.body_timeout_s + expected / config.min_body_rate
            timeout = min(config.body_timeout_s, started + allowed - time.monotonic())
            try:
                if timeout <= 0:
                    raise TimeoutError
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                done = True
                raise HTTPException(408, "the request body did not arrive in time",
                                    headers={"Connection": "close"}) from None
            if message["type"] != "http.request":
                done = True
                return message
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                done = True
            if seen > limit:
                done = True
                raise HTTPException(413, f"request body is larger than {limit} bytes",
                                    headers={"Connection": "close"})
            if ticket is not None and not ticket.grow_to(2 * seen):
                done = True
                raise busy(config.retry_after_s, "the server is receiving other large "
                                                 "bodies; retry later", close=True)
            return message

        return receive_body
