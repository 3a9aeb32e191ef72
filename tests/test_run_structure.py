"""Run structure: an orchestrator and its worker processes as one trace, parents resolved
in order (parent=, TRACEPARENT, the current span), outcomes and eval candidates, live
endpoints and the session record sent mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from augur_sdk import ORCHESTRATOR_TAG_KEY, DebugSession
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle

from support import step_record

WORKER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from support import step_record
    from augur_sdk import DebugSession
    with DebugSession(run_id=sys.argv[3], client_name="worker", out_dir=sys.argv[1],
                      capture_mode="trace", dsn="") as s:
        s.record_step(step_record(sys.argv[3], 0))
""")


def _run_line(bundle: Path) -> dict[str, str]:
    lines = [json.loads(x) for x in (bundle / "otel/spans.jsonl").read_text().splitlines()]
    return next(x for x in lines if x["kind"] == "run")


def test_worker_processes_nest_under_their_orchestrator(tmp_path: Path) -> None:
    """Three worker processes started with worker_env(): their run spans are children of
    the orchestrator's run span in its trace, and they carry augur.parent_run_id."""
    orch = tmp_path / "orch"
    with DebugSession.open_orchestrator(run_id="fanout", client_name="boss", out_dir=orch,
                                        capture_mode="trace", dsn="",
                                        session_name="nightly") as boss:
        assert boss.is_orchestrator
        env = {**os.environ, **boss.worker_env()}
        workers = []
        for n in range(3):
            out = tmp_path / f"w{n}"
            workers.append(out)
            subprocess.run([sys.executable, "-c", WORKER, str(out),
                            str(Path(__file__).parent), f"worker-{n}"], env=env, check=True,
                           timeout=120)
        with pytest.raises(RuntimeError, match="not supported on an orchestrator"):
            boss.record_step(step_record("fanout", 0))
        boss.record_subgoal_completion(0, "all-workers", 1.0)
    parent = _run_line(orch)
    for out in workers:
        child = _run_line(out)
        assert child["trace_id"] == parent["trace_id"]
        assert child["parent_span_id"] == parent["span_id"]
        session = json.loads((out / "trace.json").read_text())["session"]
        assert session["tags"]["augur.parent_run_id"] == "fanout"
        assert validate_bundle(out) == []
    session = json.loads((orch / "trace.json").read_text())["session"]
    assert session["tags"][ORCHESTRATOR_TAG_KEY] == "orchestrator"
    assert session["tags"]["session_name"] == "nightly"
    (event,) = [json.loads(x) for x in (orch / "events/run.jsonl").read_text().splitlines()]
    assert event["detail"]["subgoal_id"] == "all-workers" and event["layer"] == "runner"
    assert validate_bundle(orch) == []


def test_parent_order_explicit_then_traceparent_then_current(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """parent= wins over $TRACEPARENT, which wins over the app's current span; a malformed
    parent string raises at the call."""
    app = TracerProvider().get_tracer("app")
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    monkeypatch.setenv("TRACEPARENT", tp)
    with capture_spans() as exporter:
        with app.start_as_current_span("app-root") as root:
            with DebugSession(run_id="a", client_name="a", out_dir=tmp_path / "a",
                              capture_mode="metadata", dsn=""):
                pass
            with DebugSession(run_id="b", client_name="a", out_dir=tmp_path / "b",
                              capture_mode="metadata", dsn="", parent=root):
                pass
        monkeypatch.delenv("TRACEPARENT")
        with app.start_as_current_span("app-root-2") as root2, DebugSession(
                run_id="c", client_name="a", out_dir=tmp_path / "c", capture_mode="metadata",
                dsn=""):
            pass
        runs = {sp.attributes["augur.run_id"]: sp for sp in exporter.get_finished_spans()}
    assert runs["a"].parent.span_id == 0xB7AD6B7169203331
    assert runs["a"].context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert runs["b"].parent.span_id == root.get_span_context().span_id
    assert runs["c"].parent.span_id == root2.get_span_context().span_id
    with pytest.raises(ValueError, match="not a W3C traceparent"):
        DebugSession(run_id="d", client_name="a", out_dir=tmp_path / "d",
                     capture_mode="metadata", dsn="", parent="garbage").start()


def test_outcomes_and_eval_candidates_are_valid_redacted_and_on_spans(tmp_path: Path) -> None:
    """finalize_outcome writes schema-valid, redacted outcomes (costs rolled up); a later
    mark_for_eval of the same step replaces the earlier one; both are span events."""
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                          dsn="") as s:
            s.record_step({**step_record("r", 0), "costs": {"tokens_in": 9}})
            s.mark_for_eval(0, "first look")
            s.mark_for_eval(0, "ask jane.doe@example.com", candidate_cluster_id="c1")
            s.finalize_outcome(scope="step", step_index=0)
            outcome = s.finalize_outcome(verdict={"status": "failed",
                                                  "reason": "mail jane.doe@example.com"})
            with pytest.raises(ValueError, match="no step at step_index=5"):
                s.finalize_outcome(scope="step", step_index=5)
        spans = exporter.get_finished_spans()
    assert outcome["cost_summary"] == {"tokens_in": 9}
    outcomes = json.loads((out / "outcomes.json").read_text())["outcomes"]
    assert [o["scope"] for o in outcomes] == ["step", "session"]
    assert outcomes[1]["verdict"]["reason"] == "mail ***REDACTED:email***"
    assert all("run_id" not in o for o in outcomes)  # the schema has no such member
    (candidate,) = json.loads((out / "eval_candidates.json").read_text())["candidates"]
    assert candidate["reason"] == "ask ***REDACTED:email***"
    names = [(e.name, e.attributes.get("gen_ai.evaluation.name")) for sp in spans
             for e in sp.events]
    assert names.count(("gen_ai.evaluation.result", "augur.outcome")) == 2
    assert sum(1 for name, _ in names if name == "augur.eval_candidate") == 2
    assert validate_bundle(out) == []


