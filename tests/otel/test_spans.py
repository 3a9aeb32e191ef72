"""The OpenTelemetry side: run span, step spans, decision events, parents, and rebuild from spans."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from augur_sdk import DebugSession, codec
from augur_sdk.otel.exporter import BundleSpanExporter
from augur_sdk.records import iso_to_ns
from augur_sdk.testing import capture_spans, make_png
from augur_sdk.validation import validate_bundle

from support import event_record, run_seed_session, step_record


def _split(spans: tuple[ReadableSpan, ...]) -> tuple[ReadableSpan, list[ReadableSpan]]:
    runs = [s for s in spans if s.name.startswith("invoke_agent")]
    assert len(runs) == 1
    steps = sorted((s for s in spans if s.name.startswith("execute_tool")),
                   key=lambda s: s.attributes["augur.step_index"])  # type: ignore[index]
    return runs[0], steps


def test_one_run_span_and_one_child_span_per_step(tmp_path: Path) -> None:
    """The run span has GenAI attributes; each step span is its child with exact times and status."""
    with capture_spans() as exporter:
        run_seed_session(tmp_path / "b", steps=4, fail_at=2)
        spans = exporter.get_finished_spans()
    assert len(spans) == 5
    run, steps = _split(spans)
    assert run.name == "invoke_agent testagent"
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"  # type: ignore[index]
    assert run.attributes["gen_ai.agent.name"] == "testagent"  # type: ignore[index]
    assert run.attributes["augur.tag.env"] == "test"  # type: ignore[index]
    for i, span in enumerate(steps):
        assert span.parent is not None and span.parent.span_id == run.context.span_id
        assert span.context.trace_id == run.context.trace_id
        assert span.name == "execute_tool click"
        assert span.attributes["gen_ai.tool.call.id"] == f"run_test/step/{i:04d}"  # type: ignore[index]
        assert span.start_time == iso_to_ns(f"2026-05-19T00:00:{i:02d}.123456Z", "t")
        assert span.end_time == iso_to_ns(f"2026-05-19T00:00:{i:02d}.623456Z", "t")
    assert steps[2].status.status_code is StatusCode.ERROR
    assert steps[2].attributes["error.type"] == "no_state_change"  # type: ignore[index]
    assert steps[0].status.status_code is StatusCode.UNSET
    assert run.status.status_code is StatusCode.UNSET


def test_decision_events_are_events_of_their_step_span(tmp_path: Path) -> None:
    """Events recorded after record_step land on that step's span; run-level ones on the run span."""
    with capture_spans() as exporter:
        run_seed_session(tmp_path / "b", steps=3)
        run, steps = _split(exporter.get_finished_spans())
    for i, span in enumerate(steps):
        decisions = [e for e in span.events if e.name == codec.EVENT_NAME]
        assert [codec.decode_event(e.attributes)["summary"] for e in decisions] == [  # type: ignore[arg-type]
            f"event 0 of step {i}", f"event 1 of step {i}"]
        assert decisions[0].attributes["augur.event.layer"] == "planner"  # type: ignore[index]
        assert json.loads(decisions[0].attributes["augur.event_json.detail"])["n"] == 0  # type: ignore[index,arg-type]
        assert decisions[0].timestamp == iso_to_ns(f"2026-05-19T00:00:{i:02d}.300000Z", "t")
        verdicts = [e for e in span.events if e.name == "gen_ai.evaluation.result"]
        assert len(verdicts) == 1
    run_events = [codec.decode_event(e.attributes) for e in run.events]  # type: ignore[arg-type]
    assert [e["layer"] for e in run_events] == ["runner"]


def test_late_event_for_an_older_step_goes_on_the_run_span(tmp_path: Path) -> None:
    """An event for a step that is no longer the current one is kept on the run span and in its file."""
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
            s.record_step(step_record("r", 0))
            s.record_step(step_record("r", 1))
            s.record_event(event_record(0, 7))
        run, _steps = _split(exporter.get_finished_spans())
    assert codec.decode_event(run.events[0].attributes)["step_index"] == 0  # type: ignore[arg-type]
    line = json.loads((out / "events/0000.jsonl").read_text())
    assert line["summary"] == "event 7 of step 0"


def test_run_span_nests_under_the_app_span_and_stays_out_of_the_app_exporter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A span current at __enter__ parents our run span; the app's own exporter sees none of ours."""
    app_exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(app_exporter))
    app_tracer = app_provider.get_tracer("app")
    caplog.set_level(logging.WARNING)
    with capture_spans() as exporter:
        with app_tracer.start_as_current_span("handle_request") as app_span:
            run_seed_session(tmp_path / "b", steps=2)
        run, _steps = _split(exporter.get_finished_spans())
    assert run.parent is not None
    assert run.parent.span_id == app_span.get_span_context().span_id
    assert run.context.trace_id == app_span.get_span_context().trace_id
    assert [s.name for s in app_exporter.get_finished_spans()] == ["handle_request"]
    assert not any("Overriding" in r.getMessage() for r in caplog.records)
    assert trace.get_tracer_provider() is not app_provider  # we never set a global provider


def test_sidecar_holds_each_steps_trace_and_span_id(tmp_path: Path) -> None:
    """otel/spans.jsonl maps each step to the trace_id/span_id the exporter saw."""
    out = tmp_path / "b"
    with capture_spans() as exporter:
        run_seed_session(out, steps=3)
        run, steps = _split(exporter.get_finished_spans())
    lines = [json.loads(x) for x in (out / "otel/spans.jsonl").read_text().splitlines()]
    by_index = {line["step_index"]: line for line in lines if line["kind"] == "step"}
    for i, span in enumerate(steps):
        assert by_index[i]["trace_id"] == f"{span.context.trace_id:032x}"
        assert by_index[i]["span_id"] == f"{span.context.span_id:016x}"
        assert by_index[i]["parent_span_id"] == f"{run.context.span_id:016x}"


