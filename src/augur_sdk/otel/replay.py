"""``augur export-otlp``: send a recorded bundle's run, steps, events and model calls to a
collector later.

For runs recorded offline or while the collector was down. The spans are built by the same
code as a live run (:mod:`augur_sdk.otel.emit`) and, when the bundle's ``otel/spans.jsonl``
is there, they reuse the recorded trace and span ids: the replayed spans are the ones the
live run would have sent, nested under the same app span, and the step links in the bundle
stay valid.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

from augur_sdk import codec, records
from augur_sdk.bundle import layout
from augur_sdk.bundle.writer import MODELIO_SPAN, RUN_EVENT, sha256_hex
from augur_sdk.kinds import modelio
from augur_sdk.otel import emit
from augur_sdk.otel.provider import SPAN_LIMITS


class ReplayError(Exception):
    """The bundle cannot be replayed (says why)."""


class RecordedIds(IdGenerator):
    """Hands out the recorded span ids in creation order, then random ones."""

    def __init__(self, trace_id: int | None, span_ids: Sequence[int]) -> None:
        self._trace_id = trace_id
        self._span_ids = deque(span_ids)
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return self._span_ids.popleft() if self._span_ids else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return self._trace_id if self._trace_id is not None else \
            self._random.generate_trace_id()


class CountingExporter(SpanExporter):
    """Wraps an exporter and counts the spans it delivered or failed to deliver."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.sent = 0
        self.failed = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


@dataclass
class ReplayResult:
    steps: int
    events: int
    spans: int
    model_calls: int
    sent: int
    failed: int
    trace_id: str


def _load_bundle(root: Path) -> tuple[dict[str, Any], str]:
    trace_path = root / layout.TRACE
    if trace_path.is_file():
        session = json.loads(trace_path.read_text(encoding="utf-8"))["session"]
    elif (root / layout.LIVE).is_file():
        raise ReplayError(f"{root}: unfinished bundle; run `augur recover {root}` first")
    else:
        raise ReplayError(f"{root}: no trace.json; not an Augur bundle")
    manifest = json.loads((root / layout.MANIFEST).read_text(encoding="utf-8"))
    policy = str(manifest.get("redaction", {}).get("policy_id", "unknown"))
    return session, policy


@dataclass
class _Sidecar:
    """What ``otel/spans.jsonl`` recorded: the span ids, and which events of a step went on
    the run span (recorded while their step's span was not open)."""

    run: dict[str, Any] | None = None
    steps: dict[int, dict[str, Any]] = field(default_factory=dict)
    # (step_index or None, line in its events file) -> augur.seq, for events on the run span
    run_events: dict[tuple[int | None, int], int] = field(default_factory=dict)
    # a model call's file -> its chat span's ids and facts, in recording order
    modelio: dict[str, dict[str, Any]] = field(default_factory=dict)


def _read_sidecar(root: Path) -> _Sidecar:
    found = _Sidecar()
    path = root / layout.SPANS_SIDECAR
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        kind, index = entry.get("kind"), entry.get("step_index")
        if kind == "run":
            found.run = entry
        elif kind == "step" and isinstance(index, int):
            found.steps[index] = entry  # a re-recorded step: the last one wins
        elif kind == MODELIO_SPAN and isinstance(entry.get("path"), str):
            found.modelio[entry["path"]] = entry
        elif kind == RUN_EVENT and isinstance(entry.get("line"), int) and \
                isinstance(entry.get("seq"), int) and isinstance(index, int | None):
            found.run_events[(index, entry["line"])] = entry["seq"]
    return found


def _observation_facts(root: Path, step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}
    for kind in ("pre", "post"):
        ref = step.get(f"observation_{kind}")
        if isinstance(ref, str) and (root / ref).is_file():
            data = (root / ref).read_bytes()
            width, height = records.png_dimensions(data)
            facts[kind] = {"path": ref, "sha256": sha256_hex(data), "bytes": len(data),
                           "width": width, "height": height}
    return facts


def _read_events(root: Path, rel: str) -> list[dict[str, Any]]:
    path = root / rel
    if not path.is_file():
        return []
    out = []
    for line in path.read_bytes().split(b"\n"):
        if line.strip():
            out.append(json.loads(line))
    return out


