"""Each of the nine capture modes: exactly which files, step fields, span attributes, events and
stream requests exist. The same gated record feeds the bundle, the spans and the stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession
from augur_sdk.testing import capture_spans, make_png

RUN = "run_modes"
# Fields by type: ids, enums, numbers, timestamps, hashes and model names are metadata (the
# verdict's status, the captured model); free text, coordinates and params are trace.
META_FIELDS = {"step_id", "step_index", "step_type", "status", "failure_class", "started_at",
               "ended_at", "duration_ms", "latency", "action", "verdict", "captured_versions"}
TRACE_FIELDS = META_FIELDS | {"intent", "grounding", "recovery_decision"}
SHOT_FIELDS = TRACE_FIELDS | {"observation_pre", "observation_post"}
REPLAY_FIELDS = SHOT_FIELDS
SCHEMAS = 27  # augur-schema ships 27 schema files, copied into schema/

# mode -> (step fields, action keys, events file lines per step 0 (layers), model detail kept,
#          screenshot files)
EXPECTED: dict[str, dict[str, Any]] = {
    "off": {"fields": None},
    "metadata": {"fields": META_FIELDS, "action": {"type"}, "verdict": {"status"}, "layers": [],
                 "shots": 0},
    "trace": {"fields": TRACE_FIELDS, "action": {"type", "params", "coordinate_space",
                                                 "dispatch_backend"},
              "layers": ["planner", "model"], "model_detail": False, "shots": 0},
    "screenshots": {"fields": SHOT_FIELDS, "layers": ["planner", "model"],
                    "model_detail": False, "shots": 2},
    "video": {"fields": SHOT_FIELDS, "layers": ["planner", "model"], "model_detail": False,
              "shots": 2},
    "model_io": {"fields": SHOT_FIELDS, "layers": ["planner", "model"], "model_detail": True,
                 "shots": 2},
    "dispatch": {"fields": SHOT_FIELDS, "layers": ["planner", "model", "dispatch"],
                 "model_detail": True, "shots": 2},
    "replay": {"fields": REPLAY_FIELDS, "layers": ["planner", "model", "dispatch"],
               "model_detail": True, "shots": 2},
    "full": {"fields": REPLAY_FIELDS, "layers": ["planner", "model", "dispatch"],
             "model_detail": True, "shots": 2},
}


def _record(session: DebugSession) -> None:
    pre = session.attach_observation(step_index=0, kind="pre", png_bytes=make_png(8, 8))
    post = session.attach_observation(step_index=0, kind="post", png_bytes=make_png(8, 8, seed=1))
    session.record_step({
        "step_id": f"{RUN}/step/0000", "step_index": 0, "step_type": "click",
        "intent": "press OK", "status": "failed", "failure_class": "no_state_change",
        "started_at": "2026-05-19T00:00:00Z", "ended_at": "2026-05-19T00:00:01Z",
        "duration_ms": 1000, "latency": {"total_ms": 1000},
        "observation_pre": pre, "observation_post": post,
        "action": {"type": "click", "params": {"x": 1, "y": 2},
                   "coordinate_space": "viewport_css_px", "dispatch_backend": "playwright"},
        "grounding": {"provider": "vlm", "provenance": "screenshot", "confidence": 0.5},
        "verdict": {"status": "failed", "reason": "nothing changed"},
        "recovery_decision": {"type": "retry"},
        "captured_versions": {"model": "m-1"},
    })
    for layer in ("planner", "model", "dispatch"):
        session.record_event({"ts": "2026-05-19T00:00:00.5Z", "step_index": 0, "layer": layer,
                              "kind": "decision", "summary": f"{layer} said",
                              "detail": {"prompt": "what next?"}})


def test_docs_tables_of_fields_per_mode_and_limits_are_generated_from_the_code() -> None:
    """docs/capture-modes.md and docs/bundle-format.md hold the tables the specs and limits
    generate (run `python -m augur_sdk.kinds.doctables --write` after changing them)."""
    from augur_sdk.kinds import doctables

    root = Path(__file__).resolve().parents[2]
    for page in ("docs/capture-modes.md", "docs/bundle-format.md"):
        text = (root / page).read_text(encoding="utf-8")
        assert "<!-- generated:" in text
        assert doctables.render(text) == text, f"{page} is stale"
    assert "`verdict.status`" in doctables.fields_by_mode()  # a metadata field, by type
    pages = "".join((root / p).read_text(encoding="utf-8") for p in (
        "docs/capture-modes.md", "docs/bundle-format.md"))
    for name in doctables.TABLES:  # every table is on a page, filled (not an empty block)
        assert f"<!-- generated:{name} -->\n|" in pages, name


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_mode_gates_bundle_spans_and_stream_alike(tmp_path: Path, mode: str,
                                                  fault_server) -> None:  # type: ignore[no-untyped-def]
    """Files, step fields, span attributes, span events and stream requests for this mode."""
    expected = EXPECTED[mode]
    server = fault_server("ok")
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id=RUN, client_name="a", capture_mode=mode, out_dir=out,
                          dsn=server.dsn()) as s:
            _record(s)
        spans = exporter.get_finished_spans()
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    stream = [f"{r['method']} {r['path'].removeprefix('/api/v1')}" for r in server.requests()]

    if expected["fields"] is None:  # off: the manifest envelope and nothing else anywhere
        assert files == ["manifest.json"]
        assert spans == ()
        assert stream == []
        return

    layers = expected["layers"]
    schema_files = [f for f in files if f.startswith("schema/")]
    assert len(schema_files) == SCHEMAS
    assert [f for f in files if not f.startswith("schema/")] == sorted(
        ["AGENT.md", "manifest.json", "otel/spans.jsonl", "producer.json", "steps/0000.json",
         "stream.json", "trace.json"]
        + (["events/0000.jsonl"] if layers else [])
        + ["screenshots/0000_post.png", "screenshots/0000_pre.png"][: expected["shots"]])

    step = json.loads((out / "steps/0000.json").read_text())
    assert set(step) == expected["fields"]
    if "action" in expected:
        assert set(step["action"]) == expected["action"]
    assert set(step["verdict"]) == expected.get("verdict", {"status", "reason"})
    events = [json.loads(x) for x in (out / "events/0000.jsonl").read_text().splitlines()] \
        if layers else []
    assert [e["layer"] for e in events] == layers
    model = [e for e in events if e["layer"] == "model"]
    if model:
        assert ("detail" in model[0]) is expected["model_detail"]

    (step_span,) = [sp for sp in spans if sp.name.startswith("execute_tool")]
    record_attrs = {k.split(".", 2)[2] for k in step_span.attributes  # type: ignore[union-attr]
                    if k.startswith(("augur.step.", "augur.step_json."))}
    assert record_attrs == expected["fields"]
    has_obs_attrs = any(k.startswith("augur.observation.") for k in step_span.attributes)  # type: ignore[union-attr]
    assert has_obs_attrs is (expected["shots"] > 0)
    assert ("augur.grounding.confidence" in step_span.attributes) is (mode != "metadata")  # type: ignore[operator]
    span_layers = [sp_e.attributes["augur.event.layer"] for sp_e in step_span.events  # type: ignore[index]
                   if sp_e.name == "augur.decision_event"]
    assert span_layers == layers
    (verdict_event,) = [e for e in step_span.events if e.name == "gen_ai.evaluation.result"]
    assert ("gen_ai.evaluation.explanation" in verdict_event.attributes) is (mode != "metadata")

    assert stream[0] == "POST /heartbeat"
    assert sorted(set(stream[1:])) == sorted(
        {f"PUT /runs/{RUN}/session", f"PUT /runs/{RUN}/steps/0", "POST /runs",
         f"PUT /runs/{RUN}/trace"}
        | ({f"POST /runs/{RUN}/events"} if layers else set())
        | ({f"POST /runs/{RUN}/screenshots/0/pre", f"POST /runs/{RUN}/screenshots/0/post"}
           if expected["shots"] else set()))
    assert stream.count(f"POST /runs/{RUN}/events") == len(layers)
    streamed_step = next(json.loads(r["body"]) for r in server.requests()
                         if r["path"].endswith("/steps/0"))
    assert streamed_step == step


def test_set_capture_mode_applies_from_the_next_step(tmp_path: Path) -> None:
    """After set_capture_mode, later steps use the new mode and record it; earlier ones do not."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="metadata", out_dir=out) as s:
        s.record_step({"step_id": "r/step/0000", "step_index": 0, "step_type": "click",
                       "status": "succeeded", "started_at": "2026-05-19T00:00:00Z",
                       "intent": "hidden in metadata"})
        assert s.attach_observation(step_index=1, kind="pre", png_bytes=make_png()) is None
        s.set_capture_mode("screenshots")
        pre = s.attach_observation(step_index=1, kind="pre", png_bytes=make_png())
        s.record_step({"step_id": "r/step/0001", "step_index": 1, "step_type": "click",
                       "status": "failed", "started_at": "2026-05-19T00:00:01Z",
                       "intent": "visible now", "observation_pre": pre})
    first = json.loads((out / "steps/0000.json").read_text())
    second = json.loads((out / "steps/0001.json").read_text())
    assert "intent" not in first and "capture_mode" not in first
    assert second["intent"] == "visible now" and second["capture_mode"] == "screenshots"
    assert second["observation_pre"] == "screenshots/0001_pre.png"
    assert json.loads((out / "manifest.json").read_text())["capture_mode"] == "metadata"


def test_off_then_upgraded_mode_starts_recording(tmp_path: Path) -> None:
    """A run that starts off and is switched to trace records the later steps."""
    from augur_sdk.validation import validate_bundle

    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="off", out_dir=out) as s:
        s.record_step({"step_id": "r/step/0000", "step_index": 0, "step_type": "click",
                       "status": "succeeded", "started_at": "2026-05-19T00:00:00Z"})
        s.set_capture_mode("trace")
        s.record_step({"step_id": "r/step/0001", "step_index": 1, "step_type": "click",
                       "status": "succeeded", "started_at": "2026-05-19T00:00:01Z"})
    assert sorted(p.name for p in (out / "steps").iterdir()) == ["0001.json"]
    assert validate_bundle(out) == []
