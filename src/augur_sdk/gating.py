"""Capture-mode gating (pure): which parts of a record a mode keeps.

Modes are cumulative. The same functions gate the bundle, the span attributes and the
stream, because all three are produced from the gated record.
"""

from __future__ import annotations

from typing import Any

from augur_sdk.capture import CaptureMode

# Step fields and the lowest mode that keeps them. A field not listed needs ``trace``.
_STEP_FIELD_MODE: dict[str, CaptureMode] = {
    "step_id": CaptureMode.METADATA,
    "step_index": CaptureMode.METADATA,
    "step_type": CaptureMode.METADATA,
    "status": CaptureMode.METADATA,
    "failure_class": CaptureMode.METADATA,
    "started_at": CaptureMode.METADATA,
    "ended_at": CaptureMode.METADATA,
    "duration_ms": CaptureMode.METADATA,
    "latency": CaptureMode.METADATA,
    "costs": CaptureMode.METADATA,
    "required": CaptureMode.METADATA,
    "step_iterations": CaptureMode.METADATA,
    "capture_mode": CaptureMode.METADATA,
    "action": CaptureMode.METADATA,  # reduced to its type below ``trace``
    "observation_pre": CaptureMode.SCREENSHOTS,
    "observation_post": CaptureMode.SCREENSHOTS,
}


def records_anything(mode: CaptureMode) -> bool:
    return mode > CaptureMode.OFF


def gate_step(step: dict[str, Any], mode: CaptureMode) -> dict[str, Any]:
    """Return the part of ``step`` that ``mode`` records."""
    out: dict[str, Any] = {}
    for key, value in step.items():
        if mode >= _STEP_FIELD_MODE.get(key, CaptureMode.TRACE):
            out[key] = value
    action = out.get("action")
    if isinstance(action, dict) and mode < CaptureMode.TRACE:
        out["action"] = {"type": action["type"]} if "type" in action else {}
        if not out["action"]:
            del out["action"]
    return out


def records_events(mode: CaptureMode) -> bool:
    return mode >= CaptureMode.TRACE


def records_screenshots(mode: CaptureMode) -> bool:
    return mode >= CaptureMode.SCREENSHOTS
