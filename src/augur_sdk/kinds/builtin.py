"""The SDK's own record kinds, declared once.

The session, step, decision-event and screenshot kinds are what the seed page records; the
file kinds after them (masked-screenshot records, reasoning traces) are what a bundle may
hold and ``augur serve`` receives. Their sinks have hand-tuned paths (``builtin=True``); the
spec is still the one place that says what they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from augur_sdk import gating, records
from augur_sdk.bundle import layout
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds import modelio, rules
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

# A further record at a step's index under another step_id (augur-sdk 0.6.1's iterations):
# a step span of its own, linked to the canonical step's, in steps/NNNN/<sha8>.json.
STEP_ITERATION = register(RecordKind(
    name="step_iteration",
    schema="step_trace",
    check=records.check_step,
    placement=Placement.STEP_SPAN,
    min_mode=M.METADATA,
    field_modes=gating.STEP_FIELD_MODE,
    gate=gating.gate_step,
    timestamp_field="started_at",
    # Read and validated as steps (the step kind's pattern covers steps/NNNN/*.json).
    bundle=BundleTarget(path=lambda r: layout.iteration_path(int(r["step_index"]),
                                                             str(r["step_id"])),
                        pattern=None, format=FileFormat.JSON, embedded=True),
    wire=WireRoute("PUT", "/steps/{step_index}"),
    builtin=True,
))

# A step record changed after record_step (a verdict, a score, costs...): its file is
# rewritten, the stream gets the whole record again, and the spans get the change (on the
# step span while it is open, else as an ``augur.step_amendment`` event on the run span).
STEP_PATCH = register(RecordKind(
    name="step_patch",
    schema="step_trace",
    placement=Placement.RUN_SPAN,
    min_mode=M.METADATA,
    field_modes=gating.STEP_FIELD_MODE,
    gate=gating.gate_step,
    bundle=BundleTarget(path=lambda r: layout.step_path(int(r["step_index"])),
                        pattern=None, format=FileFormat.JSON, embedded=True),
    wire=WireRoute("PUT", "/steps/{step_index}"),
    span_name="augur.step_amendment",
    builtin=True,
))

# Run-level costs as set_costs merges them: they live in the session record (trace.json,
# the manifest); the stream also gets them on their own route, as augur-sdk 0.6.1 sends them.
SESSION_COSTS = register(RecordKind(
    name="session_costs",
    schema=None,
    placement=Placement.RUN_SPAN,
    min_mode=M.METADATA,
    default_field_mode=M.METADATA,
    bundle=BundleTarget(path=lambda _r: layout.TRACE, pattern=None, format=FileFormat.JSON,
                        embedded=True),
    wire=WireRoute("PUT", "/costs"),
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
    redact=lambda policy, record: policy.apply_reasoning(record)
    if hasattr(policy, "apply_reasoning") else policy.apply(record),
    viewer_section="reasoning",
    builtin=True,
))


# A model call: the metadata class (model, parameters, usage, timings, hashes) from
# `metadata` up, its content from `model_io` up (kinds/modelio.py: the gate, the images, the
# GenAI `chat` span). Its file name carries a per-step, per-layer sequence number that only
# the session knows: the sinks take it from the chat span (`augur.modelio.path`).
MODELIO = register(RecordKind(
    name="modelio",
    schema="modelio",
    min_mode=M.METADATA,
    default_field_mode=M.METADATA,
    field_modes=modelio.FIELD_MODES,
    gate=modelio.gate,
    timestamp_field="ts",
    placement=Placement.CHILD_SPAN,
    bundle=BundleTarget(path=lambda r: layout.modelio_path(r), pattern=r"modelio/[^/]+\.json",
                        format=FileFormat.JSON),
    wire=WireRoute("POST", "/modelio/{name}"),
    viewer_section="model_io",
    span_name="chat",
    builtin=True,
))

# The ledger keeps what was touched from `metadata` up (resource and action name a system
# and an operation, as a step's action.type does); what came back and why it was aborted
# are free text (`trace`).
SIDE_EFFECT = register(RecordKind(
    name="side_effect",
    schema="side_effect",
    min_mode=M.METADATA,
    default_field_mode=M.METADATA,
    field_modes={"observed_result": M.TRACE, "abort_reason": M.TRACE,
                 "compensation_handle": M.TRACE},
    placement=Placement.CHILD_SPAN,  # the ledger's span, from declare to commit or abort
    bundle=BundleTarget(
        path=lambda r: f"side_effects/{int(r['step_index']):04d}-{r['side_effect_id']}.json",
        pattern=r"side_effects/\d+-[^/]+\.json", format=FileFormat.JSON),
    wire=WireRoute("POST", "/side-effects"),
    rule=rules.side_effect_rule,
    viewer_section="side_effects",
    builtin=True,
))

def _evaluation(name: str, verdict: Any) -> dict[str, Any]:
    """``gen_ai.evaluation.result`` attributes of a verdict."""
    attrs: dict[str, Any] = {"gen_ai.evaluation.name": name}
    if isinstance(verdict, dict):
        if isinstance(verdict.get("status"), str):
            attrs["gen_ai.evaluation.score.label"] = verdict["status"]
        score = verdict.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            attrs["gen_ai.evaluation.score.value"] = float(score)
        if isinstance(verdict.get("reason"), str):
            attrs["gen_ai.evaluation.explanation"] = verdict["reason"]
    return attrs


def _gate_outcome(record: dict[str, Any], mode: CaptureMode) -> dict[str, Any]:
    """Outcomes are metadata (scope, verdict status and score, costs, task class); the
    verdict's free text needs ``trace``."""
    verdict = record.get("verdict")
    if mode >= M.TRACE or not isinstance(verdict, dict):
        return record
    kept = {k: v for k, v in verdict.items() if k in ("status", "score")}
    return {**record, "verdict": kept}


