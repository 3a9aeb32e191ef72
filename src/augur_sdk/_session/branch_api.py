"""The branching half of ``DebugSession``'s public API (a mixin): ``branch_from`` makes a
child run that leaves a parent run at one of its steps with one input axis changed.

In ``replay`` mode the parent's steps before the branch point (with their screenshots and
decision events) are copied into the child's bundle when the child starts, through the
child's own pipeline: redacted by its policy, gated by its capture mode, on its spans and
streamed under its run id. Their step spans carry ``augur.replayed_from.*`` and link to the
parent's step spans; the child's run span links to the parent's step span where the branch
leaves it. A replayed step executed nothing: the parent's side effects are not copied, and
declaring one at a replayed step raises. See ``docs/branching.md``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from augur_sdk import _internal, records
from augur_sdk._session import branching
from augur_sdk._session.recorder import Recorder

_S = TypeVar("_S", bound="Branching")


@dataclass
class BranchPlan:
    mode: str  # replay or sandbox
    context: dict[str, Any]  # the branch_context of the session record
    prefix: branching.Prefix | None  # replay: what the child replays when it starts
    spans: branching.ParentSpans
    link_index: int | None  # the parent step the run span links to (None: its run span)
    replayed: bool = False


class Branching:
    """Mixed into ``DebugSession``; uses its lock, its open-check and its recorder."""

    _lock: threading.RLock
    _run: Recorder
    run_id: str
    _branch: BranchPlan | None = None

    def _require_open(self) -> None:  # pragma: no cover - DebugSession defines it
        raise NotImplementedError

    @classmethod
    def branch_from(cls: type[_S], *, parent_run_id: str, branch_point_step_index: int,
                    mutated_axis: str, mutation: Mapping[str, Any], client_name: str,
                    out_dir: str | Path, mode: str = "auto",
                    parent_bundle: str | Path | None = None, branch_id: str | None = None,
                    run_id: str | None = None, **session_kwargs: Any) -> _S:
        """A child session that re-runs a parent run from step ``branch_point_step_index``
        with one input axis changed (``mutated_axis``: ``model``, ``prompt``, ``action``,
        ``grounder`` or ``tool_description``; ``mutation`` says how).

        ``mode``: ``replay`` copies the parent's steps before the branch point from
        ``parent_bundle`` into the child when it starts (the agent continues at the branch
        point); ``sandbox`` records only what the agent runs (from step 0, against a live
        target); ``auto`` is ``sandbox`` for an ``action`` change and ``replay`` otherwise.
        ``branch_id`` defaults to ``<parent_run_id>:branch:<8 hex>``, ``run_id`` to it. The
        other keyword arguments are ``DebugSession``'s. Raises ``ValueError`` (augur-sdk
        0.6.1's messages) for an unknown axis or mode, a negative branch point, ``replay``
        of an ``action`` change or without ``parent_bundle``; ``FileNotFoundError`` when the
        parent bundle has no ``trace.json``. Nothing is written before the child starts.
        """
        resolved = branching.resolve_mode(
            parent_run_id=parent_run_id, branch_point_step_index=branch_point_step_index,
            mutated_axis=mutated_axis, mutation=mutation, mode=mode,
            parent_bundle=parent_bundle)
        if "branch_context" in session_kwargs:
            raise TypeError("branch_context: branch_from sets it (from parent_run_id, "
                            "branch_point_step_index, mutated_axis, mutation and branch_id)")
        bid = branch_id if branch_id is not None else \
            f"{parent_run_id}:branch:{uuid.uuid4().hex[:8]}"
        if not isinstance(bid, str) or not bid:
            raise ValueError("branch_id: must be a non-empty string")
        child_run_id = records.check_run_id(run_id if run_id is not None else bid)
        parent = Path(parent_bundle) if parent_bundle is not None else None
        if parent is not None and not parent.is_dir():
            raise FileNotFoundError(f"parent_bundle: {parent} is not a directory")
        context: dict[str, Any] = {
            "parent_run_id": parent_run_id, "branch_point_step_index": branch_point_step_index,
            "mutated_axis": mutated_axis, "mutation": dict(mutation), "branch_id": bid}
        tags = session_kwargs.pop("tags", None)
        if tags is None or isinstance(tags, Mapping):  # else the constructor names the error
            tags = {**(tags or {}), branching.MODE_TAG: resolved}
        session = cls(run_id=child_run_id, client_name=client_name,  # type: ignore[call-arg]
                      out_dir=out_dir, branch_context=context, tags=tags, **session_kwargs)
        if parent is not None and parent.resolve() == session._run.out_dir.resolve():
            raise ValueError("out_dir: it is the parent_bundle; the branch needs a bundle "
                             "directory of its own")
        policy = session._run.policy
        prefix = None
        if resolved == "replay":
            assert parent is not None
            prefix = branching.load_prefix(
                parent, branch_point_step_index, parent_run_id,
                (parent_run_id, str(policy.apply(parent_run_id))), session.run_id)
        spans = branching.read_parent_spans(parent) if parent is not None \
            else branching.ParentSpans()
        target = spans.link_target(branch_point_step_index)
        if target is not None:
            ids, index = target
            attrs: dict[str, Any] = {
                branching.LINK_ATTR: "branched_from",
                "augur.branch.parent_run_id": str(policy.apply(parent_run_id)),
                "augur.branch.point_step_index": branch_point_step_index}
            if index is not None:
                attrs["augur.branch.parent_step_index"] = index
            session._run.run_links.append(branching.span_link(ids, attrs))
        if resolved == "replay":
            session._run.replayed_below = branch_point_step_index
        session._branch = BranchPlan(resolved, context, prefix, spans,
                                     None if target is None else target[1])
        return session

    @property
    def branch_mode(self) -> str | None:
        """``replay`` or ``sandbox`` for a session made by :meth:`branch_from`, else None."""
        return None if self._branch is None else self._branch.mode

    def _replay_branch_prefix(self) -> None:
        """Once the child records (its run span exists): replay the parent's prefix."""
        plan = self._branch
        if plan is None or plan.replayed or self._run.run_span is None:
            return
        plan.replayed = True
        with _internal.internal_errors("branch_from replay"):
            steps = plan.prefix.steps if plan.prefix is not None else []
            for step in steps:
                self._replay_step(step, plan)
            if self._run.writer is not None:
                self._run.writer.extra_producer_facts["branch"] = self._branch_facts(plan)
            plan.prefix = None  # replayed: nothing of it stays in memory

    def _replay_step(self, step: branching.PrefixStep, plan: BranchPlan) -> None:
        record = dict(step.record)
        index = int(record["step_index"])
        for kind, path in step.shots.items():
            written = self.attach_observation(  # type: ignore[attr-defined]
                step_index=index, kind=kind, png_bytes=path.read_bytes())
            if written is not None:
                record[f"observation_{kind}"] = written
        self.record_step(record)  # type: ignore[attr-defined]
        span = self._run.spans.span_for_index(index)
        if span is not None and span.is_recording():
            policy = self._run.policy
            span.set_attributes({
                "augur.replayed": True,
                "augur.replayed_from.run_id": str(policy.apply(plan.context["parent_run_id"])),
                "augur.replayed_from.step_id": str(policy.apply(step.parent_step_id))})
            ids = plan.spans.steps.get(index)
            if ids is not None:
                span.add_link(branching.span_link(ids, {}).context,
                              {branching.LINK_ATTR: "replay_of"})
        for event in step.events:
            self.record_event(event)  # type: ignore[attr-defined]

    def _branch_facts(self, plan: BranchPlan) -> dict[str, Any]:
        """``producer.json``'s ``branch``: how this run left its parent."""
        policy = self._run.policy
        facts: dict[str, Any] = {
            "mode": plan.mode,
            "parent_run_id": str(policy.apply(plan.context["parent_run_id"])),
            "branch_point_step_index": plan.context["branch_point_step_index"]}
        if plan.prefix is not None:
            facts["replayed_steps"] = [int(s.record["step_index"]) for s in plan.prefix.steps]
            facts["parent_side_effects_not_replayed"] = [
                str(policy.apply(sid)) for sid in plan.prefix.side_effects]
        target = plan.spans.link_target(int(plan.context["branch_point_step_index"]))
        if target is not None:
            facts["parent_span"] = {**target[0], "step_index": plan.link_index}
        return facts

    def _refuse_replayed_step(self, index: int, method: str) -> None:
        """A replayed step executed nothing: it has no side effects of its own."""
        if index < self._run.replayed_below:
            parent = self._branch.context["parent_run_id"] if self._branch else "the parent"
            raise ValueError(
                f"{method}: step_index {index} is a step replayed from run {parent!r} "
                f"(steps before the branch point {self._run.replayed_below}); a replayed "
                "step executed nothing, so it has no side effects to declare")
