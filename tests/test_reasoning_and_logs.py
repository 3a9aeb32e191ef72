"""record_reasoning and append_log: written locally when the call returns, redacted, on the
step's span, valid; 0.6.1 clients' content= and free-form format tags are accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augur_sdk import DebugSession
from augur_sdk.bundle import writer as bundle_writer
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle

from support import step_record


def test_reasoning_is_written_redacted_and_an_event_of_its_step(tmp_path: Path) -> None:
    """content= works as text; an unknown format tag becomes adapter_inferred; the record
    is in diagnostics/reasoning.jsonl at return, redacted, and on the step's span."""
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                          dsn="") as s:
            s.record_step(step_record("r", 0))
            got = s.record_reasoning(0, content="email jane.doe@example.com next",
                                     format="scratchpad", tokens=12, model="m-1")
            lines = (out / "diagnostics/reasoning.jsonl").read_text().splitlines()
            assert json.loads(lines[0])["text"] == "email ***REDACTED:email*** next"
            with pytest.raises(ValueError, match="step_index: required"):
                s.record_reasoning(None, "run-level thought")
        spans = exporter.get_finished_spans()
    assert got["format"] == "adapter_inferred" and got["tokens"] == 12
    step = next(sp for sp in spans if sp.attributes.get("augur.record") == "step")
    assert [e.name for e in step.events if e.name == "augur.reasoning"] == ["augur.reasoning"]
    assert validate_bundle(out) == []


def test_logs_are_written_without_a_server_capped_and_redacted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """append_log writes logs/ locally (0.6.1 drops them without a DSN), per step or by
    name, redacted; past the per-file cap the rest is cut and counted in producer.json."""
    monkeypatch.setattr(bundle_writer, "MAX_TEXT_FILE_BYTES", 64)
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                      dsn="") as s:
        s.record_step(step_record("r", 0))
        s.append_log("started\n")
        s.append_log("token for jane.doe@example.com\n", step_index=0)
        assert (out / "logs/run.log").read_text() == "started\n"
        s.append_log("x" * 100, name="agent")
        with pytest.raises(ValueError, match=r"^log\.name: "):
            s.append_log("nope", name="../escape")
    assert (out / "logs/step-0.log").read_text() == "token for ***REDACTED:email***\n"
    assert len((out / "logs/agent.log").read_bytes()) == 64
    producer = json.loads((out / "producer.json").read_text())
    assert producer["lost"] == {"log_bytes_over_cap": 36}


def test_reasoning_redactors_run_and_a_free_form_tag_is_kept_on_the_span(
        tmp_path: Path) -> None:
    """add_reasoning_redactor hooks run on reasoning text only (after the policy's rules);
    a free-form format tag is recorded as adapter_inferred, the tag itself on the span
    event as augur.reasoning.tag."""
    from augur_sdk.redaction import DefaultRedactionPolicy
    policy = DefaultRedactionPolicy()
    policy.add_reasoning_redactor(lambda text: text.replace("Acme Co", "[COMPANY]"))
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                          dsn="", redaction_policy=policy) as s:
            s.record_step(step_record("r", 0, intent="buy from Acme Co"))
            s.record_reasoning(0, "Acme Co has the cart", format="scratchpad")
            s.record_reasoning(0, "plain", format="claude_extended_thinking")
        spans = exporter.get_finished_spans()
    lines = [json.loads(x) for x in (out / "diagnostics/reasoning.jsonl").read_text()
             .splitlines()]
    assert lines[0]["text"] == "[COMPANY] has the cart"
    assert [line["format"] for line in lines] == ["adapter_inferred",
                                                 "claude_extended_thinking"]
    step = json.loads((out / "steps/0000.json").read_text())
    assert step["intent"] == "buy from Acme Co"  # not reasoning: its redactors do not run
    events = [e for sp in spans for e in sp.events if e.name == "augur.reasoning"]
    assert [e.attributes.get("augur.reasoning.tag") for e in events] == ["scratchpad", None]


def test_log_lines_are_otel_log_records_of_their_step_span(tmp_path: Path) -> None:
    """With an OTLP endpoint, each append_log line is also an OpenTelemetry log record sent
    to it (a real OTLP/HTTP receiver on loopback), carrying the trace and span ids of the
    step it belongs to, redacted."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from augur_sdk.otel import provider
    from otlp_receiver import OtlpReceiver

    spans = InMemorySpanExporter()
    with OtlpReceiver() as receiver:
        provider.reset(timeout_s=1.0)
        provider.configure(otlp_endpoint=receiver.url,
                           span_processors=[SimpleSpanProcessor(spans)])
        try:
            with DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "b",
                              capture_mode="trace", dsn="") as s:
                s.record_step(step_record("r", 0))
                s.append_log("clicked for jane.doe@example.com\n", step_index=0)
                s.append_log("run-level line\n")
        finally:
            provider.reset(timeout_s=5.0)
        logs = receiver.wait_for_logs(2, timeout_s=30)
    step = next(sp for sp in spans.get_finished_spans()
                if sp.attributes.get("augur.record") == "step")
    run = next(sp for sp in spans.get_finished_spans()
               if sp.attributes.get("augur.record") == "session")
    by_body = {entry["body"]: entry for entry in logs}
    line = by_body["clicked for ***REDACTED:email***\n"]
    assert line["span_id"] == step.context.span_id
    assert line["trace_id"] == step.context.trace_id
    assert line["attributes"]["augur.step_index"] == 0
    assert by_body["run-level line\n"]["span_id"] == run.context.span_id
