"""Living next to an app's own OpenTelemetry setup: (a) a global app provider, (b) a hostile
environment, (c) dead and hanging collectors, (d) our own processors or exporters raising."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from augur_sdk import DebugSession, configure
from augur_sdk.testing import capture_spans, make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record

ROOT = Path(__file__).resolve().parents[2]

APP_SCRIPT = textwrap.dedent("""
    import logging, sys, warnings
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    logging.basicConfig(level=logging.DEBUG)
    warnings.simplefilter("always")
    app_exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(app_exporter))
    trace.set_tracer_provider(app_provider)
    import augur_sdk
    from support import run_seed_session
    if sys.argv[2] == "share":  # the user asks for our spans in their pipeline
        augur_sdk.configure(span_processors=[SimpleSpanProcessor(app_exporter)])
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("POST /tasks") as request_span:
        run_seed_session(sys.argv[1], steps=2)
    assert trace.get_tracer_provider() is app_provider
    names = sorted(s.name for s in app_exporter.get_finished_spans())
    print("APP_SPANS", names)
    runs = [s for s in app_exporter.get_finished_spans() if s.name.startswith("invoke_agent")]
    if runs:
        print("RUN_PARENT_OK", runs[0].parent.span_id == request_span.get_span_context().span_id)
""")


@pytest.mark.parametrize("share", [False, True])
def test_app_with_a_global_provider(tmp_path: Path, share: bool) -> None:
    """(a) The app's global provider stays in place with no 'Overriding' warning; our spans
    reach the app's exporter only when the user asks, then nested under the app's span."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
    proc = subprocess.run([sys.executable, "-c", APP_SCRIPT, str(tmp_path / "b"),
                           "share" if share else "alone"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Overriding" not in proc.stderr + proc.stdout
    if share:
        assert "'invoke_agent testagent'" in proc.stdout and "RUN_PARENT_OK True" in proc.stdout
        assert proc.stdout.count("execute_tool click") == 2
    else:
        assert "APP_SPANS ['POST /tasks']" in proc.stdout
    assert validate_bundle(tmp_path / "b") == []


def _fixed_run(out: Path, parent_ctx: object = None) -> tuple[ReadableSpan, ...]:
    with capture_spans() as exporter:
        token = None
        if parent_ctx is not None:
            from opentelemetry import context

            token = context.attach(parent_ctx)  # type: ignore[arg-type]
        try:
            with DebugSession(run_id="r", client_name="a", capture_mode="full", out_dir=out,
                              debug_session_id="dbg_fixed", started_at="2026-05-19T00:00:00Z",
                              tags={"long": "x" * 200}) as s:
                for i in range(3):
                    s.record_step(step_record("r", i, intent="i" * 300))
                    for n in range(12):  # more than OTEL_SPAN_EVENT_COUNT_LIMIT=5
                        s.record_event(event_record(i, n))
        finally:
            if token is not None:
                context.detach(token)
        return exporter.get_finished_spans()


def _bundle_bytes(root: Path) -> dict[str, bytes]:
    import json

    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel == "otel/spans.jsonl":  # random span ids
            continue
        data = path.read_bytes()
        if rel == "manifest.json":
            manifest = json.loads(data)
            manifest.pop("created_at")
            manifest["signatures"].pop("otel/spans.jsonl")
            manifest["signatures"].pop("trace.json")  # trace.json differs only by ended_at
            data = json.dumps(manifest).encode()
        if rel == "trace.json":
            trace_doc = json.loads(data)
            trace_doc["session"].pop("ended_at")
            data = json.dumps(trace_doc).encode()
            out["manifest-free trace"] = data
            continue
        out[rel] = data
    return out


def test_hostile_environment_changes_nothing(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """(b) A 0% sampler, a 20-char attribute limit, a 5-event limit and an unsampled app parent
    leave the bundle byte-identical to a clean run, and every span and event is still exported."""
    clean = _fixed_run(tmp_path / "clean")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "20")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "5")
    unsampled = NonRecordingSpan(SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=True,
                                             trace_flags=TraceFlags(0)))
    hostile = _fixed_run(tmp_path / "hostile", trace.set_span_in_context(unsampled))
    assert _bundle_bytes(tmp_path / "hostile") == _bundle_bytes(tmp_path / "clean")
    assert len(hostile) == len(clean) == 4
    for span in hostile:
        if span.name.startswith("execute_tool"):
            assert len([e for e in span.events if e.name == "augur.decision_event"]) == 12
            assert span.attributes["augur.step.intent"] == "i" * 300  # type: ignore[index]
    run = next(s for s in hostile if s.name.startswith("invoke_agent"))
    assert run.parent is not None and run.parent.span_id == 0x5678  # still nested


