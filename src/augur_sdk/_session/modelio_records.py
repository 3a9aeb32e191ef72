"""Model calls of one run (a mixin of the recorder): file names, ``prompt_hash`` idempotency,
the byte budget, images written once, and each call as a GenAI ``chat`` span.

A call names its step; if that step's span is not open yet (real clients record a step's
model calls before ``record_step``), the call opens it, as ``step_scope`` does, and
``record_step`` fills it in. A step span a call opened whose record never comes ends at close
with ``augur.step.unfilled`` set (and a warning). Not thread-safe by itself: the session
calls it under its lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import SpanKind

from augur_sdk import _internal, codec, records
from augur_sdk._session.indexes import IndexSet
from augur_sdk._session.options import SessionOptions
from augur_sdk._session.spans import StepSpans
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds import modelio
from augur_sdk.kinds.builtin import MODELIO
from augur_sdk.otel import emit, provider
from augur_sdk.otel.processors import RunSink
from augur_sdk.redaction import RedactionPolicy
from augur_sdk.stream.processor import StreamSpanProcessor

DEFAULT_BUDGET_BYTES = 50_000_000


class ModelIORecords:
    """The model calls' half of ``Recorder`` (a mixin); the state is ``Recorder``'s."""

    opts: SessionOptions
    modelio_state: ModelIOState
    known: IndexSet
    spans: StepSpans
    mode: CaptureMode
    policy: RedactionPolicy
    public_run_id: str
    writer: BundleWriter | None
    sink: RunSink | None
    stream: StreamSpanProcessor | None
    pipeline: provider.Pipeline | None
    run_span: Span | None
    run_ctx: otel_context.Context | None

    def next_seq(self) -> int:  # pragma: no cover - Recorder defines it
        raise NotImplementedError

    def record_modelio(self, record: dict[str, Any], images: modelio.Images, *,
                       provider: str | None = None, response_model: str | None = None,
                       reasoning_tokens: int | None = None) -> str:
        """Record a checked call; return its bundle path (also when it was not written:
        capture mode off, over the budget, or a repeat of an identical call)."""
        state = self.modelio_state
        index = record.get("step_index")
        layer = str(record.get("layer", "model"))
        prompt_hash = record.get("prompt_hash")
        same_call: tuple[str, str] | None = None
        if isinstance(prompt_hash, str):  # the same call again: the same file
            same_call = (prompt_hash, modelio.content_key(record))
            if same_call in state.by_hash:
                return state.by_hash[same_call]
        seq_key = (index, layer)
        seq = state.seq.get(seq_key, 0)
        state.seq[seq_key] = seq + 1
        path = f"modelio/{modelio.file_name(index, layer, seq)}"
        if same_call is not None:
            state.by_hash[same_call] = path
        if self.run_span is None or self.mode < MODELIO.min_mode:
            return path
        with _internal.internal_errors("record_modelio"):
            # Gated first: what the mode drops is never scanned by the redaction rules.
            gated = self.policy.apply(modelio.gate(record, self.mode))
            gated.setdefault("redaction_applied", True)
            kept = {p: images[p] for p in modelio.referenced_images(gated) if p in images}
            new_images = sum(len(data) for p, (data, _t) in kept.items()
                             if p not in state.images)
            budget = self.opts.modelio_budget_bytes
            # Checked with an estimate before writing, counted with the bytes written after:
            # the budget is passed by at most the one call that crosses it.
            if budget is not None and \
                    state.bytes + new_images + modelio.approx_size(gated) > budget:
                self._over_budget(path, new_images + modelio.approx_size(gated), budget)
                return path
            for rel, (data, _media) in sorted(kept.items()):
                if not data:
                    continue  # a masked screenshot that could not be read back: not stored
                if rel not in state.images:
                    state.images.add(rel)
                    self._write_image(rel, data)
            state.bytes += new_images
            state.bytes += self._chat_span(gated, path, provider=provider,
                                           response_model=response_model,
                                           reasoning_tokens=reasoning_tokens)
        return path

    def _over_budget(self, path: str, size: int, budget: int) -> None:
        assert self.writer is not None
        self.writer.lost["modelio_over_budget"] += 1
        _internal.log_once(
            "modelio-budget", 60,
            "augur_sdk: model calls of run %r passed their byte budget (%d bytes; "
            "modelio_budget_bytes=); %s (%d bytes) and later calls over it are not written, "
            "and are counted in producer.json", self.public_run_id, budget, path, size)

    def _write_image(self, rel: str, data: bytes) -> None:
        assert self.writer is not None
        sha = rel.rsplit("/", 1)[-1].split(".", 1)[0]
        self.writer.write_blob(rel, data, sha)
        if self.stream is not None:
            self.stream.send_blob(rel, data)

    def _chat_span(self, record: dict[str, Any], path: str, *,
                   provider: str | None, response_model: str | None,
                   reasoning_tokens: int | None) -> int:
        """The call's ``chat`` span, and the call to the sinks; returns the bytes the bundle
        wrote for it (its size estimate when the bundle did not say)."""
        assert self.pipeline is not None and self.sink is not None
        end = records.iso_to_ns(record["ts"], "record.ts")
        duration = record.get("duration_ms")
        start = end - int(duration) * 1_000_000 if isinstance(duration, int) else end
        parent = self._call_parent(record.get("step_index"), start)
        attrs = modelio.chat_attributes(
            record, path=path, reasoning_tokens=reasoning_tokens,
            provider=None if provider is None else str(self.policy.apply(provider)),
            response_model=None if response_model is None
            else str(self.policy.apply(response_model)))
        attrs[codec.RECORD_KIND_ATTR] = MODELIO.name
        attrs[codec.SEQ_ATTR] = self.next_seq()
        span = self.pipeline.tracer.start_span(
            modelio.span_name(record), context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT, attributes=attrs, start_time=start)
        self.sink.on_record(MODELIO, record, span)  # type: ignore[arg-type]
        span.end(end_time=max(end, start))
        written = None if self.sink.bundle is None else self.sink.bundle.size_of(record)
        return written if written is not None else modelio.approx_size(record)

    def _call_parent(self, index: Any, start_ns: int) -> Span:
        """The span a call of step ``index`` belongs to: that step's span (opened now if the
        step has not been recorded yet), else the run span."""
        assert self.run_span is not None and self.run_ctx is not None
        assert self.pipeline is not None
        if not isinstance(index, int):
            return self.run_span
        span = self.spans.live_span(index)
        if span is not None and span.is_recording():
            return span
        if index in self.known:
            return self.run_span  # the step's span has ended: the call is late
        self.spans.end_open_step()
        span = emit.start_scope_span(self.pipeline.tracer, self.run_ctx, index, None,
                                     run_id=self.public_run_id, start_time=start_ns)
        self.spans.scopes[index] = span
        self.spans.call_scopes.add(index)
        return span


class ModelIOState:
    __slots__ = ("_masked", "by_hash", "bytes", "images", "root", "seq")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seq: dict[tuple[Any, str], int] = {}
        self.by_hash: dict[tuple[str, str], str] = {}
        self.images: set[str] = set()
        self.bytes = 0
        self._masked: dict[str, str] = {}  # sha256 of a screenshot as sent -> its masked file

    def mask(self, raw_sha256: str, path: str | None) -> None:
        """A screenshot was masked and written at ``path``: a model call that sends it as it
        was is stored with the masked bytes (read back from the bundle, not kept in memory)."""
        self._masked[raw_sha256] = path or ""

    def masked(self, sha256: str) -> bytes | None:
        """The masked PNG of a screenshot with this digest; ``None`` if it was not masked.
        A masked screenshot whose file cannot be read is never stored in its place."""
        path = self._masked.get(sha256)
        if path is None:
            return None
        try:
            return (self.root / path).read_bytes() if path else b""
        except OSError:
            return b""
