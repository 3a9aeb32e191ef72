"""Capture-mode gating (pure): which parts of a record a mode keeps.

Modes are cumulative. The same functions gate the bundle, the span attributes and the
stream, because all three are produced from the one gated record. The table, also in
``docs/capture-modes.md``:

=============  ==============================================================================
mode           adds
=============  ==============================================================================
off            the manifest envelope only; no spans, no stream
metadata       step ids, index, type, status, failure class, timings (started/ended/duration,
               latency), costs, ``action.type``; the run span and one span per step
trace          intent, action params / coordinate space / dispatch backend, grounding,
               verdict, recovery, judge decisions, subgoals; decision events (all layers
               but ``dispatch``; ``model``-layer events without their ``detail``)
screenshots    ``observation_pre/post`` and the PNG files
video          video references (no recording call yet; nothing more today)
model_io       the ``detail`` of ``model``-layer decision events (prompts, responses)
dispatch       ``dispatch``-layer decision events (input dispatch, retries, post-checks)
replay         ``env_fingerprint`` and ``captured_versions`` on steps
full           everything
=============  ==============================================================================
"""

from __future__ import annotations

from typing import Any

from augur_sdk.capture import CaptureMode

M = CaptureMode

# Step fields and the lowest mode that keeps them. A field not listed needs ``trace``.
STEP_FIELD_MODE: dict[str, CaptureMode] = {
    "step_id": M.METADATA,
    "step_index": M.METADATA,
    "step_type": M.METADATA,
    "status": M.METADATA,
    "failure_class": M.METADATA,
    "started_at": M.METADATA,
    "ended_at": M.METADATA,
    "duration_ms": M.METADATA,
    "latency": M.METADATA,
    "costs": M.METADATA,
    "required": M.METADATA,
    "step_iterations": M.METADATA,
    "capture_mode": M.METADATA,
    "action": M.METADATA,  # reduced to its type below ``trace``
    "observation_pre": M.SCREENSHOTS,
    "observation_post": M.SCREENSHOTS,
    "env_fingerprint": M.REPLAY,
    "captured_versions": M.REPLAY,
}

# Decision-event layers that need more than ``trace``.
EVENT_LAYER_MODE: dict[str, CaptureMode] = {"dispatch": M.DISPATCH}
EVENT_DETAIL_MODE: dict[str, CaptureMode] = {"model": M.MODEL_IO}


def records_anything(mode: CaptureMode) -> bool:
    return mode > M.OFF


def gate_step(step: dict[str, Any], mode: CaptureMode) -> dict[str, Any]:
    """Return the part of ``step`` that ``mode`` records."""
    out = {k: v for k, v in step.items() if mode >= STEP_FIELD_MODE.get(k, M.TRACE)}
    action = out.get("action")
    if isinstance(action, dict) and mode < M.TRACE:
        if "type" in action:
            out["action"] = {"type": action["type"]}
        else:
            del out["action"]
    return out


def gate_event(event: dict[str, Any], mode: CaptureMode) -> dict[str, Any] | None:
    """Return the part of a decision event that ``mode`` records, or None for none of it."""
    if mode < M.TRACE:
        return None
    layer = str(event.get("layer", ""))
    if mode < EVENT_LAYER_MODE.get(layer, M.TRACE):
        return None
    if "detail" in event and mode < EVENT_DETAIL_MODE.get(layer, M.TRACE):
        return {k: v for k, v in event.items() if k != "detail"}
    return event


def records_events(mode: CaptureMode) -> bool:
    return mode >= M.TRACE


def records_screenshots(mode: CaptureMode) -> bool:
    return mode >= M.SCREENSHOTS
