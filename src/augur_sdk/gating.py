"""Capture-mode gating (pure): which parts of a record a mode keeps.

Modes are cumulative. The same functions gate the bundle, the span attributes and the
stream, because all three are produced from the one gated record. Which field needs which
mode is declared by field type in the tables below (and in each record kind's spec);
``docs/capture-modes.md`` is generated from them.
"""

from __future__ import annotations

from typing import Any

from augur_sdk.capture import CaptureMode

M = CaptureMode

# Step fields and the lowest mode that keeps them, by field type (``docs/capture-modes.md``
# is generated from this table): ids, numbers, booleans, enums, timestamps and hashes are
# ``metadata``; other strings, coordinates and params ``trace`` (the default); prompts
# ``model_io``; screenshot references ``screenshots``. A dotted path names a member of an
# object, ``[]`` each item of a list; a path not listed takes its nearest listed ancestor's
# mode, else ``trace``.
STEP_FIELD_MODE: dict[str, CaptureMode] = {
    **dict.fromkeys((
        "step_id", "step_index", "step_iterations", "step_type", "status", "failure_class",
        "required", "capture_mode", "started_at", "ended_at", "duration_ms", "latency", "costs",
        "loop_detected", "group_id", "verdict_source", "action.type",
        "verdict.status", "verdict.score", "verdict.score_components", "verdict.comparator",
        "verdict.should_stop", "verdict.uncertainty",
        "judge_decisions[].judge_id", "judge_decisions[].judge_type",
        "judge_decisions[].verdict.status", "judge_decisions[].verdict.score",
        "judge_decisions[].confidence", "judge_decisions[].judged_at",
        "subgoals_completed[].subgoal_id", "subgoals_completed[].completion",
        "subgoals_completed[].first_completed_at_step",
        "branch_context.parent_run_id", "branch_context.branch_point_step_index",
        "branch_context.branch_id", "branch_context.mutated_axis",
        "captured_versions.model", "captured_versions.prompt_hash",
        "captured_versions.tool_descriptions_hash", "captured_versions.env_fingerprint_ref",
        "captured_versions.code_git_sha", "captured_versions.grounder",
        "env_fingerprint.viewport_hash", "env_fingerprint.dom_hash",
    ), M.METADATA),
    "captured_versions.prompt": M.MODEL_IO,
    "observation_pre": M.SCREENSHOTS,
    "observation_post": M.SCREENSHOTS,
}

# Decision-event layers that need more than ``trace``.
EVENT_LAYER_MODE: dict[str, CaptureMode] = {"dispatch": M.DISPATCH}
EVENT_DETAIL_MODE: dict[str, CaptureMode] = {"model": M.MODEL_IO}


class FieldModes:
    """A table of dotted field paths and the lowest mode that keeps each, compiled for
    gating: :meth:`gate` keeps what a mode records, containers holding only what it keeps
    (a container left empty is left out)."""

    def __init__(self, table: dict[str, CaptureMode], default: CaptureMode = M.TRACE) -> None:
        self.table = dict(table)
        self.default = default
        self.top = max([default, *table.values()])  # from this mode on, nothing is gated
        # The lowest mode that keeps anything under each path (itself or a descendant), and
        # the highest mode something under it needs (below it, the path is not kept whole).
        self._reach: dict[str, CaptureMode] = {}
        self._peak: dict[str, CaptureMode] = {}
        for path, mode in table.items():
            parts = path.replace("[]", "").split(".")
            for i in range(1, len(parts) + 1):
                head = ".".join(parts[:i])
                self._reach[head] = min(self._reach.get(head, mode), mode)
                self._peak[head] = max(self._peak.get(head, mode), mode)
        self._own = {path.replace("[]", ""): mode for path, mode in table.items()}

    def mode_of(self, path: str) -> CaptureMode:
        """The lowest mode that records the whole of ``path`` (its own or its ancestor's)."""
        parts = path.replace("[]", "").split(".")
        for i in range(len(parts), 0, -1):
            own = self._own.get(".".join(parts[:i]))
            if own is not None:
                return own
        return self.default

    def gate(self, record: dict[str, Any], mode: CaptureMode) -> dict[str, Any]:
        if mode >= self.top:
            return record
        return self._gate_object(record, "", mode, self.default)

    def _gate_object(self, obj: dict[str, Any], prefix: str, mode: CaptureMode,
                     inherited: CaptureMode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            path = f"{prefix}{key}"
            own = self._own.get(path, inherited)
            if mode >= own and mode >= self._peak.get(path, own):
                out[key] = value  # the whole field (and all under it)
                continue
            if mode < self._reach.get(path, own):
                continue  # nothing under it is recorded at this mode
            kept = self._gate_value(value, path, mode, own)
            if kept not in (None, {}, []):
                out[key] = kept
        return out

    def _gate_value(self, value: Any, path: str, mode: CaptureMode,
                    inherited: CaptureMode) -> Any:
        if isinstance(value, dict):
            return self._gate_object(value, path + ".", mode, inherited)
        if isinstance(value, list):
            items = [self._gate_value(item, path, mode, inherited) for item in value]
            return [item for item in items if item not in (None, {}, [])]
        return None  # a scalar that needs a higher mode


STEP_FIELDS = FieldModes(STEP_FIELD_MODE)


def records_anything(mode: CaptureMode) -> bool:
    return mode > M.OFF


def gate_step(step: dict[str, Any], mode: CaptureMode) -> dict[str, Any]:
    """Return the part of ``step`` that ``mode`` records."""
    return STEP_FIELDS.gate(step, mode)


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
