"""ModelApiAdapterBase where 0.6.1's is fragile: one logprob entry without a value does not
abort the extraction, and a log without started_at never writes an empty timestamp."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from augur_sdk import ModelApiAdapterBase
from augur_sdk.validation import validate_bundle


class _Adapter(ModelApiAdapterBase):
    name = "tiny"

    def iter_tool_calls(self, messages: list[dict[str, Any]],
                        ) -> Iterator[tuple[int, int, dict[str, Any]]]:
        for turn, message in enumerate(messages):
            for n, call in enumerate(message.get("tool_calls", [])):
                yield turn, n, call


def test_a_logprob_entry_without_a_value_is_skipped_not_fatal() -> None:
    """OpenAI-shaped content with one broken entry (and one broken alternative): the good
    entries come back, in order."""
    response = {"choices": [{"logprobs": {"content": [
        {"token": "Sign", "logprob": -0.1, "top_logprobs": [{"token": "Log"},
                                                            {"token": "Go", "logprob": -3.0}]},
        {"token": " in"},  # no logprob: 0.6.1 raises KeyError here and loses everything
        {"token": "!", "logprob": float("nan")},
        {"token": " now", "logprob": -0.2, "token_id": 42}]}}]}
    assert ModelApiAdapterBase.extract_logprobs_from_response(response) == [
        {"token": "Sign", "logprob": -0.1, "top_alternatives": [{"token": "Go", "logprob": -3.0}]},
        {"token": " now", "logprob": -0.2, "token_id": 42}]


def test_reasoning_of_both_providers_shapes() -> None:
    """Claude thinking blocks (``thinking`` field) and OpenAI Responses reasoning items."""
    claude = {"content": [{"type": "thinking", "thinking": "find the button", "signature": "s"},
                          {"type": "text", "text": "ok"}]}
    openai = {"output": [{"type": "reasoning", "id": "rs", "summary": [
        {"type": "summary_text", "text": "first"}, {"type": "summary_text", "text": "second"}]}]}
    assert ModelApiAdapterBase.extract_reasoning_from_response(claude) == [
        {"text": "find the button", "format": "claude_extended_thinking"}]
    assert ModelApiAdapterBase.extract_reasoning_from_response(openai) == [
        {"text": "first\n\nsecond", "format": "openai_reasoning_summary"}]


def test_a_log_without_started_at_gets_a_real_timestamp(tmp_path: Path) -> None:
    """No metadata.started_at: the steps carry the import's time (0.6.1 writes "")."""
    log = tmp_path / "messages.json"
    log.write_text(json.dumps({"messages": [{"role": "assistant", "tool_calls": [
        {"type": "click", "params": {"x": 1, "y": 2}}]}], "metadata": {"run_id": "tiny_run"}}))
    out = _Adapter().bundle_from_input(log, tmp_path / "b")
    step = json.loads((out / "steps/0000.json").read_text())
    assert step["started_at"].startswith("20") and step["started_at"].endswith("Z")
    assert validate_bundle(out) == []
