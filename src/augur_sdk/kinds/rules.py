"""Validator rules of the SDK's own kinds: what a record's schema cannot say."""

from __future__ import annotations

import re
from typing import Any

from augur_sdk.kinds.spec import RuleContext
from augur_sdk.validation import WARNING, ValidationIssue, schema_issues

_STEP_FILE_RE = re.compile(r"^steps/(\d+)(?:/[^/]+)?\.json$")
_EVENTS_FILE_RE = re.compile(r"^events/(\d+)\.jsonl$")


def step_rule(ctx: RuleContext, rel: str, step: Any) -> list[ValidationIssue]:
    """The step id convention and the file name's index."""
    if not isinstance(step, dict):
        return []
    issues = _step_id_issues(step, ctx.run_id, rel)
    m = _STEP_FILE_RE.match(rel)
    if m and step.get("step_index") != int(m.group(1)):
        issues.append(ValidationIssue(
            rel, f"step_index {step.get('step_index')!r} does not match the file name",
            "step_index"))
    return issues


def _step_id_issues(step: dict[str, Any], run_id: str, rel: str) -> list[ValidationIssue]:
    index, step_id = step.get("step_index"), step.get("step_id")
    if not isinstance(index, int) or not isinstance(step_id, str):
        return []
    prefix = f"{run_id}/step/"
    suffix = step_id[len(prefix):] if step_id.startswith(prefix) else None
    if suffix is None or not suffix.isdigit() or int(suffix) != index or len(suffix) < 4:
        return [ValidationIssue(
            rel,
            f"step_id {step_id!r} breaks the convention '<run_id>/step/<zero-padded index>'; "
            f"expected {prefix}{index:04d}",
            "step_id", severity=WARNING,
        )]
    return []


def event_rule(ctx: RuleContext, rel: str, event: Any) -> list[ValidationIssue]:
    """An event in ``events/NNNN.jsonl`` belongs to step NNNN."""
    m = _EVENTS_FILE_RE.match(rel)
    if m is None or not isinstance(event, dict):
        return []
    expected = int(m.group(1))
    if event.get("step_index") != expected:
        return [ValidationIssue(rel, f"step_index {event.get('step_index')!r} in the file of "
                                     f"step {expected}", "step_index")]
    return []


# Members augur-sdk 0.6.1's finalize_outcome adds that outcome_record does not allow.
OUTCOME_061_EXTRAS = ("run_id", "debug_session_id")


def outcome_rule(ctx: RuleContext, rel: str, record: Any) -> list[ValidationIssue]:
    """An outcome against ``outcome_record``; 0.6.1's outcome records carry the run's ids,
    which the schema does not allow: a warning (the ids are the bundle's own), not an error."""
    extras = [k for k in OUTCOME_061_EXTRAS if k in record] if isinstance(record, dict) else []
    clean = {k: v for k, v in record.items() if k not in extras} if extras else record
    issues = schema_issues("outcome_record", clean, rel)
    if extras:
        issues.append(ValidationIssue(
            rel, f"members {', '.join(extras)} are not in outcome_record (written by "
                 "augur-sdk 0.6.1's finalize_outcome)", severity=WARNING))
    return issues


def side_effect_rule(ctx: RuleContext, rel: str, record: Any) -> list[ValidationIssue]:
    """A side effect lives in ``side_effects/NNNN-<id>.json`` of its step and id."""
    if not isinstance(record, dict):
        return []
    index, sid = record.get("step_index"), record.get("side_effect_id")
    if isinstance(index, int) and isinstance(sid, str) and \
            rel != f"side_effects/{index:04d}-{sid}.json":
        return [ValidationIssue(rel, f"side effect {sid!r} of step {index} is not in "
                                     f"side_effects/{index:04d}-{sid}.json", "side_effect_id")]
    return []
