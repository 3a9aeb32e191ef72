"""Live intervention: an operator pauses, resumes, kills, hints or overrides a running agent
through ``augur serve`` (see ``docs/intervention.md``).

``DebugSession.bind_intervention(adapter)`` starts an :class:`InterventionChannel`: one
daemon thread long-polls ``GET <DSN base>/runs/<run>/commands`` and hands each command to
the adapter's hook (``on_pause``, ``on_resume``, ``on_kill``, ``on_inject_hint``,
``on_action_override``), in issue order, once. Each command and its outcome are decision
events of the run (``events/run.jsonl``, span events of the run span). ``close()`` stops the
channel within its close budget: no hook starts after ``close()`` returns.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from augur_sdk import _internal
from augur_sdk.records import utcnow_iso
from augur_sdk.stream.client import quote, rejection_reason
from augur_sdk.stream.dsn import Dsn

logger = logging.getLogger("augur_sdk")

COMMAND_TYPES = frozenset({"pause", "resume", "kill", "inject_hint", "override_action"})
HOOKS = {"pause": "on_pause", "resume": "on_resume", "kill": "on_kill",
         "inject_hint": "on_inject_hint", "override_action": "on_action_override"}
"""The adapter hook each command type calls."""
SEEN_IDS = 4096  # command ids remembered to drop repeats (the server's cursor does the rest)
ERROR_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)  # waits after failed polls, then the last one again
MIN_POLL_S = 0.25  # a poll answered sooner than this with nothing waits before the next


def _transport_errors() -> tuple[type[BaseException], ...]:
    import urllib3  # a caller's own ``http`` may be a urllib3 pool (0.6.1's default)

    return (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)


_TRANSPORT_ERRORS = _transport_errors()


@dataclass
class InterventionCommand:
    """One command as the server sends it."""

    command_id: str
    type: str
    issued_at: str
    operator_id: str | None = None
    payload: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InterventionCommand:
        payload = raw.get("payload")
        return cls(command_id=str(raw.get("command_id") or raw.get("id") or ""),
                   type=str(raw.get("type") or "")[:64],
                   issued_at=str(raw.get("issued_at") or ""),
                   operator_id=str(raw["operator_id"])[:64] if raw.get("operator_id") else None,
                   payload=dict(payload) if isinstance(payload, Mapping) and payload else None)


class _Session(Protocol):
    run_id: str

    def record_event(self, event: Mapping[str, Any]) -> None: ...

    def abort_pending_side_effects(self, reason: str) -> list[str]: ...


def missing_hooks(adapter: Any) -> list[str]:
    """The hooks ``adapter`` lacks (``bind_intervention`` refuses such an adapter)."""
    return [name for name in HOOKS.values() if not callable(getattr(adapter, name, None))]


@dataclass
class _Response:
    status: int
    data: bytes


class _PollConnection:
    """The long poll's one connection. :meth:`close` from another thread shuts its socket
    down, which ends a poll the server is holding at once (``stop`` never waits for it)."""

    def __init__(self, connect_timeout_s: float, read_timeout_s: float) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._closed = False

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                **_: Any) -> _Response:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        with self._lock:  # never held across I/O: close() must not wait for it
            if self._closed:
                raise ConnectionAbortedError("intervention channel stopped")
            if self._conn is None:
                factory = (http.client.HTTPSConnection if parts.scheme == "https"
                           else http.client.HTTPConnection)
                self._conn = factory(parts.netloc, timeout=self.connect_timeout_s)
            conn = self._conn
        try:
            if conn.sock is None:
                conn.connect()
                with self._lock:
                    if self._closed:  # stopped while connecting
                        raise ConnectionAbortedError("intervention channel stopped")
                if conn.sock is not None:
                    conn.sock.settimeout(self.read_timeout_s)
            conn.request(method, path, headers=dict(headers or {}))
            resp = conn.getresponse()
            return _Response(resp.status, resp.read())
        except BaseException:
            with self._lock:
                if self._conn is conn:
                    self._conn = None
            conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if conn is not None:
            conn.close()


class InterventionChannel:
    """Long-polls a run's commands and dispatches them to an adapter.

    Made by ``DebugSession.bind_intervention``; :meth:`poll_once` and :meth:`dispatch` are
    public so a test can drive one round without the thread. ``paused`` mirrors the last
    pause/resume; ``killed`` turns True at a kill; :meth:`wait_while_paused` blocks the agent
    loop while paused (a kill ends the wait).
    """

    def __init__(self, *, session: _Session, adapter: Any, base_url: str, token: str,
                 http: Any = None, poll_timeout: float = 25.0, tenant: str = "",
                 run_id: str | None = None) -> None:
        self._session = session
        self._adapter = adapter
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if tenant:
            self._headers["X-Augur-Tenant"] = tenant
        self._run_id = session.run_id if run_id is None else run_id
        self._http = http if http is not None else _PollConnection(2.0, poll_timeout + 5.0)
        self.poll_timeout = poll_timeout
        self._cursor: str | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._stop = threading.Event()
        self._running = threading.Event()  # set while not paused (or once killed)
        self._running.set()
        # Held while a command is handled: stop() takes it, so no hook starts after stop().
        self._dispatching = threading.RLock()
        self._thread: threading.Thread | None = None
        self._warned: set[int] = set()
        self.paused = False
        self.killed = False

    # ── lifecycle ───────────────────────────────────────────────────────────

    def start(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        thread = threading.Thread(target=self._loop, name="augur-intervention", daemon=True)
        self._thread = thread
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            self._thread = None

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Stop polling; wait at most ``timeout_s`` for a hook that is running. True when
        the channel is quiet (no hook runs, none will start)."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        self._stop.set()
        self._running.set()  # an agent waiting in wait_while_paused goes on (to close)
        close = getattr(self._http, "close", None)
        if callable(close):
            with _internal.internal_errors("intervention.stop"):
                close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._dispatching.acquire(timeout=max(0.0, deadline - time.monotonic())):
            self._dispatching.release()
            return thread is None or not thread.is_alive() or \
                thread is threading.current_thread()
        logger.warning("augur_sdk: an intervention hook still runs after %.1f s; close() "
                       "goes on (no further command will be dispatched)", timeout_s)
        return False

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True once running again (resumed, killed or stopped), False
        if ``timeout`` passed first."""
        return self._running.wait(timeout)

    # ── polling ─────────────────────────────────────────────────────────────

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            dispatched = 0
            try:
                # A bug of ours is logged (raised under test); the loop goes on either way.
                with _internal.internal_errors("intervention.poll"):
                    dispatched = self.poll_once()
                failures = 0
            except _TRANSPORT_ERRORS as exc:  # the server is down or went away: try later
                if self._stop.is_set():
                    return
                logger.debug("augur_sdk: intervention poll failed: %r", exc)
                wait = ERROR_BACKOFF_S[min(failures, len(ERROR_BACKOFF_S) - 1)]
                failures += 1
                if self._stop.wait(wait):
                    return
                continue
            if not dispatched and time.monotonic() - started < MIN_POLL_S:
                self._stop.wait(2 * MIN_POLL_S)  # a server that does not hold polls

    def poll_once(self) -> int:
        """One poll: fetch the run's pending commands and dispatch them; returns how many
        were dispatched. A refused or unreadable answer dispatches nothing (and is logged)."""
        if self._stop.is_set():
            return 0
        url = f"{self._base_url}/runs/{quote(self._run_id)}/commands"
        if self._cursor:
            url += "?cursor=" + urllib.parse.quote(self._cursor, safe="")
        resp = self._http.request("GET", url, headers=self._headers)
        status = int(resp.status)
        if status >= 400:
            self._refused(status)
            return 0
        if not resp.data:
            return 0
        try:
            body = json.loads(resp.data)
        except ValueError:
            logger.debug("augur_sdk: intervention poll answered non-JSON: %r", resp.data[:200])
            return 0
        if not isinstance(body, dict):
            return 0
        commands = body.get("commands")
        dispatched = self.dispatch(commands if isinstance(commands, list) else [])
        cursor = body.get("cursor")
        if cursor and not self._stop.is_set():
            self._cursor = str(cursor)  # acknowledges what was dispatched
        return dispatched

    def _refused(self, status: int) -> None:
        if status in (401, 403, 404) and status not in self._warned:
            self._warned.add(status)
            logger.warning("augur_sdk: the server refused the intervention poll of run %r "
                           "(HTTP %d); check the DSN's token and tenant", self._run_id, status)
        else:
            logger.debug("augur_sdk: intervention poll answered HTTP %d", status)

    # ── dispatching ─────────────────────────────────────────────────────────

    def dispatch(self, commands: Iterable[Any]) -> int:
        """Hand each command to the adapter, in order, each command id once; returns how
        many were dispatched (unknown types and repeats are not)."""
        dispatched = 0
        for raw in commands:
            if not isinstance(raw, Mapping):
                continue
            cmd = InterventionCommand.from_dict(raw)
            if not cmd.command_id or cmd.command_id in self._seen:
                continue
            with self._dispatching:
                if self._stop.is_set():
                    break
                self._remember(cmd.command_id)
                self._audit(cmd, None, {"seq": raw.get("seq")})
                if cmd.type not in COMMAND_TYPES:
                    self._audit(cmd, "unknown_type", {})
                    logger.warning("augur_sdk: ignored an intervention command of unknown type "
                                   "%r", cmd.type)
                    continue
                started = time.monotonic()
                outcome, facts = self._apply(cmd)
                facts["latency_ms"] = round((time.monotonic() - started) * 1000, 3)
                self._audit(cmd, outcome, facts)
                dispatched += 1
        return dispatched

    def _remember(self, command_id: str) -> None:
        self._seen[command_id] = None
        while len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)

    def _apply(self, cmd: InterventionCommand) -> tuple[str, dict[str, Any]]:
        payload = cmd.payload or {}
        facts: dict[str, Any] = {}
        args: tuple[Any, ...] = ()
        kwargs: dict[str, Any] = {}
        if cmd.type == "pause":
            self.paused = True
            self._running.clear()
        elif cmd.type == "resume":
            self.paused = False
            self._running.set()
        elif cmd.type == "kill":
            self.killed = True
            self._running.set()
            reason = f"intervention.kill by {cmd.operator_id or 'operator'}"
            with _internal.internal_errors("intervention.kill"):
                facts["aborted_side_effects"] = self._session.abort_pending_side_effects(
                    reason=reason)
        elif cmd.type == "inject_hint":
            text = payload.get("text")
            if not isinstance(text, str):
                return "invalid_payload", {"error": "payload.text: expected a string"}
            args = (text,)
        else:  # override_action
            point = _coordinates(payload.get("coordinates"))
            if point is None:
                return "invalid_payload", {"error": "payload.coordinates: expected {x, y}"}
            args, kwargs = (point,), {"provenance": "human_override"}
        return self._call(HOOKS[cmd.type], args, kwargs, facts)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
              facts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        hook: Callable[..., Any] | None = getattr(self._adapter, name, None)
        if not callable(hook):
            return "unsupported", facts
        try:
            hook(*args, **kwargs)
        except NotImplementedError:
            return "unsupported", facts
        except Exception as exc:  # the adapter's bug must not end the channel: audited
            facts["error"] = f"{type(exc).__name__}: {exc}"[:500]
            logger.warning("augur_sdk: intervention hook %s raised %s", name, facts["error"])
            return "failed", facts
        return "applied", facts

    def _audit(self, cmd: InterventionCommand, outcome: str | None,
               facts: dict[str, Any]) -> None:
        """The command (``outcome`` None) or its outcome, as a run-level decision event."""
        detail: dict[str, Any] = {"command_id": cmd.command_id, "type": cmd.type}
        if outcome is None:
            detail.update(operator_id=cmd.operator_id or "", issued_at=cmd.issued_at,
                          payload=cmd.payload or {})
            if facts.get("seq") is not None:
                detail["seq"] = facts["seq"]
            summary = f"intervention.{cmd.type}"
        else:
            detail.update(facts, outcome=outcome)
            summary = f"intervention.{cmd.type}.{outcome}"
        event = {"ts": utcnow_iso(), "layer": "runner",
                 "kind": "error" if outcome in ("failed", "invalid_payload") else "info",
                 "summary": summary, "detail": detail}
        try:
            self._session.record_event(event)
        except RuntimeError:  # the session closed meanwhile (a hook closed it)
            logger.debug("augur_sdk: intervention audit event after close: %s", summary)


