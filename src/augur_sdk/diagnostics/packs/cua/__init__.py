"""The CUA rule pack: the generic failures of computer-use agents, each rule in
:data:`CUA_RULES` with the capture mode it needs."""

from __future__ import annotations

from augur_sdk.diagnostics.engine import Rule
from augur_sdk.diagnostics.packs.cua.coordinates import (
    click_far_from_grounding,
    click_outside_viewport,
    coordinate_space_mismatch,
    dom_used_as_runtime_target,
    low_confidence_grounding,
)
from augur_sdk.diagnostics.packs.cua.hygiene import (
    high_cost_infra_failure,
    invalid_action_schema,
    missing_observation,
    replay_diff,
    uncategorized_failure,
)
from augur_sdk.diagnostics.packs.cua.screens import modal_covers_target, screen_loop
from augur_sdk.diagnostics.packs.cua.state import (
    dispatch_ok_state_fail,
    no_state_change,
    repeated_action_stable_frame,
    retry_unchanged,
    verifier_disagrees,
)

CUA_RULES: list[Rule] = [
    repeated_action_stable_frame,
    click_outside_viewport,
    coordinate_space_mismatch,
    dom_used_as_runtime_target,
    no_state_change,
    verifier_disagrees,
    dispatch_ok_state_fail,
    invalid_action_schema,
    missing_observation,
    replay_diff,
    high_cost_infra_failure,
    uncategorized_failure,
    click_far_from_grounding,
    low_confidence_grounding,
    retry_unchanged,
    modal_covers_target,
    screen_loop,
]

__all__ = [
    "CUA_RULES", "click_far_from_grounding", "click_outside_viewport",
    "coordinate_space_mismatch", "dispatch_ok_state_fail", "dom_used_as_runtime_target",
    "high_cost_infra_failure", "invalid_action_schema", "low_confidence_grounding",
    "missing_observation", "modal_covers_target", "no_state_change",
    "repeated_action_stable_frame", "replay_diff", "retry_unchanged", "screen_loop",
    "uncategorized_failure", "verifier_disagrees",
]
