"""DebugSession.branch_from: a replay branch copies the parent's prefix into its own bundle
under its own run id, links its spans to the parent's, never reports a replayed step as a new
side effect, and refuses bad input before writing anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession
from augur_sdk.testing import capture_spans, make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record


def _parent(out: Path, steps: int = 4, run_id: str = "parent-run") -> Path:
    """A finished parent run: screenshots, one event per step, a side effect at step 1."""
    with DebugSession(run_id=run_id, client_name="agent", out_dir=out, capture_mode="full",
                      dsn="") as s:
        for i in range(steps):
            pre = s.attach_observation(step_index=i, kind="pre", png_bytes=make_png(seed=i))
            s.record_step(step_record(run_id, i, pre=pre))
            s.record_event(event_record(i))
            if i == 1:
                sid = s.declare_side_effect(1, "payments", "charge", side_effect_id="se-parent")
                s.commit_side_effect(sid, {"charge": "ch_1"})
    return out


def _branch(tmp_path: Path, parent: Path, **kw: Any) -> DebugSession:
    args: dict[str, Any] = {
        "parent_run_id": "parent-run", "branch_point_step_index": 2, "mutated_axis": "model",
        "mutation": {"model": "m-2"}, "client_name": "agent", "out_dir": tmp_path / "child",
        "capture_mode": "full", "dsn": "", "parent_bundle": parent, "run_id": "child-run"}
    args.update(kw)
    return DebugSession.branch_from(**args)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_replay_copies_the_prefix_into_the_child_bundle(tmp_path: Path) -> None:
    """Steps 0-1 of the parent, their screenshots (same bytes) and events land in the
    child's bundle under the child's step ids; the child's own steps follow; it validates."""
    parent = _parent(tmp_path / "parent")
    with _branch(tmp_path, parent) as s:
        assert s.branch_mode == "replay"
        s.record_step(step_record("child-run", 2, intent="the new model's click"))
    child = tmp_path / "child"
    steps = json.loads((child / "trace.json").read_text())["steps"]
    assert [st["step_id"] for st in steps] == [f"child-run/step/{i:04d}" for i in range(3)]
    assert steps[0]["intent"] == "click button 0" and steps[2]["intent"] == "the new model's click"
    for st in steps:  # every step, replayed or not, says which branch it belongs to
        ctx = dict(st["branch_context"])
        assert ctx.pop("branch_id").startswith("parent-run:branch:")
        assert ctx == {"parent_run_id": "parent-run", "branch_point_step_index": 2,
                       "mutated_axis": "model"}
    for i in (0, 1):
        assert (child / f"screenshots/{i:04d}_pre.png").read_bytes() == \
            (parent / f"screenshots/{i:04d}_pre.png").read_bytes()
        assert _lines(child / f"events/{i:04d}.jsonl") == _lines(parent / f"events/{i:04d}.jsonl")
    assert not (child / "screenshots/0002_pre.png").exists()  # the branch point is re-run
    session = json.loads((child / "trace.json").read_text())["session"]
    assert session["run_id"] == "child-run"
    assert session["tags"]["augur.branch_mode"] == "replay"
    assert session["branch_context"]["mutation"] == {"model": "m-2"}
    assert validate_bundle(child) == []


def test_replayed_steps_are_never_new_side_effects(tmp_path: Path) -> None:
    """The parent's side effect at step 1 is not copied (the child executed nothing there),
    producer.json names it as not replayed, and declaring one at a replayed step raises
    before anything is written; at the branch point it works."""
    parent = _parent(tmp_path / "parent")
    child = tmp_path / "child"
    with _branch(tmp_path, parent) as s:
        with pytest.raises(ValueError, match="step_index 1 is a step replayed from run "
                                             "'parent-run'"):
            s.declare_side_effect(1, "payments", "charge")
        assert not (child / "side_effects").exists()
        s.record_step(step_record("child-run", 2))
        sid = s.declare_side_effect(2, "payments", "charge")
        s.commit_side_effect(sid)
    assert [p.name for p in (child / "side_effects").iterdir()] == [f"0002-{sid}.json"]
    branch = json.loads((child / "producer.json").read_text())["branch"]
    assert branch["mode"] == "replay" and branch["replayed_steps"] == [0, 1]
    assert branch["parent_side_effects_not_replayed"] == ["se-parent"]


