"""The run store without HTTP: eviction of idle run state and resuming from disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serverkit import event_files, session_record, step_files

from augur_sdk.server.config import ServerConfig
from augur_sdk.server.runs import Run
from augur_sdk.server.store import RunStore
from augur_sdk.validation import validate_bundle

from support import event_record, step_record


def apply(store: RunStore, run_id: str, op: Callable[[Run], Any]) -> None:
    with store.use("acme", run_id) as run:
        run.call(None, lambda: op(run))


def test_evicted_runs_resume_from_disk(tmp_path: Path) -> None:
    """With room for one run in memory, two interleaved runs still end complete and valid."""
    store = RunStore(ServerConfig(tmp_path, max_cached_runs=1))
    runs = ("evict_a", "evict_b")
    for i in range(3):
        for run_id in runs:
            step = step_record(run_id, i)
            apply(store, run_id, lambda run, i=i, step=step: run.put_step(i, step))
            apply(store, run_id, lambda run, i=i: run.add_events([event_record(i)], None))
            assert store.cached() == 1
    for run_id in runs:
        trace = {"session": session_record(run_id),
                 "steps": [step_record(run_id, i) for i in range(3)]}
        apply(store, run_id, lambda run, trace=trace: run.put_trace(trace))
        root = tmp_path / "acme" / run_id
        assert validate_bundle(root) == []
        assert step_files(root) == {f"{i:04d}.json": s for i, s in enumerate(trace["steps"])}
        assert event_files(root) == {f"{i:04d}.jsonl": [event_record(i)] for i in range(3)}
    assert sorted(r["run_id"] for r in store.list_runs(["acme"])) == list(runs)


def test_a_finished_bundle_copied_into_the_data_dir_gets_its_status_from_its_trace(
        tmp_path: Path) -> None:
    """A bundle with no server index and no live.json (copied in by hand) is listed failed
    when its trace's session failed, finished when it succeeded."""
    from support import run_seed_session

    data = tmp_path / "data"
    for run_id, status in (("copied_ok", "succeeded"), ("copied_failed", "failed")):
        out = data / "acme" / run_id
        run_seed_session(out, steps=2, run_id=run_id)
        trace = json.loads((out / "trace.json").read_text())
        trace["session"]["status"] = status
        (out / "trace.json").write_text(json.dumps(trace, indent=2))
    store = RunStore(ServerConfig(data))
    assert store.describe("acme", "copied_failed")["status"] == "failed"  # type: ignore[index]
    assert store.describe("acme", "copied_ok")["status"] == "finished"  # type: ignore[index]


def test_a_hand_made_trace_head_cannot_break_the_run_list(tmp_path: Path) -> None:
    """NaN in a copied bundle's trace.json, or fields of the wrong type: the run still
    lists, as strict JSON, with those fields left out."""
    from support import run_seed_session

    out = tmp_path / "data" / "acme" / "odd"
    run_seed_session(out, steps=1, run_id="odd")
    trace = json.loads((out / "trace.json").read_text())
    trace["session"].update(costs={"usd": float("nan")}, started_at=5, tags=[1])
    (out / "trace.json").write_text(json.dumps(trace, indent=2))  # writes NaN as NaN
    info = RunStore(ServerConfig(tmp_path / "data")).describe("acme", "odd")
    assert info is not None
    json.dumps(info, allow_nan=False)  # what a strict JSON response does
    assert info["costs"] == {"usd": None}
    # a non-string start time is not shown: the manifest's created_at stands in
    assert info["started_at"] == json.loads((out / "manifest.json").read_text())["created_at"]
    assert info["tags"] == {}
