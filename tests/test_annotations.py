"""The annotation API (verdicts, scores, judges, costs, iterations, versions, fingerprints,
loops, subgoals, the task spec): each patch is on disk when the call returns, reaches the
spans and the stream, targets the right record, and raises for a step never recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession
from augur_sdk.otel.exporter import BundleSpanExporter
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle

from support import step_record

TS = "2026-05-19T00:00:00Z"


def _steps(root: Path, index: int) -> dict[str, Any]:
    files = sorted((root / "steps" / f"{index:04d}").glob("*.json")) or \
        [root / "steps" / f"{index:04d}.json"]
    return {json.loads(p.read_text())["step_id"]: json.loads(p.read_text()) for p in files}


def _session(out: Path, mode: str = "full", **kwargs: Any) -> DebugSession:
    return DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode=mode, dsn="",
                        **kwargs)


def test_each_patch_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    """A verdict, score, judge decision, costs, versions, fingerprint, loop flag and subgoal
    are in the step's file right after each call, merged (a verifier keeps the score)."""
    out = tmp_path / "b"
    with _session(out) as s:
        s.record_step(step_record("r", 0))
        s.set_score(0, 1.7, comparator="verifier", components={"progress": 0.5})
        s.attach_verifier(0, status="failed", check="dom.has", expected="OK", actual="")
        step = _steps(out, 0)["r/step/0000"]
        assert step["verdict"]["score"] == 1.0 and step["verdict"]["status"] == "failed"
        assert step["verdict"]["reason"] == "dom.has: expected='OK' actual=''"
        assert step["judge_decisions"][0]["judge_id"] == "dom.has"
        s.record_judge_decision(0, judge_id="vlm", judge_type="model",
                                verdict={"status": "passed"}, confidence=1.3)
        step = _steps(out, 0)["r/step/0000"]
        assert step["verdict"] == {"status": "passed"} and step["verdict_source"] == "model:vlm"
        assert step["judge_decisions"][1]["confidence"] == 1.0
        s.set_step_costs(0, tokens_in=10)
        s.set_step_costs(0, total_usd=0.5)
        assert _steps(out, 0)["r/step/0000"]["costs"] == {"tokens_in": 10, "total_usd": 0.5}
        s.set_step_versions(0, model="m-1", prompt_hash="h")
        s.attach_env_fingerprint(0, url_host="shop.example", dom_hash="d")
        s.set_loop_detected(0)
        s.record_subgoal_completion(0, "login", 1.0)
        step = _steps(out, 0)["r/step/0000"]
        assert step["captured_versions"] == {"model": "m-1", "prompt_hash": "h"}
        assert step["env_fingerprint"] == {"url_host": "shop.example", "dom_hash": "d"}
        assert step["loop_detected"] is True
        assert step["subgoals_completed"] == [
            {"subgoal_id": "login", "completion": 1.0, "first_completed_at_step": 0}]
    assert validate_bundle(out) == []


def test_a_patch_for_a_step_never_recorded_raises_naming_method_and_index(
        tmp_path: Path) -> None:
    """Unknown index: ValueError naming the method and index; the indexes are known in mode
    off too, so off never makes a patch for a recorded step raise."""
    with _session(tmp_path / "on") as s:
        s.record_step(step_record("r", 0))
        with pytest.raises(ValueError, match=r"^set_score: no step at step_index=4\. "):
            s.set_score(4, 0.5)
        with pytest.raises(ValueError, match=r"^attach_verifier: no step at step_index=2"):
            s.attach_verifier(2, status="passed")
        with pytest.raises(ValueError, match="comparator must be one of"):
            s.set_score(0, 0.5, comparator="eyeballed")
    with DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "off",
                      capture_mode="off", dsn="") as s:
        s.record_step(step_record("r", 0))
        s.set_score(0, 0.5)
        s.attach_verifier(0, status="passed")
        with pytest.raises(ValueError, match="set_loop_detected: no step at step_index=1"):
            s.set_loop_detected(1)
    assert not (tmp_path / "off" / "steps").exists()


def test_patches_target_the_latest_iteration_and_costs_count_iterations(
        tmp_path: Path) -> None:
    """After an iteration, a patch lands on it (not the canonical step); the roll-up sums
    the costs of every step and iteration; the canonical step counts its iterations."""
    out = tmp_path / "b"
    with _session(out) as s:
        s.record_step({**step_record("r", 0), "costs": {"tokens_in": 10}})
        s.record_step_iteration(0, {**step_record("r", 0), "step_id": "r/step/0000/iter/1",
                                    "costs": {"tokens_in": 5}})
        s.set_score(0, 0.3)
        s.set_step_costs(0, tokens_in=7)  # the iteration's 5 becomes 7
        s.set_costs(total_usd=2.0)
        assert s.successful_task_cost_summary() == {"total_usd": 2.0, "tokens_in": 17}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s.record_step({**step_record("r", 0), "step_id": "r/step/0000/iter/2"})
        assert [w.category for w in caught] == [DeprecationWarning]
        assert caught[0].filename == __file__  # points at the caller's line
    steps = _steps(out, 0)
    assert steps["r/step/0000"]["step_iterations"] == 3
    assert "score" not in steps["r/step/0000"].get("verdict", {})
    assert steps["r/step/0000/iter/1"]["verdict"]["score"] == 0.3
    assert steps["r/step/0000/iter/1"]["costs"] == {"tokens_in": 7}
    trace = json.loads((out / "trace.json").read_text())
    assert [st["step_id"] for st in trace["steps"]] == ["r/step/0000"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f"steps/0000/{n}" for n in os.listdir(out / "steps/0000")} <= set(
        manifest["signatures"])
    assert manifest["costs"] == {"total_usd": 2.0}
    assert validate_bundle(out) == []