@pytest.mark.parametrize(("protocol", "collector", "budget_s"), [
    ("http/protobuf", "closed", 1.0), ("http/protobuf", "hang", 1.0),
    ("grpc", "closed", 1.0), ("grpc", "hang", 1.0),
    ("http/protobuf", "hang", None),  # the default budget, 5 s
])
def test_dead_collector_never_slows_record_step(tmp_path: Path, protocol: str, collector: str,
                                                budget_s: float | None, closed_port: int,
                                                fault_server) -> None:  # type: ignore[no-untyped-def]
    """(c) With a closed port or a collector that never answers (OTLP/HTTP or gRPC), no call
    waits on the network and close() returns within its (configurable, default 5 s) budget."""
    port = closed_port if collector == "closed" else fault_server("hang").port
    options: dict[str, object] = {"otlp_endpoint": f"http://127.0.0.1:{port}",
                                  "otlp_protocol": protocol, "otlp_timeout_s": 10.0}
    if budget_s is not None:
        options["close_timeout_s"] = budget_s
    configure(**options)
    png = make_png(32, 24, seed=1)
    slowest = 0.0
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots",
                      out_dir=tmp_path / "b") as s:
        for i in range(300):  # > one export batch, so exports start during the run
            t0 = time.monotonic()
            pre = s.attach_observation(step_index=i, kind="pre", png_bytes=png)
            s.record_step(step_record("r", i, pre=pre))
            s.record_event(event_record(i))
            slowest = max(slowest, time.monotonic() - t0)
        t_close = time.monotonic()
    close_s = time.monotonic() - t_close
    assert slowest < 1.0  # an export on this thread would take the 10 s OTLP timeout
    budget = 5.0 if budget_s is None else budget_s
    assert close_s < budget + 1.5  # budget + slack for finishing the bundle on a loaded machine
    assert validate_bundle(tmp_path / "b") == []


class RaisingExporter(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        raise RuntimeError("exporter exploded")

    def shutdown(self) -> None:
        raise RuntimeError("shutdown exploded")


class RaisingProcessor(SpanProcessor):
    def on_start(self, span: object, parent_context: object = None) -> None:
        raise RuntimeError("on_start exploded")

    def on_end(self, span: object) -> None:
        raise RuntimeError("on_end exploded")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        raise RuntimeError("flush exploded")


def test_raising_processor_or_exporter_never_reaches_the_agent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(d) Processors and exporters that raise everywhere: the agent sees no exception and the
    bundle is complete."""
    monkeypatch.delenv("AUGUR_RAISE_INTERNAL_ERRORS")
    configure(span_processors=[RaisingProcessor()], span_exporters=[RaisingExporter()])
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=tmp_path / "b",
                      span_processors=[RaisingProcessor()]) as s:
        for i in range(3):
            s.record_step(step_record("r", i))
            s.record_event(event_record(i))
    assert validate_bundle(tmp_path / "b") == []
    app = TracerProvider()  # and the app's own tracing is untouched
    with app.get_tracer("app").start_as_current_span("still fine"):
        pass
