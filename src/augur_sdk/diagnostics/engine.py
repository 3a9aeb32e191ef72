"""The rules engine: rules are pure functions ``(BundleContext, RuleResult) -> None``.

A rule declares the capture mode its inputs need (``needs``). On a bundle recorded below it,
the engine does not run the rule and answers "not evaluable" for it instead: a finding the
capture mode could not have produced is never reported as "no problem".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from augur_sdk import _internal
from augur_sdk.capture import CaptureMode
from augur_sdk.diagnostics.context import BundleContext

ENTRY_POINT_GROUP = "augur.rule_packs"
SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
NOT_EVALUABLE = "not evaluable"
DEFAULT_CAUSE_RANK = 50

Finding = dict[str, Any]
"""A ``diagnostic_finding`` record: rule_id, severity, summary, evidence[, step_index,
recommendation]."""


@dataclass(frozen=True)
class NotEvaluable:
    rule_id: str
    reason: str
    step_index: int | None = None


@dataclass
class RuleResult:
    """What one rule found: ``findings``, and what it could not judge (``unevaluable``)."""

    findings: list[Finding] = field(default_factory=list)
    unevaluable: list[NotEvaluable] = field(default_factory=list)

    def emit(self, *, rule_id: str, severity: str, summary: str, evidence: Iterable[Any],
             step_index: int | None = None, recommendation: str | None = None) -> None:
        refs = [dict(e) for e in evidence]
        if severity not in SEVERITY_RANK:
            raise ValueError(f"finding.severity: {severity!r} is not one of "
                             f"{', '.join(SEVERITIES)}")
        if not refs:
            raise ValueError(f"finding of {rule_id}: evidence needs at least one reference")
        finding: Finding = {"rule_id": rule_id, "severity": severity, "summary": summary,
                            "evidence": refs}
        if step_index is not None:
            finding["step_index"] = step_index
        if recommendation is not None:
            finding["recommendation"] = recommendation
        self.findings.append(finding)

    def not_evaluable(self, rule_id: str, reason: str, step_index: int | None = None) -> None:
        """The rule's inputs were not recorded (for the run, or for one step)."""
        self.unevaluable.append(NotEvaluable(rule_id, reason, step_index))


class Rule(Protocol):
    """A callable with ``rule_id`` and ``severity`` (and, set by :func:`rule`, ``needs``: the
    capture mode that records its inputs)."""

    rule_id: str
    severity: str

    def __call__(self, ctx: BundleContext, result: RuleResult) -> None: ...


def rule(rule_id: str, *, severity: str = "medium", needs: str = "metadata",
         cause_rank: int = DEFAULT_CAUSE_RANK,
         ) -> Callable[[Callable[[BundleContext, RuleResult], None]], Rule]:
    """Decorator: a function becomes a :class:`Rule` with an id, a severity and the capture
    mode its inputs need (``metadata``: status, types, failure classes; ``trace``:
    coordinates, grounding, events, free text; ``screenshots``: the PNGs).

    ``cause_rank`` orders findings of equal severity on a step: lower is a more specific
    cause (a dialog covering the target) than higher (the symptom "nothing changed")."""
    if severity not in SEVERITY_RANK:
        raise ValueError(f"rule {rule_id}: severity {severity!r} is not one of "
                         f"{', '.join(SEVERITIES)}")
    mode = CaptureMode(needs)

    def wrap(fn: Callable[[BundleContext, RuleResult], None]) -> Rule:
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        fn.severity = severity  # type: ignore[attr-defined]
        fn.needs = mode  # type: ignore[attr-defined]
        fn.cause_rank = cause_rank  # type: ignore[attr-defined]
        return fn  # type: ignore[return-value]

    return wrap


def rule_needs(r: Rule) -> CaptureMode:
    needs = getattr(r, "needs", CaptureMode.METADATA)
    try:
        return CaptureMode(needs)
    except ValueError:
        return CaptureMode.METADATA


