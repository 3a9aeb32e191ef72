"""Turning (already checked, redacted and gated) records into spans: shared by the live
session and by ``augur export-otlp``, so a replayed bundle has the live span structure."""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import SpanKind, StatusCode

from augur_sdk import codec, records
from augur_sdk.redaction import RedactionPolicy


def start_run_span(tracer: trace.Tracer, session: dict[str, Any], parent: Context | None,
                   policy_id: str, links: Sequence[trace.Link] = ()) -> Span:
    attrs = codec.run_attributes(session)
    attrs["augur.redaction.policy_id"] = policy_id
    span = tracer.start_span(
        codec.run_span_name(session["client"]["name"]), context=parent,
        kind=SpanKind.INTERNAL, attributes=attrs,
        start_time=records.iso_to_ns(session["started_at"], "started_at"),
        links=list(links) or None,
    )
    return span  # type: ignore[return-value]


def end_run_span(span: Span, session: Mapping[str, Any]) -> None:
    for key in ("status", "ended_at"):
        if key in session:
            span.set_attribute(f"augur.session.{key}", session[key])
    if session.get("status") in ("failed", "halted"):
        span.set_status(StatusCode.ERROR, f"run {session['status']}")
    ended = session.get("ended_at")
    span.end(end_time=records.iso_to_ns(ended, "ended_at") if isinstance(ended, str) else None)


def step_times(step: Mapping[str, Any]) -> tuple[int, int]:
    """(start, end) in ns: ``ended_at``, else start + ``duration_ms``, else start."""
    start = records.iso_to_ns(step["started_at"], "step.started_at")
    if isinstance(step.get("ended_at"), str):
        end = records.iso_to_ns(step["ended_at"], "step.ended_at")
    elif isinstance(step.get("duration_ms"), int):
        end = start + step["duration_ms"] * 1_000_000
    else:
        end = start
    return start, max(start, end)


def start_step_span(tracer: trace.Tracer, run_ctx: Context, step: dict[str, Any], *,
                    run_id: str, seq: int,
                    observations: Mapping[str, Mapping[str, Any]] | None = None,
                    links: Sequence[trace.Link] = (),
                    ) -> tuple[Span, int]:
    """Start a step's span (left open for later events); return it and its end time."""
    start, end = step_times(step)
    attrs = codec.step_attributes(step, run_id=run_id, seq=seq, observations=observations)
    span: Span = tracer.start_span(  # type: ignore[assignment]
        codec.step_span_name(step), context=run_ctx, kind=SpanKind.INTERNAL,
        attributes=attrs, start_time=start, links=list(links) or None,
    )
    description = codec.step_error_description(step)
    if description is not None:  # ERROR only, never OK first: OK is sticky
        span.set_status(StatusCode.ERROR, description)
    verdict = codec.verdict_event_attributes(step)
    if verdict is not None:
        span.add_event(codec.VERDICT_EVENT_NAME, verdict, timestamp=end)
    return span, end


def amend_open_step(span: Span, step: Mapping[str, Any], fields: Mapping[str, Any], *,
                    run_id: str) -> None:
    """A patch to the step whose span is still open: its attributes carry the new record
    (and a changed verdict or judge decision is a ``gen_ai.evaluation.result`` event)."""
    attrs = codec.step_attributes(step, run_id=run_id, seq=0)
    attrs.pop(codec.SEQ_ATTR, None)  # the span keeps its place in the recording order
    span.set_attributes(attrs)
    description = codec.step_error_description(step)
    if description is not None:
        span.set_status(StatusCode.ERROR, description)
    for event in codec.evaluation_events(fields):
        span.add_event(codec.VERDICT_EVENT_NAME, event)


def add_amendment(run_span: Span, name: str, step_index: int, step_id: str,
                  fields: Mapping[str, Any], seq: int) -> None:
    """A patch to a step whose span has ended: an event on the run span naming the step and
    carrying the changed fields (``augur export-otlp`` and a rebuilt bundle apply it)."""
    attrs: dict[str, Any] = {codec.SEQ_ATTR: seq, "augur.step_index": step_index,
                             "augur.step_id": step_id}
    attrs.update(codec.encode_record(codec.STEP, fields))
    run_span.add_event(name, attrs)
    for event in codec.evaluation_events(fields):
        run_span.add_event(codec.VERDICT_EVENT_NAME, {**event, "augur.step_index": step_index})


SCOPE = "step_scope"


def start_scope_span(tracer: trace.Tracer, run_ctx: Context, step_index: int,
                     step_type: str | None, *, run_id: str,
                     start_time: int | None = None) -> Span:
    """A step span opened before its record exists (see ``DebugSession.step_scope``; a
    model call of a step not recorded yet opens it too)."""
    span: Span = tracer.start_span(  # type: ignore[assignment]
        codec.step_span_name({"step_type": step_type or "step"}), context=run_ctx,
        kind=SpanKind.INTERNAL, start_time=start_time,
        attributes={"gen_ai.operation.name": "execute_tool", codec.RECORD_KIND_ATTR: SCOPE,
                    "augur.run_id": run_id, "augur.step_index": step_index},
    )
    return span


def fill_step_span(span: Span, step: dict[str, Any], *, run_id: str, seq: int,
                   observations: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """Give a scope span its step record; return the record's end time (ns)."""
    _start, end = step_times(step)
    span.update_name(codec.step_span_name(step))
    span.set_attributes(codec.step_attributes(step, run_id=run_id, seq=seq,
                                              observations=observations))
    description = codec.step_error_description(step)
    if description is not None:
        span.set_status(StatusCode.ERROR, description)
    verdict = codec.verdict_event_attributes(step)
    if verdict is not None:
        span.add_event(codec.VERDICT_EVENT_NAME, verdict, timestamp=end)
    return end


def add_event(span: Span, event: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """Add a decision event to ``span``; return the attributes used."""
    attrs = codec.event_attributes(event, seq=seq)
    span.add_event(codec.EVENT_NAME, attrs, timestamp=records.iso_to_ns(event["ts"], "event.ts"))
    return attrs


def add_exception_event(span: Span, exc: BaseException, policy: RedactionPolicy, *,
                        with_text: bool) -> None:
    """The OTel ``exception`` event, redacted: ``Span.record_exception`` would put the raw
    message and traceback on the span. Below ``trace`` mode only the type is kept (the
    message is free failure text)."""
    attrs: dict[str, str | bool] = {"exception.type": type(exc).__qualname__,
                                    "exception.escaped": True}
    if with_text:
        attrs["exception.message"] = policy.redact_string(str(exc))
        attrs["exception.stacktrace"] = policy.redact_string(
            "".join(traceback.format_exception(exc)))
    span.add_event("exception", attrs)
