"""The model half of ``DebugSession``'s public API (a mixin): model calls, the model's
reasoning and the agent's log lines. augur-sdk 0.6.1's names and keywords; all are written
locally (0.6.1 writes logs only to a server, model calls only at close) and redacted."""

from __future__ import annotations

import threading
from typing import Any

from augur_sdk import records
from augur_sdk._session.recorder import Recorder
from augur_sdk.kinds import builtin, modelio

REASONING_FORMATS = ("adapter_inferred", "claude_extended_thinking", "openai_reasoning_summary")


class ModelCalls:
    """Mixed into ``DebugSession``; uses its lock, its open-check and its recorder."""

    _lock: threading.RLock
    _run: Recorder
    capture_logprobs: bool

    def _require_open(self) -> None:  # pragma: no cover - DebugSession defines it
        raise NotImplementedError

    def record_modelio(self, record: dict[str, Any], *, step_index: int | None = None,
                       layer: str | None = None, validate: bool = True,
                       provider: str | None = None, response_model: str | None = None,
                       reasoning_tokens: int | None = None) -> str:
        """Record one model call; return its bundle path (``modelio/NNNN-<layer>-<seq>.json``,
        ``modelio/run-<layer>-<seq>.json`` without a step), on disk when this returns.

        ``record`` follows augur-schema's model-I/O schema (checked unless
        ``validate=False``) and is never changed. ``layer`` is stamped if the record has
        none. The same ``prompt_hash`` with the same content (but ``ts``) returns the first
        call's path and writes nothing. Below ``model_io`` only the metadata class is kept
        (model, parameters, usage, timings, hashes); from ``model_io`` up the messages and
        response too, redacted, base64 images written once under ``modelio/images/``.
        Each call is a ``chat {model}`` span under its step's span (GenAI conventions);
        ``provider``, ``response_model`` and ``reasoning_tokens`` go on that span only (the
        schema has no place for them). A call of a step not recorded yet opens that step's
        span; ``record_step`` fills it.
        """
        clean = modelio.check_modelio(record, step_index=step_index, layer=layer,
                                      validate=validate,
                                      capture_logprobs=self.capture_logprobs)
        if reasoning_tokens is not None:
            records.require_index(reasoning_tokens, "reasoning_tokens")
        for name, value in (("provider", provider), ("response_model", response_model)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name}: expected a string, got {type(value).__name__}")
        images = modelio.extract_images(clean, self._run.modelio_state.masked)
        with self._lock:
            self._require_open()
            path = self._run.record_modelio(clean, images, provider=provider,
                                            response_model=response_model,
                                            reasoning_tokens=reasoning_tokens)
            self._stamp_versions(clean)
        return path

    def _stamp_versions(self, record: dict[str, Any]) -> None:
        """The model and prompt hash of a step's call go into its ``captured_versions``
        (now if the step is recorded, else when it is)."""
        index = record.get("step_index")
        request = record.get("request")
        versions = {}
        if isinstance(request, dict) and isinstance(request.get("model"), str):
            versions["model"] = request["model"]
        if isinstance(record.get("prompt_hash"), str):
            versions["prompt_hash"] = record["prompt_hash"]
        if not isinstance(index, int) or not versions:
            return
        if index in self._run.known:
            self._run.patch_step("record_modelio", index, lambda step: {
                "captured_versions": {**(step.get("captured_versions") or {}), **versions}})
        else:
            self._run.pending_versions.setdefault(index, {}).update(versions)

    def record_reasoning(self, step_index: int | None, text: str | None = None, *,
                         tokens: int | None = None, format: str = "adapter_inferred",
                         model: str | None = None, ts: str | None = None,
                         content: str | None = None) -> dict[str, Any]:
        """Record a model's reasoning for a step (``diagnostics/reasoning.jsonl``; an event
        on the step's span). ``content=`` is taken for ``text``; a ``format`` that is not one
        of the schema's three is recorded as ``adapter_inferred``, the tag itself going on the
        span event as ``augur.reasoning.tag``. The policy's reasoning redactors
        (``add_reasoning_redactor``) run on the text. Returns the record."""
        if text is None:
            text = content
        if not isinstance(format, str):
            raise TypeError(f"format: expected a string, got {type(format).__name__}")
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
        tag = None if format in REASONING_FORMATS else {"augur.reasoning.tag": str(format)}
        with self._lock:
            self._require_open()
            self._run.record(builtin.REASONING, clean, tag)
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