def issue_command(dsn: Dsn, run_id: str, command: Mapping[str, Any], *,
                  tenant: str | None = None, timeout_s: float = 30.0) -> tuple[int, Any]:
    """Issue ``command`` (``{"type", "payload"?, "ttl_s"?}``) for ``run_id`` on the server of
    ``dsn`` (its token must be a control token): ``(201, {"command": ...})``, or the
    server's status with ``{"error": reason}`` (status 0: the server is unreachable)."""
    import urllib3

    headers = {"Authorization": f"Bearer {dsn.token}", "Content-Type": "application/json"}
    tenant = tenant or dsn.tenant
    if tenant:
        headers["X-Augur-Tenant"] = tenant
    http = urllib3.PoolManager(retries=False,
                               timeout=urllib3.Timeout(connect=5.0, read=timeout_s))
    try:
        resp = http.request("POST", f"{dsn.base_url}/runs/{quote(run_id)}/commands",
                            body=json.dumps(dict(command)).encode("utf-8"), headers=headers)
    except urllib3.exceptions.HTTPError as exc:
        return 0, {"error": f"{dsn.base_url}: unreachable ({type(exc).__name__})"}
    finally:
        http.clear()
    if resp.status == 201:
        return 201, resp.json()
    return resp.status, {"error": rejection_reason(resp.data) or f"HTTP {resp.status}"}


def _coordinates(value: Any) -> dict[str, float] | None:
    if not isinstance(value, Mapping):
        return None
    try:
        point = {"x": float(value["x"]), "y": float(value["y"])}
    except (KeyError, TypeError, ValueError):
        return None
    return point


__all__ = ["COMMAND_TYPES", "HOOKS", "InterventionChannel", "InterventionCommand",
           "issue_command", "missing_hooks"]