def _model_calls(root: Path, sidecar: _Sidecar) -> list[tuple[str, dict[str, Any]]]:
    """The model calls' files: those the sidecar names first, in recording order, then any
    other (a bundle written before the sidecar kept them, or by a server) by name."""
    folder = root / "modelio"
    found = {f"modelio/{p.name}" for p in folder.glob("*.json")} if folder.is_dir() else set()
    ordered = [rel for rel in sidecar.modelio if rel in found]
    ordered += sorted(found.difference(ordered))
    calls = []
    for rel in ordered:
        try:
            record = json.loads((root / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("ts"), str):
            calls.append((rel, record))
    return calls


def _chat_span(tracer: trace.Tracer, parent: Span, rel: str, record: dict[str, Any],
               facts: dict[str, Any], seq: int) -> None:
    """A model call's ``chat`` span, as the live run made it (kinds/modelio.py)."""
    end = records.iso_to_ns(record["ts"], f"{rel}: ts")
    duration = record.get("duration_ms")
    start = end - int(duration) * 1_000_000 if isinstance(duration, int) else end
    provider, model = facts.get("provider"), facts.get("response_model")
    tokens = facts.get("reasoning_tokens")
    attrs = modelio.chat_attributes(
        record, path=rel, provider=provider if isinstance(provider, str) else None,
        response_model=model if isinstance(model, str) else None,
        reasoning_tokens=tokens if isinstance(tokens, int) else None)
    attrs[codec.RECORD_KIND_ATTR] = "modelio"
    attrs[codec.SEQ_ATTR] = seq
    span = tracer.start_span(modelio.span_name(record), context=trace.set_span_in_context(parent),
                             kind=SpanKind.CLIENT, attributes=attrs, start_time=start)
    span.end(end_time=max(end, start))


def replay_bundle(
    bundle: str | Path,
    exporter: SpanExporter,
    *,
    service_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 30.0,
) -> ReplayResult:
    """Build the run's spans from the bundle and export them; return what was sent."""
    root = Path(bundle)
    session, policy_id = _load_bundle(root)
    sidecar = _read_sidecar(root)
    run_ids, step_ids = sidecar.run, sidecar.steps
    step_files = sorted((root / "steps").glob("*.json")) if (root / "steps").is_dir() else []
    steps = [json.loads(p.read_text(encoding="utf-8")) for p in step_files]
    steps.sort(key=lambda s: s["step_index"])

    calls = _model_calls(root, sidecar)

    trace_id = int(run_ids["trace_id"], 16) if run_ids else None
    ordered_span_ids: list[int] = []
    if run_ids:
        ordered_span_ids.append(int(run_ids["span_id"], 16))
        for step in steps:
            recorded = step_ids.get(step["step_index"])
            if recorded is None:
                ordered_span_ids = ordered_span_ids[:1]  # ids no longer line up: stop reusing
                break
            ordered_span_ids.append(int(recorded["span_id"], 16))
        if len(ordered_span_ids) == len(steps) + 1:  # then the chat spans, made after them
            for rel, _record in calls:
                if rel not in sidecar.modelio:
                    break
                ordered_span_ids.append(int(sidecar.modelio[rel]["span_id"], 16))
    counting = CountingExporter(exporter)
    resource = Resource.create({"service.name": service_name or session["client"]["name"]})
    provider = TracerProvider(sampler=ALWAYS_ON, span_limits=SPAN_LIMITS, resource=resource,
                              shutdown_on_exit=False,
                              id_generator=RecordedIds(trace_id, ordered_span_ids))
    provider.add_span_processor(BatchSpanProcessor(counting, max_export_batch_size=128,
                                                   schedule_delay_millis=200))
    tracer = provider.get_tracer("augur_sdk")

    parent = None
    if run_ids and run_ids.get("parent_span_id"):
        parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(
            trace_id=int(run_ids["trace_id"], 16), span_id=int(run_ids["parent_span_id"], 16),
            is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))))
    run_span = emit.start_run_span(tracer, session, parent, policy_id)
    run_ctx = trace.set_span_in_context(run_span)
    seq = 0
    n_events = 0
    step_spans: dict[int, Span] = {}  # the API's Span: what start_step_span returns
    # Events the live run put on the run span: run-level ones, and a step's events that
    # arrived while its span was not open. They go on in recording order (the sidecar's
    # seq; a bundle without those lines: every run-level event, in file order).
    on_run: list[tuple[int, int, dict[str, Any]]] = []
    for line, event in enumerate(_read_events(root, layout.events_path(None))):
        on_run.append((sidecar.run_events.get((None, line), 1 << 62), len(on_run), event))
    for done, step in enumerate(steps, start=1):
        seq += 1
        index = step["step_index"]
        span, end = emit.start_step_span(tracer, run_ctx, step, run_id=session["run_id"],
                                         seq=seq, observations=_observation_facts(root, step))
        for line, event in enumerate(_read_events(root, layout.events_path(index))):
            if (index, line) in sidecar.run_events:
                on_run.append((sidecar.run_events[(index, line)], len(on_run), event))
                continue
            seq += 1
            n_events += 1
            emit.add_event(span, event, seq)
        span.end(end_time=end)
        step_spans[index] = span
        if progress is not None:
            progress(done, len(steps))
    # A call goes under the span it was under live (its sidecar line's parent: the run span
    # for a call that came after its step's span ended); without that line, under its
    # step's span, or the run span for a run-level call.
    recorded_parents: dict[str, Span] = {}
    if run_ids:
        recorded_parents[str(run_ids["span_id"])] = run_span
    for step_index, step_span in step_spans.items():
        if step_index in step_ids:
            recorded_parents[str(step_ids[step_index]["span_id"])] = step_span
    for rel, record in calls:
        facts = sidecar.modelio.get(rel, {})
        call_step = record.get("step_index")
        call_parent = recorded_parents.get(str(facts.get("parent_span_id")))
        if call_parent is None:
            call_parent = step_spans.get(call_step, run_span) \
                if isinstance(call_step, int) else run_span
        seq += 1
        _chat_span(tracer, call_parent, rel, record, facts, seq)
    on_run.sort(key=lambda item: item[:2])
    for _seq, _n, event in on_run:
        seq += 1
        n_events += 1
        emit.add_event(run_span, event, seq)
    emit.end_run_span(run_span, session)
    provider.force_flush(int(timeout_s * 1000))
    provider.shutdown()
    return ReplayResult(steps=len(steps), events=n_events, model_calls=len(calls),
                        spans=len(steps) + len(calls) + 1,
                        sent=counting.sent, failed=counting.failed,
                        trace_id=f"{run_span.get_span_context().trace_id:032x}")


def text_progress(stream: TextIO = sys.stderr, width: int = 30) -> Callable[[int, int], None]:
    """A one-line progress bar for long bundles."""

    def show(done: int, total: int) -> None:
        filled = width * done // max(total, 1)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} steps")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show
