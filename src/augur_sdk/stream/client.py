"""The streaming client: a small fixed pool of workers sending to an Augur server.

* ``submit`` never blocks and never raises: it enqueues, or drops and counts when the queue
  is over its count or byte budget. JSON records are queued as they are and encoded by the
  worker that sends them, not on the agent's thread.
* Each run is pinned to one worker (by hash), so a run's requests go out in order: a step's
  later update never overtakes an earlier one.
* Connection errors, 5xx and 429 are retried with exponential backoff and full jitter inside
  a per-request deadline; ``Retry-After`` is honoured (clamped to 0-30 s).
* ``flush_run`` waits for one run's requests, bounded by the caller's budget.
* One client per DSN per process; threads and sockets are bounded by ``workers``.
"""

from __future__ import annotations

import datetime
import email.utils
import itertools
import json
import os
import random
import threading
import time
import urllib.parse
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.filepost import encode_multipart_formdata

from augur_sdk import _internal
from augur_sdk._version import __version__
from augur_sdk.stream.dsn import Dsn

RETRY_AFTER_MAX_S = 30.0
HEARTBEAT_INTERVAL_S = 15.0
# The server counts as down once this many attempts in a row, over at least this long, got
# no HTTP answer; a flush at close then waits at most DOWN_FLUSH_S instead of its budget.
DOWN_AFTER_ATTEMPTS = 3
DOWN_AFTER_S = 0.5
DOWN_FLUSH_S = 0.5
# What a JSON record counts against max_queue_bytes until a worker encodes it (records are
# ~0.5-2 KiB); then it counts its real size.
JSON_ESTIMATE = 4096
# Records of unknown size are queued unencoded only while their worker's queue is shorter
# than this.
LAZY_ENCODE_MAX = 64
# A record queued unencoded with a size hint (its JSON size) counts this many times that.
PAYLOAD_OVERHEAD = 5
# A refused request's log line quotes at most this much of the server's reason, and at most
# this many kinds of refusal are logged per client.
REASON_CHARS = 200
REJECTION_KINDS_LOGGED = 8


@dataclass
class StreamOptions:
    workers: int = 2
    max_queue: int = 10_000
    max_queue_bytes: int = 32 * 2**20  # 16 steps of two 1 MB screenshots; RSS stays < 100 MB
    request_deadline_s: float = 10.0
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    backoff_base_s: float = 0.2
    backoff_max_s: float = 5.0


_key_prefix = uuid.uuid4().hex[:16]
_key_counter = itertools.count()


def _new_key() -> str:
    """A unique idempotency key without a urandom call per request: a random per-process
    prefix (drawn again in a forked child) and a counter."""
    return f"{_key_prefix}-{next(_key_counter):x}"


def _new_key_prefix_after_fork() -> None:
    global _key_prefix
    _key_prefix = uuid.uuid4().hex[:16]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_key_prefix_after_fork)


@dataclass(slots=True)
class Request:
    run_id: str
    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"
    fields: dict[str, tuple[str, bytes, str]] | None = None
    # A JSON record not encoded yet: the worker encodes it (off the agent's thread), and a
    # request dropped at enqueue is never encoded at all.
    payload: Any = None
    # An upper bound of the payload's encoded size, when the caller knows one (the bundle
    # file of the same record); else it counts JSON_ESTIMATE until it is encoded.
    size_hint: int = 0
    kind: str = "record"
    enqueued: float = field(default_factory=time.monotonic)
    # One key per logical request, kept across retries: a server can drop the duplicate when
    # a retried POST's first answer was lost. Drawn by the worker at the first attempt.
    idempotency_key: str = ""
    accounted: int = 0
    # The run's counters at enqueue: a request finishing after ``forget_run`` must not count
    # into a later run that reuses the run id (nor re-create the forgotten entry).
    stats: RunStats | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Bytes it holds: its size hint when it has one (a record not encoded yet, a
        screenshot); else a record not encoded yet counts ``JSON_ESTIMATE``."""
        if self.payload is not None:
            # Until encoded, a record is Python objects, ~5x its JSON (measured ~3.8 KB for a
            # 750 B step): counted so, the byte budget bounds memory, not just JSON.
            return (PAYLOAD_OVERHEAD * self.size_hint or JSON_ESTIMATE) + len(self.body)
        if self.size_hint:
            return self.size_hint + len(self.body)
        if self.fields is None:
            return len(self.body)
        return len(self.body) + sum(len(f[1]) for f in self.fields.values())


@dataclass
class RunStats:
    sent: int = 0
    pending: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def parse_retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110),
    clamped to 0-``RETRY_AFTER_MAX_S``; ``default`` when missing or unparsable."""
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return default
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return default
    return max(0.0, min(seconds, RETRY_AFTER_MAX_S))


