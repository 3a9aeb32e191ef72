"""`augur export-otlp`: a bundle recorded with no collector, replayed later, yields the live
run's span structure at a real loopback OTLP/HTTP receiver."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from augur_sdk import DebugSession
from augur_sdk.testing import capture_spans

from support import event_record, run_seed_session, step_record


def _received_spans(server: Any) -> list[Any]:
    spans = []
    for request in server.requests():
        if request["path"] != "/v1/traces":
            continue
        message = ExportTraceServiceRequest()
        message.ParseFromString(request["body"].encode("latin-1"))
        for resource_spans in message.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    return spans


def _plain(value: Any) -> Any:
    """An OTLP AnyValue as the Python value the SDK was given (arrays as tuples)."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(_plain(item) for item in value.array_value.values)
    return getattr(value, which)


def _shape(names_parents_events: list[tuple[str, str, str, list[str]]]) -> list[Any]:
    return sorted(names_parents_events)


def run_with_events_outside_their_step(out: Path) -> None:
    """Events the live run puts on the run span although they name a step: one recorded
    before its step exists, and a late one for an older step; plus the seed's order."""
    run_id = "run_test"
    with DebugSession(run_id=run_id, client_name="testagent", capture_mode="screenshots",
                      out_dir=out) as session:
        session.record_event(event_record(None, 0, layer="runner"))
        for i in range(4):
            session.record_event(event_record(i, 0))  # before its step: on the run span
            session.record_step(step_record(run_id, i, status="failed" if i == 1 else
                                            "succeeded"))
            session.record_event(event_record(i, 1, layer="verifier"))  # on the step span
            if i >= 2:
                session.record_event(event_record(i - 2, 2, layer="step_recovery"))  # older step


def run_with_model_calls(out: Path) -> None:
    """Model calls: a run-level plan and one per step, with the facts only the chat span has
    (provider, response model, reasoning tokens). (A call recorded before its step opens the
    step's span at the call's start; replayed, a step span starts at its record's
    started_at: docs/opentelemetry.md.)"""
    run_id = "run_test"

    def call(text: str) -> dict[str, Any]:
        return {"layer": "planner", "duration_ms": 120,
                "request": {"model": "claude-sonnet-4-5", "system": "You operate a browser.",
                            "messages": [{"role": "user", "content": "Buy a mug"}],
                            "params": {"temperature": 0.2, "max_tokens": 256}},
                "response": {"text": text, "stop_reason": "tool_use",
                             "usage": {"prompt_tokens": 900, "completion_tokens": 30}}}

    with DebugSession(run_id=run_id, client_name="testagent", capture_mode="model_io",
                      out_dir=out) as session:
        session.record_modelio(call("First I will log in."))
        for i in range(3):
            session.record_step(step_record(run_id, i))
            if i < 2:
                session.record_modelio(call(f"step {i}"), step_index=i, reasoning_tokens=40)
            else:
                session.record_modelio(call(f"step {i}"), step_index=i, provider="anthropic",
                                       response_model="claude-sonnet-4-5-20260101")
        session.record_modelio(call("a late look at step 0"), step_index=0)  # on the run span


RECORDERS = {
    "seed order": lambda out: run_seed_session(out, steps=4, fail_at=1),
    "events outside their step": run_with_events_outside_their_step,
    "model calls": run_with_model_calls,
}
SPANS = {"seed order": 5, "events outside their step": 5, "model calls": 9}


