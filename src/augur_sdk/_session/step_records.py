"""How one run records steps beyond the first write (a mixin of ``Recorder``): the record
read back from disk, iterations (0.6.1's ``steps/NNNN/<sha8>.json``), patches to a step after
``record_step`` and the running cost totals. Nothing per step is kept in memory: a patch
reads the step's file, changes it and writes it again."""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Span

from augur_sdk import _internal
from augur_sdk._session.indexes import IndexSet
from augur_sdk._session.spans import StepSpans
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds.builtin import STEP, STEP_ITERATION, STEP_PATCH
from augur_sdk.kinds.spec import RecordKind
from augur_sdk.otel import emit, provider
from augur_sdk.otel.processors import RunSink
from augur_sdk.redaction import RedactionPolicy


class StepRecords:
    """Step iterations and patches; the state is ``Recorder``'s."""

    writer: BundleWriter | None
    sink: RunSink | None
    spans: StepSpans
    known: IndexSet
    mode: CaptureMode
    policy: RedactionPolicy
    pipeline: provider.Pipeline | None
    run_span: Span | None
    run_ctx: otel_context.Context | None
    public_run_id: str
    _cost_totals: dict[str, float]

    def next_seq(self) -> int:  # pragma: no cover - Recorder defines these
        raise NotImplementedError

    def stamp_step(self, record: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _public_step(self, record: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def stored_step(self, index: int) -> dict[str, Any] | None:
        """Step ``index``'s record as written (its latest iteration), if any."""
        return self._stored(index)

    def _stored(self, index: int, step_id: str | None = None) -> dict[str, Any] | None:
        """Step ``index``'s record on disk (``step_id``'s, or its latest iteration)."""
        if self.writer is None:
            return None
        rel = self.writer.step_file(index, step_id)
        return self.writer.read_step(rel) if rel is not None else None

    def _is_new_iteration(self, record: dict[str, Any]) -> bool:
        """A record at an index already recorded, under a step_id none of its files has."""
        index = int(record["step_index"])
        step_id = str(self._public_step(record)["step_id"])
        if self.writer is None or self.writer.step_file(index, step_id) is not None:
            return False  # the same step again: last write wins
        stored = self._stored(index)
        return stored is not None and stored.get("step_id") != step_id

    def _account(self, old: Any, new: Any) -> None:
        """Keep the sum of step costs (for ``successful_task_cost_summary``) without keeping
        any step: a rewritten record's old costs are taken out, its new ones added."""
        for costs, sign in ((old, -1), (new, 1)):
            if isinstance(costs, dict):
                for key, value in costs.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        self._cost_totals[key] = self._cost_totals.get(key, 0) + sign * value

    def step_cost_totals(self) -> dict[str, int | float]:
        return {k: (int(v) if k.startswith(("tokens", "cache")) else v)
                for k, v in self._cost_totals.items() if v}

    def _emit_step(self, record: dict[str, Any], kind: RecordKind = STEP,
                   old: dict[str, Any] | None = None) -> None:
        assert self.pipeline is not None and self.run_ctx is not None
        assert self.sink is not None
        step = self._public_step(record)
        index = int(step["step_index"])
        self._account(None if old is None else old.get("costs"), step.get("costs"))
        observations = self.spans.pending_obs.pop(index, {})
        observations = {
            kind: facts for kind, facts in observations.items()
            if step.get(f"observation_{kind}") == facts["path"]
        }
        # Screenshot digests may still be computing: they go on the span when it ends.
        hashes = [(kind, facts["sha256"]) for kind, facts in observations.items()]
        observations = {kind: {k: v for k, v in facts.items() if k != "sha256"}
                        for kind, facts in observations.items()}
        scope = self.spans.scopes.get(index)
        if scope is not None and scope.is_recording():
            # The step span was opened by step_scope(): fill it in, and let the bundle and
            # stream see the record now (they skipped the span when it started empty).
            open_step = self.spans.open_step
            if open_step is not None and open_step[0] is not scope:
                self.spans.end_open_step()
            end_ns = emit.fill_step_span(scope, step, run_id=self.public_run_id,
                                         seq=self.next_seq(), observations=observations)
            self.sink.on_step_filled(scope, step)
            self.spans.open(scope, index, end_ns, hashes)
            self.spans.filled(index)
            return
        links = []
        if kind is STEP_ITERATION:  # each iteration is a span of its own, linked
            canonical = self.spans.span_for_index(index)
            if canonical is not None:
                links.append(trace.Link(canonical.get_span_context(),
                                        {"augur.link": "iteration_of"}))
        self.spans.end_open_step()
        self.sink.expect_step(step, kind)
        span, end_ns = emit.start_step_span(
            self.pipeline.tracer, self.run_ctx, step, run_id=self.public_run_id,
            seq=self.next_seq(), observations=observations, links=links)
        self.spans.open(span, index, end_ns, hashes)

    def _emit_iteration(self, record: dict[str, Any]) -> None:
        """An iteration: its own file and span; the canonical step counts it."""
        assert self.writer is not None
        index = int(record["step_index"])
        files = self.writer.iterated().get(index)
        canonical_rel = files[0] if files else self.writer.step_file(index)
        canonical = self.writer.read_step(canonical_rel) if canonical_rel else None
        if canonical is None:
            self._emit_step(record)
            return
        record = {k: v for k, v in record.items() if k != "step_iterations"}
        self._emit_step(record, STEP_ITERATION)
        count = canonical.get("step_iterations")
        canonical["step_iterations"] = (count if isinstance(count, int) else 1) + 1
        self._send_patch(index, canonical, {"step_iterations": canonical["step_iterations"]})

    def record_iteration(self, index: int, record: dict[str, Any]) -> None:
        """``record_step_iteration``: the canonical step must exist (raises naming it)."""
        if index not in self.known:
            raise ValueError(f"no canonical step at step_index={index}; call record_step() "
                             "first before recording iterations")
        self.stamp_step(record)
        if self.run_span is None or self.mode < STEP.min_mode or self.writer is None:
            return
        step_id = str(self._public_step(record)["step_id"])
        files = self.writer.iterated().get(index)
        canonical_rel = files[0] if files else self.writer.step_file(index)
        canonical = self.writer.read_step(canonical_rel) if canonical_rel else None
        if canonical is not None and canonical.get("step_id") == step_id:
            raise ValueError(f"record_step_iteration: step_id {record['step_id']!r} collides "
                             "with the canonical step's; an iteration needs its own step_id")
        with _internal.internal_errors("record_step_iteration"):
            if self.writer.step_file(index, step_id) is not None:
                # that iteration again: last write wins
                self._emit_step(record, STEP_ITERATION, old=self._stored(index, step_id))
            else:
                self._emit_iteration(record)

    def resolve_step_id(self, step_id: str) -> int | None:
        """The index of the step (or iteration) with ``step_id``: the open step first, then
        the files on disk, newest first (nothing per step is kept in memory)."""
        if self.writer is None:
            return None
        ids = {step_id, str(self.policy.apply(step_id))}
        open_step = self.spans.open_step
        candidates = [open_step[1]] if open_step is not None else []
        candidates += sorted(self.writer.step_indexes(), reverse=True)
        for index in candidates:
            latest = self.writer.step_file(index)
            files = self.writer.iterated().get(index) or ([latest] if latest else [])
            for rel in files:
                stored = self.writer.read_step(rel)
                if stored is not None and stored.get("step_id") in ids:
                    return index
        return None

    # ── patches ─────────────────────────────────────────────────────────────

    def patch_step(self, method: str, index: int, change: Any,
                   step_id: str | None = None) -> None:
        """Apply ``change(stored step) -> fields`` to step ``index`` (its latest iteration,
        or ``step_id``'s record): checked against the known indexes, redacted, gated, written
        over the step's file, streamed, and put on the spans."""
        if index not in self.known:
            raise ValueError(f"{method}: no step at step_index={index}. Record the step "
                             "first via record_step().")
        if self.run_span is None or self.mode < STEP_PATCH.min_mode or self.writer is None:
            return
        with _internal.internal_errors(method):
            rel = self.writer.step_file(index, step_id)
            stored = self.writer.read_step(rel) if rel is not None else None
            if stored is None:
                return  # not written (a disk failure was counted): nothing to patch
            fields = STEP_PATCH.gate_record(self.policy.apply(change(stored)), self.mode)
            if not fields:
                return
            patched = {**stored, **fields}
            self._account(stored.get("costs"), patched.get("costs"))
            self._send_patch(index, patched, fields)

    def _send_patch(self, index: int, patched: dict[str, Any],
                    fields: dict[str, Any]) -> None:
        assert self.run_span is not None and self.sink is not None
        span = self.spans.span_for_index(index)
        if span is not None and span.is_recording() and \
                (span.attributes or {}).get("augur.step.step_id") == patched.get("step_id"):
            emit.amend_open_step(span, patched, fields, run_id=self.public_run_id)
            self.sink.on_record(STEP_PATCH, patched, span)
            return
        seq = self.next_seq()
        emit.add_amendment(self.run_span, STEP_PATCH.span_event_name, index,
                           str(patched.get("step_id")), fields, seq)
        self.sink.on_record(STEP_PATCH, patched, self.run_span, seq)
