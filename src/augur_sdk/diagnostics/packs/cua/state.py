"""What the action changed: nothing at all, nothing across repeats and retries, or not what
the dispatcher or the verifier said."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import RuleResult, rule
from augur_sdk.diagnostics.packs.cua.common import (
    action_point,
    action_signature,
    as_dict,
    events_evidence,
    failed,
    index_of,
    pt,
    report,
    shot,
    step_evidence,
)
from augur_sdk.diagnostics.screens import same_screen


def _screens_same(ctx: Any, a: dict[str, Any], a_kind: str, b: dict[str, Any],
                  b_kind: str) -> bool | None:
    """Whether two screenshots show the same screen (``None``: not both recorded)."""
    if not isinstance(ctx, BundleContext):
        return None
    ra, rb = ctx.screenshot_ref(a, a_kind), ctx.screenshot_ref(b, b_kind)
    if ra is None or rb is None:
        return None
    return same_screen(ctx.screens.get(ra), ctx.screens.get(rb))


def _unchanged_pixels(ctx: Any, step: dict[str, Any]) -> bool:
    """Pre and post screenshots byte for byte the same (not merely similar: a focus ring or
    a caret is a change)."""
    if not isinstance(ctx, BundleContext):
        return False
    pre, post = ctx.screenshot_ref(step, "pre"), ctx.screenshot_ref(step, "post")
    if pre is None or post is None:
        return False
    a, b = ctx.screens.get(pre), ctx.screens.get(post)
    return a is not None and b is not None and a.digest is not None and a.digest == b.digest


@rule("cua.repeated_action_stable_frame", severity="medium", needs="trace", cause_rank=45)
def repeated_action_stable_frame(ctx: BundleContext, r: RuleResult) -> None:
    """Two consecutive steps click the same point on the same screen. The screen is the same
    when their pre screenshots match; without screenshots, when a failure class says
    nothing changed."""
    rid = repeated_action_stable_frame.rule_id
    steps = ctx.steps
    for prev, step in pairwise(steps):
        a, b = action_point(prev), action_point(step)
        if a is None or b is None or a != b:
            continue
        same = _screens_same(ctx, prev, "pre", step, "pre")
        if same is None:
            same = all(s.get("failure_class") in ("no_state_change", None) for s in (prev, step))\
                and any(s.get("failure_class") == "no_state_change" for s in (prev, step))
        if not same:
            continue
        i, j = index_of(prev), index_of(step)
        r.emit(rule_id=rid, severity=repeated_action_stable_frame.severity,
               summary=f"Steps {i} and {j} clicked {pt(b)} on the same screen.",
               evidence=[step_evidence(ctx, prev), step_evidence(ctx, step)], step_index=j,
               recommendation="Look at the grounding of both steps: repeating a click that "
                              "changed nothing needs a new target or a new observation.")


@rule("cua.no_state_change", severity="medium", needs="metadata", cause_rank=80)
def no_state_change(ctx: BundleContext, r: RuleResult) -> None:
    """Nothing changed after the action: the failure class says so, a recoverable verdict
    says so, or the pre and post screenshots of a step that did not succeed are identical."""
    for step in ctx.steps:
        verdict = as_dict(step.get("verdict"))
        reason = str(verdict.get("reason") or "").lower()
        said = step.get("failure_class") == "no_state_change" or (
            verdict.get("status") == "recoverable" and "no visible state change" in reason)
        seen = step.get("status") != "succeeded" and step.get("action") is not None and \
            _unchanged_pixels(ctx, step)
        if not (said or seen):
            continue
        idx = index_of(step)
        shots = [shot(ref) for kind in ("pre", "post") if isinstance(ctx, BundleContext)
                 and (ref := ctx.screenshot_ref(step, kind)) is not None]
        how = "the pre and post screenshots are identical" if seen else \
            "the step's verdict says so"
        report(ctx, r, no_state_change, step,
               summary=f"Step {idx}: nothing changed after the action ({how}).",
               evidence=[*shots, *events_evidence(ctx, idx)],
               recommendation="Check what the action hit: a covered or disabled control, a "
                              "click beside the target, or a dispatch that never reached "
                              "the page.")


@rule("cua.verifier_disagrees", severity="high", needs="trace", cause_rank=70)
def verifier_disagrees(ctx: BundleContext, r: RuleResult) -> None:
    """A verifier recorded an event on a step whose verdict failed (or whose failure class
    is ``verifier_disagrees``): the action reported success, the check did not."""
    for step in ctx.steps:
        verdict = as_dict(step.get("verdict"))
        if step.get("failure_class") != "verifier_disagrees" and \
                verdict.get("status") != "failed":
            continue
        idx = index_of(step)
        if not any(e.get("layer") == "verifier" for e in ctx.events_for_step(idx)):
            continue
        report(ctx, r, verifier_disagrees, step,
               summary=f"Step {idx}: the verifier rejected an action that reported success.",
               evidence=events_evidence(ctx, idx),
               recommendation="Read the verifier's event: if its evidence is right, the "
                              "action's own success signal is the bug.")


@rule("cua.dispatch_ok_state_fail", severity="high", needs="metadata", cause_rank=60)
def dispatch_ok_state_fail(ctx: BundleContext, r: RuleResult) -> None:
    """The failure class says the dispatch succeeded and the state did not change."""
    for step in ctx.steps:
        if step.get("failure_class") != "dispatch_ok_state_fail":
            continue
        idx = index_of(step)
        report(ctx, r, dispatch_ok_state_fail, step,
               summary=f"Step {idx}: the input was dispatched but the state did not change.",
               evidence=events_evidence(ctx, idx),
               recommendation="Compare the action's coordinate space with the screen's "
                              "(device pixels against CSS pixels) and look for a covering "
                              "element.")


def _attempts(ctx: BundleContext) -> list[list[dict[str, Any]]]:
    """Chains of attempts at one thing: a step and its iterations, and consecutive steps
    with the same intent or target."""
    chains: list[list[dict[str, Any]]] = []
    for step in ctx.steps:
        iterations = ctx.iterations(index_of(step)) if isinstance(ctx, BundleContext) and \
            isinstance(step.get("step_iterations"), int) and step["step_iterations"] > 1 \
            else []
        if iterations:
            chains.append([step, *iterations])
            continue
        key = _goal(step)
        if chains and key is not None and _goal(chains[-1][-1]) == key:
            chains[-1].append(step)
        else:
            chains.append([step])
    return [c for c in chains if len(c) > 1]


def _goal(step: dict[str, Any]) -> tuple[Any, ...] | None:
    label = as_dict(step.get("grounding")).get("target_label")
    intent = step.get("intent")
    if not label and not intent:
        return None
    return (step.get("step_type"), label or None, None if label else intent)


@rule("cua.retry_unchanged", severity="medium", needs="trace", cause_rank=40)
def retry_unchanged(ctx: BundleContext, r: RuleResult) -> None:
    """An attempt failed and the next attempt at the same thing (an iteration of the step,
    or the next step with the same target or intent) sent exactly the same action."""
    for chain in _attempts(ctx):
        for before, after in pairwise(chain):
            sig = action_signature(before)
            if not failed(before) or sig is None or sig != action_signature(after):
                continue
            idx = index_of(after)
            what = as_dict(after.get("action")).get("type")
            first, again = step_evidence(ctx, before), step_evidence(ctx, after)
            r.emit(rule_id=retry_unchanged.rule_id, severity=retry_unchanged.severity,
                   summary=f"Step {idx}: the retry repeated the failed {what} unchanged "
                           f"(the same action as {first['ref']}).",
                   evidence=[first, again], step_index=idx,
                   recommendation="Change something between attempts: a new observation, "
                                  "another target, dismissing what covers the page, or "
                                  "another input method.")
