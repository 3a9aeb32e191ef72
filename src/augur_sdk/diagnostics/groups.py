"""Failure groups across runs: "the same failure in 40 runs" as one row.

A failed step's signature is its failure class, its action type, its most specific finding,
and the perceptual hash of its pre screenshot. Steps whose first three parts are equal and
whose screens are at most ``GROUP_BITS`` bits apart fall in one group; groups are listed by
the number of runs they hit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import Diagnosis
from augur_sdk.diagnostics.packs.cua.common import as_dict, failed, index_of

GROUP_BITS = 12
"""Pre screenshots whose 128-bit perceptual hashes differ in at most this many bits are
the same screen for grouping (looser than one run's "same screen": runs differ in data)."""
MAX_EXAMPLES = 50


@dataclass
class FailedStep:
    run: str
    step_index: int
    failure_class: str | None
    action: str | None
    rule_id: str | None
    summary: str | None
    phash: int | None


@dataclass
class FailureGroup:
    """One signature: ``runs`` it hit, ``steps`` (run, step index; the first
    ``MAX_EXAMPLES``), ``count`` of failed steps, and an example finding summary."""

    group_id: str
    failure_class: str | None
    action: str | None
    rule_id: str | None
    phash: int | None
    runs: list[str] = field(default_factory=list)
    steps: list[tuple[str, int]] = field(default_factory=list)
    count: int = 0
    summary: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "failure_class": self.failure_class,
                "action": self.action, "rule_id": self.rule_id,
                "screen": None if self.phash is None else f"{self.phash:032x}",
                "runs": self.runs, "run_count": len(self.runs), "step_count": self.count,
                "steps": [{"run": r, "step_index": i} for r, i in self.steps],
                "summary": self.summary}


def failed_steps(run: str, ctx: BundleContext, diagnosis: Diagnosis) -> list[FailedStep]:
    """The failed steps of one run with what grouping needs."""
    out = []
    for step in ctx.steps:
        if not failed(step):
            continue
        idx = index_of(step)
        cause = diagnosis.cause(idx)
        ref = ctx.screenshot_ref(step, "pre")
        screen = ctx.screens.get(ref) if ref is not None else None
        action = as_dict(step.get("action")).get("type") or step.get("step_type")
        fc = step.get("failure_class")
        out.append(FailedStep(run, idx, fc if isinstance(fc, str) else None,
                              action if isinstance(action, str) else None,
                              cause.get("rule_id") if cause else None,
                              cause.get("summary") if cause else None,
                              screen.phash if screen is not None else None))
    return out


def _group_id(key: tuple[Any, ...], phash: int | None) -> str:
    text = "\x1f".join("" if k is None else str(k) for k in (*key, phash))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def group_failures(steps: Iterable[FailedStep]) -> list[FailureGroup]:
    """Groups of failed steps by signature, the group hitting most runs first. A step joins
    the first group of its key whose representative screen is within ``GROUP_BITS``."""
    by_key: dict[tuple[Any, ...], list[FailureGroup]] = {}
    runs_of: dict[str, set[str]] = {}
    for s in steps:
        key = (s.failure_class, s.action, s.rule_id)
        groups = by_key.setdefault(key, [])
        group = next((g for g in groups if g.phash == s.phash or (
            g.phash is not None and s.phash is not None and
            (g.phash ^ s.phash).bit_count() <= GROUP_BITS)), None)
        if group is None:
            group = FailureGroup(_group_id(key, s.phash), *key, s.phash, summary=s.summary)
            groups.append(group)
        group.count += 1
        members = runs_of.setdefault(group.group_id, set())
        if s.run not in members:
            members.add(s.run)
            group.runs.append(s.run)
        if len(group.steps) < MAX_EXAMPLES:
            group.steps.append((s.run, s.step_index))
    out = [g for groups in by_key.values() for g in groups]
    out.sort(key=lambda g: (-len(g.runs), -g.count, g.group_id))
    return out
