"""Validator rules of the SDK's own kinds: what a record's schema cannot say."""

from __future__ import annotations

import re
from typing import Any

from augur_sdk.kinds.spec import RuleContext
from augur_sdk.validation import ValidationIssue

_STEP_FILE_RE = re.compile(r"^steps/(\d+)\.json$")
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
            "step_id",
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