def test_live_endpoints_and_session_metadata_mid_run(tmp_path: Path) -> None:
    """set_live_endpoints lands in session.live; flush_session_metadata refreshes the live
    marker with the session record as it is now."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="metadata",
                      dsn="") as s:
        s.set_live_endpoints(status_url="https://runs.example/r", video_url="s3://v/r.mp4")
        s.add_tag("phase", "two")
        s.flush_session_metadata()
        live = json.loads((out / "live.json").read_text())["session"]
        assert live["live"]["status_url"] == "https://runs.example/r"
        assert live["tags"]["phase"] == "two"
    assert json.loads((out / "trace.json").read_text())["session"]["live"] == {
        "status_url": "https://runs.example/r", "video_url": "s3://v/r.mp4"}


def test_branch_context_is_stamped_on_steps_without_the_mutation(tmp_path: Path) -> None:
    """A replay branch's branch_context is on the session whole and on every step (and
    iteration) without its mutation payload; a step's own branch_context wins; a missing
    field or an unknown axis raises at the constructor, naming it."""
    ctx = {"parent_run_id": "p", "branch_point_step_index": 2, "mutated_axis": "prompt",
           "mutation": {"prompt": "be brief"}, "branch_id": "p:branch:1"}
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="metadata",
                      dsn="", branch_context=ctx) as s:
        s.record_step(step_record("r", 0))
        own = {"parent_run_id": "q", "branch_point_step_index": 0, "mutated_axis": "model"}
        s.record_step({**step_record("r", 1), "branch_context": own})
        s.record_step_iteration(0, {**step_record("r", 0), "step_id": "r/step/0000/retry"})
    trace = json.loads((out / "trace.json").read_text())
    assert trace["session"]["branch_context"] == ctx
    sliced = {k: v for k, v in ctx.items() if k != "mutation"}
    assert [st["branch_context"] for st in trace["steps"]] == [sliced, own]
    iterations = [p for p in (out / "steps").rglob("*.json") if p.parent.name == "0000"]
    assert len(iterations) == 2  # the canonical step and its retry
    assert all(json.loads(p.read_text())["branch_context"] == sliced for p in iterations)
    assert validate_bundle(out) == []
    with pytest.raises(ValueError, match="branch_context: missing required field "
                                         "'branch_point_step_index'"):
        DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "x",
                     branch_context={"parent_run_id": "p", "mutated_axis": "model"})
    with pytest.raises(ValueError, match=r"branch_context\.mutated_axis must be one of"):
        DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "x",
                     branch_context={**ctx, "mutated_axis": "temperature"})


def test_mark_for_eval_below_trace_says_why_nothing_was_recorded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """At metadata an eval candidate (its reason is free text) is not recorded, and the log
    says so once, naming the mode that records it."""
    from augur_sdk import _internal

    _internal.reset_log_once()
    out = tmp_path / "b"
    with caplog.at_level("WARNING", logger="augur_sdk"), DebugSession(
            run_id="r", client_name="a", out_dir=out, capture_mode="metadata", dsn="") as s:
        s.record_step(step_record("r", 0))
        s.mark_for_eval(0, "wrong target")
        s.mark_for_eval(0, "again")
    assert not (out / "eval_candidates.json").exists()
    assert caplog.text.count("mark_for_eval(0) is not recorded at capture mode 'metadata'") == 1
    assert "capture_mode='trace'" in caplog.text
