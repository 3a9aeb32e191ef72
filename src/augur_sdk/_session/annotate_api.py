"""The annotation half of ``DebugSession``'s public API (a mixin): verdicts, scores, judges,
costs, iterations, versions, fingerprints, loops, subgoals and the task spec.

Each method checks its arguments at the call (``TypeError``/``ValueError`` naming them) and
delegates: a patch to a step goes through ``Recorder.patch_step`` (the step's file rewritten
before the call returns, the stream, the spans); a change of the session record through
``Recorder.update_session``. Names, keywords and defaults are augur-sdk 0.6.1's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from augur_sdk import _internal, records
from augur_sdk._session import annotations as ann
from augur_sdk._session.recorder import Recorder
from augur_sdk.kinds import builtin

Change = Callable[[dict[str, Any]], dict[str, Any]]


def _text(value: Any, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{field}: expected a string, got {type(value).__name__}")
    return value


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{field}: expected a number, got {type(value).__name__}")
    records.clean_json(float(value), field)  # NaN / inf refused
    return float(value)


def _count(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{field}: expected a non-negative int, got {value!r}")
    return int(value)


def _refs(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{field}: expected a list of strings")
    return list(value)


def _costs(values: Mapping[str, Any]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for key, value in values.items():
        if value is None:
            continue
        checked = _count(value, key) if key.startswith(("tokens", "cache")) else \
            _number(value, key)
        assert checked is not None
        out[key] = checked
    return out


def check_task_spec(spec: Any) -> dict[str, Any]:
    """A task spec: a dict with an ``instruction`` and unique subgoal ids (0.6.1's checks),
    then its schema."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"task_spec: expected a dict, got {type(spec).__name__}")
    if "instruction" not in spec:
        raise ValueError("TaskSpec missing required field: 'instruction'")
    seen: set[str] = set()
    for sg in spec.get("subgoals") or []:
        if not isinstance(sg, Mapping):
            continue
        sid = sg.get("subgoal_id")
        if not isinstance(sid, str):
            raise ValueError("TaskSpec.subgoals entry missing 'subgoal_id'")
        if sid in seen:
            raise ValueError(f"TaskSpec.subgoals: duplicate subgoal_id={sid!r}")
        seen.add(sid)
    clean: dict[str, Any] = records.clean_json(spec, "task_spec")
    records.schema_errors("task_spec", clean, "task_spec")
    return clean


class StepAnnotations:
    """Mixed into ``DebugSession``; uses its lock, its open-check and its recorder."""

    _lock: threading.RLock
    _run: Recorder

    def _require_open(self) -> None:  # pragma: no cover - DebugSession defines it
        raise NotImplementedError

    def _patch(self, method: str, step_index: Any, change: Change,
               step_id: str | None = None) -> None:
        index = records.require_index(step_index, "step_index")
        with self._lock:
            self._require_open()
            self._run.patch_step(method, index, change, step_id)

    def _session_change(self, key: str, value: Any) -> None:
        with self._lock:
            self._require_open()
            if value is None:
                self._run.session.pop(key, None)
            else:
                self._run.session[key] = value
            with _internal.internal_errors(f"set {key}"):
                self._run.update_session((f"augur.session.{key}",
                                          f"augur.session_json.{key}"))

    # ── verdicts, scores, judges ────────────────────────────────────────────

    def attach_verifier(self, step_index: int, *, status: str, reason: str | None = None,
                        check: str | None = None, expected: Any = None, actual: Any = None,
                        evidence_refs: list[str] | None = None) -> None:
        """Set a recorded step's verdict from an external check (0.6.1's ``attach_verifier``).

        The status (and reason, evidence) merge into the step's verdict: a score set before
        is kept. ``check``/``expected``/``actual`` make the reason when none is given. A
        ``rule`` judge decision records it. Raises ``ValueError`` for a step never recorded.
        """
        if status not in ann.VERDICT_STATUSES:
            raise ValueError(f"status: {status!r} is not one of "
                             f"{', '.join(ann.VERDICT_STATUSES)}")
        reason = _text(reason, "reason")
        check = _text(check, "check")
        if reason is None and check is not None:
            reason = (f"{check}: expected={records.clean_json(expected, 'expected')!r} "
                      f"actual={records.clean_json(actual, 'actual')!r}")
        refs = _refs(evidence_refs, "evidence_refs")
        judge_id = check or "attach_verifier"
        self._patch("attach_verifier", step_index, lambda step: ann.verifier(
            step, status=status, reason=reason, evidence_refs=refs, judge_id=judge_id))

    def set_score(self, step_index: int, score: float, *, comparator: str | None = None,
                  components: dict[str, float] | None = None, should_stop: bool | None = None,
                  uncertainty: float | None = None) -> None:
        """Merge a continuous score (clamped to [0, 1]) into a step's verdict; its status is
        kept (``unknown`` when it had none). ``comparator`` is one of ``verifier``,
        ``model-judge``, ``exact-match``, ``human``."""
        if comparator is not None and comparator not in ann.VERDICT_COMPARATORS:
            raise ValueError(f"comparator must be one of {sorted(ann.VERDICT_COMPARATORS)}, "
                             f"got {comparator!r}")
        value = _number(score, "score")
        assert value is not None
        if components is not None:
            if not isinstance(components, Mapping):
                raise TypeError("components: expected a dict of str to number")
            components = {str(k): _number(v, f"components.{k}") or 0.0
                          for k, v in components.items()}
        if should_stop is not None and not isinstance(should_stop, bool):
            raise TypeError("should_stop: expected a bool")
        unc = _number(uncertainty, "uncertainty")
        self._patch("set_score", step_index, lambda step: ann.score(
            step, value=value, comparator=comparator, components=components,
            should_stop=should_stop, uncertainty=unc))

    def record_judge_decision(self, step_index: int, *, judge_id: str, judge_type: str,
                              verdict: dict[str, Any], confidence: float | None = None,
                              evidence_refs: list[str] | None = None,
                              judged_at: str | None = None, promote: bool = True) -> None:
        """Append a judge's decision to a step's ``judge_decisions``; with ``promote`` (the
        default) it becomes the step's verdict and ``verdict_source`` names the judge."""
        if judge_type not in ann.JUDGE_TYPES:
            raise ValueError(f"judge_type must be one of rule|model|human|hybrid, "
                             f"got {judge_type!r}")
        if not isinstance(judge_id, str) or not judge_id:
            raise ValueError("judge_id: must be a non-empty string")
        if not isinstance(verdict, Mapping):
            raise TypeError(f"verdict: expected a dict, got {type(verdict).__name__}")
        decision: dict[str, Any] = {"judge_id": judge_id, "judge_type": judge_type,
                                    "verdict": records.clean_json(verdict, "verdict")}
        if confidence is not None:
            decision["confidence"] = ann.clamp01(_number(confidence, "confidence") or 0.0)
        if evidence_refs is not None:
            decision["evidence_refs"] = _refs(evidence_refs, "evidence_refs")
        if judged_at is not None:
            records.iso_to_ns(_text(judged_at, "judged_at") or "", "judged_at")
        decision["judged_at"] = judged_at or records.utcnow_iso()
        records.schema_errors("judge_decision", decision, "judge_decision")
        self._patch("record_judge_decision", step_index,
                    lambda step: ann.judge(step, decision, promote=bool(promote)))

    # ── costs ───────────────────────────────────────────────────────────────

    def set_costs(self, *, total_usd: float | None = None, model_usd: float | None = None,
                  gpu_usd: float | None = None, proxy_usd: float | None = None,
                  tokens_in: int | None = None, tokens_out: int | None = None,
                  cache_hit_tokens: int | None = None) -> None:
        """Merge run-level costs into the session record (and the manifest): unset fields
        are kept. Streamed at once (``PUT /runs/{run}/costs``) when a DSN is set."""
        patch = _costs({"total_usd": total_usd, "model_usd": model_usd, "gpu_usd": gpu_usd,
                        "proxy_usd": proxy_usd, "tokens_in": tokens_in,
                        "tokens_out": tokens_out, "cache_hit_tokens": cache_hit_tokens})
        if not patch:
            return
        with self._lock:
            self._require_open()
            costs = {**(self._run.session.get("costs") or {}), **patch}
            self._run.session["costs"] = costs
            with _internal.internal_errors("set_costs"):
                self._run.update_session(("augur.session_json.costs", "gen_ai.usage.",
                                          "augur.cost."))
                self._run.record(builtin.SESSION_COSTS, dict(costs))

    def set_step_costs(self, step_index: int, *, total_usd: float | None = None,
                       model_usd: float | None = None, tokens_in: int | None = None,
                       tokens_out: int | None = None,
                       cache_hit_tokens: int | None = None) -> None:
        """Merge costs into a recorded step's ``costs`` (unset keys kept)."""
        patch = _costs({"total_usd": total_usd, "model_usd": model_usd, "tokens_in": tokens_in,
                        "tokens_out": tokens_out, "cache_hit_tokens": cache_hit_tokens})
        if not patch:
            return
        self._patch("set_step_costs", step_index,
                    lambda step: ann.merge_member(step, "costs", patch))

    def successful_task_cost_summary(self) -> dict[str, int | float] | None:
        """Run costs rolled up: the run-level costs, and for keys they do not set, the sum
        over every step and iteration recorded. ``None`` when nothing was recorded."""
        with self._lock:
            summary: dict[str, int | float] = dict(self._run.session.get("costs") or {})
            for key, value in self._run.step_cost_totals().items():
                summary.setdefault(key, value)
        return summary or None

    # ── iterations ──────────────────────────────────────────────────────────

    def record_step_iteration(self, step_id_or_index: str | int,
                              iteration: Mapping[str, Any]) -> None:
        """Record another iteration of a recorded step (by its index or step_id): its own
        file ``steps/NNNN/<sha8(step_id)>.json`` and span (linked to the step's); the
        canonical step's ``step_iterations`` counts it. Its ``step_index`` is the step's."""
        forbid = getattr(self, "_forbid_on_orchestrator", None)
        if forbid is not None:
            forbid("record_step_iteration")
        if isinstance(step_id_or_index, str):
            with self._lock:
                index = self._run.resolve_step_id(step_id_or_index)
            if index is None:
                raise ValueError(f"no canonical step with step_id={step_id_or_index!r}; "
                                 "call record_step() first before recording iterations")
        else:
            index = records.require_index(step_id_or_index, "step_id_or_index")
        if not isinstance(iteration, Mapping):
            raise TypeError(f"iteration: expected a dict, got {type(iteration).__name__}")
        record = records.check_step({**iteration, "step_index": index})
        with self._lock:
            self._require_open()
            self._run.record_iteration(index, record)

    # ── versions, fingerprints, loops, subgoals ─────────────────────────────

    def set_step_versions(self, step_index: int, *, model: str | None = None,
                          prompt: str | None = None, prompt_hash: str | None = None,
                          tool_descriptions_hash: str | None = None,
                          code_git_sha: str | None = None, grounder: str | None = None,
                          env_fingerprint_ref: str | None = None) -> None:
        """Merge version axes into a step's ``captured_versions`` (the prompt text itself
        is recorded from ``model_io`` up; its hash and the model from ``metadata``)."""
        patch = {k: _text(v, k) for k, v in ann.present({
            "model": model, "prompt": prompt, "prompt_hash": prompt_hash,
            "tool_descriptions_hash": tool_descriptions_hash, "code_git_sha": code_git_sha,
            "grounder": grounder, "env_fingerprint_ref": env_fingerprint_ref}).items()}
        if not patch:
            return
        self._patch("set_step_versions", step_index,
                    lambda step: ann.merge_member(step, "captured_versions", patch))

    def attach_env_fingerprint(self, step_index: int, *, url_host: str | None = None,
                               url_path_template: str | None = None,
                               viewport_hash: str | None = None, dom_hash: str | None = None,
                               api_shapes: dict[str, str] | None = None,
                               extensions: list[str] | None = None) -> None:
        """Merge a structural environment fingerprint into a step's ``env_fingerprint``."""
        patch: dict[str, Any] = {k: _text(v, k) for k, v in ann.present({
            "url_host": url_host, "url_path_template": url_path_template,
            "viewport_hash": viewport_hash, "dom_hash": dom_hash}).items()}
        if api_shapes is not None:
            patch["api_shapes"] = records.clean_json(dict(api_shapes), "api_shapes")
        if extensions is not None:
            patch["extensions"] = _refs(extensions, "extensions")
        if not patch:
            return
        self._patch("attach_env_fingerprint", step_index,
                    lambda step: ann.merge_member(step, "env_fingerprint", patch))

    def set_loop_detected(self, step_index: int, value: bool = True) -> None:
        """Mark a recorded step as part of a loop (``loop_detected``)."""
        if not isinstance(value, bool):
            raise TypeError("value: expected a bool")
        self._patch("set_loop_detected", step_index, lambda step: {"loop_detected": value})

    def record_subgoal_completion(self, step_index: int, subgoal_id: str,
                                  completion: float) -> None:
        """Upsert a subgoal's completion (clamped to [0, 1]) on a step; the first step where
        it reached 1.0 is carried as ``first_completed_at_step``. A subgoal not declared in
        the task spec warns (``UserWarning``) and is still recorded."""
        if not isinstance(subgoal_id, str) or not subgoal_id:
            raise ValueError("subgoal_id: must be a non-empty string")
        value = ann.clamp01(_number(completion, "completion") or 0.0)
        index = records.require_index(step_index, "step_index")
        if getattr(self, "is_orchestrator", False):
            # An orchestrator has no steps (0.6.1's subgoal API always failed there): a
            # run-level decision event says which subgoal its workers completed.
            self.record_event({  # type: ignore[attr-defined]
                "ts": records.utcnow_iso(), "layer": "runner", "kind": "metric",
                "summary": f"subgoal {subgoal_id} completion {value:g}",
                "detail": {"subgoal_id": subgoal_id, "completion": value,
                           "reported_at_step": index, "orchestrator": True}})
            return
        spec = self._run.session.get("task_spec")
        if isinstance(spec, dict):
            declared = {sg.get("subgoal_id") for sg in spec.get("subgoals") or []
                        if isinstance(sg, dict)}
            if subgoal_id not in declared:
                _internal.warn_user(
                    f"subgoal_id {subgoal_id!r} not declared in task_spec.subgoals; "
                    "record_subgoal_completion still emits but consumers may drop it",
                    UserWarning)
        with self._lock:
            first = self._run.subgoal_first.get(subgoal_id)
            if value >= 1.0 and first is None and index in self._run.known:
                first = self._run.subgoal_first[subgoal_id] = index
        entry: dict[str, Any] = {"subgoal_id": subgoal_id, "completion": value}
        if first is not None:
            entry["first_completed_at_step"] = first
        self._patch("record_subgoal_completion", index,
                    lambda step: ann.subgoal(step, entry))

    # ── the task ────────────────────────────────────────────────────────────

    def set_task_spec(self, spec: dict[str, Any]) -> None:
        """Set or replace the run's task spec (``instruction`` required, subgoal ids
        unique; checked against its schema)."""
        self._session_change("task_spec", check_task_spec(spec))

    def set_task_spec_id(self, task_spec_id: str) -> None:
        """Set the run's ``task_spec_id`` (an id in your task library)."""
        if not isinstance(task_spec_id, str) or not task_spec_id:
            raise ValueError("task_spec_id: must be a non-empty string")
        self._session_change("task_spec_id", task_spec_id)

    def set_group_id(self, group_id: str) -> None:
        """Set the grouped-rollout id stamped on every step recorded after this call."""
        if not isinstance(group_id, str) or not group_id:
            raise ValueError("group_id: must be a non-empty string")
        with self._lock:
            self._require_open()
            self._run.group_id = group_id