@pytest.mark.parametrize("recorder", sorted(RECORDERS))
def test_replay_matches_the_live_span_structure(tmp_path: Path, fault_server, recorder: str) -> None:  # type: ignore[no-untyped-def]
    """Names, ids, parent links, kinds, attributes, status and events (each on the span it
    was on live, with its attributes) equal the live spans', model calls' chat spans too."""
    out = tmp_path / "b"
    with capture_spans() as exporter:  # the live run, recorded with no collector configured
        RECORDERS[recorder](out)
        live = exporter.get_finished_spans()
    receiver = fault_server("ok")
    proc = subprocess.run(
        [sys.executable, "-m", "augur_sdk.cli", "export-otlp", str(out), "--endpoint",
         f"http://127.0.0.1:{receiver.port}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{SPANS[recorder]} delivered, 0 failed" in proc.stdout
    assert proc.stderr == ""  # not a terminal: no progress bar
    replayed = _received_spans(receiver)
    assert len(replayed) == len(live) == SPANS[recorder]

    live_by_id = {s.context.span_id: s for s in live}
    for span in replayed:
        span_id = int.from_bytes(span.span_id, "big")
        original = live_by_id[span_id]  # the recorded ids are reused
        assert span.name == original.name
        assert int.from_bytes(span.trace_id, "big") == original.context.trace_id
        parent = int.from_bytes(span.parent_span_id, "big") if span.parent_span_id else None
        assert parent == (original.parent.span_id if original.parent else None)
        assert span.start_time_unix_nano == original.start_time
        assert span.end_time_unix_nano == original.end_time
        assert span.status.code == original.status.status_code.value
        assert span.kind == original.kind.value + 1  # OTLP numbers kinds from 1 (INTERNAL)
        attrs = {kv.key: kv.value for kv in span.attributes}
        for key, value in original.attributes.items():  # type: ignore[union-attr]
            if key == "augur.seq":
                continue  # ordering hint only; replay numbers in bundle order
            assert _plain(attrs[key]) == value, key
        # A step amended after it was recorded (here: a late call stamping the step's
        # captured_versions) is replayed as amended; the amendment's own event is not
        # (docs/opentelemetry.md).
        live_events = [e for e in original.events if e.name != "augur.step_amendment"]
        assert [e.name for e in span.events] == [e.name for e in live_events]
        assert [e.time_unix_nano for e in span.events] == [e.timestamp for e in live_events]
        for got_event, want_event in zip(span.events, live_events, strict=True):
            got_attrs = {kv.key: getattr(kv.value, kv.value.WhichOneof("value"))
                         for kv in got_event.attributes if kv.key != "augur.seq"}
            want_attrs = {k: v for k, v in (want_event.attributes or {}).items()
                          if k != "augur.seq"}
            assert got_attrs == want_attrs


def test_export_without_endpoint_says_so(tmp_path: Path) -> None:
    """With no endpoint configured the command exits 2 and names the fix."""
    out = tmp_path / "b"
    run_seed_session(out, steps=1)
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "export-otlp", str(out)],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "OTEL_EXPORTER_OTLP_ENDPOINT" in proc.stderr


def test_export_to_a_dead_collector_reports_failure(tmp_path: Path, closed_port: int) -> None:
    """A closed port: the command ends within its timeout and exits 1 with the failure count."""
    out = tmp_path / "b"
    run_seed_session(out, steps=2)
    proc = subprocess.run(
        [sys.executable, "-m", "augur_sdk.cli", "export-otlp", str(out), "--endpoint",
         f"http://127.0.0.1:{closed_port}", "--timeout", "1", "--no-progress"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "0 delivered, 3 failed" in proc.stdout
    assert proc.stderr == (f"augur export-otlp: 3 span(s) not delivered to http://127.0.0.1:"
                           f"{closed_port}: cannot connect to 127.0.0.1:{closed_port}: "
                           "Connection refused\n"), proc.stderr


def test_a_refusing_collector_gets_one_line_per_failed_batch(tmp_path: Path,
                                                             fault_server) -> None:  # type: ignore[no-untyped-def]
    """A collector that answers 500: one line on stderr for the failed batch, none of
    OpenTelemetry's retry lines, no carriage returns."""
    out = tmp_path / "b"
    run_seed_session(out, steps=2)
    receiver = fault_server("error500")
    proc = subprocess.run(
        [sys.executable, "-m", "augur_sdk.cli", "export-otlp", str(out), "--endpoint",
         f"http://127.0.0.1:{receiver.port}", "--timeout", "3"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert receiver.requests(), "the collector was reached"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "\r" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"augur export-otlp: 3 span(s) not delivered to "
                               f"http://127.0.0.1:{receiver.port}: "), lines[0]


def test_progress_bar_only_on_a_terminal(tmp_path: Path, fault_server) -> None:  # type: ignore[no-untyped-def]
    """With stderr on a pseudo-terminal the progress bar is drawn; --no-progress turns it off."""
    out = tmp_path / "b"
    run_seed_session(out, steps=4)
    receiver = fault_server("ok")
    for flags, drawn in (([], True), (["--no-progress"], False)):
        primary, secondary = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "augur_sdk.cli", "export-otlp", str(out), "--endpoint",
                 f"http://127.0.0.1:{receiver.port}", *flags],
                stdout=subprocess.PIPE, stderr=secondary, text=True, timeout=120)
            os.close(secondary)
            seen = _read_all(primary)
        finally:
            os.close(primary)
        assert proc.returncode == 0, proc.stdout
        assert ("\r[" in seen and "4/4 steps" in seen) is drawn, repr(seen)


def _read_all(fd: int) -> str:
    """Everything written to a pty whose other end is closed (Linux raises EIO at the end)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
