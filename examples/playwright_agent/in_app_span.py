"""The demo agent run inside an app's own trace, as a web service or a job runner would run it.

The app has its own OpenTelemetry setup (a TracerProvider set as the global one); a request
span ``POST /jobs/{id}`` is current when the session starts, and during one step the app's
model client makes a call, traced by the app as ``chat demo-model`` with GenAI attributes.

* Our run span (``invoke_agent ...``) becomes a child of ``POST /jobs/{id}``, in the app's
  trace: the bundle's ``otel/spans.jsonl`` records the app's trace id and span id.
* The app's own spans stay in the app's pipeline; ours go to the bundle (and over OTLP when
  an endpoint is set). Pass ``--share-spans`` to route ours through the app's pipeline too,
  as ``augur_sdk.configure(span_processors=[...])`` does for Logfire, Langfuse or Phoenix.
* The model span is created by the app while the step is in progress, so its parent is the
  span current in the app at that moment (the job span); the step's ``model`` decision event
  carries the model span's ids, so the step and the call link up.

Run:  python examples/playwright_agent/in_app_span.py [--share-spans] [--spans-json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent import DemoModel, Model, ModelReply
from demo import check_requirements, print_next_steps, run_demo
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

import augur_sdk
from augur_sdk import CaptureMode

JOB_ID = "42"


class TracedModel:
    """The app's model client: every call is a ``chat <model>`` span of the app's tracer."""

    def __init__(self, inner: Model, tracer: Tracer) -> None:
        self.inner, self.tracer, self.name = inner, tracer, inner.name

    def complete(self, prompt: str, options: list[str]) -> ModelReply:
        with self.tracer.start_as_current_span(
            f"chat {self.name}", kind=SpanKind.CLIENT,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "demo",
                        "gen_ai.request.model": self.name},
        ) as span:
            reply = self.inner.complete(prompt, options)
            span.set_attribute("gen_ai.response.model", self.name)
            span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            span.set_attribute("gen_ai.usage.input_tokens", reply.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", reply.output_tokens)
            ctx = span.get_span_context()
        reply.meta.update(otel_trace_id=f"{ctx.trace_id:032x}", otel_span_id=f"{ctx.span_id:016x}")
        return reply


def app_tracer_provider(memory: InMemorySpanExporter) -> TracerProvider:
    """What the app already has: its own provider, exporting wherever the app exports."""
    provider = TracerProvider(resource=Resource.create({"service.name": "demo-job-runner"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
                OTLPSpanExporter,
            )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


# ── printing the joined trace ────────────────────────────────────────────────────────────────

def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1e9)


def span_rows(spans: list[ReadableSpan]) -> list[dict[str, Any]]:
    rows = []
    for s in spans:
        ctx = s.get_span_context()
        assert ctx is not None
        attributes = dict(s.attributes or {})
        call_id = str(attributes.get("gen_ai.tool.call.id", ""))  # our step spans: the step id
        rows.append({
            "name": s.name, "scope": s.instrumentation_scope.name if s.instrumentation_scope
            else "", "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
            "parent_span_id": f"{s.parent.span_id:016x}" if s.parent else None,
            "start_ns": s.start_time, "end_ns": s.end_time, "attributes": attributes,
            "step_index": int(call_id.rsplit("/", 1)[1]) if "/step/" in call_id else None,
        })
    return rows


def bundle_rows(bundle: Path) -> list[dict[str, Any]]:
    """Our spans as the bundle records them: ids from otel/spans.jsonl, names from the steps."""
    trace_doc = json.loads((bundle / "trace.json").read_text())
    steps = {s["step_index"]: s for s in trace_doc["steps"]}
    client = trace_doc["session"]["client"]["name"]
    rows = []
    for line in (bundle / "otel" / "spans.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] == "run":
            name, start, end = f"invoke_agent {client}", trace_doc["session"]["started_at"], None
        else:
            step = steps[rec["step_index"]]
            name, start, end = (f"execute_tool {step['step_type']}", step["started_at"],
                                step["ended_at"])
        rows.append({"name": name, "scope": "augur_sdk",
                     "trace_id": rec["trace_id"], "span_id": rec["span_id"],
                     "parent_span_id": rec.get("parent_span_id"), "start_ns": _ns(start),
                     "end_ns": _ns(end) if end else None, "step_index": rec.get("step_index")})
    return rows


def print_tree(rows: list[dict[str, Any]]) -> None:
    by_id = {r["span_id"]: r for r in rows}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        parent = r["parent_span_id"] if r["parent_span_id"] in by_id else None
        children.setdefault(parent, []).append(r)
    steps = [r for r in rows if r.get("step_index") is not None and r.get("end_ns")]

    def note(r: dict[str, Any]) -> str:
        if r.get("step_index") is not None:
            return f"  step {r['step_index']}"
        if not r["name"].startswith("chat "):
            return ""
        during = [s["step_index"] for s in steps if s["start_ns"] <= r["start_ns"] <= s[
            "end_ns"]]
        return f"  (during step {during[0]})" if during else ""

    def walk(parent: str | None, prefix: str) -> None:
        kids = sorted(children.get(parent, []), key=lambda r: r["start_ns"])
        for n, r in enumerate(kids):
            last = n == len(kids) - 1
            print(f"{prefix}{'└── ' if last else '├── '}{r['name']}{note(r)}  [{r['scope']}]")
            walk(r["span_id"], prefix + ("    " if last else "│   "))

    for root in sorted(children.get(None, []), key=lambda r: r["start_ns"]):
        print(f"trace {root['trace_id']}")
        print(f"{root['name']}  [{root['scope']}]")
        walk(root["span_id"], "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--share-spans", action="store_true",
                        help="also send augur_sdk's spans through the app's span processor")
    parser.add_argument("--spans-json", type=Path,
                        help="write every span the app's pipeline saw to this JSON file")
    args = parser.parse_args(argv)
    if not check_requirements():
        return 2

    memory = InMemorySpanExporter()
    provider = app_tracer_provider(memory)
    trace.set_tracer_provider(provider)  # the app's setup, not ours: augur_sdk never does this
    if args.share_spans:
        augur_sdk.configure(span_processors=[SimpleSpanProcessor(memory)])
    tracer = trace.get_tracer("demo-job-runner")

    out_base = os.environ.get("AUGUR_OUT", "augur-runs")
    mode = os.environ.get("AUGUR_CAPTURE_MODE") or CaptureMode.MODEL_IO  # keep model details
    print(f"job {JOB_ID}: recording a Playwright agent run inside the app's span ...", flush=True)
    with tracer.start_as_current_span(
        "POST /jobs/{id}", kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": "/jobs/{id}",
                    "url.path": f"/jobs/{JOB_ID}", "job.id": JOB_ID},
    ) as job_span:
        run_id, bundle = run_demo(out_base=out_base, model=TracedModel(DemoModel(), tracer),
                                  capture_mode=mode, tags={"job_id": JOB_ID}, nest_steps=True)
        job_span.set_attribute("augur.run_id", run_id)  # the app notes which run it started
    provider.shutdown()  # the app flushes its own pipeline

    app_spans = span_rows(list(memory.get_finished_spans()))
    if args.spans_json:
        args.spans_json.write_text(json.dumps(app_spans, indent=2, default=list) + "\n")
    seen = {r["span_id"] for r in app_spans}
    ours = [r for r in bundle_rows(Path(bundle)) if r["span_id"] not in seen]
    print("\nthe app's spans (its own exporter)" + (
        f" joined with ours (ids from {bundle}/otel/spans.jsonl):" if ours else
        " with ours, shared through augur_sdk.configure(span_processors=[...]):"))
    print_tree(app_spans + ours)
    print_next_steps(bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
