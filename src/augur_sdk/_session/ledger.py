"""The side-effect ledger of one run: what the agent was about to do to the world.

A declaration is on disk (``side_effects/NNNN-<id>.json``, written atomically) before
``declare_side_effect`` returns, so a SIGKILL between declare and commit leaves the intent in
the bundle; each state change rewrites that file. Each side effect is a span from declare to
commit or abort (ERROR with the abort reason). Only pending side effects are held in memory
(plus the ids of settled ones, to refuse a second commit); a side effect still pending at
close stays ``intent_only`` and is listed as unsettled in ``producer.json``.
Not thread-safe by itself: the session calls it under its lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import SpanKind, StatusCode

from augur_sdk import _internal, codec
from augur_sdk._session.spans import StepSpans
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds.builtin import SIDE_EFFECT
from augur_sdk.otel import provider
from augur_sdk.otel.processors import RunSink
from augur_sdk.records import iso_to_ns
from augur_sdk.redaction import RedactionPolicy

REVERSIBILITY = ("irreversible", "reversible", "compensated")
PROVENANCE = ("sdk_declared", "adapter_inferred", "human_declared")
SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_side_effect_id(value: Any, method: str) -> str:
    """An id becomes a file name: letters, digits, ``_ . -``, not starting with a dot."""
    if not isinstance(value, str) or not SAFE_ID.fullmatch(value) or ".." in value:
        raise ValueError(f"{method}: side_effect_id {value!r} must be 1-128 characters of "
                         "A-Z a-z 0-9 _ . - (a file name), not starting with '.'")
    return value


@dataclass
class Pending:
    record: dict[str, Any]  # as declared (unredacted: redacted whenever it is written)
    span: Span | None


@dataclass
class Ledger:
    pending: dict[str, Pending] = field(default_factory=dict)
    settled: dict[str, str] = field(default_factory=dict)  # id -> committed / aborted

    def state(self, sid: str) -> str | None:
        if sid in self.pending:
            return "intent_only"
        return self.settled.get(sid)


def start_span(tracer: trace.Tracer, parent: Span, record: dict[str, Any]) -> Span:
    """The side effect's span, from its declaration (named by its action and resource)."""
    attrs = {"gen_ai.operation.name": "execute_tool", codec.RECORD_KIND_ATTR: "side_effect",
             "augur.step_index": int(record["step_index"]),
             **codec.encode_record("side_effect", record)}
    span: Span = tracer.start_span(  # type: ignore[assignment]
        f"side_effect {record.get('action', '')}", context=trace.set_span_in_context(parent),
        kind=SpanKind.INTERNAL, attributes=attrs,
        start_time=iso_to_ns(record["declared_at"], "declared_at"))
    return span


def end_span(span: Span, record: dict[str, Any]) -> None:
    span.set_attributes(codec.encode_record("side_effect", record))
    if record.get("status") == "aborted":
        span.set_status(StatusCode.ERROR, str(record.get("abort_reason") or "aborted"))
    stamp = record.get("committed_at") or record.get("aborted_at")
    span.end(end_time=iso_to_ns(stamp, "settled_at") if isinstance(stamp, str) else None)


class LedgerRecords:
    """The ledger's half of ``Recorder`` (a mixin); the state is ``Recorder``'s."""

    ledger: Ledger
    sink: RunSink | None
    spans: StepSpans
    mode: CaptureMode
    policy: RedactionPolicy
    pipeline: provider.Pipeline | None
    run_span: Span | None

    def _stored(self, index: int, step_id: str | None = None,
                ) -> dict[str, Any] | None:  # pragma: no cover - StepRecords defines it
        raise NotImplementedError

    # ── the side-effect ledger ──────────────────────────────────────────────

    def declare(self, record: dict[str, Any]) -> None:
        """A new side effect, intent_only: on disk, streamed, and its span started."""
        sid = record["side_effect_id"]
        if self.ledger.state(sid) is not None:
            raise ValueError(f"declare_side_effect: side_effect_id={sid!r} is already declared")
        known = self._stored(int(record["step_index"]))
        if known is not None and isinstance(known.get("step_id"), str):
            record["step_id"] = known["step_id"]  # linked when the step is recorded already
        pending = Pending(record, None)
        self.ledger.pending[sid] = pending
        if self.run_span is None or self.mode < SIDE_EFFECT.min_mode or self.pipeline is None:
            return
        with _internal.internal_errors("declare_side_effect"):
            public = self._public_side_effect(record)
            if public is None:
                return
            parent = self.spans.live_span(record["step_index"]) or self.run_span
            pending.span = start_span(self.pipeline.tracer, parent, public)
            assert self.sink is not None
            self.sink.on_record(SIDE_EFFECT, public, pending.span)

    def settle(self, method: str, sid: str, status: str, changes: dict[str, Any]) -> None:
        """Commit or abort a pending side effect (its file rewritten, its span ended)."""
        state = self.ledger.state(sid)
        if state is None:
            raise ValueError(f"{method}: unknown side_effect_id={sid!r}. Declare it first via "
                             "declare_side_effect().")
        if state != "intent_only":
            raise ValueError(f"{method}: side_effect_id={sid!r} is already {state!r}")
        pending = self.ledger.pending.pop(sid)
        self.ledger.settled[sid] = status
        record = {**pending.record, **changes, "status": status}
        if self.run_span is None or self.mode < SIDE_EFFECT.min_mode:
            return
        with _internal.internal_errors(method):
            public = self._public_side_effect(record)
            if public is None:
                return
            assert self.sink is not None
            self.sink.on_record(SIDE_EFFECT, public, pending.span or self.run_span)
            if pending.span is not None:
                end_span(pending.span, public)

    def _public_side_effect(self, record: dict[str, Any]) -> dict[str, Any] | None:
        public = SIDE_EFFECT.gate_record(self.policy.apply(record), self.mode)
        if public is not None and public.get("side_effect_id") != record["side_effect_id"]:
            public["side_effect_id"] = record["side_effect_id"]  # checked: a plain file name
        return public

    def unsettled(self) -> list[str]:
        """Side effects still pending: at close they stay intent_only, listed, and their
        spans end (without an ERROR: nothing says they failed)."""
        ids = sorted(self.ledger.pending)
        for sid in ids:
            span = self.ledger.pending[sid].span
            if span is not None and span.end_time is None:
                with _internal.internal_errors("unsettled side effect"):
                    span.set_attribute("augur.side_effect.unsettled", True)
                    span.end()
        return ids
