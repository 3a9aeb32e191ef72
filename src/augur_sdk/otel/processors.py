"""Span processors of ours: the bundle processor, the per-run router, the never-raise wrapper.

``SynchronousMultiSpanProcessor`` does not catch exceptions from ``on_start``/``on_end``: a
raising processor would surface in the agent's own ``span.end()``. Every processor we add to
a provider goes through :class:`SafeSpanProcessor`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from augur_sdk import _internal, codec
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.kinds.builtin import STEP
from augur_sdk.kinds.spec import RecordKind


def span_ids(span: ReadableSpan) -> dict[str, str]:
    ctx = span.context
    ids = {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}
    if span.parent is not None:
        ids["parent_span_id"] = f"{span.parent.span_id:016x}"
    return ids


class SafeSpanProcessor(SpanProcessor):
    """Runs a processor behind the internal-error gate: nothing it raises reaches the agent."""

    def __init__(self, inner: SpanProcessor, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or type(inner).__name__

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with _internal.internal_errors(f"{self.name}.on_start"):
            self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        with _internal.internal_errors(f"{self.name}.on_end"):
            self.inner.on_end(span)

    def shutdown(self) -> None:
        with _internal.internal_errors(f"{self.name}.shutdown"):
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with _internal.internal_errors(f"{self.name}.force_flush"):
            return bool(self.inner.force_flush(timeout_millis))
        return False


class BundleSpanProcessor(SpanProcessor):
    """Writes one run's bundle from its spans as they happen.

    The run span's start prepares the bundle and its end finalizes it; :meth:`on_record`
    writes each record the moment it is recorded (a step when its span starts: its
    attributes carry the whole record). Step spans stay open after
    ``record_step`` returns (so later events land on them), which is why the step file is
    written at start rather than at end.
    """

    def __init__(self, writer: BundleWriter) -> None:
        self.writer = writer
        self.manifest: dict[str, Any] | None = None
        self._last_written: tuple[dict[str, Any] | None, int] = (None, 0)

    def size_of(self, record: dict[str, Any]) -> int | None:
        """Bytes of the bundle line or file just written for ``record`` (this very object,
        the last one written): an upper bound of its compact JSON, which the stream can
        count against its byte budget without encoding the record. ``None`` otherwise."""
        last, size = self._last_written
        return size if last is record and size > 0 else None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attrs = span.attributes or {}
        if codec.record_kind(attrs) == codec.SESSION:  # the other kinds come via on_record
            self.writer.begin(codec.decode_session(attrs))
            self.writer.write_run_span_ids(span_ids(span))

    def on_record(self, kind: RecordKind, record: dict[str, Any], span: ReadableSpan | None,
                  run_span_seq: int | None = None) -> None:
        """Write a record of ``kind`` (checked, redacted, gated) where its spec says."""
        self._last_written = (None, 0)
        name = kind.name
        if name == "step":
            assert span is not None
            size = self.writer.write_step(record, span_ids(span))
        elif name == "step_iteration":
            assert span is not None
            size = self.writer.write_iteration(record, span_ids(span))
        elif name == "step_patch":
            rel = self.writer.step_file(int(record["step_index"]), str(record["step_id"]))
            if rel is None:
                return
            size = self.writer.rewrite_step(rel, record)
        elif name == "event":
            size = self.writer.append_event(record, run_span_seq=run_span_seq)
        elif name == "session":
            self.writer.update_session(record)
            return
        elif name == "modelio":  # the path the session reserved is on the chat span
            assert span is not None and span.attributes is not None
            attrs = span.attributes
            facts = {**span_ids(span), **{fact: attrs[attr] for fact, attr in
                                          MODELIO_SPAN_FACTS.items() if attr in attrs}}
            size = self.writer.write_modelio(str(attrs[MODELIO_PATH_ATTR]), record, facts)
        elif kind.bundle.embedded:
            return  # written as part of another record (the session's costs)
        else:
            size = self.writer.write_record(kind, record)
        self._last_written = (record, size)

    def on_end(self, span: ReadableSpan) -> None:
        if codec.record_kind(span.attributes) == codec.SESSION:
            self.manifest = self.writer.finish(codec.decode_session(span.attributes or {}))


MODELIO_PATH_ATTR = "augur.modelio.path"
# What a chat span has beyond its record (the call's arguments, not in the schema): kept in
# the span sidecar so that a replayed span equals the live one.
MODELIO_SPAN_FACTS = {"provider": "gen_ai.provider.name",
                      "response_model": "gen_ai.response.model",
                      "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens"}


class LiveProcessor(Protocol):
    """A consumer of one run: sees its spans start and end, and each record as it is
    recorded (one method for every kind of record)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None: ...
    def on_end(self, span: ReadableSpan) -> None: ...
    def on_record(self, kind: RecordKind, record: dict[str, Any], span: ReadableSpan | None,
                  run_span_seq: int | None = None) -> None: ...