OUTCOME = register(RecordKind(
    name="outcome",
    schema=None,  # outcome_record, checked by the rule (0.6.1's extra members: a warning)
    min_mode=M.METADATA,
    default_field_mode=M.METADATA,
    gate=_gate_outcome,
    timestamp_field="finalized_at",
    bundle=BundleTarget(path=lambda _r: "outcomes.json", pattern=r"outcomes\.json",
                        format=FileFormat.JSON_LIST, list_key="outcomes"),
    placement=Placement.SPAN_EVENT,
    span_name="gen_ai.evaluation.result",
    span_attributes=lambda r: _evaluation("augur.outcome", r.get("verdict")),
    wire=WireRoute("POST", "/outcomes"),
    rule=rules.outcome_rule,
    viewer_section="outcomes",
    builtin=True,
))

EVAL_CANDIDATE = register(RecordKind(
    name="eval_candidate",
    schema="eval_candidate",
    min_mode=M.TRACE,  # its required reason is free text
    timestamp_field="tagged_at",
    bundle=BundleTarget(path=lambda _r: "eval_candidates.json",
                        pattern=r"eval_candidates\.json", format=FileFormat.JSON_LIST,
                        list_key="candidates", unique_by="step_index"),
    wire=WireRoute("POST", "/eval-candidates"),
    viewer_section="eval_candidates",
    builtin=True,
))

FINDING = register(RecordKind(
    name="finding",
    schema="diagnostic_finding",
    min_mode=M.TRACE,  # its required summary is free text
    bundle=BundleTarget(path=lambda _r: "diagnostics/findings.json",
                        pattern=r"diagnostics/findings\.json", format=FileFormat.JSON_LIST),
    viewer_section="findings",
    builtin=True,
))

_LOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_log(value: Any) -> dict[str, Any]:
    """A log chunk: ``{"text": str, "step_index": int | None, "name": str}``; the name
    becomes a file name, so it must be a plain one."""
    record = records.check_record("log", None, value)
    if not isinstance(record.get("text"), str):
        raise TypeError(f"log.text: expected a string, got {type(record.get('text')).__name__}")
    name = record.get("name", "run")
    if not isinstance(name, str) or not _LOG_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"log.name: {name!r} must be a plain file name "
                         "(letters, digits, '.', '_', '-'; at most 64)")
    unknown = set(record) - {"text", "step_index", "name"}
    if unknown:
        raise ValueError(f"log: unknown field(s) {', '.join(sorted(unknown))}")
    return record


LOG = register(RecordKind(
    name="log",
    schema=None,
    check=check_log,
    min_mode=M.TRACE,
    bundle=BundleTarget(path=lambda r: layout.log_path(r), pattern=r"logs/[^/]+\.log",
                        format=FileFormat.TEXT),
    wire=WireRoute("POST", "/logs"),
    viewer_section="logs",
    builtin=True,
))