def test_the_child_run_span_links_to_the_parents_step_span(tmp_path: Path) -> None:
    """The child's run span has a link to the parent's span of the branch-point step; each
    replayed step span is marked and links to its original; the child's own steps are not."""
    with capture_spans() as exporter:
        parent = _parent(tmp_path / "parent")
        parent_steps = {sp.attributes["augur.step_index"]: sp
                        for sp in exporter.get_finished_spans()
                        if sp.attributes.get("augur.record") == "step"}
        exporter.clear()
        with _branch(tmp_path, parent) as s:
            s.record_step(step_record("child-run", 2))
        spans = exporter.get_finished_spans()
    run = next(sp for sp in spans if sp.name.startswith("invoke_agent"))
    (link,) = run.links
    assert link.context.span_id == parent_steps[2].context.span_id
    assert link.context.trace_id == parent_steps[2].context.trace_id
    assert link.context.trace_id != run.context.trace_id  # a link, not a parent
    assert link.attributes["augur.link"] == "branched_from"
    assert link.attributes["augur.branch.point_step_index"] == 2
    steps = {sp.attributes["augur.step_index"]: sp for sp in spans
             if sp.attributes.get("augur.record") == "step"}
    for i in (0, 1):
        assert steps[i].attributes["augur.replayed"] is True
        assert steps[i].attributes["augur.replayed_from.step_id"] == f"parent-run/step/{i:04d}"
        assert [ln.context.span_id for ln in steps[i].links] == \
            [parent_steps[i].context.span_id]
    assert "augur.replayed" not in steps[2].attributes and not steps[2].links
    assert not [sp for sp in spans if sp.attributes.get("augur.record") == "side_effect"]
    producer = json.loads((tmp_path / "child" / "producer.json").read_text())
    assert producer["branch"]["parent_span"]["span_id"] == \
        f"{parent_steps[2].context.span_id:016x}"


def test_branch_point_after_the_last_step_links_to_it(tmp_path: Path) -> None:
    """Branching after the parent's last step replays all of it; the run span links to the
    last step (there is no step at the branch point to link to)."""
    parent = _parent(tmp_path / "parent", steps=2)
    sidecar = _lines(parent / "otel/spans.jsonl")
    last = next(e for e in sidecar if e.get("kind") == "step" and e["step_index"] == 1)
    with _branch(tmp_path, parent):
        pass
    branch = json.loads((tmp_path / "child" / "producer.json").read_text())["branch"]
    assert branch["replayed_steps"] == [0, 1]
    assert branch["parent_span"] == {"trace_id": last["trace_id"], "span_id": last["span_id"],
                                     "step_index": 1}


def test_sandbox_records_only_what_runs(tmp_path: Path) -> None:
    """Sandbox (auto for an action change): no prefix, steps from 0 are the agent's own and
    may declare side effects; a given parent_bundle still gives the run span its link."""
    parent = _parent(tmp_path / "parent")
    with capture_spans() as exporter:
        with _branch(tmp_path, parent, mutated_axis="action", mode="auto",
                     mutation={"action_override": {"x": 1}}) as s:
            assert s.branch_mode == "sandbox"
            s.record_step(step_record("child-run", 0))
            s.declare_side_effect(0, "payments", "charge")
        run = next(sp for sp in exporter.get_finished_spans()
                   if sp.name.startswith("invoke_agent"))
    assert len(run.links) == 1
    steps = json.loads((tmp_path / "child" / "trace.json").read_text())["steps"]
    assert len(steps) == 1 and steps[0]["branch_context"]["mutated_axis"] == "action"
    assert json.loads((tmp_path / "child" / "producer.json").read_text())["branch"]["mode"] \
        == "sandbox"


