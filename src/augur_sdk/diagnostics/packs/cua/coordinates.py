"""Where the action went: outside the screen, far from its target, on a DOM-derived or
low-confidence target, in a coordinate space its grounding does not share."""

from __future__ import annotations

import math
from typing import Any

from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import RuleResult, rule
from augur_sdk.diagnostics.packs.cua.common import (
    LOW_CONFIDENCE,
    action_point,
    as_dict,
    index_of,
    number,
    on_screenshot,
    point_on,
    pt,
    report,
    step_evidence,
    target_point,
)
from augur_sdk.viewer.summary import FAR_PX, png_size

PIXEL_SPACES = ("viewport_css_px", "screenshot_px", "device_px")


@rule("cua.click_outside_viewport", severity="high", needs="trace", cause_rank=10)
def click_outside_viewport(ctx: BundleContext, r: RuleResult) -> None:
    """The action's point is outside the screen: the viewport the observation declares, else
    the pre screenshot's size (at a device scale of 1 or more, a point beyond the image is
    beyond the viewport)."""
    rid = click_outside_viewport.rule_id
    for step in ctx.steps:
        point = action_point(step)
        space = as_dict(step.get("action")).get("coordinate_space")
        if point is None or space not in PIXEL_SPACES:
            continue
        size, in_pixels = _viewport(ctx, step)
        if size is None:
            r.not_evaluable(rid, "no viewport size and no pre screenshot", index_of(step))
            continue
        w, h = size
        x, y = on_screenshot(ctx, step, point, w) if in_pixels else point
        if 0 <= x <= w and 0 <= y <= h:
            continue
        idx = index_of(step)
        r.emit(rule_id=rid, severity=click_outside_viewport.severity,
               summary=f"Step {idx}: the action at {pt(point)} is outside the {w}x{h} screen.",
               evidence=[step_evidence(ctx, step)], step_index=idx,
               recommendation="Check the coordinate_space label and the scaling between the "
                              "grounding model's image and the screen (device pixel ratio, "
                              "resized screenshots).")


def _viewport(ctx: BundleContext, step: dict[str, Any],
              ) -> tuple[tuple[int, int] | None, bool]:
    """The screen's size, and whether it is the screenshot's (pixels: the point is scaled
    to them) rather than the recorded viewport's (the action's own units)."""
    meta = as_dict(as_dict(step.get("observation_pre_meta")).get("viewport"))
    w, h = number(meta.get("width")), number(meta.get("height"))
    if w is not None and h is not None:
        return (int(w), int(h)), False
    ref = ctx.screenshot_ref(step, "pre")
    return (png_size(ctx.bundle_dir / ref) if ref is not None else None), True


@rule("cua.coordinate_space_mismatch", severity="high", needs="trace", cause_rank=30)
def coordinate_space_mismatch(ctx: BundleContext, r: RuleResult) -> None:
    """The grounding came from the DOM while the action is in viewport CSS pixels."""
    for step in ctx.steps:
        space = as_dict(step.get("action")).get("coordinate_space")
        if as_dict(step.get("grounding")).get("provenance") != "dom" or \
                space != "viewport_css_px":
            continue
        idx = index_of(step)
        report(ctx, r, coordinate_space_mismatch, step,
               summary=f"Step {idx}: the target came from the DOM, the action is in "
                       "viewport CSS px: two coordinate systems meet without a conversion.",
               recommendation="Keep DOM probes for diagnosis; ground the action on the "
                              "screenshot, or label the provenance truthfully.")


@rule("cua.dom_used_as_runtime_target", severity="high", needs="trace", cause_rank=20)
def dom_used_as_runtime_target(ctx: BundleContext, r: RuleResult) -> None:
    """A DOM-derived target was clicked: the grounding provenance is ``dom`` and the action
    carries numeric x/y. A CUA acts on what the screenshot shows; DOM probes only check."""
    for step in ctx.steps:
        if as_dict(step.get("grounding")).get("provenance") != "dom":
            continue
        point = action_point(step)
        if point is None:
            continue
        idx = index_of(step)
        report(ctx, r, dom_used_as_runtime_target, step,
               summary=f"Step {idx}: the click target {pt(point)} came from the DOM "
                       "(grounding.provenance 'dom'), not from the screenshot.",
               recommendation="Dispatch on the pixel grounder's output. If a DOM target is "
                              "deliberate for this step, record its provenance as 'human' "
                              "or 'replay' so the override is visible.")


@rule("cua.click_far_from_grounding", severity="medium", needs="trace", cause_rank=25)
def click_far_from_grounding(ctx: BundleContext, r: RuleResult) -> None:
    """The action's point is more than ``FAR_PX`` from the grounding target, both in the
    action's coordinate space (a drifting dispatcher, a scale applied twice)."""
    for step in ctx.steps:
        click, target = action_point(step), target_point(step)
        if click is None or target is None:
            continue
        dist = math.hypot(click[0] - target[0], click[1] - target[1])
        if dist <= FAR_PX:
            continue
        idx = index_of(step)
        space = as_dict(step.get("action")).get("coordinate_space") or "unlabelled space"
        report(ctx, r, click_far_from_grounding, step,
               summary=f"Step {idx}: the click at {pt(click)} is {dist:.1f} px from the "
                       f"grounding target {pt(target)} ({space}).",
               evidence=[*point_on(ctx, step, click), *point_on(ctx, step, target)],
               recommendation="Compare the dispatcher's point with the grounding output: an "
                              "offset or a scale between them (device pixel ratio, window "
                              "origin) moves every click.")


@rule("cua.low_confidence_grounding", severity="medium", needs="trace", cause_rank=35)
def low_confidence_grounding(ctx: BundleContext, r: RuleResult) -> None:
    """The agent acted on a target its grounding gave a confidence below ``LOW_CONFIDENCE``."""
    for step in ctx.steps:
        conf = number(as_dict(step.get("grounding")).get("confidence"))
        action = as_dict(step.get("action"))
        if conf is None or conf >= LOW_CONFIDENCE or not action.get("type"):
            continue
        idx = index_of(step)
        click = action_point(step)
        report(ctx, r, low_confidence_grounding, step,
               summary=f"Step {idx}: acted ({action.get('type')}) on a target grounded with "
                       f"confidence {conf:.2f} (below {LOW_CONFIDENCE}).",
               evidence=point_on(ctx, step, click),
               recommendation="Re-ground (zoom, crop, another model) or ask for a new "
                              "observation before acting on an uncertain target.")
