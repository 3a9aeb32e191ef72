"""Helpers for the hostile-client tests: raw sockets, hand-made OTLP spans, RSS sampling."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import psutil
from serverkit import ACME

SESSION_TS = "2026-05-19T00:00:00Z"


# ── raw HTTP ────────────────────────────────────────────────────────────────


def head(method: str, path: str, *, length: int | None = None, token: str | None = ACME,
         extra: dict[str, str] | None = None) -> bytes:
    """A request head (no body) as bytes."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
             "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def connect(port: int, timeout_s: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_status(sock: socket.socket, timeout_s: float = 30.0) -> int:
    """The status code of the response on ``sock`` (-1 when the server closed or reset the
    connection without one)."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return -1
    return int(data[9:12])


def send_big(port: int, path: str, size: int, *, token: str | None = ACME,
             method: str = "PUT", timeout_s: float = 60.0) -> int:
    """Send a ``size``-byte JSON body (one long string) as fast as the server takes it;
    return the status (-1: connection closed or reset without an answer)."""
    prefix, suffix = b'{"x": "', b'"}'
    chunk = b"a" * (1 << 20)
    try:
        with connect(port, timeout_s) as sock:
            sock.sendall(head(method, path, length=size, token=token) + prefix)
            left = size - len(prefix) - len(suffix)
            while left > 0:
                piece = chunk[:min(left, len(chunk))]
                sock.sendall(piece)
                left -= len(piece)
            sock.sendall(suffix)
            return read_status(sock, timeout_s)
    except OSError:
        return -1


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server has closed this connection (EOF or reset), without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


# ── OTLP/JSON spans of ours, by hand ────────────────────────────────────────


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    return {"key": key, "value": value}  # already an AnyValue


def step_span(run: str, index: int, *, seq: int, trace: str = "ab" * 16, span: int = 1,
              events: list[tuple[int, int]] | None = None,
              extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A step span of run ``run``; ``events``: (seq, n) pairs, each an event of this step."""
    attrs = [attr("augur.record", "step"), attr("augur.run_id", run), attr("augur.seq", seq),
             attr("augur.step.step_id", f"{run}/step/{index:04d}"),
             attr("augur.step.step_index", index), attr("augur.step.step_type", "click"),
             attr("augur.step.status", "succeeded"),
             attr("augur.step.started_at", "2026-05-19T00:00:01Z"), *(extra or [])]
    evs = [{"name": "augur.decision_event", "attributes": [
        attr("augur.seq", ev_seq), attr("augur.event.ts", "2026-05-19T00:00:02Z"),
        attr("augur.event.layer", "planner"), attr("augur.event.kind", "decision"),
        attr("augur.event.summary", f"event {n}"), attr("augur.event.step_index", index),
    ]} for ev_seq, n in (events or [])]
    return {"traceId": trace, "spanId": f"{span:016x}", "parentSpanId": "f" * 16,
            "name": "execute_tool click", "attributes": attrs, "events": evs}


def run_span(run: str, *, seq: int, dsid: str = "dbg_otlp0001", trace: str = "ab" * 16,
             ) -> dict[str, Any]:
    attrs = [attr("augur.record", "session"), attr("augur.run_id", run), attr("augur.seq", seq),
             attr("augur.session.schema_version", "0.1"),
             attr("augur.session.debug_session_id", dsid),
             attr("augur.session.run_id", run),
             attr("augur.session_json.client", json.dumps({"name": "otlpbot"})),
             attr("augur.session.capture_mode", "trace"),
             attr("augur.session.started_at", SESSION_TS),
             attr("augur.session.ended_at", "2026-05-19T00:01:00Z"),
             attr("augur.session.status", "succeeded")]
    return {"traceId": trace, "spanId": "f" * 16, "name": "invoke_agent otlpbot",
            "attributes": attrs}


def otlp_body(spans: list[dict[str, Any]]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


# ── memory ──────────────────────────────────────────────────────────────────


class RssSampler:
    """Samples a process's RSS on a thread until stopped; ``peak`` and ``samples`` in bytes."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.rss())
            except psutil.Error:
                return
            self._stop.wait(self.every_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def wait_until(check: Any, timeout_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return bool(check())
