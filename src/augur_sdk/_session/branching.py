"""Branching from a step of a parent run: the checks of ``DebugSession.branch_from`` (augur-sdk
0.6.1's rules and messages) and what a branch takes from the parent's bundle.

Everything here reads; nothing writes. The parent's prefix (its steps before the branch point,
their decision events and the paths of their screenshots) is read and checked when the branch
is made, so a bad parent raises at ``branch_from`` and the child's bundle is never started;
the child replays it when it starts (``branch_api``), under its own run id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace

from augur_sdk import records
from augur_sdk._session.options import BRANCH_AXES
from augur_sdk.bundle import layout

AXES = BRANCH_AXES  # the axes a branch may mutate (0.6.1's)
MODES = ("replay", "sandbox", "auto")
MODE_TAG = "augur.branch_mode"  # on the child's session record: which steps were replayed
LINK_ATTR = "augur.link"  # as the link of a step iteration to its canonical step
# Fields of a parent step the child sets itself (or that describe files not copied).
_NOT_REPLAYED = ("step_iterations", "observation_pre", "observation_post", "branch_context",
                 "capture_mode", "group_id")


def resolve_mode(*, parent_run_id: Any, branch_point_step_index: Any, mutated_axis: Any,
                 mutation: Any, mode: Any, parent_bundle: Any) -> str:
    """Check ``branch_from``'s own arguments; return the mode ``auto`` stands for."""
    if not isinstance(parent_run_id, str) or not parent_run_id:
        raise ValueError("parent_run_id: must be a non-empty string")
    if mutated_axis not in AXES:
        raise ValueError(f"mutated_axis must be one of {sorted(AXES)}, got {mutated_axis!r}")
    if isinstance(branch_point_step_index, bool) or \
            not isinstance(branch_point_step_index, int):
        raise TypeError("branch_point_step_index: expected an int, got "
                        f"{type(branch_point_step_index).__name__}")
    if branch_point_step_index < 0:
        raise ValueError(
            f"branch_point_step_index must be >= 0, got {branch_point_step_index}")
    if mode not in MODES:
        raise ValueError(f"mode must be 'replay'|'sandbox'|'auto', got {mode!r}")
    if not isinstance(mutation, Mapping):
        raise TypeError(f"mutation: expected a dict, got {type(mutation).__name__}")
    if parent_bundle is not None and not isinstance(parent_bundle, str | os.PathLike):
        raise TypeError(f"parent_bundle: expected a path, got {type(parent_bundle).__name__}")
    resolved = str(mode)
    if resolved == "auto":  # a changed action makes the parent's later screens untrue
        resolved = "sandbox" if mutated_axis == "action" else "replay"
    if resolved == "replay" and mutated_axis == "action":
        raise ValueError(
            "replay mode is unsound when mutated_axis='action': with another action the "
            "parent's later observations are not what the agent will see. Use "
            "mode='sandbox' to run the branch afresh against a live target.")
    if resolved == "replay" and parent_bundle is None:
        raise ValueError(
            "replay mode needs parent_bundle, the parent's Augur bundle to copy the steps "
            "before the branch point from: pass parent_bundle=<path> or use mode='sandbox'.")
    return resolved


@dataclass
class ParentSpans:
    """The parent's span ids from its ``otel/spans.jsonl``: its run span and, per step
    index, the span of its canonical step (the first line written for that index)."""

    run: dict[str, str] | None = None
    steps: dict[int, dict[str, str]] = field(default_factory=dict)

    def link_target(self, branch_point: int) -> tuple[dict[str, str], int | None] | None:
        """Where the branch leaves the parent: the step it re-runs, else the last step
        before it, else the parent's run span."""
        for index in (branch_point, branch_point - 1):
            if index in self.steps:
                return self.steps[index], index
        return (self.run, None) if self.run is not None else None


def _ids(entry: Mapping[str, Any]) -> dict[str, str] | None:
    trace_id, span_id = entry.get("trace_id"), entry.get("span_id")
    try:
        if int(str(trace_id), 16) and int(str(span_id), 16):
            return {"trace_id": str(trace_id), "span_id": str(span_id)}
    except ValueError:
        pass
    return None


def read_parent_spans(bundle: Path) -> ParentSpans:
    """What the parent's span sidecar says; empty when it has none (an imported bundle)."""
    found = ParentSpans()
    try:
        lines = (bundle / layout.SPANS_SIDECAR).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return found
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed run
        if not isinstance(entry, dict):
            continue
        ids = _ids(entry)
        if ids is None:
            continue
        if entry.get("kind") == "run" and found.run is None:
            found.run = ids
        elif entry.get("kind") == "step" and isinstance(entry.get("step_index"), int):
            found.steps.setdefault(int(entry["step_index"]), ids)
    return found


