"""OpenAI computer use (the Responses API): a logged run into a bundle.

Read from each logged call: the ``computer_use_preview`` (or ``computer``) tool's display
size (``display_width`` / ``display_height``), the response's ``computer_call`` items (their
``action``, or ``actions`` in a batch, with ``x``/``y`` in that display's pixels; a call left
``incomplete`` is a failed step), and in the next request the ``computer_call_output`` items
with each call's screenshot (``image_url``, a data URL). Reasoning items become reasoning
records.
"""

from __future__ import annotations

from typing import Any

from augur_sdk.adapters.cua_log import Action, Result, Turn, decode_png

name = "openai"
dispatch_backend = "openai.computer_use"

ACTION_TYPES = {"click": "click", "double_click": "double_click", "drag": "drag",
                "keypress": "key", "move": "move", "screenshot": "screenshot",
                "scroll": "scroll", "type": "type", "wait": "wait"}


def _items(value: Any) -> list[dict[str, Any]]:
    return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []


def _new_items(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The input items after the last output the model produced (what this call adds)."""
    items = _items(request.get("input"))
    produced = ("computer_call", "reasoning", "function_call")
    last = max((i for i, item in enumerate(items)
                if item.get("type") in produced or item.get("role") == "assistant"),
               default=-1)
    return items[last + 1:]


def _display(request: dict[str, Any]) -> tuple[int, int] | None:
    for tool in _items(request.get("tools")):
        if str(tool.get("type", "")).startswith("computer"):
            w, h = tool.get("display_width"), tool.get("display_height")
            if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
                return w, h
    return None


def read_action(call_id: str, data: dict[str, Any], said: str) -> Action:
    """One Responses computer action (``{"type": "click", "x": .., "y": .., ...}``) in our
    vocabulary: the common action type (the provider's own name kept in
    ``params.provider_action`` when it has none), ``x``/``y`` as the point, the rest as
    parameters; also used by the integrations whose frameworks speak this format."""
    raw = str(data.get("type", ""))
    point = None
    x, y = data.get("x"), data.get("y")
    if isinstance(x, int | float) and isinstance(y, int | float) \
            and not isinstance(x, bool) and not isinstance(y, bool):
        point = (float(x), float(y))
    params = {k: v for k, v in data.items() if k not in ("type", "x", "y")}
    if raw not in ACTION_TYPES:
        params["provider_action"] = raw
    return Action(call_id, ACTION_TYPES.get(raw, raw or "unknown"), params, point, said)


def read_turn(request: dict[str, Any], response: dict[str, Any]) -> Turn:
    turn = Turn(model=str(response.get("model") or request.get("model") or ""),
                display=_display(request))
    if isinstance(response.get("model"), str):
        turn.response_model = response["model"]
    usage = response.get("usage")
    details = usage.get("output_tokens_details") if isinstance(usage, dict) else None
    if isinstance(details, dict) and isinstance(details.get("reasoning_tokens"), int):
        turn.reasoning_tokens = details["reasoning_tokens"]
    for item in _new_items(request):
        if item.get("type") == "computer_call_output":
            output = item.get("output") if isinstance(item.get("output"), dict) else {}
            assert isinstance(output, dict)
            turn.results[str(item.get("call_id", ""))] = Result(
                decode_png(output.get("image_url")))
        for part in _items(item.get("content")):
            if part.get("type") == "input_image":
                image = decode_png(part.get("image_url"))
                if image is not None:
                    turn.images.append(image)
    said = ""
    for item in _items(response.get("output")):
        if item.get("type") == "message":
            said = " ".join(str(p.get("text", "")) for p in _items(item.get("content"))
                            if p.get("type") == "output_text").strip() or said
        elif item.get("type") == "computer_call":
            call_id = str(item.get("call_id", ""))
            batch = _items(item.get("actions")) or (
                [item["action"]] if isinstance(item.get("action"), dict) else [])
            for n, data in enumerate(batch):
                last = n == len(batch) - 1
                action = read_action(call_id if last else f"{call_id}#{n}", data, said)
                turn.actions.append(action)
                if not last:  # only the batch's last action gets a screenshot back
                    turn.immediate.add(action.call_id)
            if item.get("status") == "incomplete" and batch:
                turn.incomplete.add(call_id)
    return turn


def as_message(item: dict[str, Any]) -> dict[str, Any]:
    """A Responses input item as a schema message (one with a role); also used by the
    integrations whose frameworks speak that format."""
    if isinstance(item.get("role"), str):
        return item
    role = "tool" if str(item.get("type", "")).endswith("_output") else "assistant"
    return {"role": role, "content": [item]}


def modelio(request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The call as a model-I/O record (input items as messages, usage renamed)."""
    raw_input = request.get("input")
    messages = [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) \
        else [as_message(i) for i in _items(raw_input)]
    req: dict[str, Any] = {"model": str(request.get("model") or response.get("model") or ""),
                           "messages": messages}
    if isinstance(request.get("instructions"), str):
        req["system"] = request["instructions"]
    if _items(request.get("tools")):
        req["tools"] = _items(request.get("tools"))
    params = {k: request[k] for k in ("temperature", "top_p", "max_output_tokens",
                                      "truncation", "reasoning", "previous_response_id")
              if k in request}
    if params:
        req["params"] = params
    output = _items(response.get("output"))
    text = " ".join(str(p.get("text", "")) for item in output if item.get("type") == "message"
                    for p in _items(item.get("content")) if p.get("type") == "output_text")
    res: dict[str, Any] = {"text": text.strip() or None,
                           "tool_calls": [i for i in output if i.get("type") == "computer_call"]}
    if isinstance(response.get("status"), str):
        res["stop_reason"] = response["status"]
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    counts = {ours: usage[theirs] for ours, theirs in (("prompt_tokens", "input_tokens"),
                                                       ("completion_tokens", "output_tokens"))
              if isinstance(usage.get(theirs), int)}
    details = usage.get("input_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
        counts["cache_hit_tokens"] = details["cached_tokens"]
    if counts:
        res["usage"] = counts
    return {"layer": "model", "request": req, "response": res}
