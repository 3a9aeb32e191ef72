"""What the screenshots show: a modal dialog over the target, the agent going in circles.

These rules read pixels and the action's point only, never text the agent wrote: a run
without events, reasons or recovery decisions gets the same answer.
"""

from __future__ import annotations

from typing import Any

from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import RuleResult, rule
from augur_sdk.diagnostics.overlay import confirm, find_modal, point_fragment
from augur_sdk.diagnostics.packs.cua.common import (
    action_point,
    failed,
    index_of,
    on_screenshot,
    pt,
    shot,
    step_evidence,
)
from augur_sdk.diagnostics.screens import grid, pillow_available, same_screen
from augur_sdk.images import PILLOW_INSTALL

REFERENCE_WINDOW = 5
"""Steps on either side searched for a screenshot of the page without the dialog."""
LOOP_VISITS = 3
"""A screen the agent comes back to this many times (with other screens between) is a loop."""
STUCK_STEPS = 3
"""This many consecutive unsuccessful steps on one screen are a loop too."""
NO_PILLOW = f"Pillow is not installed ({PILLOW_INSTALL}): no pixels to read"


def _reference(ctx: BundleContext, step: dict[str, Any], g: Any, modal: Any,
               ) -> tuple[str, float] | None:
    """The screenshot of nearby steps that best shows the same page without the backdrop:
    (its path, the grey levels the backdrop takes away)."""
    idx = index_of(step)
    best: tuple[float, str, float] | None = None
    for other in ctx.steps:
        if abs(index_of(other) - idx) > REFERENCE_WINDOW:
            continue
        for kind in ("pre", "post"):
            ref = ctx.screenshot_ref(other, kind)
            if ref is None or (other is step and kind == "pre"):
                continue
            ref_grid = grid(ctx.bundle_dir / ref)
            found = confirm(g, modal, ref_grid) if ref_grid is not None else None
            if found is not None and (best is None or found[1] > best[0]):
                best = (found[1], ref, found[0])
    return None if best is None else (best[1], best[2])


@rule("cua.modal_covers_target", severity="high", needs="screenshots", cause_rank=5)
def modal_covers_target(ctx: BundleContext, r: RuleResult) -> None:
    """A step that did not succeed clicked under a modal dialog: its pre screenshot shows a
    dialog over a dimmed page and the action's point is on the backdrop, or on the dialog
    where a nearby screenshot shows the page without it (a click on the dialog with no such
    view is taken as meant for the dialog)."""
    rid = modal_covers_target.rule_id
    if not pillow_available():
        r.not_evaluable(rid, NO_PILLOW)
        return
    for step in ctx.steps:
        point = action_point(step)
        if point is None or not failed(step):
            continue
        idx = index_of(step)
        ref = ctx.screenshot_ref(step, "pre")
        g = grid(ctx.bundle_dir / ref) if ref is not None else None
        if ref is None or g is None:
            r.not_evaluable(rid, "no readable pre screenshot", idx)
            continue
        modal = find_modal(g)
        if modal is None:
            continue
        raw, point = point, on_screenshot(ctx, step, point, g.image_size[0])
        inside = modal.box.contains(*point)
        seen = _reference(ctx, step, g, modal)
        if inside and seen is None:
            continue  # a click on the dialog itself, and no view of the page under it
        box = modal.box
        evidence = [step_evidence(ctx, step), shot(ref, box.fragment()),
                    shot(ref, point_fragment(*point))]
        hit = "hit the dialog, over the page it hides" if inside else \
            "landed on its backdrop, not on the target"
        also = ""
        if seen is not None:
            evidence.append(shot(seen[0]))
            also = f"; {seen[0]} shows the page without it ({seen[1]:.0f} grey levels brighter)"
        r.emit(rule_id=rid, severity=modal_covers_target.severity,
               summary=f"Step {idx}: a modal dialog ({box.w:.0f}x{box.h:.0f} px at "
                       f"({box.x:.0f}, {box.y:.0f})) covers the page; the click at {pt(raw)} "
                       f"{hit}{also}.",
               evidence=evidence, step_index=idx,
               recommendation="Dismiss the dialog (or wait for it to close) before acting on "
                              "the page, and make the planner look for dialogs in the "
                              "screenshot before grounding.")


@rule("cua.screen_loop", severity="medium", needs="screenshots", cause_rank=42)
def screen_loop(ctx: BundleContext, r: RuleResult) -> None:
    """The agent keeps seeing the same screen: it comes back to it ``LOOP_VISITS`` times
    with other screens between, or stays on it for ``STUCK_STEPS`` unsuccessful steps."""
    rid = screen_loop.rule_id
    shots: list[tuple[dict[str, Any], str]] = [
        (s, ref) for s in ctx.steps if (ref := ctx.screenshot_ref(s, "pre")) is not None]
    if len(shots) < 2:
        if ctx.steps:
            r.not_evaluable(rid, "fewer than two pre screenshots")
        return
    reps: list[str] = []  # one screenshot per distinct screen
    screen_of: list[int] = []
    for _step, ref in shots:
        found = next((k for k, rep in enumerate(reps)
                      if same_screen(ctx.screens.get(rep), ctx.screens.get(ref))), None)
        if found is None:
            reps.append(ref)
            found = len(reps) - 1
        screen_of.append(found)
    visits: dict[int, list[int]] = {}  # screen -> position in shots where a visit starts
    for pos, screen in enumerate(screen_of):
        if pos == 0 or screen_of[pos - 1] != screen:
            visits.setdefault(screen, []).append(pos)
    reported: set[int] = set()
    for screen, starts in visits.items():
        if len(starts) >= LOOP_VISITS:
            _emit_loop(ctx, r, [shots[p] for p in starts], "came back to the same screen "
                       f"{len(starts) - 1} times")
            reported.add(screen)
    runs: list[list[int]] = [[]]  # consecutive unsuccessful steps on one screen
    for pos, screen in enumerate(screen_of):
        if runs[-1] and (not failed(shots[pos][0]) or screen != screen_of[runs[-1][0]]):
            runs.append([])
        if failed(shots[pos][0]):
            runs[-1].append(pos)
    for run in runs:
        if len(run) >= STUCK_STEPS and screen_of[run[0]] not in reported:
            _emit_loop(ctx, r, [shots[p] for p in run],
                       f"stayed on the same screen for {len(run)} unsuccessful steps")


def _emit_loop(ctx: BundleContext, r: RuleResult, seen: list[tuple[dict[str, Any], str]],
               what: str) -> None:
    steps = [index_of(s) for s, _ in seen]
    r.emit(rule_id=screen_loop.rule_id, severity=screen_loop.severity,
           summary=f"Steps {', '.join(map(str, steps))}: the agent {what}.",
           evidence=[*(shot(ref) for _, ref in seen[:10]), step_evidence(ctx, seen[-1][0])],
           step_index=steps[-1],
           recommendation="Give the planner memory of the screens it has seen and the "
                          "actions it tried there, and stop or change strategy on a repeat.")
