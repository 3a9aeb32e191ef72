"""A session used across os.fork(): parent and child both keep working, in separate bundles."""

from __future__ import annotations

import json
import os
from pathlib import Path

from augur_sdk import DebugSession
from augur_sdk.validation import validate_bundle

from support import event_record, step_record, wait_pid


def test_fork_gives_the_child_its_own_bundle(tmp_path: Path) -> None:
    """Steps before the fork stay in the parent's bundle; after it, each process writes only
    its own bundle (the child's in `<out_dir>.fork-<pid>`), and both validate."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
        for i in range(3):
            s.record_step(step_record("r", i))
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                for i in range(3, 6):
                    s.record_step(step_record("r", i, intent=f"child {i}"))
                    s.record_event(event_record(i))
                s.close()
                code = 0
            finally:
                os._exit(code)
        for i in range(3, 5):
            s.record_step(step_record("r", i, intent=f"parent {i}"))
        assert wait_pid(pid, timeout_s=60) == 0
    child_out = tmp_path / f"b.fork-{pid}"
    assert validate_bundle(out) == []
    assert validate_bundle(child_out) == []
    parent_steps = json.loads((out / "trace.json").read_text())["steps"]
    child_trace = json.loads((child_out / "trace.json").read_text())
    assert [s["intent"] for s in parent_steps[3:]] == ["parent 3", "parent 4"]
    assert [s["intent"] for s in child_trace["steps"]] == ["child 3", "child 4", "child 5"]
    parent_session = json.loads((out / "trace.json").read_text())["session"]
    assert child_trace["session"]["tags"]["augur.forked_from"] == \
        parent_session["debug_session_id"]
    parent_run = json.loads((out / "otel/spans.jsonl").read_text().splitlines()[0])
    child_run = json.loads((child_out / "otel/spans.jsonl").read_text().splitlines()[0])
    assert child_run["trace_id"] == parent_run["trace_id"]
    assert child_run["parent_span_id"] == parent_run["span_id"]
