"""What the OpenAI Agents SDK's spans say, as plain data (no SDK import here).

The SDK's tracing hands a processor ``Span`` objects whose ``span_data`` holds, when
``trace_include_sensitive_data`` is on (its default):

* ``response`` spans (the Responses API models): ``input`` (the input items sent) and
  ``response`` (the ``openai`` ``Response``: its ``output`` items, ``model``, ``usage``);
* ``generation`` spans (chat-completions models, LiteLLM): ``input``/``output`` messages,
  ``model``, ``usage``;
* ``function`` spans named ``computer`` (one per computer call): ``input`` (the call's action,
  or a JSON list of its batched actions) and ``output`` (the screenshot the computer returned
  after it, a ``data:image/png;base64,...`` URL); a computer that raised leaves ``error`` on
  the span ({"message": "Error running tool", "data": {"error": ...}}) and no output.

These functions turn that into :class:`ObservedCall` / :class:`ObservedStep`. The action
vocabulary and the model-I/O shape are the Responses adapter's
(:mod:`augur_sdk.adapters.openai`): a run recorded live and one imported from its API log
read the same.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from augur_sdk import records
from augur_sdk.adapters import openai as responses_api
from augur_sdk.adapters.cua_log import decode_png
from augur_sdk.integrations._steps import ObservedCall, ObservedStep

COMPUTER_TOOL_NAMES = ("computer", "computer_use_preview", "computer_use")


def plain(value: Any) -> Any:
    """``value`` as JSON data: pydantic models dumped, unknown objects as their text."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            value = dump(mode="json", exclude_none=True)
        except TypeError:
            value = dump()
    return json.loads(json.dumps(value, default=lambda obj: plain(obj)
                                 if hasattr(obj, "model_dump") else str(obj)))


def duration_ms(span: Any) -> float | None:
    """How long a finished span took (its ISO-8601 ``started_at`` to ``ended_at``)."""
    try:
        started = datetime.fromisoformat(span.started_at)
        ended = datetime.fromisoformat(span.ended_at)
    except (TypeError, ValueError):
        return None
    return (ended - started).total_seconds() * 1000


def _items(value: Any) -> list[dict[str, Any]]:
    return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []


def newest_image(input_items: Any) -> bytes | None:
    """The newest screenshot in a request's input items (a computer call's output or an
    ``input_image`` part), if any."""
    found = None
    for item in _items(input_items):
        output = item.get("output")
        if item.get("type") == "computer_call_output" and isinstance(output, dict):
            found = decode_png(output.get("image_url")) or found
        for part in _items(item.get("content")):
            if part.get("type") == "input_image":
                found = decode_png(part.get("image_url")) or found
    return found


def response_call(span_data: Any) -> tuple[ObservedCall, dict[str, Any]] | None:
    """A ``response`` span as a model call, with the response as JSON data; ``None`` when the
    span carries no response (sensitive data not traced, or the call failed)."""
    response = getattr(span_data, "response", None)
    if response is None:
        return None
    answer = plain(response)
    if not isinstance(answer, dict):
        return None
    raw_input = plain(getattr(span_data, "input", None))
    request: dict[str, Any] = {"model": answer.get("model") or "", "input": raw_input}
    for key in ("instructions", "tools", "temperature", "top_p", "max_output_tokens",
                "truncation", "reasoning", "previous_response_id"):
        if answer.get(key) not in (None, [], {}):
            request[key] = answer[key]
    if not isinstance(answer.get("usage"), dict) and isinstance(
            getattr(span_data, "usage", None), dict):
        answer["usage"] = span_data.usage
    record = responses_api.modelio(request, answer)
    req, res = record["request"], record["response"]
    usage = res.get("usage") or {}
    call = ObservedCall(model=req["model"] or "unknown", messages=req["messages"],
                        system=req.get("system"), tools=req.get("tools"),
                        params=req.get("params"), text=res.get("text"),
                        tool_calls=res.get("tool_calls") or None,
                        stop_reason=res.get("stop_reason"),
                        prompt_tokens=usage.get("prompt_tokens"),
                        completion_tokens=usage.get("completion_tokens"),
                        provider="openai")
    return call, answer


