"""browser-use's objects -> :class:`ObservedStep` / :class:`ObservedCall` (plain data).

Read by duck typing (attribute names of browser-use 0.13: ``AgentHistory``,
``ActionResult``, ``DOMInteractedElement``, ``ChatInvokeCompletion``), so this module never
imports browser-use; :mod:`.browser_use` checks the version before any of it runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from augur_sdk import records
from augur_sdk.integrations._steps import ObservedCall, ObservedStep

# browser-use reports a stale or unknown element index as a note, not an error: the action
# did nothing. We record that step as failed (the action had no effect), with this class.
_NOT_AVAILABLE = re.compile(r"Element index \d+ (?:not available|not found)")
# multi_act's wrapper formats an exception as "<ExceptionClass>: <message>".
_EXCEPTION = re.compile(r"^([A-Z][A-Za-z0-9_]*(?:Error|Exception|Timeout)): ")
_CLASSES = (  # (pattern in the error text, failure class); the first match wins
    (_NOT_AVAILABLE, "element_not_available"),
    (re.compile(r"Failed to complete task in maximum steps"), "max_steps_reached"),
    (re.compile(r"site unavailable"), "site_unavailable"),
    (re.compile(r"^Navigation failed"), "navigation_failed"),
    (re.compile(r"timed out", re.I), "timeout"),
    (re.compile(r"Could not parse response|validation error", re.I), "invalid_model_output"),
    (re.compile(r"Cannot click on element with index 0"), "invalid_element_index"),
    (re.compile(r"Connection lost|browser (?:has been )?closed|disconnected", re.I),
     "browser_disconnected"),
)


def failure_class(error: str) -> str:
    """The ``browser_use.<class>`` failure class of an error text browser-use reported."""
    for pattern, name in _CLASSES:
        if pattern.search(error):
            return f"browser_use.{name}"
    found = _EXCEPTION.match(error)
    if found:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", found.group(1)).lower()
        return f"browser_use.{snake}"
    return "browser_use.action_error"


def _iso(epoch: Any) -> str | None:
    if isinstance(epoch, int | float) and epoch > 0:
        return records.ns_to_iso(int(epoch * 1_000_000_000))
    return None


def reasoning_of(output: Any) -> str | None:
    """The model's stated thinking for a turn, as browser-use's AgentOutput carries it."""
    parts = []
    for name, label in (("thinking", "Thinking"), ("evaluation_previous_goal", "Evaluation"),
                        ("memory", "Memory"), ("next_goal", "Next goal")):
        value = getattr(output, name, None)
        if isinstance(value, str) and value.strip():
            parts.append(f"{label}: {value.strip()}")
    return "\n".join(parts) or None


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _ground(step: ObservedStep, element: Any, result: Any, index: Any) -> None:
    """Where the action landed. browser-use acts on an element by index; a CDP click
    reports the point it clicked (``ActionResult.metadata``): the centre of the element's
    content quad, clamped to the viewport (CSS px of the element's client rect). That point
    is the action's ``x``/``y``; the centre of the element's DOM bounds is the grounding's
    target. Both come from the DOM, not from the screenshot: ``coordinate_space``
    ``dom_client_rect``, provenance ``dom`` (set by the caller). A click by coordinates
    (no element) keeps its executed point, in ``viewport_css_px``. The element itself
    (label, bounds, XPath) is an ``observation`` event of the step."""
    metadata = getattr(result, "metadata", None)
    point: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
    x, y = _number(point.get("click_x")), _number(point.get("click_y"))
    if x is not None and y is not None and "x" not in step.params and "y" not in step.params:
        step.params["x"], step.params["y"] = x, y
    if element is None:
        return
    bounds = getattr(element, "bounds", None)
    box = None
    if bounds is not None and bounds.width > 0 and bounds.height > 0:
        box = {"x": bounds.x, "y": bounds.y, "width": bounds.width, "height": bounds.height}
        if step.provenance == "dom":   # a click by coordinates: the model's point, not this
            step.coordinates = (round(bounds.x + bounds.width / 2, 1),
                                round(bounds.y + bounds.height / 2, 1))
    attributes = getattr(element, "attributes", None) or {}
    tag = str(getattr(element, "node_name", "") or "").lower()
    name = (getattr(element, "ax_name", None) or attributes.get("aria-label")
            or attributes.get("placeholder") or attributes.get("name") or "")
    step.target_label = f"{tag} {name!r}" if name else tag or None
    detail: dict[str, Any] = {"index": index, "tag": tag, "xpath": getattr(element, "x_path",
                                                                              None)}
    if box is not None:
        detail["bounds"] = box   # document coordinates, CSS px (browser-use's snapshot)
    step.events.append({"kind": "observation", "layer": "grounding", "detail": detail,
                        "summary": f"element [{index}] {step.target_label or tag}"})


def _label(step: ObservedStep) -> None:
    """The action's coordinate space and its grounding's provenance. browser-use addresses
    elements of its DOM snapshot (by index); every point it records for them is DOM-derived,
    in the element's client-rect CSS px: ``dom_client_rect``, provenance ``dom``. (An
    action without an element, ``navigate`` or ``done``, has no point: the same labels.)
    A click by coordinates (``coordinate_x``/``coordinate_y``) is the model reading the
    screenshot, dispatched in viewport CSS px: ``viewport_css_px``, provenance
    ``screenshot``."""
    by_coordinates = "coordinate_x" in step.params and "index" not in step.params
    step.coordinate_space = "viewport_css_px" if by_coordinates else "dom_client_rect"
    step.provenance = "screenshot" if by_coordinates else "dom"


def steps_from_history_item(item: Any) -> list[ObservedStep]:
    """One step per action of a browser-use step (``AgentHistory``); a step that failed
    before any action (the model call failed, a timeout) is one ``step_error`` step."""
    output = getattr(item, "model_output", None)
    results = list(getattr(item, "result", None) or [])
    metadata = getattr(item, "metadata", None)
    started = _iso(getattr(metadata, "step_start_time", None))
    ended = _iso(getattr(metadata, "step_end_time", None))
    state = getattr(item, "state", None)
    elements = list(getattr(state, "interacted_element", None) or [])
    url = getattr(state, "url", None)
    actions = list(getattr(output, "action", None) or []) if output is not None else []
    if not actions:
        error = next((r.error for r in results if getattr(r, "error", None)), None)
        return [ObservedStep(
            action_type="step_error", params={"page_url": url} if url else {},
            status="failed" if error else "skipped",
            failure_class=failure_class(error) if error else None, error=error,
            started_at=started, ended_at=ended)] if error or results else []
    intent = str(getattr(output, "next_goal", None) or "")
    steps = []
    for i, action in enumerate(actions):
        dumped = action.model_dump(exclude_none=True, mode="json")
        name, params = next(iter(dumped.items()), ("unknown", {}))
        step = ObservedStep(action_type=str(name),
                            params=dict(params) if isinstance(params, dict) else {},
                            intent=intent, started_at=started, ended_at=ended)
        _label(step)
        if url:
            step.params.setdefault("page_url", url)
        result = results[i] if i < len(results) else None
        _ground(step, elements[i] if i < len(elements) else None, result,
                step.params.get("index"))
        if i == 0:
            step.reasoning = reasoning_of(output)
        if result is None:  # browser-use stopped the sequence (the page changed)
            step.status = "skipped"
        else:
            _verdict(step, result)
        steps.append(step)
    return steps


def _verdict(step: ObservedStep, result: Any) -> None:
    error = getattr(result, "error", None)
    note = getattr(result, "extracted_content", None)
    if not error and isinstance(note, str) and _NOT_AVAILABLE.search(note):
        error = note
    if error:
        step.status, step.error = "failed", str(error)
        step.failure_class = failure_class(str(error))
    if getattr(result, "is_done", False):
        step.params.setdefault("success", getattr(result, "success", None))


def run_status(history: Any) -> str:
    """The run's status from browser-use's ``AgentHistoryList``: succeeded when the agent
    finished with ``done`` and did not report failure, failed otherwise."""
    if not history.is_done():
        return "failed"
    return "failed" if history.is_successful() is False else "succeeded"


def _message(message: Any) -> dict[str, Any]:
    if hasattr(message, "model_dump"):
        dumped: dict[str, Any] = message.model_dump(mode="json", exclude_none=True)
        return dumped
    return {"role": "user", "content": str(message)}


def call_from_invoke(llm: Any, messages: Any, output_format: Any, result: Any,
                     duration_ms: float) -> ObservedCall:
    """One ``ainvoke``: the messages as browser-use sent them (OpenAI-shaped parts, images
    as data URLs) and the completion (a structured output as its JSON)."""
    completion: Any = getattr(result, "completion", None)
    text: str | None = None
    if hasattr(completion, "model_dump"):
        text = json.dumps(completion.model_dump(mode="json", exclude_none=True))
    elif completion is not None:
        text = str(completion)
    usage = getattr(result, "usage", None)
    name = getattr(output_format, "__name__", None)
    return ObservedCall(
        model=str(getattr(llm, "model", "") or "unknown"),
        messages=[_message(m) for m in messages or []],
        params={"output_format": name} if name else None,
        text=text, stop_reason=getattr(result, "stop_reason", None),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        duration_ms=duration_ms, provider=getattr(llm, "provider", None),
        layer="judge" if name == "JudgementResult" else "model")


def judgement_of(history: Any) -> dict[str, Any] | None:
    """browser-use's judge verdict on the run (``use_judge``), attached to the done action's
    result after the last step, as a judge decision's verdict."""
    items = getattr(history, "history", None) or []
    results = getattr(items[-1], "result", None) or [] if items else []
    judgement = getattr(results[-1], "judgement", None) if results else None
    if judgement is None or not isinstance(getattr(judgement, "verdict", None), bool):
        return None
    reason = getattr(judgement, "failure_reason", None) or getattr(judgement, "reasoning",
                                                                  None)
    verdict: dict[str, Any] = {"status": "passed" if judgement.verdict else "failed"}
    if isinstance(reason, str) and reason.strip():
        verdict["reason"] = reason.strip()[:1000]
    return verdict
