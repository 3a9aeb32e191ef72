"""What the CUA rules share: reading a step's action and grounding, failure tests, evidence.

The rules also run against a minimal context that only has ``steps`` (augur-sdk 0.6.1's
tests do that): evidence then uses the flat layout ``steps/NNNN.json``.
"""

from __future__ import annotations

import math
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.overlay import point_fragment
from augur_sdk.viewer.summary import png_size

Evidence = dict[str, str]
LOW_CONFIDENCE = 0.5
"""Grounding confidence below which acting on the target is reported."""
SAME_POINT_PX = 2.0
"""Two click points this close are the same point."""
POINTER_ACTIONS = frozenset({"click", "double_click", "right_click", "tap", "drag",
                             "mouse_move", "hover", "scroll"})


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def index_of(step: dict[str, Any]) -> int:
    value = step.get("step_index")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def action_point(step: dict[str, Any]) -> tuple[float, float] | None:
    """The point the action was dispatched at (``action.params.x/y``, numbers only)."""
    params = as_dict(as_dict(step.get("action")).get("params"))
    x, y = number(params.get("x")), number(params.get("y"))
    return (x, y) if x is not None and y is not None else None


def target_point(step: dict[str, Any]) -> tuple[float, float] | None:
    """The grounding target (``grounding.coordinates.x/y``)."""
    coords = as_dict(as_dict(step.get("grounding")).get("coordinates"))
    x, y = number(coords.get("x")), number(coords.get("y"))
    return (x, y) if x is not None and y is not None else None


def action_signature(step: dict[str, Any]) -> tuple[Any, ...] | None:
    """What the action was, for "did the retry change anything": type and parameters, the
    point rounded to ``SAME_POINT_PX``."""
    action = step.get("action")
    if not isinstance(action, dict) or not action.get("type"):
        return None
    params = as_dict(action.get("params"))
    point = action_point(step)
    rest = tuple(sorted((k, repr(v)) for k, v in params.items() if k not in ("x", "y")))
    grid = None if point is None else (round(point[0] / SAME_POINT_PX),
                                       round(point[1] / SAME_POINT_PX))
    return (str(action.get("type")), grid, rest)


def failed(step: dict[str, Any]) -> bool:
    """The step did not do what it meant to: status failed, or a failed/recoverable verdict."""
    if step.get("status") == "failed":
        return True
    verdict = as_dict(step.get("verdict"))
    return step.get("status") != "succeeded" and verdict.get("status") in ("failed",
                                                                           "recoverable")


def step_evidence(ctx: Any, step: dict[str, Any]) -> Evidence:
    ref = ctx.step_ref(step) if isinstance(ctx, BundleContext) else \
        layout.step_path(index_of(step))
    return {"type": "step", "ref": ref}


def events_evidence(ctx: Any, index: int) -> list[Evidence]:
    """The step's events file, when there is one to point at."""
    rel = layout.events_path(index)
    if isinstance(ctx, BundleContext) and not (ctx.bundle_dir / rel).is_file():
        return []
    return [{"type": "event", "ref": rel}]


def shot(ref: str, fragment: str = "") -> Evidence:
    return {"type": "screenshot", "ref": ref + fragment}


def _positive(value: Any) -> float | None:
    n = number(value)
    if n is None and isinstance(value, str):
        try:
            n = float(value)
        except ValueError:
            return None
    return n if n is not None and n > 0 else None


def _viewport_width(ctx: BundleContext, step: dict[str, Any]) -> float | None:
    params = as_dict(as_dict(step.get("action")).get("params"))
    tags = as_dict(ctx.session.get("tags"))
    for holder in (as_dict(params.get("viewport")),
                   as_dict(as_dict(step.get("observation_pre_meta")).get("viewport"))):
        if (w := _positive(holder.get("width"))) is not None:
            return w
    text = tags.get("viewport")
    if isinstance(text, str) and "x" in text.lower():
        return _positive(text.lower().split("x", 1)[0].strip())
    return _positive(tags.get("viewport_width"))


def screenshot_scale(ctx: Any, step: dict[str, Any], image_width: int | None) -> float:
    """Screenshot pixels per unit of the action's coordinate space, as the viewer computes
    it: 1 for ``screenshot_px``/``device_px``; else the screenshot's width over the recorded
    viewport width, else a recorded device scale factor, else 1 (assumed)."""
    action = as_dict(step.get("action"))
    if action.get("coordinate_space") in ("screenshot_px", "device_px") or \
            not isinstance(ctx, BundleContext):
        return 1.0
    width = _viewport_width(ctx, step)
    if width is not None and image_width:
        return image_width / width
    params = as_dict(action.get("params"))
    tags = as_dict(ctx.session.get("tags"))
    for value in (as_dict(params.get("viewport")).get("device_scale_factor"),
                  params.get("device_scale_factor"), params.get("dpr"),
                  tags.get("device_scale_factor"), tags.get("dpr")):
        if (k := _positive(value)) is not None:
            return k
    return 1.0


def on_screenshot(ctx: Any, step: dict[str, Any], point: tuple[float, float],
                  image_width: int | None) -> tuple[float, float]:
    k = screenshot_scale(ctx, step, image_width)
    return (round(point[0] * k, 1), round(point[1] * k, 1))


def point_on(ctx: Any, step: dict[str, Any], point: tuple[float, float] | None,
             kind: str = "pre") -> list[Evidence]:
    """The step's screenshot with a point marked (``#xywh=x,y,0,0``, screenshot pixels), if
    both exist."""
    if point is None or not isinstance(ctx, BundleContext):
        return []
    ref = ctx.screenshot_ref(step, kind)
    if ref is None:
        return []
    size = png_size(ctx.bundle_dir / ref)
    return [shot(ref, point_fragment(*on_screenshot(ctx, step, point,
                                                    size[0] if size else None)))]


def fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def pt(point: tuple[float, float]) -> str:
    return f"({fmt(point[0])}, {fmt(point[1])})"


def report(ctx: Any, r: Any, rule: Any, step: dict[str, Any], *, summary: str,
           evidence: list[Evidence] | tuple[Evidence, ...] = (),
           recommendation: str | None = None) -> None:
    """A finding of ``rule`` on ``step``: the step's file first in its evidence."""
    r.emit(rule_id=rule.rule_id, severity=rule.severity, summary=summary,
           evidence=[step_evidence(ctx, step), *evidence], step_index=index_of(step),
           recommendation=recommendation)
