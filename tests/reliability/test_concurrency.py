"""Concurrency: many sessions at once, many threads in one session, and os.fork().

No record may be lost, duplicated or interleaved (every events line parses; counts are
exact), and each session's spans stay in its own trace.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import data_files, json_bytes, jsonl_bytes, torn_or_bad_jsonl

from augur_sdk import DebugSession
from augur_sdk.testing import capture_spans, make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record

SESSIONS = 32
STEPS_PER_SESSION = 8
SHARED_THREADS = 8
STEPS_PER_THREAD = 12
EVENTS_PER_STEP = 3


def run_threads(count: int, target: Callable[[int], None], timeout: float = 120) -> None:
    """Run ``target(n)`` on ``count`` threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(n: int) -> None:
        try:
            barrier.wait(timeout=60)
            target(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(n,), name=f"agent-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "threads still running: deadlock?"
    if errors:
        raise errors[0]


def png(run: int, i: int, kind: str) -> bytes:
    return make_png(24, 16, seed=run * 1000 + 2 * i + (kind == "post"))


def session_expected(run_id: str, run: int, indexes: list[int],
                     run_events: list[dict[str, Any]]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for i in indexes:
        for kind in ("pre", "post"):
            files[f"screenshots/{i:04d}_{kind}.png"] = png(run, i, kind)
        files[f"steps/{i:04d}.json"] = json_bytes(step_record(
            run_id, i, pre=f"screenshots/{i:04d}_pre.png", post=f"screenshots/{i:04d}_post.png"))
        files[f"events/{i:04d}.jsonl"] = b"".join(
            jsonl_bytes(event_record(i, n)) for n in range(EVENTS_PER_STEP))
    if run_events:
        files["events/run.jsonl"] = b"".join(jsonl_bytes(e) for e in run_events)
    return files


def record_step_with_everything(s: DebugSession, run_id: str, run: int, i: int) -> None:
    pre = s.attach_observation(step_index=i, kind="pre", png_bytes=png(run, i, "pre"))
    post = s.attach_observation(step_index=i, kind="post", png_bytes=png(run, i, "post"))
    s.record_step(step_record(run_id, i, pre=pre, post=post))
    for n in range(EVENTS_PER_STEP):
        s.record_event(event_record(i, n))


def spans_by_trace(exporter: Any) -> dict[int, list[Any]]:
    traces: dict[int, list[Any]] = {}
    for span in exporter.get_finished_spans():
        traces.setdefault(span.context.trace_id, []).append(span)
    return traces


def test_32_threads_each_with_its_own_session(tmp_path: Path) -> None:
    """32 sessions recorded at once on 32 threads: 32 exact, valid bundles and 32 separate traces."""
    with capture_spans() as exporter:
        def agent(n: int) -> None:
            run_id = f"run_{n:02d}"
            with DebugSession(run_id=run_id, client_name="many", capture_mode="screenshots",
                              out_dir=tmp_path / run_id) as s:
                for i in range(STEPS_PER_SESSION):
                    record_step_with_everything(s, run_id, n, i)
                s.record_event(event_record(None, n, layer="runner"))

        run_threads(SESSIONS, agent)
        traces = spans_by_trace(exporter)

    for n in range(SESSIONS):
        run_id, out = f"run_{n:02d}", tmp_path / f"run_{n:02d}"
        assert validate_bundle(out) == [], run_id
        expected = session_expected(run_id, n, list(range(STEPS_PER_SESSION)),
                                    [event_record(None, n, layer="runner")])
        assert data_files(out) == expected, run_id
    assert len(traces) == SESSIONS
    for spans in traces.values():
        runs = [s for s in spans if s.name.startswith("invoke_agent")]
        assert len(runs) == 1
        run_id = runs[0].attributes["augur.run_id"]
        steps = [s for s in spans if s.name.startswith("execute_tool")]
        assert len(steps) == STEPS_PER_SESSION and len(spans) == STEPS_PER_SESSION + 1
        assert {s.attributes["augur.run_id"] for s in steps} == {run_id}
        assert {s.parent.span_id for s in steps} == {runs[0].context.span_id}
        sidecar = (tmp_path / str(run_id) / "otel/spans.jsonl").read_text().splitlines()
        assert {json.loads(line)["trace_id"] for line in sidecar} == {
            f"{runs[0].context.trace_id:032x}"}


def test_8_threads_recording_into_one_session(tmp_path: Path) -> None:
    """8 threads share one session (distinct step indexes): every step, event and screenshot exactly once, one trace."""
    out = tmp_path / "shared"
    run_id = "run_shared"
    with capture_spans() as exporter:
        with DebugSession(run_id=run_id, client_name="shared", capture_mode="screenshots",
                          out_dir=out) as s:
            def agent(t: int) -> None:
                for j in range(STEPS_PER_THREAD):
                    i = t * STEPS_PER_THREAD + j
                    record_step_with_everything(s, run_id, 0, i)
                    s.record_event(event_record(None, i, layer="runner"))

            run_threads(SHARED_THREADS, agent)
        spans = exporter.get_finished_spans()

    total = SHARED_THREADS * STEPS_PER_THREAD
    assert validate_bundle(out) == []
    assert torn_or_bad_jsonl(out) == []
    files = data_files(out)
    run_lines = files.pop("events/run.jsonl").splitlines(keepends=True)
    expected = session_expected(run_id, 0, list(range(total)), [])
    assert files == expected  # per-step events: one thread each, so in order
    assert Counter(run_lines) == Counter(
        jsonl_bytes(event_record(None, i, layer="runner")) for i in range(total))
    assert json.loads((out / "manifest.json").read_text())["step_count"] == total

    assert len({span.context.trace_id for span in spans}) == 1
    steps = [span for span in spans if span.name.startswith("execute_tool")]
    assert sorted(span.attributes["augur.step_index"] for span in steps) == list(range(total))
    decisions = [ev for span in spans for ev in span.events if ev.name == "augur.decision_event"]
    assert len(decisions) == total * (EVENTS_PER_STEP + 1)
    seqs = [ev.attributes["augur.seq"] for ev in decisions]
    assert len(set(seqs)) == len(seqs)  # none duplicated


def _wait_child(pid: int, timeout: float = 60) -> int:
    """Exit code of a forked child; SIGKILL and fail if it hangs (a lock held across fork)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"forked child {pid} hung for {timeout}s (deadlock after fork?)")


def _in_child(work: Callable[[], None]) -> None:
    """Run ``work`` in the forked child and leave with os._exit (never back into pytest)."""
    code = 1
    try:
        work()
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _steps_in(out: Path) -> list[int]:
    return sorted(int(p.stem) for p in (out / "steps").glob("*.json"))


def test_session_used_across_fork_keeps_both_bundles_whole(tmp_path: Path) -> None:
    """After os.fork() parent and child both keep recording: the parent's bundle holds only its steps, the child's its own (<out_dir>.fork-<pid>), both valid."""
    out = tmp_path / "b"
    run_id = "run_fork"
    with DebugSession(run_id=run_id, client_name="forky", capture_mode="screenshots",
                      out_dir=out) as s:
        for i in range(3):
            record_step_with_everything(s, run_id, 0, i)
        parent_session_id = s.debug_session_id

        def child_work() -> None:
            for i in range(100, 103):
                record_step_with_everything(s, run_id, 0, i)
            s.record_event(event_record(2, 9))  # a late event for a pre-fork step
            s.close()

        pid = os.fork()
        if pid == 0:
            _in_child(child_work)
        for i in range(200, 203):
            record_step_with_everything(s, run_id, 0, i)
        assert _wait_child(pid) == 0

    child_out = Path(f"{out}.fork-{pid}")
    assert validate_bundle(out) == []
    assert _steps_in(out) == [0, 1, 2, 200, 201, 202]
    assert data_files(out) == session_expected(run_id, 0, [0, 1, 2, 200, 201, 202], [])
    assert validate_bundle(child_out) == []
    assert _steps_in(child_out) == [100, 101, 102]
    child_trace = json.loads((child_out / "trace.json").read_text())["session"]
    assert child_trace["tags"]["augur.forked_from"] == parent_session_id
    assert child_trace["debug_session_id"] != parent_session_id
    assert (child_out / "events/0002.jsonl").read_bytes() == jsonl_bytes(event_record(2, 9))
    # The child's run span continues the parent's trace, under the parent's run span.
    parent_run = json.loads((out / "otel/spans.jsonl").read_text().splitlines()[0])
    child_run = json.loads((child_out / "otel/spans.jsonl").read_text().splitlines()[0])
    assert parent_run["kind"] == child_run["kind"] == "run"
    assert child_run["trace_id"] == parent_run["trace_id"]
    assert child_run["parent_span_id"] == parent_run["span_id"]
    assert torn_or_bad_jsonl(out) == torn_or_bad_jsonl(child_out) == []


def test_fork_while_another_thread_records_does_not_deadlock(tmp_path: Path) -> None:
    """Forking while another thread is mid-call (locks held) 10 times: every child records and closes in time."""
    stop = threading.Event()
    busy_errors: list[BaseException] = []
    with DebugSession(run_id="busy", client_name="forky", capture_mode="trace",
                      out_dir=tmp_path / "busy") as busy, \
         DebugSession(run_id="forked", client_name="forky", capture_mode="trace",
                      out_dir=tmp_path / "forked") as forked:
        forked.record_step(step_record("forked", 0))

        def hammer() -> None:
            i = 0
            try:
                while not stop.is_set():
                    busy.record_step(step_record("busy", i))
                    busy.record_event(event_record(i, 0))
                    i += 1
            except BaseException as exc:
                busy_errors.append(exc)

        thread = threading.Thread(target=hammer)
        thread.start()
        pids = []
        try:
            for _ in range(10):
                pid = os.fork()
                if pid == 0:
                    _in_child(lambda: (forked.record_step(step_record("forked", 1)),
                                       forked.record_event(event_record(1, 0)),
                                       forked.close()))
                pids.append(pid)
                assert _wait_child(pid) == 0
        finally:
            stop.set()
            thread.join(timeout=60)
    assert busy_errors == []
    assert validate_bundle(tmp_path / "busy") == []
    assert validate_bundle(tmp_path / "forked") == []
    assert _steps_in(tmp_path / "forked") == [0]
    for pid in pids:
        child_out = tmp_path / f"forked.fork-{pid}"
        assert validate_bundle(child_out) == [] and _steps_in(child_out) == [1]
