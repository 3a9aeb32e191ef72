"""Helpers shared by the tests: seed-shaped records, a seed-style run, and waits on child
processes that all have a deadline."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.testing import make_png


def step_record(run_id: str, i: int, *, pre: str | None = None, post: str | None = None,
                status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    """A seed-shaped step record."""
    record: dict[str, Any] = {
        "step_id": f"{run_id}/step/{i:04d}",
        "step_index": i,
        "step_type": "click",
        "intent": f"click button {i}",
        "status": status,
        "started_at": f"2026-05-19T00:00:{i % 60:02d}.123456Z",
        "ended_at": f"2026-05-19T00:00:{i % 60:02d}.623456Z",
        "duration_ms": 500,
        "observation_pre": pre,
        "observation_post": post,
        "action": {"type": "click", "params": {"x": 10 + i, "y": 20},
                   "coordinate_space": "viewport_css_px", "dispatch_backend": "playwright"},
        "grounding": {"provider": "vlm", "target_label": f"Button {i}",
                      "coordinates": {"x": 10 + i, "y": 20}, "confidence": 0.9,
                      "evidence": "label text", "provenance": "screenshot"},
        "verdict": {"status": "passed" if status != "failed" else "failed", "reason": "ok"},
    }
    if status == "failed":
        record["failure_class"] = "no_state_change"
    record.update(extra)
    return record


def event_record(i: int | None, n: int = 0, layer: str = "planner") -> dict[str, Any]:
    event: dict[str, Any] = {
        "ts": f"2026-05-19T00:00:{(i or 0) % 60:02d}.3{n:05d}Z",
        "layer": layer, "kind": "decision", "summary": f"event {n} of step {i}",
        "detail": {"n": n, "nested": {"list": [1, 2.5, "x", None, True]}},
    }
    if i is not None:
        event["step_index"] = i
    return event


def run_seed_session(out_dir: Path, *, steps: int = 4, run_id: str = "run_test",
                     mode: CaptureMode = CaptureMode.SCREENSHOTS, fail_at: int | None = 2,
                     **kwargs: Any) -> dict[str, Any]:
    """Record a small run the way the seed page does; return the manifest."""
    with DebugSession(run_id=run_id, client_name="testagent", client_version="1.0",
                      capture_mode=mode, out_dir=out_dir, tags={"env": "test"},
                      **kwargs) as session:
        for i in range(steps):
            pre = session.attach_observation(step_index=i, kind="pre",
                                             png_bytes=make_png(32, 24, seed=i))
            post = session.attach_observation(step_index=i, kind="post",
                                              png_bytes=make_png(32, 24, seed=100 + i))
            session.record_step(step_record(run_id, i, pre=pre, post=post,
                                            status="failed" if i == fail_at else "succeeded"))
            for n in range(2):
                session.record_event(event_record(i, n))
        session.record_event(event_record(None, 0, layer="runner"))
    assert session.manifest is not None
    return session.manifest


class ChildLines:
    """A child's output, line by line, read by a daemon thread so that every wait for a line
    has a deadline (a bare ``readline()`` on a silent child waits forever)."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True,
                         name="child-lines").start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put(line)
        except (OSError, ValueError):  # closed under us
            pass
        finally:
            self._lines.put(None)

    def next(self, timeout_s: float) -> str | None:
        """The next line (with its newline), or None once the output ended."""
        try:
            return self._lines.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            raise TimeoutError(f"the child printed nothing for {timeout_s:.0f} s") from None

    def until(self, done: Callable[[str], bool], timeout_s: float) -> list[str]:
        """Lines up to and including the first for which ``done`` holds (all of them if the
        output ends first); TimeoutError when neither happens within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while True:
            line = self.next(deadline - time.monotonic())
            if line is None:
                return seen
            seen.append(line)
            if done(line):
                return seen

    def rest(self, timeout_s: float) -> list[str]:
        """Every line until the output ends, within ``timeout_s``."""
        return self.until(lambda _line: False, timeout_s)


def wait_pid(pid: int, timeout_s: float) -> int:
    """Exit code of a forked child; SIGKILL it and raise TimeoutError if it outlives
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # SIGKILL cannot be ignored: this returns at once
            raise TimeoutError(f"forked child {pid} still ran after {timeout_s:.0f} s")
        time.sleep(0.01)