def test_bundle_rebuilt_from_spans_equals_the_live_bundle(tmp_path: Path) -> None:
    """Step files and event files rebuilt from the spans alone are byte-identical to the live ones."""
    live = tmp_path / "live"
    with capture_spans() as exporter:
        with DebugSession(run_id="run_test", client_name="a", capture_mode="screenshots",
                          out_dir=live) as s:
            for i in range(4):
                s.record_event(event_record(i, 9))  # before its step: goes on the run span
                s.record_step(step_record("run_test", i, status="failed" if i == 1 else
                                          "succeeded"))
                s.record_event(event_record(i, 0))
            s.record_step(step_record("run_test", 3, intent="re-recorded"))  # replaces step 3
            s.record_event(event_record(1, 5))  # late, for an older step
            s.record_event(event_record(None, 1, layer="runner"))
        spans = exporter.get_finished_spans()
    rebuilt_root = tmp_path / "rebuilt"
    bundle_exporter = BundleSpanExporter(rebuilt_root)
    bundle_exporter.export(spans)
    (rebuilt,) = rebuilt_root.iterdir()
    for sub in ("steps", "events"):
        names = sorted(p.name for p in (live / sub).iterdir())
        assert names == sorted(p.name for p in (rebuilt / sub).iterdir())
        for name in names:
            assert (rebuilt / sub / name).read_bytes() == (live / sub / name).read_bytes(), name
    assert json.loads((rebuilt / "trace.json").read_text()) == json.loads(
        (live / "trace.json").read_text())


def test_sequential_ids_make_runs_reproducible(tmp_path: Path) -> None:
    """With testing.SequentialIds, two identical runs produce identical span ids and sidecars."""
    from augur_sdk.testing import SequentialIds

    sidecars = []
    for name in ("one", "two"):
        with capture_spans(ids=SequentialIds()) as exporter:
            run_seed_session(tmp_path / name, steps=2)
            ids = sorted((s.context.trace_id, s.context.span_id)
                         for s in exporter.get_finished_spans())
        sidecars.append((tmp_path / name / "otel/spans.jsonl").read_text())
        assert ids == [(1, n) for n in range(1, 4)]
    assert sidecars[0] == sidecars[1]


def test_step_scope_makes_the_step_span_the_parent_of_app_spans(tmp_path: Path) -> None:
    """Inside step_scope, a span the app creates (a model call) is a child of the step span;
    the step file is written when record_step returns; the bundle still rebuilds from spans."""
    app_exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(app_exporter))
    app_tracer = app_provider.get_tracer("app")
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="run_test", client_name="a", capture_mode="trace",
                          out_dir=out) as s:
            for i in range(2):
                with s.step_scope(i, "click"):
                    with app_tracer.start_as_current_span("chat demo-model"):
                        pass
                    assert not (out / f"steps/{i:04d}.json").exists()
                    s.record_step(step_record("run_test", i, status="failed" if i else
                                              "succeeded"))
                    assert (out / f"steps/{i:04d}.json").exists()
                    s.record_event(event_record(i, 0))
        spans = exporter.get_finished_spans()
    run, steps = _split(spans)
    models = app_exporter.get_finished_spans()
    assert len(steps) == 2 and len(models) == 2
    for step_span, model in zip(steps, models, strict=True):
        assert model.parent is not None and model.parent.span_id == step_span.context.span_id
        assert step_span.parent is not None and step_span.parent.span_id == run.context.span_id
        assert step_span.attributes["augur.record"] == "step"  # type: ignore[index]
        assert [e.name for e in step_span.events] == ["gen_ai.evaluation.result",
                                                      "augur.decision_event"]
    assert steps[1].status.status_code is StatusCode.ERROR
    rebuilt_root = tmp_path / "rebuilt"
    BundleSpanExporter(rebuilt_root).export(spans)
    (rebuilt,) = rebuilt_root.iterdir()
    for rel in ("steps/0000.json", "steps/0001.json", "events/0001.jsonl"):
        assert (rebuilt / rel).read_bytes() == (out / rel).read_bytes()


def test_a_step_scope_span_ended_early_keeps_its_hash_and_record_end(tmp_path: Path) -> None:
    """A step_scope span that the next record_step ends inside the block is ended once: with
    its screenshot's sha256 and the record's ended_at, not again when the block exits."""
    png = make_png(32, 24, seed=7)
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", capture_mode="screenshots",
                          out_dir=tmp_path / "b") as s, s.step_scope(0, "click"):
            pre = s.attach_observation(step_index=0, kind="pre", png_bytes=png)
            s.record_step(step_record("r", 0, pre=pre))
            s.record_step(step_record("r", 1))  # ends step 0's span inside the block
            time.sleep(0.05)  # the block's own end is clearly later than the record's
        spans = exporter.get_finished_spans()
    steps = {s.attributes["augur.step_index"]: s for s in spans  # type: ignore[index]
             if s.name.startswith("execute_tool")}
    assert sorted(steps) == [0, 1]
    step0 = steps[0]
    assert step0.attributes["augur.observation.pre.sha256"] == hashlib.sha256(png).hexdigest()  # type: ignore[index]
    assert step0.end_time == iso_to_ns(step_record("r", 0)["ended_at"], "t")
    assert validate_bundle(tmp_path / "b") == []
