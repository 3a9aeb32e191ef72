"""The run-structure half of ``DebugSession``'s public API (a mixin): outcomes, eval
candidates, live endpoints, sending the session record mid-run, orchestrators and the
environment that makes a worker process's run a child of this one (W3C ``TRACEPARENT``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from augur_sdk import _internal, gating, records
from augur_sdk._session.recorder import Recorder
from augur_sdk.kinds import builtin

ORCHESTRATOR_TAG_KEY = "augur.session_type"
ORCHESTRATOR_TAG_VALUE = "orchestrator"
PARENT_RUN_ENV = "AUGUR_PARENT_RUN_ID"
PARENT_RUN_TAG = "augur.parent_run_id"
TRACEPARENT_ENV = "TRACEPARENT"

_propagator = TraceContextTextMapPropagator()


def resolve_parent(parent: Any, environ: Mapping[str, str] | None = None,
                   ) -> otel_context.Context:
    """The context a run span starts in, in this order: an explicit ``parent`` (a span, a
    context, or a W3C traceparent string), else ``$TRACEPARENT``, else the current one."""
    env = os.environ if environ is None else environ
    if isinstance(parent, trace.Span):
        return trace.set_span_in_context(parent)
    if isinstance(parent, otel_context.Context):
        return parent
    carrier = parent if isinstance(parent, str) else env.get(TRACEPARENT_ENV)
    if carrier:
        ctx = _propagator.extract({"traceparent": carrier})
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
        if isinstance(parent, str):
            raise ValueError(f"parent: {parent!r} is not a W3C traceparent")
    if parent is not None and not isinstance(parent, str):
        raise TypeError(f"parent: expected a span, a context or a traceparent, got "
                        f"{type(parent).__name__}")
    return otel_context.get_current()


class RunStructure:
    """Mixed into ``DebugSession``; uses its lock, its open-check and its recorder."""

    _lock: threading.RLock
    _run: Recorder
    run_id: str

    def _require_open(self) -> None:  # pragma: no cover - DebugSession defines it
        raise NotImplementedError

    @property
    def is_orchestrator(self) -> bool:
        """True for a parent run opened with :meth:`open_orchestrator` (no steps)."""
        return self._run.tags.get(ORCHESTRATOR_TAG_KEY) == ORCHESTRATOR_TAG_VALUE

    def worker_env(self) -> dict[str, str]:
        """The environment a worker process needs for its run to be a child of this one:
        ``TRACEPARENT`` (W3C trace context of this run's span) and ``AUGUR_PARENT_RUN_ID``.
        Pass it to ``subprocess.Popen(env={**os.environ, **session.worker_env()})``."""
        env = {PARENT_RUN_ENV: self.run_id}
        span = self._run.run_span
        if span is not None:
            carrier: dict[str, str] = {}
            _propagator.inject(carrier, context=trace.set_span_in_context(span))
            if "traceparent" in carrier:
                env[TRACEPARENT_ENV] = carrier["traceparent"]
        return env

    def finalize_outcome(self, *, scope: str = "session", step_index: int | None = None,
                         verdict: dict[str, Any] | None = None, task_class: str | None = None,
                         cost_summary: dict[str, int | float] | None = None,
                         ) -> dict[str, Any]:
        """Record an outcome (a verdict with its cost and task class) in ``outcomes.json``:
        the run's (``scope="session"``: costs rolled up when not given) or a step's
        (``scope="step"``: the step's verdict and costs when not given). Returns it."""
        if scope not in ("step", "session"):
            raise ValueError(f"scope must be 'step' or 'session', got {scope!r}")
        record: dict[str, Any] = {"scope": scope, "finalized_at": records.utcnow_iso()}
        if task_class is not None:
            record["task_class"] = task_class
        if verdict is not None:
            record["verdict"] = records.clean_json(dict(verdict), "verdict")
        if cost_summary is not None:
            record["cost_summary"] = records.clean_json(dict(cost_summary), "cost_summary")
        if scope == "step":
            if step_index is None:
                raise ValueError("scope='step' requires step_index")
            index = records.require_index(step_index, "step_index")
            with self._lock:
                if index not in self._run.known:
                    raise ValueError(f"finalize_outcome: no step at step_index={index}")
                stored = self._run.stored_step(index) or {}
            record["step_index"] = index
            if "verdict" not in record and isinstance(stored.get("verdict"), dict):
                record["verdict"] = stored["verdict"]
            if "cost_summary" not in record and isinstance(stored.get("costs"), dict):
                record["cost_summary"] = stored["costs"]
        elif "cost_summary" not in record:
            summary = self.successful_task_cost_summary()  # type: ignore[attr-defined]
            if summary:
                record["cost_summary"] = summary
        records.schema_errors("outcome_record", record, "outcome")
        with self._lock:
            self._require_open()
            self._run.record(builtin.OUTCOME, record)
        return dict(record)

    def mark_for_eval(self, step_index: int, reason: str, *,
                      candidate_cluster_id: str | None = None) -> None:
        """Tag a step as a regression-fixture candidate (``eval_candidates.json``; a later
        tag of the same step replaces it). The step need not be recorded yet."""
        index = records.require_index(step_index, "step_index")
        if not isinstance(reason, str) or not reason:
            raise ValueError("reason: must be a non-empty string")
        record: dict[str, Any] = {"step_index": index, "reason": reason,
                                  "tagged_at": records.utcnow_iso()}
        if candidate_cluster_id is not None:
            record["candidate_cluster_id"] = str(candidate_cluster_id)
        with self._lock:
            self._require_open()
            mode = self._run.mode
            if gating.records_anything(mode) and mode < builtin.EVAL_CANDIDATE.min_mode:
                _internal.log_once(
                    "eval-candidate-below-trace", 30,
                    "augur_sdk: mark_for_eval(%d) is not recorded at capture mode %r: an eval "
                    "candidate's reason is free text, kept from 'trace' up (record with "
                    "capture_mode='trace', or set_capture_mode('trace') before tagging)",
                    index, mode.value)
            self._run.record(builtin.EVAL_CANDIDATE, record)

    def set_live_endpoints(self, *, status_url: str | None = None,
                           video_url: str | None = None,
                           reasoning_url: str | None = None) -> None:
        """Record where the run can be watched live (``session.live``)."""
        live = {k: v for k, v in (("status_url", status_url), ("video_url", video_url),
                                  ("reasoning_url", reasoning_url)) if v is not None}
        for key, value in live.items():
            if not isinstance(value, str):
                raise TypeError(f"{key}: expected a string")
        with self._lock:
            self._require_open()
            self._run.session["live"] = live
            with _internal.internal_errors("set_live_endpoints"):
                self._run.update_session(("augur.session_json.live",))

    def flush_session_metadata(self) -> None:
        """Send the session record as it is now (tags, costs, task spec...) to the sinks:
        the bundle's live marker and, when streaming, ``PUT /runs/{run}/session``."""
        with self._lock:
            self._require_open()
            with _internal.internal_errors("flush_session_metadata"):
                self._run.update_session(("augur.session_json.tags",))
