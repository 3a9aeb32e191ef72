"""Logprobs and reasoning out of a provider's response (pure functions).

Shapes read (dicts as the providers' JSON has them, e.g. ``response.model_dump()``):

- logprobs: OpenAI Chat Completions ``choices[0].logprobs.content[]``; OpenAI Responses
  ``output[].content[].logprobs[]``; Anthropic-style ``content[].logprobs[]`` (or
  ``.logprobs.content[]``). Each entry becomes ``{token, token_id?, logprob,
  top_alternatives?}`` (``modelio.schema.json#response.logprobs``). An entry without a
  numeric ``logprob`` is skipped and counted, never fatal (augur-sdk 0.6.1 aborts the whole
  extraction on one).
- reasoning: Anthropic ``thinking`` content blocks (``thinking`` or ``text``); OpenAI
  Responses ``reasoning.summary`` (a string) and ``output[]`` items of type ``reasoning``
  with ``summary[].text``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def logprobs_from_response(response: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The canonical logprob list of ``response``; ``None`` when it carries none."""
    if not isinstance(response, Mapping):
        return None
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        block = choices[0].get("logprobs")
        if isinstance(block, Mapping) and isinstance(block.get("content"), list):
            return _entries(block["content"])
    found: list[dict[str, Any]] = []
    seen = False
    for part in _content_blocks(response):
        lp = part.get("logprobs")
        if isinstance(lp, Mapping):
            lp = lp.get("content")
        if isinstance(lp, list):
            seen = True
            found.extend(_entries(lp))
    return found if seen and found else None


def _content_blocks(response: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    content = response.get("content")
    if isinstance(content, list):
        yield from (b for b in content if isinstance(b, Mapping))
    output = response.get("output")
    if isinstance(output, list):
        for item in output:
            if isinstance(item, Mapping) and isinstance(item.get("content"), list):
                yield from (b for b in item["content"] if isinstance(b, Mapping))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _entry(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    logprob = _number(raw.get("logprob"))
    if logprob is None:
        return None
    out: dict[str, Any] = {"logprob": logprob}
    if isinstance(raw.get("token"), str):
        out["token"] = raw["token"]
    token_id = raw.get("token_id")
    if isinstance(token_id, int) and not isinstance(token_id, bool):
        out["token_id"] = token_id
    return out


def _entries(raw: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        entry = _entry(item)
        if entry is None:
            continue
        top = item.get("top_logprobs")
        if top is None:
            top = item.get("top_alternatives")
        if isinstance(top, list):
            alternatives = [a for a in (_entry(t) for t in top if isinstance(t, Mapping))
                            if a is not None]
            if alternatives:
                entry["top_alternatives"] = alternatives
        out.append(entry)
    return out


SUMMARY_SETTINGS = frozenset({"auto", "concise", "detailed", "none"})


def reasoning_from_response(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{"text", "format"}]`` of the reasoning ``response`` carries (``[]``: none)."""
    if not isinstance(response, Mapping):
        return []
    out: list[dict[str, Any]] = []
    content = response.get("content")
    for block in content if isinstance(content, list) else []:
        if isinstance(block, Mapping) and block.get("type") == "thinking":
            text = block.get("thinking") or block.get("text")
            if isinstance(text, str) and text:
                out.append({"text": text, "format": "claude_extended_thinking"})
    reasoning = response.get("reasoning")
    if isinstance(reasoning, Mapping):
        # The Responses API echoes the request's setting here ({"summary": "concise"}): a
        # setting is not reasoning. Older shapes carried the summary text itself.
        text = reasoning.get("summary") or reasoning.get("text")
        if isinstance(text, str) and text and text not in SUMMARY_SETTINGS:
            out.append({"text": text, "format": "openai_reasoning_summary"})
    output = response.get("output")
    for item in output if isinstance(output, list) else []:
        if isinstance(item, Mapping) and item.get("type") == "reasoning":
            texts = [s.get("text") for s in item.get("summary") or []
                     if isinstance(s, Mapping) and isinstance(s.get("text"), str)]
            if any(texts):
                out.append({"text": "\n\n".join(t for t in texts if t),
                            "format": "openai_reasoning_summary"})
    return out