class RunSink:
    """Everything that sees one run's spans: the bundle first, then the stream, then extras.

    The bundle processor runs first so that a slow or failing consumer after it can never
    delay or prevent the local bundle. Each consumer runs behind the internal-error gate.
    """

    def __init__(self, bundle: BundleSpanProcessor, extras: Iterable[SpanProcessor] = (),
                 stream: LiveProcessor | None = None) -> None:
        self.bundle = bundle
        self.stream = stream
        self.live: list[LiveProcessor] = [bundle] if stream is None else [bundle, stream]
        self.extras = [SafeSpanProcessor(p) for p in extras]
        # The record of the step span being started (set by the session, under its lock,
        # right before ``start_span``): consumers get it as it was encoded, not decoded back.
        self._next_step: dict[str, Any] | None = None
        self._next_kind: RecordKind = STEP

    def expect_step(self, step: dict[str, Any], kind: RecordKind = STEP) -> None:
        """The next step span started for this run carries ``step`` (already encoded on it),
        a record of ``kind`` (a step, or an iteration of one)."""
        self._next_step = step
        self._next_kind = kind

    def on_start(self, span: Span, parent_context: Context | None) -> None:
        if codec.record_kind(span.attributes) == codec.STEP:
            step, self._next_step = self._next_step, None
            kind, self._next_kind = self._next_kind, STEP
            self.on_step_filled(span, step, kind)
        else:
            for live in self.live:
                with _internal.internal_errors(f"{type(live).__name__}.on_start"):
                    live.on_start(span, parent_context)
        for proc in self.extras:
            proc.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for live in self.live:
            with _internal.internal_errors(f"{type(live).__name__}.on_end"):
                live.on_end(span)
        for proc in self.extras:
            proc.on_end(span)

    def on_step_filled(self, span: Span, step: dict[str, Any] | None = None,
                       kind: RecordKind = STEP) -> None:
        """A step span has its record (at start, or once a ``step_scope`` span is filled).
        ``step`` is the record the span's attributes were encoded from; without it, it is
        decoded from them."""
        with _internal.internal_errors("decode step"):
            attributes = span.attributes or {}
            if step is None or step.get("step_index") != attributes.get("augur.step_index"):
                step = codec.decode_step(attributes)
            self.on_record(kind, step, span)

    def on_record(self, kind: RecordKind, record: dict[str, Any],
                  span: ReadableSpan | None = None, run_span_seq: int | None = None) -> None:
        """Hand a recorded ``record`` of ``kind`` to every live consumer, the bundle first.
        ``run_span_seq``: it went on the run span as its ``augur.seq``-th record. Consumers
        must not change the record."""
        for live in self.live:
            with _internal.internal_errors(f"{type(live).__name__}.on_record({kind.name})"):
                live.on_record(kind, record, span, run_span_seq)

    def flush_extras(self, timeout_millis: int) -> None:
        for proc in self.extras:
            proc.force_flush(timeout_millis)


class RunRouter(SpanProcessor):
    """Routes each span of our private provider to the sink of the run it belongs to.

    One provider serves every session in the process; a run span is matched to its session
    by ``augur.debug_session_id``, a step span by its parent (the run span).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, RunSink] = {}
        self._by_run_span: dict[int, RunSink] = {}

    def reinit_after_fork(self) -> None:
        self._lock = threading.Lock()

    def expect_run(self, debug_session_id: str, sink: RunSink) -> None:
        with self._lock:
            self._pending[debug_session_id] = sink

    def forget_run(self, debug_session_id: str) -> None:
        with self._lock:
            self._pending.pop(debug_session_id, None)

    def _sink_for(self, span: ReadableSpan, starting: bool) -> RunSink | None:
        attrs = span.attributes or {}
        with self._lock:
            if codec.record_kind(attrs) == codec.SESSION:
                run_span_id = span.context.span_id
                if starting:
                    sink = self._pending.pop(str(attrs.get("augur.debug_session_id")), None)
                    if sink is not None:
                        self._by_run_span[run_span_id] = sink
                    return sink
                return self._by_run_span.pop(run_span_id, None)
            if span.parent is None:
                return None
            return self._by_run_span.get(span.parent.span_id)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        sink = self._sink_for(span, starting=True)
        if sink is not None:
            sink.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        sink = self._sink_for(span, starting=False)
        if sink is not None:
            sink.on_end(span)
