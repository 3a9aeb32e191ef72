"""Connections of ``augur serve``: a deadline for request heads, and a cap on open
connections that sheds idle ones first (uvicorn's h11 protocol, extended).

uvicorn has no timeout for reading a request's head: a client that connects and sends
nothing (or one byte a minute) holds a socket, and a file descriptor, for good. Here:

* a request's head must be complete within ``header_timeout_s`` of the connection being
  made, or of the previous response (a keep-alive connection); else the connection is
  closed;
* after a response, the rest of a request body the application did not read must arrive
  within ``drain_timeout_s``; else the connection is closed;
* at most ``max_connections`` are open: when one more arrives, the connection that has been
  idle the longest (waiting for a request head, or after its response) is closed to make
  room, and only when every connection is busy with a request is the new one closed. A
  flood of idle connections thus never locks out a client that sends its request.

Timing out a body the application is reading is ``server/admission.py``'s job.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("augur_sdk.server")

FD_RESERVE = 128  # descriptors kept for files, worker threads, the listener and logging


def connection_cap(wanted: int) -> int:
    """``wanted``, lowered to what this process's open-file limit leaves room for (after
    raising the soft limit toward the hard one when that helps)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(2, min(wanted, soft - FD_RESERVE))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the deadlines and the cap of the module docstring. The
    settings are class attributes: :func:`protocol_class` makes a subclass per server."""

    header_timeout_s = 10.0
    drain_timeout_s = 30.0
    max_connections = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self.idle_since: float | None = None  # loop time it became idle; None while busy

    # ── state ───────────────────────────────────────────────────────────────

    def _busy(self) -> bool:
        """A request is being handled (its response is not complete)."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE and not self._busy()

    def _set_deadline(self, seconds: float) -> None:
        self._clear_deadline()
        self._deadline = self.loop.call_later(seconds, self._on_deadline)

    def _clear_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._busy():
            return
        # Still waiting for a request head, or for the rest of an unread body: give up.
        self.transport.close()

    def _update(self) -> None:
        """After any event: arm the right deadline and note whether the connection idles."""
        if self.transport.is_closing():
            self._clear_deadline()
            return
        if self._busy():
            self.idle_since = None
            self._clear_deadline()
            return
        if self.idle_since is None:
            self.idle_since = self.loop.time()
        if self._deadline is None:
            if self._waiting_for_head():
                self._set_deadline(self.header_timeout_s)
            elif self.conn.their_state is h11.SEND_BODY:
                self._set_deadline(self.drain_timeout_s)

    # ── uvicorn's protocol interface ────────────────────────────────────────

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = self.loop.time()
        self._set_deadline(self.header_timeout_s)
        if len(self.connections) > self.max_connections:
            self._make_room()

    def data_received(self, data: bytes) -> None:
        had_head = not self._waiting_for_head()
        super().data_received(data)
        if not had_head and not self._waiting_for_head():
            self._clear_deadline()  # the head arrived: its deadline is met
        self._update()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._clear_deadline()
        self.idle_since = None
        self._update()

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear_deadline()
        super().connection_lost(exc)

    # ── the cap ─────────────────────────────────────────────────────────────

    def _make_room(self) -> None:
        """Close the connection idle the longest; this one if every other one is busy."""
        oldest: GuardedH11Protocol | None = None
        for conn in self.connections:
            if conn is self or not isinstance(conn, GuardedH11Protocol):
                continue
            since = conn.idle_since
            if since is None or conn.transport.is_closing():
                continue
            if oldest is None or since < (oldest.idle_since or 0.0):
                oldest = conn
        victim = oldest or self
        victim.connections.discard(victim)  # counted out now; the close completes later
        victim.transport.close()
        if victim is self:
            logger.warning("augur serve: %d connections are open and all busy; a new one "
                           "was closed", len(self.connections))


def protocol_class(header_timeout_s: float, drain_timeout_s: float,
                   max_connections: int) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` with these settings (uvicorn's ``http=`` option)."""
    return type("AugurH11Protocol", (GuardedH11Protocol,), {
        "header_timeout_s": header_timeout_s, "drain_timeout_s": drain_timeout_s,
        "max_connections": max_connections})
