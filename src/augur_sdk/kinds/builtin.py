"""The SDK's own record kinds, declared once.

The session, step, decision-event and screenshot kinds are what the seed page records; the
file kinds after them (masked-screenshot records, reasoning traces) are what a bundle may
hold and ``augur serve`` receives. Their sinks have hand-tuned paths (``builtin=True``); the
spec is still the one place that says what they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from augur_sdk import gating, records
from augur_sdk.bundle import layout
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds import rules
from augur_sdk.kinds.registry import register
from augur_sdk.kinds.spec import BundleTarget, FileFormat, Placement, RecordKind, WireRoute

M = CaptureMode


def events_body(event: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"events": [event]}
    if event.get("step_index") is not None:
        body["step_index"] = event["step_index"]
    return body


SESSION = register(RecordKind(
    name="session",
    schema="debug_session",
    placement=Placement.RUN_SPAN,
    min_mode=M.METADATA,
    default_field_mode=M.METADATA,
    timestamp_field="started_at",
    # The session record is the ``session`` member of trace.json (checked with it).
    bundle=BundleTarget(path=lambda _r: layout.TRACE, pattern=None, format=FileFormat.JSON),
    wire=WireRoute("PUT", "/session"),
    viewer_section="session",
    builtin=True,
))

STEP = register(RecordKind(
    name="step",
    schema="step_trace",
    check=records.check_step,
    placement=Placement.STEP_SPAN,
    min_mode=M.METADATA,
    field_modes=gating.STEP_FIELD_MODE,
    gate=gating.gate_step,
    timestamp_field="started_at",
    bundle=BundleTarget(path=lambda r: layout.step_path(int(r["step_index"])),
                        pattern=r"steps/\d+(/[^/]+)?\.json", format=FileFormat.JSON),
    wire=WireRoute("PUT", "/steps/{step_index}"),
    rule=rules.step_rule,
    viewer_section="steps",
    builtin=True,
))

EVENT = register(RecordKind(
    name="event",
    schema="decision_event",
    check=records.check_event,
    placement=Placement.SPAN_EVENT,
    min_mode=M.TRACE,
    gate=gating.gate_event,
    timestamp_field="ts",
    span_name="augur.decision_event",
    bundle=BundleTarget(path=lambda r: layout.events_path(r.get("step_index")),
                        pattern=r"events/(?!reasoning\.jsonl$)[^/]+\.jsonl"),
    wire=WireRoute("POST", "/events", body=events_body),
    rule=rules.event_rule,
    viewer_section="events",
    builtin=True,
))

OBSERVATION = register(RecordKind(
    name="observation",
    schema=None,
    placement=Placement.NONE,  # on the step span only as path, sha256, size, dimensions
    min_mode=M.SCREENSHOTS,
    default_field_mode=M.SCREENSHOTS,
    bundle=BundleTarget(
        path=lambda r: layout.screenshot_path(int(r["step_index"]), str(r["kind"])),
        pattern=r"screenshots/\d+_(pre|post)\.png", format=FileFormat.PNG),
    wire=WireRoute("POST", "/screenshots/{step_index}/{kind}"),
    viewer_section="screenshots",
    builtin=True,
))

MASKED_OBSERVATION = register(RecordKind(
    name="observation_record",
    schema="observation",
    placement=Placement.NONE,
    min_mode=M.SCREENSHOTS,
    default_field_mode=M.SCREENSHOTS,
    bundle=BundleTarget(path=lambda r: str(r["artifact"])[: -len(".png")] + ".json",
                        pattern=r"screenshots/\d+_(pre|post)\.json", format=FileFormat.JSON),
    builtin=True,
))

REASONING = register(RecordKind(
    name="reasoning",
    schema="reasoning_trace",
    min_mode=M.TRACE,
    timestamp_field="ts",
    # augur-sdk 0.6.1 writes events/reasoning.jsonl; we write diagnostics/ (every other
    # events/*.jsonl holds decision events). Both are read and validated.
    bundle=BundleTarget(path=lambda _r: "diagnostics/reasoning.jsonl",
                        pattern=r"(events|diagnostics)/reasoning\.jsonl"),
    wire=WireRoute("POST", "/reasoning"),
    viewer_section="reasoning",
    builtin=True,
))