@dataclass
class Diagnosis:
    """The engine's answer for one bundle."""

    bundle_dir: Path
    findings: list[Finding]
    unevaluable: list[NotEvaluable]
    errors: list[tuple[str, str]]  # (rule_id, message): a rule that raised
    rules: list[str]
    cause_ranks: dict[str, int] = field(default_factory=dict)
    written: Path | None = None  # diagnostics/findings.json, once written
    note: str | None = None  # why it was not written

    def cause(self, step_index: int) -> Finding | None:
        """The most specific finding on a step: lowest cause rank, then most severe."""
        mine = [f for f in self.findings if f.get("step_index") == step_index]
        return min(mine, default=None, key=lambda f: (
            self.cause_ranks.get(f.get("rule_id", ""), DEFAULT_CAUSE_RANK),
            -SEVERITY_RANK.get(f.get("severity", ""), 0)))

    def records(self) -> list[Finding]:
        """What ``diagnostics/findings.json`` holds: the findings, ranked, then one ``info``
        record per rule that could not be evaluated for the run."""
        out = rank(self.findings, self.cause_ranks)
        seen: set[str] = set()
        for item in self.unevaluable:
            if item.step_index is not None or item.rule_id in seen:
                continue
            seen.add(item.rule_id)
            out.append({"rule_id": item.rule_id, "severity": "info",
                        "summary": f"{NOT_EVALUABLE}: {item.reason}",
                        "evidence": [{"type": "trace", "ref": "manifest.json"}]})
        return out


def rank(findings: Iterable[Finding], cause_ranks: dict[str, int] | None = None,
         ) -> list[Finding]:
    """Most severe first; then the more specific cause; then by step; stable otherwise."""
    ranks = cause_ranks or {}
    return sorted(findings, key=lambda f: (-SEVERITY_RANK.get(f.get("severity", ""), 0),
                                           ranks.get(f.get("rule_id", ""), DEFAULT_CAUSE_RANK),
                                           f.get("step_index", 1 << 62)))


def cause_rank(r: Rule) -> int:
    value = getattr(r, "cause_rank", DEFAULT_CAUSE_RANK)
    return value if isinstance(value, int) else DEFAULT_CAUSE_RANK


class RulesEngine:
    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules = list(rules)
        ids = [r.rule_id for r in self._rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rules: duplicate rule_id(s) {', '.join(dupes)}")

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    def diagnose(self, bundle: Path | str | BundleContext) -> Diagnosis:
        ctx = bundle if isinstance(bundle, BundleContext) else BundleContext(bundle)
        mode = ctx.capture_mode
        result = RuleResult()
        errors: list[tuple[str, str]] = []
        for r in self._rules:
            needs = rule_needs(r)
            if mode is not None and mode < needs:
                result.not_evaluable(r.rule_id, f"the run was recorded with capture mode "
                                     f"'{mode.value}'; this rule reads what '{needs.value}' "
                                     "records")
                continue
            part = RuleResult()
            try:
                r(ctx, part)
            except Exception as exc:  # one broken rule (a plug-in's) must not hide the rest
                if _internal.raise_internal_errors():
                    raise
                errors.append((r.rule_id, f"{type(exc).__name__}: {exc}"))
                continue
            result.findings += part.findings
            result.unevaluable += part.unevaluable
        ranks = {r.rule_id: cause_rank(r) for r in self._rules}
        return Diagnosis(ctx.bundle_dir, rank(result.findings, ranks), result.unevaluable,
                         errors, [r.rule_id for r in self._rules], ranks)

    def evaluate(self, bundle_dir: Path | str) -> list[Finding]:
        """The records of :meth:`diagnose` (findings, then "not evaluable" notes)."""
        return self.diagnose(bundle_dir).records()


def load_pack(name: str) -> list[Rule]:
    """A rule pack by name: packs registered under the ``augur.rule_packs`` entry-point
    group first (they may shadow a built-in), then the built-in ``cua`` pack. LookupError
    for an unknown name."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            loaded = ep.load()
            rules = loaded() if callable(loaded) and not hasattr(loaded, "rule_id") else loaded
            if not isinstance(rules, list | tuple) or not all(
                    callable(r) and isinstance(getattr(r, "rule_id", None), str)
                    for r in rules):
                raise TypeError(f"rule pack {name!r} ({ep.value}): expected a list of rules "
                                "(callables with a rule_id)")
            return list(rules)
    if name == "cua":
        from augur_sdk.diagnostics.packs.cua import CUA_RULES

        return list(CUA_RULES)
    raise LookupError(f"unknown rule pack: {name!r}")