def test_a_metadata_branch_replays_what_metadata_keeps(tmp_path: Path) -> None:
    """The child's capture mode gates the replayed prefix as it gates its own steps: at
    metadata no screenshots, events or free text are copied, the steps are."""
    parent = _parent(tmp_path / "parent")
    with _branch(tmp_path, parent, capture_mode="metadata"):
        pass
    child = tmp_path / "child"
    steps = json.loads((child / "trace.json").read_text())["steps"]
    assert [st["step_index"] for st in steps] == [0, 1]
    assert "intent" not in steps[0] and "observation_pre" not in steps[0]
    assert not (child / "screenshots").exists() and not (child / "events").exists()
    assert validate_bundle(child) == []


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"branch_point_step_index": 9}, ValueError,
     r"branch_point_step_index: 9 is past the end of the parent run \(its last step is 3"),
    ({"parent_run_id": "other-run"}, ValueError,
     "parent_run_id: 'other-run', but parent_bundle .* is run 'parent-run'"),
    ({"branch_point_step_index": True}, TypeError, "branch_point_step_index: expected an int"),
    ({"mutation": "m-2"}, TypeError, "mutation: expected a dict"),
    ({"branch_context": {}}, TypeError, "branch_context: branch_from sets it"),
    ({"run_id": ""}, ValueError, "run_id"),
])
def test_bad_input_raises_naming_the_field_and_writes_nothing(
        tmp_path: Path, change: dict[str, Any], error: type[Exception], match: str) -> None:
    """Each mistake raises at branch_from, naming the argument; no child folder appears."""
    parent = _parent(tmp_path / "parent")
    with pytest.raises(error, match=match):
        _branch(tmp_path, parent, **change)
    assert not (tmp_path / "child").exists()


def test_an_unfinished_parent_says_how_to_finish_it(tmp_path: Path) -> None:
    """A parent bundle without trace.json but with steps (a killed run) raises
    FileNotFoundError naming trace.json and the `augur recover` command."""
    parent = _parent(tmp_path / "parent")
    (parent / "trace.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"trace.json.*augur recover"):
        _branch(tmp_path, parent)


def test_the_parent_bundle_is_not_the_childs_out_dir(tmp_path: Path) -> None:
    """Writing the child into the parent's folder would move the parent aside: refused."""
    parent = _parent(tmp_path / "parent")
    with pytest.raises(ValueError, match="out_dir: it is the parent_bundle"):
        _branch(tmp_path, parent, out_dir=parent)
    assert validate_bundle(parent) == []


@pytest.mark.parametrize(("context", "error", "match"), [
    ({"parent_run_id": "p", "mutated_axis": "model"}, ValueError,
     "branch_context: missing required field 'branch_point_step_index'"),
    ({"parent_run_id": "p", "branch_point_step_index": 0, "mutated_axis": "temperature"},
     ValueError, r"branch_context.mutated_axis must be one of \['action', "),
    (["p", 0, "model"], TypeError, "branch_context: expected a dict"),
    ({"parent_run_id": "p", "branch_point_step_index": -2, "mutated_axis": "model"},
     ValueError, "branch_point_step_index"),
])
def test_a_bad_branch_context_is_refused_by_the_constructor(
        tmp_path: Path, context: Any, error: type[Exception], match: str) -> None:
    """DebugSession(branch_context=...) names the missing field or the unknown axis (0.6.1's
    words); the schema check names any other problem."""
    with pytest.raises(error, match=match):
        DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "b",
                     branch_context=context)


def test_a_sandbox_parent_bundle_that_is_not_there_raises(tmp_path: Path) -> None:
    """A parent_bundle given for the link must exist: a typo is not silently unlinked."""
    with pytest.raises(FileNotFoundError, match=r"parent_bundle: .*nowhere is not a directory"):
        _branch(tmp_path, tmp_path / "nowhere", mode="sandbox")
    with pytest.raises(TypeError, match="tags"):
        _branch(tmp_path, _parent(tmp_path / "parent"), tags=["not", "a", "dict"])
    assert not (tmp_path / "child").exists()
