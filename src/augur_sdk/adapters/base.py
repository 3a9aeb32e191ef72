"""``ModelApiAdapterBase``: augur-sdk 0.6.1's scaffolding for adapters that turn a message log
(plus sidecar screenshots) into a bundle. A subclass implements :meth:`iter_tool_calls`; the
base runs the session, finds the screenshots and builds each step.

Differences from 0.6.1, on purpose: a step's ``started_at`` is the log's ``started_at`` or
the time of the import, never ``""`` (an invalid timestamp 0.6.1 writes when the metadata has
none); the response readers skip one bad logprob entry instead of failing the whole list.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from augur_sdk import records
from augur_sdk.adapters import extract
from augur_sdk.capture import CaptureMode


class ModelApiAdapterBase:
    """Base of the adapters that read a model API's message log into Augur records."""

    name: str = ""
    SUPPORTED_SCHEMA_RANGE: tuple[str, str] = ("0.1", "0.1")
    screenshot_filename_template: str = "{step_index:04d}_{kind}.png"

    @abstractmethod
    def iter_tool_calls(self, messages: list[dict[str, Any]],
                        ) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """``(turn index, tool call index, action)`` per tool call, in dispatch order;
        ``action`` has the step schema's shape (``type``, ``params``, ``coordinate_space``,
        ``dispatch_backend``)."""
        raise NotImplementedError

    def load_messages(self, input_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """``(messages, metadata)`` of a JSON file ``{"messages": [...], "metadata": {...}}``."""
        data = json.loads(input_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{input_path}: expected a JSON object with 'messages'")
        messages, metadata = data.get("messages", []), data.get("metadata", {})
        if not isinstance(messages, list) or not isinstance(metadata, dict):
            raise ValueError(f"{input_path}: 'messages' must be a list, 'metadata' an object")
        return messages, metadata

    def find_screenshot(self, screens_dir: Path, step_index: int, kind: str) -> Path | None:
        """The sidecar screenshot of a step (``<screens_dir>/NNNN_<kind>.png``), if any."""
        path = screens_dir / self.screenshot_filename_template.format(
            step_index=step_index, kind=kind)
        return path if path.is_file() else None

    def grounding_provider(self) -> str:
        return self.name or "model-api"

    def bundle_from_input(self, input_path: Path | str, output_dir: Path | str, *,
                          screens_dir: Path | str | None = None, run_id: str | None = None,
                          capture_mode: CaptureMode | str = CaptureMode.FULL) -> Path:
        """Write the bundle of one message log (a JSON file, or the first ``*.json`` of a
        directory) to ``output_dir``; screenshots from ``screens_dir`` (default: ``screens/``
        next to the log)."""
        from augur_sdk.session import DebugSession

        path, out = Path(input_path), Path(output_dir)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise FileNotFoundError(f"{self.name}: no .json found under {path}")
            path = found[0]
        screens = path.parent / "screens" if screens_dir is None else Path(screens_dir)
        messages, metadata = self.load_messages(path)
        rid = run_id or metadata.get("run_id") or metadata.get("session_id") or path.stem
        started = metadata.get("started_at")
        started = started if isinstance(started, str) and started else records.utcnow_iso()
        raw_tags = metadata.get("tags")
        tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
        with DebugSession(run_id=str(rid), client_name=self.name or "model-api",
                          client_version=str(metadata.get("client_version") or "0.1.0"),
                          capture_mode=capture_mode, out_dir=out, started_at=started,
                          tags={"adapter": self.name or "model-api", **tags}, dsn="") as session:
            for index, (turn, _call, action) in enumerate(self.iter_tool_calls(messages)):
                shots = {}
                for kind in ("pre", "post"):
                    shot = self.find_screenshot(screens, index, kind)
                    shots[kind] = None if shot is None else session.attach_observation(
                        step_index=index, kind=kind, png_bytes=shot.read_bytes())
                session.record_step({
                    "step_id": f"{rid}/step/{index:04d}", "step_index": index,
                    "step_type": str(action.get("type", "noop")),
                    "intent": self._intent_from_turn(messages, turn), "required": True,
                    "status": "succeeded", "started_at": started,
                    "observation_pre": shots["pre"], "observation_post": shots["post"],
                    "action": dict(action),
                    "grounding": {"provider": self.grounding_provider(),
                                  "provenance": "screenshot"},
                    "verdict": {"status": "unknown", "reason": "no native verifier"},
                })
        return out

    @staticmethod
    def extract_logprobs_from_response(
            response: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The canonical ``response.logprobs`` list of a provider response (``None``: none);
        an entry without a numeric logprob is skipped, not fatal."""
        return extract.logprobs_from_response(response)

    @staticmethod
    def extract_reasoning_from_response(response: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``[{"text", "format"}]`` of the reasoning a provider response carries."""
        return extract.reasoning_from_response(response)

    def _intent_from_turn(self, messages: list[dict[str, Any]], turn: int) -> str:
        """The first text of the turn that made the call (at most 120 characters)."""
        if not 0 <= turn < len(messages) or not isinstance(messages[turn], dict):
            return ""
        content = messages[turn].get("content")
        if isinstance(content, str):
            return content[:120]
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "text":
                return str(block.get("text", ""))[:120]
        return ""
