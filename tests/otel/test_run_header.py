"""OTLP/HTTP export sends each run's spans in their own request, with ``X-Augur-Run-Id``
(what deploy/nginx routes on), also when one batch holds spans of several runs."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import augur_sdk
from augur_sdk.otel import provider
from augur_sdk.otel.provider import Settings, make_otlp_exporter, resolve_otlp
from augur_sdk.otel.run_header import RunHeaderExporter, split_by_run
from augur_sdk.stream.client import quote
from otlp_receiver import OtlpReceiver

from support import step_record


def test_interleaved_runs_are_exported_one_run_per_request(tmp_path: Path) -> None:
    """Two runs recorded at once in one process: every export request holds one run's spans
    and carries that run's id (percent-encoded as in /runs/<id>/ paths) in the header."""
    runs = ["run/one", "run two"]
    with OtlpReceiver() as receiver:
        augur_sdk.configure(otlp_endpoint=receiver.url)
        sessions = [augur_sdk.DebugSession(run_id=r, client_name="t", out_dir=tmp_path / str(n),
                                           capture_mode=augur_sdk.CaptureMode.TRACE)
                    for n, r in enumerate(runs)]
        for session in sessions:
            session.__enter__()
        for i in range(3):
            for run, session in zip(runs, sessions, strict=True):
                session.record_step(step_record(run, i))
        for session in sessions:
            session.__exit__(None, None, None)
        provider.reset(timeout_s=10.0)  # flush
        requests = list(receiver.server.trace_requests)
    assert requests
    assert {header for header, _ in requests} == {quote(r) for r in runs}
    for header, run_ids in requests:
        assert len(run_ids) == 1 and header == quote(next(iter(run_ids))), (header, run_ids)


def test_spans_without_a_run_id_go_without_the_header() -> None:
    """A span without augur.run_id is sent in a request of its own, with no header; the
    split keeps first-seen order."""
    with OtlpReceiver() as receiver:
        otlp = resolve_otlp(Settings(otlp_endpoint=receiver.url), env={})
        assert otlp is not None
        exporter = make_otlp_exporter(otlp)
        assert isinstance(exporter, RunHeaderExporter)
        tp = TracerProvider()
        spans = []

        class Keep(SimpleSpanProcessor):
            def on_end(self, span):  # type: ignore[no-untyped-def]
                spans.append(span)

        tp.add_span_processor(Keep(exporter))
        tracer = tp.get_tracer("t")
        for attrs in ({"augur.run_id": "b"}, {}, {"augur.run_id": "a"}, {"augur.run_id": "b"}):
            tracer.start_span("s", attributes=attrs).end()
        assert list(split_by_run(spans)) == ["b", None, "a"]
        requests_before = len(receiver.server.trace_requests)
        exporter.export(spans)
        sent = receiver.server.trace_requests[requests_before:]
        exporter.shutdown()
        tp.shutdown()
    assert sorted(sent, key=str) == sorted([("b", {"b"}), (None, set()), ("a", {"a"})], key=str)