def rejection_reason(body: bytes | None, limit: int = REASON_CHARS) -> str:
    """The reason a server gave for refusing a request: the ``error`` (or ``detail``,
    ``message``) of a JSON body, else the body's first line; printable, at most ``limit``
    characters. Empty when the body says nothing."""
    text = (body or b"")[:4096].decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "detail", "message"):
            value = parsed.get(key)
            if isinstance(value, dict):  # {"error": {"message": ...}}
                value = value.get("message")
            if isinstance(value, str) and value.strip():
                text = value
                break
    lines = text.strip().splitlines()
    text = "".join(ch if ch.isprintable() else " " for ch in (lines[0] if lines else ""))
    text = text.strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


RUN_ID_HEADER = "X-Augur-Run-Id"


def quote(segment: str) -> str:
    """One URL path segment; ``.`` and ``..`` are percent-encoded too, or HTTP clients and
    proxies would resolve them as dot segments (a run id ``..`` is valid)."""
    if segment in (".", ".."):
        return "%2E" * len(segment)
    return urllib.parse.quote(segment, safe="")


class StreamClient:
    """Sends requests for many runs to one server; see the module docstring."""

    def __init__(self, dsn: Dsn, options: StreamOptions | None = None,
                 client_name: str = "augur_sdk") -> None:
        self.dsn = dsn
        self.options = options or StreamOptions()
        self.client_id = f"sdk_{uuid.uuid4().hex[:12]}"
        self.client_name = client_name
        self._mutex = threading.Lock()
        # One lock; a condition per worker (submit wakes only the worker of that run) and one
        # for finished requests (flush_run waits on it).
        self._lock = threading.Condition(self._mutex)
        self._wake = [threading.Condition(self._mutex) for _ in range(self.options.workers)]
        self._queues: list[deque[Request]] = [deque() for _ in range(self.options.workers)]
        # Which workers wait for work (submit wakes only those: a busy one looks again).
        self._waiting = [False] * self.options.workers
        # Since when no attempt got an HTTP answer (refused, reset, timed out); None while
        # the server answers. See ``server_down``.
        self._failing_since: float | None = None
        self._failed_attempts = 0
        self._queued_bytes = 0
        self._queued_count = 0
        self._runs: dict[str, RunStats] = {}
        self._active: dict[str, str] = {}  # run_id -> capture_mode, for heartbeats
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http = urllib3.PoolManager(
            num_pools=2, maxsize=self.options.workers, block=True, retries=False,
            timeout=urllib3.Timeout(connect=self.options.connect_timeout_s,
                                    read=self.options.read_timeout_s),
        )
        self._headers = {"Authorization": f"Bearer {dsn.token}",
                         "User-Agent": f"augur-otel/{__version__}"}
        if dsn.tenant:
            self._headers["X-Augur-Tenant"] = dsn.tenant
        self._rng = random.Random()
        self._rejections: set[str] = set()  # kinds of rejection already logged
        self._rejections_lock = threading.Lock()
        self._start_threads()

    # ── threads ─────────────────────────────────────────────────────────────

    def _start_threads(self) -> None:
        for n in range(self.options.workers):
            thread = threading.Thread(target=self._worker, args=(n,), daemon=True,
                                      name=f"augur-stream-{n}")
            self._threads.append(thread)
        heartbeat = threading.Thread(target=self._heartbeats, daemon=True,
                                     name="augur-stream-heartbeat")
        self._threads.append(heartbeat)
        for thread in self._threads:
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down
                return

    def _worker(self, n: int) -> None:
        queue = self._queues[n]
        wake = self._wake[n]
        while True:
            with self._lock:
                while not queue and not self._stop.is_set():
                    self._waiting[n] = True
                    wake.wait(0.5)
                    self._waiting[n] = False
                if self._stop.is_set() and not queue:
                    return
                request = queue[0]
            outcome = "internal_error"  # unless _send returns (an error is logged once)
            with _internal.internal_errors("stream.send"):
                outcome = self._send(request)
            with self._lock:
                queue.popleft()
                self._queued_count -= 1
                self._queued_bytes -= request.accounted
                stats = request.stats
                assert stats is not None  # set by submit() before the request is queued
                stats.pending -= 1
                if outcome == "sent":
                    stats.sent += 1
                else:
                    stats.dropped[outcome] += 1
                self._lock.notify_all()

    def _heartbeats(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            with self._lock:
                active = dict(self._active)
            for run_id, mode in active.items():
                self.heartbeat(run_id, mode)

    # ── sending ─────────────────────────────────────────────────────────────

    def _send(self, request: Request) -> str:
        """Send with retries inside the deadline; return "sent" or a drop reason."""
        deadline = request.enqueued + self.options.request_deadline_s
        deadline = max(deadline, time.monotonic() + self.options.connect_timeout_s)
        url = self.dsn.base_url + request.path
        attempt = 0
        reason = "unreachable"
        while not self._stop.is_set():
            attempt += 1
            wait: float
            if not request.idempotency_key:
                request.idempotency_key = _new_key()
            # X-Augur-Run-Id: a router in front of several servers keeps a run on one
            # (deploy/nginx; the heartbeat and manifest carry the run id only in the body).
            headers = {**self._headers, "Idempotency-Key": request.idempotency_key,
                       RUN_ID_HEADER: quote(request.run_id)}
            if request.fields is not None:
                # Encode the multipart body once, not on every retry (it is MBs for a PNG).
                request.body, request.content_type = encode_multipart_formdata(request.fields)
                request.fields = None
            if request.payload is not None:
                self._encode(request)
            try:
                resp = self._http.request(
                    request.method, url, body=request.body,
                    headers={**headers, "Content-Type": request.content_type})
                status = resp.status
                self._answered()
                if status < 300:
                    return "sent"
                if status == 429:
                    reason = "throttled"
                    wait = parse_retry_after(resp.headers.get("Retry-After"))
                elif status >= 500:
                    reason = "server_error"
                    wait = self._backoff(attempt)
                else:
                    self._log_rejection(request, status, rejection_reason(resp.data))
                    return f"rejected_{status}"
            except urllib3.exceptions.HTTPError:
                reason = "unreachable"
                self._unanswered()
                wait = self._backoff(attempt)
            if time.monotonic() + wait > deadline:
                return reason
            if self._stop.wait(wait):
                break
        return reason

    def _log_rejection(self, request: Request, status: int, reason: str) -> None:
        """One WARNING per kind of rejection (status and the server's reason): a 403 for a
        wrong tenant is said once, not once per step; a server that puts per-request details
        in its reasons is heard at most ``REJECTION_KINDS_LOGGED`` times."""
        kind = f"{status} {reason}"
        with self._rejections_lock:
            if kind in self._rejections:
                return
            self._rejections.add(kind)
            count = len(self._rejections)
        if count > REJECTION_KINDS_LOGGED:
            _internal.log_once(
                f"stream-rejections-{self.client_id}", 30,
                "augur_sdk: the Augur server rejected more kinds of requests; those are "
                "dropped too, without a message (stream.json counts them)")
            return
        because = f": {reason}" if reason else " (no reason given)"
        _internal.log_once(
            f"stream-{self.client_id}-{kind}", 30,
            "augur_sdk: the Augur server rejected %s %s with HTTP %s%s; such requests are "
            "dropped", request.method, request.path, status, because)

    def _encode(self, request: Request) -> None:
        request.body = json.dumps(request.payload, ensure_ascii=False,
                                  separators=(",", ":")).encode("utf-8")
        request.payload = None
        request.size_hint = 0
        with self._lock:  # from the estimate to the real size
            self._queued_bytes += len(request.body) - request.accounted
            request.accounted = len(request.body)

    def _answered(self) -> None:
        if self._failing_since is not None:
            with self._lock:
                self._failing_since = None
                self._failed_attempts = 0

    def _unanswered(self) -> None:
        with self._lock:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            self._failed_attempts += 1
            self._lock.notify_all()  # a flush may stop waiting now

    def server_down(self) -> bool:
        """No attempt has had an HTTP answer for a while: at least ``DOWN_AFTER_ATTEMPTS``
        attempts failed without one (connection refused or reset, timeouts) over at least
        ``DOWN_AFTER_S``, and none succeeded since. Any HTTP answer, even a 5xx, ends it."""
        with self._lock:
            return self._is_down(time.monotonic())

    def _is_down(self, now: float) -> bool:
        return (self._failing_since is not None
                and self._failed_attempts >= DOWN_AFTER_ATTEMPTS
                and now - self._failing_since >= DOWN_AFTER_S)

    def _backoff(self, attempt: int) -> float:
        cap = min(self.options.backoff_max_s, self.options.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(0, cap)

    # ── the producer side (never blocks, never raises) ──────────────────────

    def submit(self, request: Request) -> bool:
        with self._lock:
            stats = self._runs.get(request.run_id)
            if stats is None:
                stats = self._runs[request.run_id] = RunStats()
            if self._stop.is_set():
                stats.dropped["closed"] += 1
                return False
            request.accounted = request.size  # fixed at enqueue (the body may be re-encoded)
            if (self._queued_count >= self.options.max_queue
                    or self._queued_bytes + request.accounted > self.options.max_queue_bytes):
                stats.dropped["queue_full"] += 1
                return False
            request.stats = stats
            worker = hash(request.run_id) % len(self._queues)
            self._queues[worker].append(request)
            self._queued_count += 1
            self._queued_bytes += request.accounted
            stats.pending += 1
            if self._waiting[worker]:
                self._wake[worker].notify()
            return True

    def send_json(self, run_id: str, method: str, path: str, payload: Any,
                  kind: str = "record", size_hint: int | None = None) -> bool:
        """Queue a JSON record; the worker encodes it. ``size_hint``: an upper bound of its
        encoded size (the queue's byte budget counts that until it is encoded)."""
        if size_hint is None and len(
                self._queues[hash(run_id) % len(self._queues)]) >= LAZY_ENCODE_MAX:
            # A backlog (a slow or dead server) and no bound on the size: encode now, so that
            # the byte budget counts what it really holds. At most LAZY_ENCODE_MAX records of
            # unknown size per worker wait unencoded.
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            return self.submit(Request(run_id, method, path, body, kind=kind))
        return self.submit(Request(run_id, method, path, payload=payload, kind=kind,
                                   size_hint=size_hint or 0))

    def send_raw_json(self, run_id: str, method: str, path: str, body: bytes) -> bool:
        return self.submit(Request(run_id, method, path, body))

    def send_screenshot(self, run_id: str, step_index: int, kind: str, png: bytes,
                        run_path: str | None = None) -> bool:
        """``run_path``: ``/runs/<quoted run id>``, if the caller has it at hand."""
        path = f"{run_path or '/runs/' + quote(run_id)}/screenshots/{step_index}/{kind}"
        return self.submit(Request(run_id, "POST", path,
                                   fields={"image": (f"{step_index:04d}_{kind}.png", png,
                                                     "image/png")}, size_hint=len(png)))

    def heartbeat(self, run_id: str, capture_mode: str, last_event: str | None = None) -> None:
        payload: dict[str, Any] = {"client_id": self.client_id, "client_name": self.client_name,
                                   "client_version": __version__, "capture_mode": capture_mode,
                                   "run_id": run_id}
        if last_event:
            payload["last_event"] = last_event
        self.send_json(run_id, "POST", "/heartbeat", payload, kind="heartbeat")

    def begin_run(self, run_id: str, capture_mode: str) -> None:
        with self._lock:
            self._active[run_id] = capture_mode
        self.heartbeat(run_id, capture_mode, last_event="session_opened")

    def end_run(self, run_id: str) -> None:
        with self._lock:
            self._active.pop(run_id, None)

    def flush_run(self, run_id: str, timeout_s: float) -> bool:
        """Wait until the run's queued requests are done (True) or ``timeout_s`` passes.

        While the server is down (:meth:`server_down`) the wait is cut to
        ``DOWN_FLUSH_S``: its requests would only run out their retries."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        down_since: float | None = None  # when this flush first saw the server down
        with self._lock:
            while self._runs.get(run_id, RunStats()).pending > 0:
                now = time.monotonic()
                if self._is_down(now):
                    down_since = now if down_since is None else down_since
                    until = min(deadline, down_since + DOWN_FLUSH_S)
                else:  # it answered again: the whole budget applies again
                    down_since = None
                    until = deadline
                remaining = until - now
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.25))
        return True

    def stats(self, run_id: str) -> RunStats:
        with self._lock:
            stats = self._runs.get(run_id, RunStats())
            return RunStats(stats.sent, stats.pending, Counter(stats.dropped))

    def forget_run(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
            for wake in self._wake:
                wake.notify_all()


_clients_lock = threading.Lock()
_clients: dict[tuple[str, str], StreamClient] = {}
_options = StreamOptions()


def configure_stream(**options: Any) -> None:
    """Change pool options for clients created after this call (tests, tuning)."""
    for key, value in options.items():
        if not hasattr(_options, key):
            raise TypeError(f"configure_stream: unknown option {key!r}")
        setattr(_options, key, value)


def client_for(dsn: Dsn, client_name: str,
               factory: Callable[..., StreamClient] = StreamClient) -> StreamClient:
    """The process's client for this DSN (created on first use)."""
    key = (dsn.base_url, dsn.token)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = factory(dsn, StreamOptions(**vars(_options)), client_name)
            _clients[key] = client
        return client


def reset_clients() -> None:
    """Stop every client (tests; also in a forked child, where their threads are gone)."""
    global _options
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
        _options = StreamOptions()
    for client in clients:
        client.shutdown()


def _after_fork_in_child() -> None:
    # The parent's worker threads do not exist in the child; start over lazily.
    _clients.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
