"""The model half of ``DebugSession``'s public API (a mixin): the model's reasoning and the
agent's log lines. augur-sdk 0.6.1's names and keywords; both are written locally (0.6.1
writes logs only to a server) and redacted."""

from __future__ import annotations

import threading
from typing import Any

from augur_sdk import records
from augur_sdk._session.recorder import Recorder
from augur_sdk.kinds import builtin

REASONING_FORMATS = ("adapter_inferred", "claude_extended_thinking", "openai_reasoning_summary")


class ModelCalls:
    """Mixed into ``DebugSession``; uses its lock, its open-check and its recorder."""

    _lock: threading.RLock
    _run: Recorder

    def _require_open(self) -> None:  # pragma: no cover - DebugSession defines it
        raise NotImplementedError

    def record_reasoning(self, step_index: int | None, text: str | None = None, *,
                         tokens: int | None = None, format: str = "adapter_inferred",
                         model: str | None = None, ts: str | None = None,
                         content: str | None = None) -> dict[str, Any]:
        """Record a model's reasoning for a step (``diagnostics/reasoning.jsonl``; an event
        on the step's span). ``content=`` is taken for ``text``; a ``format`` that is not one
        of the schema's three is recorded as ``adapter_inferred``. Returns the record."""
        if text is None:
            text = content
        if not isinstance(text, str):
            raise TypeError("text: expected a string (or content=)")
        if step_index is None:
            raise ValueError("step_index: required (reasoning belongs to a step; "
                             "reasoning_trace has no run-level form)")
        record: dict[str, Any] = {
            "step_index": records.require_index(step_index, "step_index"), "text": text,
            "format": format if format in REASONING_FORMATS else "adapter_inferred",
            "ts": ts or records.utcnow_iso()}
        if tokens is not None:
            record["tokens"] = tokens
        if model is not None:
            record["model"] = model
        clean = records.check_record("reasoning", "reasoning_trace", record, "ts")
        with self._lock:
            self._require_open()
            self._run.record(builtin.REASONING, clean)
        return dict(clean)

    def append_log(self, text: str, *, step_index: int | None = None,
                   name: str = "run") -> None:
        """Append text to the run's log (``logs/<name>.log``, or ``logs/step-N.log`` for a
        step): written locally (capped per file; what is cut is counted), redacted, and
        streamed (``POST /runs/{run}/logs``)."""
        record: dict[str, Any] = {"text": text, "name": name}
        if step_index is not None:
            record["step_index"] = step_index
        clean = builtin.check_log(record)
        with self._lock:
            self._require_open()
            self._run.record(builtin.LOG, clean)
