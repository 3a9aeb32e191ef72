"""What the record itself says is wrong: a malformed action, a missing screenshot, a failure
nobody classified, a run that died early on its infrastructure, a replay fixture to run."""

from __future__ import annotations

from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import RuleResult, rule
from augur_sdk.diagnostics.packs.cua.common import (
    as_dict,
    index_of,
    report,
)

INFRA_CLASSES = frozenset({"infra_failure", "mantis.modal_signature_missing"})
EARLY_STEPS = 3
TAXONOMY = "docs/diagnostics.md#failure-class-taxonomy"


@rule("cua.invalid_action_schema", severity="critical", needs="metadata", cause_rank=15)
def invalid_action_schema(ctx: BundleContext, r: RuleResult) -> None:
    """A step carries an action that is not an object with a ``type``."""
    for step in ctx.steps:
        if "action" not in step or step["action"] is None:
            continue
        action = step["action"]
        if isinstance(action, dict) and isinstance(action.get("type"), str) and action["type"]:
            continue
        idx = index_of(step)
        report(ctx, r, invalid_action_schema, step,
               summary=f"Step {idx}: the action has no `type`, so nothing says what was "
                       "dispatched.",
               recommendation="Check the model's action against the action schema before "
                              "dispatching it.")


@rule("cua.missing_observation", severity="low", needs="screenshots", cause_rank=90)
def missing_observation(ctx: BundleContext, r: RuleResult) -> None:
    """A step names a screenshot that is neither on disk nor declared in ``manifest.missing``."""
    for step in ctx.steps:
        for key in ("observation_pre", "observation_post"):
            ref = step.get(key)
            if not isinstance(ref, str) or not ref.startswith("screenshots/"):
                continue
            if (ctx.bundle_dir / ref).is_file() or ref in ctx.declared_missing:
                continue
            idx = index_of(step)
            report(ctx, r, missing_observation, step,
                   summary=f"Step {idx}: {key} names {ref}, which is neither in the bundle "
                           "nor in manifest.missing.",
                   recommendation="Capture the screenshot, or declare it in "
                                  "manifest.missing when it is absent on purpose.")


@rule("cua.replay_diff", severity="medium", needs="replay", cause_rank=85)
def replay_diff(ctx: BundleContext, r: RuleResult) -> None:
    """A replay fixture (``replay/NNNN_fixture.json``) exists for a step that failed."""
    folder = ctx.bundle_dir / "replay"
    if not folder.is_dir():
        return
    by_index = {index_of(s): s for s in ctx.steps}
    for path in sorted(folder.glob("*_fixture.json")):
        head = path.name.split("_", 1)[0]
        step = by_index.get(int(head)) if head.isdigit() else None
        if step is None or as_dict(step.get("verdict")).get("status") not in ("failed",
                                                                              "recoverable"):
            continue
        idx = index_of(step)
        report(ctx, r, replay_diff, step,
               summary=f"Step {idx}: a replay fixture exists for this failing step; replaying "
                       "it tells whether the current code still fails.",
               evidence=[{"type": "step", "ref": f"replay/{path.name}"}])


@rule("cua.high_cost_infra_failure", severity="high", needs="metadata", cause_rank=12)
def high_cost_infra_failure(ctx: BundleContext, r: RuleResult) -> None:
    """One of the first ``EARLY_STEPS`` steps failed with an infrastructure failure class."""
    logs = [{"type": "log", "ref": p} for p in ctx.log_paths()] \
        if isinstance(ctx, BundleContext) else []
    for step in ctx.steps[:EARLY_STEPS]:
        fc = step.get("failure_class")
        if fc not in INFRA_CLASSES:
            continue
        idx = index_of(step)
        report(ctx, r, high_cost_infra_failure, step,
               summary=f"Step {idx}: the run stopped early on an infrastructure failure "
                       f"({fc}); the environment failed, not the agent.",
               evidence=logs,
               recommendation="Check the deployment, proxies and tunnels before running "
                              "again.")


@rule("cua.uncategorized_failure", severity="low", needs="metadata", cause_rank=95)
def uncategorized_failure(ctx: BundleContext, r: RuleResult) -> None:
    """A failed step has no ``failure_class`` (or ``"unknown"``): the producer's classifier
    has a gap."""
    for step in ctx.steps:
        if step.get("status") != "failed":
            continue
        fc = step.get("failure_class")
        if fc and fc != "unknown":
            continue
        idx = index_of(step)
        intent = step.get("intent") or "no intent"
        report(ctx, r, uncategorized_failure, step,
               summary=f"Step {idx} failed with failure_class {fc!r}: no class was assigned.",
               recommendation=f"Find the pattern in step {idx} ({intent!r}) and teach the "
                              "producer's classifier a class for it; the shared classes are "
                              f"listed in augur_sdk's {TAXONOMY}")