def test_patches_reach_the_spans_and_a_rebuilt_bundle_applies_them(tmp_path: Path) -> None:
    """A patch to the open step updates its span (and adds an evaluation event); a patch to
    an ended step is an amendment event on the run span; the bundle rebuilt from the spans
    alone equals the live one (iterations included)."""
    live = tmp_path / "live"
    with capture_spans() as exporter:
        with _session(live) as s:
            s.record_step(step_record("r", 0))
            s.set_score(0, 0.9)  # step 0's span is open
            s.record_step(step_record("r", 1))
            s.attach_verifier(0, status="failed", reason="late check")  # span 0 ended
            s.set_step_costs(1, tokens_in=42)
            s.record_step_iteration(1, {**step_record("r", 1), "step_id": "r/step/0001/b"})
            s.record_judge_decision(1, judge_id="j", judge_type="human",
                                    verdict={"status": "passed"})
        spans = exporter.get_finished_spans()
    run = next(sp for sp in spans if sp.attributes["augur.record"] == "session")
    step0 = next(sp for sp in spans if sp.attributes.get("augur.step.step_id") == "r/step/0000")
    assert '"score":0.9' in step0.attributes["augur.step_json.verdict"]
    assert [e.attributes["gen_ai.evaluation.score.value"] for e in step0.events
            if e.name == "gen_ai.evaluation.result" and
            "gen_ai.evaluation.score.value" in e.attributes] == [0.9]
    amendments = [e for e in run.events if e.name == "augur.step_amendment"]
    assert {e.attributes["augur.step_index"] for e in amendments} == {0, 1}
    step1 = next(sp for sp in spans if sp.attributes.get("augur.step.step_id") == "r/step/0001")
    assert step1.attributes["gen_ai.usage.input_tokens"] == 42
    iteration = next(sp for sp in spans
                     if sp.attributes.get("augur.step.step_id") == "r/step/0001/b")
    assert iteration.links[0].context.span_id == step1.context.span_id
    rebuilt_root = tmp_path / "rebuilt"
    BundleSpanExporter(rebuilt_root).export(spans)
    (rebuilt,) = rebuilt_root.iterdir()
    for index in (0, 1):
        assert _steps(rebuilt, index) == _steps(live, index)
    assert json.loads((rebuilt / "trace.json").read_text())["steps"] == json.loads(
        (live / "trace.json").read_text())["steps"]


def test_a_patch_survives_sigkill_right_after_it_returns(tmp_path: Path) -> None:
    """SIGKILL right after set_score returns loses nothing: the recovered bundle has it."""
    out = tmp_path / "b"
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from support import step_record
        from augur_sdk import DebugSession
        s = DebugSession(run_id="r", client_name="a", out_dir={str(out)!r},
                         capture_mode="trace", dsn="").start()
        s.record_step(step_record("r", 0))
        s.set_score(0, 0.42)
        s.attach_verifier(0, status="passed")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", child], timeout=60, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    step = json.loads((out / "steps/0000.json").read_text())
    assert step["verdict"] == {"status": "passed", "score": 0.42, "reason": "ok"}
    recovered = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "recover", str(out)],
                               timeout=60, capture_output=True, text=True)
    assert recovered.returncode == 0, recovered.stderr
    assert validate_bundle(out) == []
    assert json.loads((out / "trace.json").read_text())["steps"][0]["verdict"]["score"] == 0.42


def test_task_spec_group_id_and_their_checks(tmp_path: Path) -> None:
    """set_task_spec/_id change the session record; set_group_id stamps later steps; an
    undeclared subgoal warns and is kept; a task spec without instruction is refused."""
    out = tmp_path / "b"
    with _session(out, group_id="g-1") as s:
        s.record_step(step_record("r", 0))
        s.set_group_id("g-2")
        s.record_step(step_record("r", 1))
        s.set_task_spec({"instruction": "buy a mug",
                         "subgoals": [{"subgoal_id": "cart", "description": "add to cart"}]})
        s.set_task_spec_id("shop-7")
        with pytest.warns(UserWarning, match="'pay' not declared"):
            s.record_subgoal_completion(1, "pay", 0.5)
        with pytest.raises(ValueError, match="missing required field: 'instruction'"):
            s.set_task_spec({"subgoals": []})
    session = json.loads((out / "trace.json").read_text())["session"]
    assert session["task_spec"]["instruction"] == "buy a mug"
    assert session["task_spec_id"] == "shop-7"
    assert [json.loads((out / f"steps/{i:04d}.json").read_text())["group_id"]
            for i in (0, 1)] == ["g-1", "g-2"]
    assert validate_bundle(out) == []
