"""Anthropic computer use (the Messages API): a logged run into a bundle.

Read from each logged call: the ``computer`` tool's declared display size
(``display_width_px`` / ``display_height_px`` of a ``computer_*`` tool in the request), its
``tool_use`` actions in the response (``input.action`` and ``input.coordinate``, in that
display's pixels; the newer toolset form names the action in ``name``), and in the next
request the ``tool_result`` of each action: its screenshot (a base64 image block) and
``is_error`` with its text. Thinking blocks become reasoning records.
"""

from __future__ import annotations

from typing import Any

from augur_sdk.adapters.cua_log import Action, Result, Turn, decode_png

name = "anthropic"
dispatch_backend = "anthropic.computer_use"

ACTION_TYPES = {"left_click": "click", "left_click_drag": "drag", "mouse_move": "move",
                "key": "key", "type": "type", "scroll": "scroll", "screenshot": "screenshot",
                "double_click": "double_click", "triple_click": "triple_click",
                "right_click": "right_click", "middle_click": "middle_click", "wait": "wait",
                "hold_key": "hold_key", "cursor_position": "cursor_position",
                "left_mouse_down": "mouse_down", "left_mouse_up": "mouse_up"}


def _new_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages after the last assistant turn: what this call adds to the history."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    return messages[last + 1:]


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _image(blocks: list[Any]) -> bytes | None:
    found = None
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "image":
            source = block.get("source")
            if isinstance(source, dict) and source.get("type") == "base64":
                found = decode_png(source.get("data")) or found
    return found


def _text(blocks: list[Any]) -> str:
    return " ".join(str(b.get("text", "")) for b in blocks
                    if isinstance(b, dict) and b.get("type") == "text").strip()


def _computer_tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in request.get("tools") or [] if isinstance(t, dict)
            and str(t.get("type", "")).startswith("computer_")]


def _display(request: dict[str, Any]) -> tuple[int, int] | None:
    for tool in _computer_tools(request):
        w, h = tool.get("display_width_px"), tool.get("display_height_px")
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            return w, h
    return None


def _action(block: dict[str, Any], said: str, names: set[str]) -> Action | None:
    data = block.get("input") if isinstance(block.get("input"), dict) else {}
    assert isinstance(data, dict)
    if block.get("toolset_name") == "computer":
        raw = str(block.get("name", ""))
    elif isinstance(data.get("action"), str) and (not names or block.get("name") in names):
        raw = data["action"]
    else:
        return None  # a tool of another kind
    coordinate = data.get("coordinate")
    point = None
    if isinstance(coordinate, list) and len(coordinate) == 2 and all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in coordinate):
        point = (float(coordinate[0]), float(coordinate[1]))
    params = {k: v for k, v in data.items() if k not in ("action", "coordinate")}
    if raw not in ACTION_TYPES:
        params["provider_action"] = raw
    return Action(str(block.get("id", "")), ACTION_TYPES.get(raw, raw or "unknown"), params,
                  point, said)


def read_turn(request: dict[str, Any], response: dict[str, Any]) -> Turn:
    turn = Turn(model=str(response.get("model") or request.get("model") or ""),
                display=_display(request))
    # The computer tool's names, when the request declares it: a tool_use of another tool
    # with an "action" field of its own is not a computer action.
    names = {str(t.get("name")) for t in _computer_tools(request) if t.get("name")}
    for message in _new_messages(request):
        blocks = _blocks(message)
        for block in blocks:
            if block.get("type") == "tool_result":
                content = block.get("content")
                inner = content if isinstance(content, list) else []
                error = None
                if block.get("is_error"):
                    error = _text(inner) if inner else str(content or "tool error")
                    error = error or "tool error"
                turn.results[str(block.get("tool_use_id", ""))] = Result(_image(inner), error)
        image = _image(blocks)
        if image is not None:
            turn.images.append(image)
    said = ""
    for block in response.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            said = str(block.get("text", ""))
        elif block.get("type") == "tool_use":
            action = _action(block, said, names)
            if action is not None:
                turn.actions.append(action)
    return turn


def modelio(request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The call as a model-I/O record (provider-shaped messages, usage renamed)."""
    system = request.get("system")
    if isinstance(system, list):
        system = _text(system)
    params = {k: request[k] for k in ("max_tokens", "temperature", "top_p", "top_k",
                                      "stop_sequences", "thinking", "tool_choice")
              if k in request}
    req: dict[str, Any] = {"model": str(request.get("model") or response.get("model") or "")}
    if isinstance(system, str):
        req["system"] = system
    req["messages"] = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    if isinstance(request.get("tools"), list):
        req["tools"] = [t for t in request["tools"] if isinstance(t, dict)]
    if params:
        req["params"] = params
    content = [b for b in response.get("content") or [] if isinstance(b, dict)]
    res: dict[str, Any] = {"text": _text(content) or None,
                           "tool_calls": [b for b in content if b.get("type") == "tool_use"]}
    if isinstance(response.get("stop_reason"), str):
        res["stop_reason"] = response["stop_reason"]
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    counts = {ours: usage[theirs] for ours, theirs in (
        ("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens"),
        ("cache_hit_tokens", "cache_read_input_tokens"),
        ("cache_creation_tokens", "cache_creation_input_tokens"))
        if isinstance(usage.get(theirs), int)}
    if counts:
        res["usage"] = counts
    return {"layer": "model", "request": req, "response": res}
