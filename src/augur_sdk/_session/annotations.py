"""What each annotation method changes in a step record (pure): the merged fragments that
``attach_verifier``, ``set_score``, ``record_judge_decision``, ``set_step_costs``,
``set_step_versions``, ``attach_env_fingerprint``, ``set_loop_detected`` and
``record_subgoal_completion`` write. Each takes the step as it is on disk and the checked
arguments, and returns the top-level fields to replace (merges, never erasures)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from augur_sdk.records import utcnow_iso

VERDICT_STATUSES = ("passed", "failed", "recoverable", "skipped", "unknown")
VERDICT_COMPARATORS = frozenset({"verifier", "model-judge", "exact-match", "human"})
JUDGE_TYPES = ("rule", "model", "human", "hybrid")
STEP_COST_KEYS = ("total_usd", "model_usd", "tokens_in", "tokens_out", "cache_hit_tokens")
SESSION_COST_KEYS = ("total_usd", "model_usd", "gpu_usd", "proxy_usd", "tokens_in",
                     "tokens_out", "cache_hit_tokens")


def clamp01(value: float) -> float:
    return max(0.0, min(1.0, float(value)))


def _verdict(step: Mapping[str, Any]) -> dict[str, Any]:
    verdict = step.get("verdict")
    return copy.deepcopy(verdict) if isinstance(verdict, dict) else {"status": "unknown"}


def verifier(step: Mapping[str, Any], *, status: str, reason: str | None,
             evidence_refs: list[str] | None, judge_id: str) -> dict[str, Any]:
    """The verifier's status (and reason, evidence) merged into the verdict, which keeps its
    score; a ``rule`` judge decision records who said so (0.6.1 erases the score)."""
    verdict = _verdict(step)
    verdict["status"] = status
    decision: dict[str, Any] = {"judge_id": judge_id, "judge_type": "rule",
                                "verdict": {"status": status}, "judged_at": utcnow_iso()}
    if reason is not None:
        verdict["reason"] = reason
        decision["verdict"]["reason"] = reason
    if evidence_refs is not None:
        verdict["evidence_refs"] = list(evidence_refs)
        decision["verdict"]["evidence_refs"] = list(evidence_refs)
        decision["evidence_refs"] = list(evidence_refs)
    return {"verdict": verdict, "judge_decisions": [*_judges(step), decision]}


def score(step: Mapping[str, Any], *, value: float, comparator: str | None,
          components: Mapping[str, float] | None, should_stop: bool | None,
          uncertainty: float | None) -> dict[str, Any]:
    verdict = _verdict(step)
    verdict["score"] = clamp01(value)
    if comparator is not None:
        verdict["comparator"] = comparator
    if components is not None:
        merged = dict(verdict.get("score_components") or {})
        merged.update({str(k): float(v) for k, v in components.items()})
        verdict["score_components"] = merged
    if should_stop is not None:
        verdict["should_stop"] = bool(should_stop)
    if uncertainty is not None:
        verdict["uncertainty"] = clamp01(uncertainty)
    return {"verdict": verdict}


def _judges(step: Mapping[str, Any]) -> list[Any]:
    judges = step.get("judge_decisions")
    return copy.deepcopy(judges) if isinstance(judges, list) else []


def judge(step: Mapping[str, Any], decision: dict[str, Any], *,
          promote: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"judge_decisions": [*_judges(step), decision]}
    if promote:
        out["verdict"] = copy.deepcopy(decision["verdict"])
        out["verdict_source"] = f"{decision['judge_type']}:{decision['judge_id']}"
    return out


def merge_member(step: Mapping[str, Any], key: str,
                 patch: Mapping[str, Any]) -> dict[str, Any]:
    """``step[key]`` (an object: costs, captured_versions, env_fingerprint) with ``patch``
    merged in; unset members are kept."""
    current = step.get(key)
    merged = copy.deepcopy(current) if isinstance(current, dict) else {}
    merged.update(copy.deepcopy(dict(patch)))
    return {key: merged}


def subgoal(step: Mapping[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Upsert a subgoal completion on the step (one entry per subgoal id)."""
    current = step.get("subgoals_completed")
    items = [copy.deepcopy(i) for i in current if isinstance(i, dict)
             and i.get("subgoal_id") != entry["subgoal_id"]] if isinstance(current, list) \
        else []
    return {"subgoals_completed": [*items, entry]}


def present(values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that were given (``None`` means "not given")."""
    return {k: v for k, v in values.items() if v is not None}