def generation_call(span_data: Any) -> ObservedCall | None:
    """A ``generation`` span (chat-completions shaped) as a model call."""
    messages = plain(getattr(span_data, "input", None))
    output = _items(plain(getattr(span_data, "output", None)))
    if not isinstance(messages, list) and not output:
        return None
    text = " ".join(str(m.get("content")) for m in output
                    if isinstance(m.get("content"), str) and m.get("content")).strip()
    tool_calls = [call for m in output for call in _items(m.get("tool_calls"))]
    usage = getattr(span_data, "usage", None) or {}
    return ObservedCall(model=str(getattr(span_data, "model", None) or "unknown"),
                        messages=_items(messages), text=text or None,
                        tool_calls=tool_calls or None,
                        params=plain(getattr(span_data, "model_config", None)) or None,
                        prompt_tokens=usage.get("input_tokens"),
                        completion_tokens=usage.get("output_tokens"))


def said_and_thought(answer: dict[str, Any]) -> tuple[str, str]:
    """What a response said (its message text) and thought (its reasoning summaries)."""
    said, thought = [], []
    for item in _items(answer.get("output")):
        if item.get("type") == "message":
            said += [str(p.get("text", "")) for p in _items(item.get("content"))
                     if p.get("type") == "output_text"]
        elif item.get("type") == "reasoning":
            thought += [str(p.get("text", "")) for p in _items(item.get("summary"))]
    return " ".join(said).strip(), "\n".join(t for t in thought if t).strip()


def computer_calls(answer: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The batches of actions of a response's ``computer_call`` items, in order."""
    out = []
    for item in _items(answer.get("output")):
        if item.get("type") == "computer_call":
            batch = _items(item.get("actions")) or (
                [item["action"]] if isinstance(item.get("action"), dict) else [])
            out.append(batch)
    return out


def is_computer_span(span_data: Any) -> bool:
    return getattr(span_data, "type", None) == "function" and \
        getattr(span_data, "name", None) in COMPUTER_TOOL_NAMES


def traced_actions(span_data: Any) -> list[dict[str, Any]] | None:
    """The actions a computer span's ``input`` names (``None`` when it names none)."""
    raw = getattr(span_data, "input", None)
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else raw
    except ValueError:
        return None
    if isinstance(value, dict):
        value = [value]
    batch = _items(value)
    return batch or None


def computer_steps(actions: list[dict[str, Any]], *, post_png: bytes | None,
                   error: str | None, failure_class: str | None, started_at: str | None,
                   ended_at: str | None, intent: str, reasoning: str) -> list[ObservedStep]:
    """One step per action of a computer call (the caller pairs the screenshot the computer
    returned with the last one: the SDK takes none between a batch's actions); a call that
    raised fails each of its actions (the SDK does not say which one raised)."""
    viewport = None
    if post_png:
        try:
            width, height = records.png_dimensions(post_png)
            viewport = {"width": width, "height": height}
        except ValueError:
            viewport = None
    steps = []
    if not actions:  # the SDK traced no action (sensitive data off): the call itself
        actions = [{"type": "computer"}]
    for n, data in enumerate(actions):
        action = responses_api.read_action("", data, intent)
        params = {k: v for k, v in action.params.items()
                  if (k, v) != ("provider_action", "computer")}
        if action.point is not None:
            params["x"], params["y"] = action.point
        if viewport is not None:
            params["viewport"] = viewport
        if len(actions) > 1:
            params["batch"] = {"position": n, "size": len(actions)}
        # The Responses API's x/y are pixels of the screenshot the model was shown.
        step = ObservedStep(action_type=action.type, params=params, intent=intent,
                            coordinates=action.point, coordinate_space="screenshot_px",
                            started_at=started_at,
                            ended_at=ended_at, reasoning=(reasoning or None) if n == 0 else None,
                            reasoning_format="openai_reasoning_summary")
        if error is not None:
            step.status, step.error, step.failure_class = "failed", error, failure_class
        steps.append(step)
    return steps