def span_link(ids: Mapping[str, str], attributes: Mapping[str, Any]) -> trace.Link:
    sampled = trace.TraceFlags(trace.TraceFlags.SAMPLED)
    context = trace.SpanContext(int(ids["trace_id"], 16), int(ids["span_id"], 16),
                                is_remote=True, trace_flags=sampled)
    return trace.Link(context, dict(attributes))


@dataclass
class PrefixStep:
    """One parent step to replay: its record as the child records it, the parent's step id,
    its screenshots (kind -> file in the parent) and its decision events."""

    record: dict[str, Any]
    parent_step_id: str
    shots: dict[str, Path]
    events: list[dict[str, Any]]


@dataclass
class Prefix:
    steps: list[PrefixStep]
    parent_run_id: str  # as the parent's bundle names it
    side_effects: list[str]  # the parent's side effects in the prefix: never replayed


def _read_trace(bundle: Path) -> dict[str, Any]:
    path = bundle / layout.TRACE
    if not path.is_file():
        hint = ""
        if (bundle / "steps").is_dir() or (bundle / layout.LIVE).exists():
            hint = f" (an unfinished run: finish it with `augur recover {bundle}` first)"
        raise FileNotFoundError(f"parent_bundle does not contain trace.json: {bundle}{hint}")
    try:
        trace_doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"parent_bundle: {path} is not readable JSON ({exc})") from None
    if not isinstance(trace_doc, dict) or not isinstance(trace_doc.get("steps"), list):
        raise ValueError(f"parent_bundle: {path} has no list of steps")
    return trace_doc


def _events(bundle: Path, index: int) -> list[dict[str, Any]]:
    path = bundle / "events" / f"{index:04d}.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"parent_bundle: cannot read {path} ({exc})") from None
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(records.check_event(json.loads(line)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"parent_bundle: {path} line {n} is not a decision event "
                             f"({exc})") from None
    return events


def _side_effects_before(bundle: Path, branch_point: int) -> list[str]:
    try:
        names = sorted(p.name for p in (bundle / "side_effects").glob("*.json"))
    except OSError:
        return []
    found = []
    for name in names:
        head, _, rest = name.partition("-")
        if head.isdigit() and int(head) < branch_point and rest.endswith(".json"):
            found.append(rest[:-len(".json")])
    return found


def load_prefix(bundle: Path, branch_point: int, parent_run_id: str,
                run_id_forms: tuple[str, ...], child_run_id: str) -> Prefix:
    """The parent's steps before ``branch_point``, checked as ``record_step`` checks a step.

    ``run_id_forms`` are the ways the parent's bundle may name ``parent_run_id`` (as given, or
    as the child's redaction policy writes it); a bundle of another run is refused. A step id
    that follows the parent's convention (``<run>/step/NNNN``) becomes the child's.
    """
    trace_doc = _read_trace(bundle)
    session = trace_doc.get("session")
    bundle_run = session.get("run_id") if isinstance(session, dict) else None
    if isinstance(bundle_run, str) and bundle_run not in run_id_forms:
        raise ValueError(f"parent_run_id: {parent_run_id!r}, but parent_bundle {bundle} is "
                         f"run {bundle_run!r}")
    parent_id = bundle_run if isinstance(bundle_run, str) else parent_run_id
    indexes = [s.get("step_index") for s in trace_doc["steps"] if isinstance(s, dict)]
    last = max((i for i in indexes if isinstance(i, int)), default=-1)
    if branch_point > last + 1:
        raise ValueError(f"branch_point_step_index: {branch_point} is past the end of the "
                         f"parent run (its last step is {last}, so at most {last + 1})")
    steps: list[PrefixStep] = []
    seen: set[int] = set()
    for n, raw in enumerate(trace_doc["steps"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("step_index"), int):
            raise ValueError(f"parent_bundle: trace.json steps[{n}] has no step_index")
        index = int(raw["step_index"])
        if index >= branch_point or index in seen:
            continue
        seen.add(index)
        try:
            record = records.check_step(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"parent_bundle: step {index} of {bundle}/trace.json is not a "
                             f"valid step ({exc})") from None
        shots = {}
        for kind in records.OBSERVATION_KINDS:
            ref = record.get(f"observation_{kind}")
            if isinstance(ref, str) and ref.startswith("screenshots/") and ".." not in ref \
                    and (bundle / ref).is_file():
                shots[kind] = bundle / ref
        parent_step_id = str(record["step_id"])
        if parent_step_id == f"{parent_id}/step/{index:04d}":
            record["step_id"] = f"{child_run_id}/step/{index:04d}"
        for key in _NOT_REPLAYED:
            record.pop(key, None)
        steps.append(PrefixStep(record, parent_step_id, shots, _events(bundle, index)))
    steps.sort(key=lambda s: int(s.record["step_index"]))
    return Prefix(steps, parent_id, _side_effects_before(bundle, branch_point))
