"""One run's pipeline: check -> redact -> gate -> emit -> sinks, for every record kind.

The session facade checks the caller's input (raising at the call) and hands the clean
record here, under its lock. :meth:`Recorder.record` redacts it, gates it by the current
capture mode, puts it on the run's spans where its kind's spec says (:class:`Placement`),
and hands the very record the span was encoded from to the run's sink: the bundle writer
first, then the stream. Runtime failures never raise into the agent (the internal-error
gate).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import SpanKind

from augur_sdk import _internal, codec, gating, records
from augur_sdk._session import ledger as side_effects
from augur_sdk._session.indexes import IndexSet
from augur_sdk._session.options import SessionOptions, new_debug_session_id
from augur_sdk._session.spans import StepSpans
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds.builtin import SESSION, SIDE_EFFECT, STEP, STEP_ITERATION, STEP_PATCH
from augur_sdk.kinds.spec import Placement, RecordKind
from augur_sdk.otel import emit, provider
from augur_sdk.otel.processors import BundleSpanProcessor, RunSink
from augur_sdk.stream.client import client_for
from augur_sdk.stream.dsn import resolve_dsn
from augur_sdk.stream.processor import StreamSpanProcessor


class Recorder:
    """The machinery of one run (not thread-safe by itself: the facade holds its lock)."""

    def __init__(self, options: SessionOptions) -> None:
        self.opts = options
        self.run_id = options.run_id
        self.policy = options.policy
        self.session = options.session
        self.tags = options.tags
        self.out_dir = options.out_dir
        self.debug_session_id = options.debug_session_id
        self.mode: CaptureMode = options.capture_mode  # what the next record is gated by
        self.mode_override: CaptureMode | None = None
        self.group_id = options.group_id  # stamped on every later step
        # What leaves the process (files, spans, stream, log lines) uses the redacted run id.
        self.public_run_id = str(self.policy.apply(self.run_id))
        self.writer: BundleWriter | None = None
        self.bundle: BundleSpanProcessor | None = None
        self.sink: RunSink | None = None
        self.stream: StreamSpanProcessor | None = None
        self.pipeline: provider.Pipeline | None = None
        self.parent_ctx: otel_context.Context | None = None
        self.run_span: Span | None = None
        self.run_ctx: otel_context.Context | None = None
        self.spans = StepSpans()
        self.known = IndexSet()  # every step index recorded, whatever the mode
        self.subgoal_first: dict[str, int] = {}  # subgoal id -> first step it completed at
        self.ledger = side_effects.Ledger()
        self._cost_totals: dict[str, float] = {}  # step costs summed (iterations included)
        self._seq = 0
        self._warned_step_id = False

    # ── the run ─────────────────────────────────────────────────────────────

    def redacted_session(self) -> dict[str, Any]:
        redacted: dict[str, Any] = self.policy.apply(self.session)
        return redacted

    def start_run(self) -> None:
        if self.run_span is not None:
            return
        with _internal.internal_errors("start"):
            self.writer = BundleWriter(self.out_dir, policy_id=str(self.policy.id),
                                       fsync=self.opts.fsync, spare_files=True, keep_open=True)
            self.bundle = BundleSpanProcessor(self.writer)
            # The client name leaves the process too (service.name, the stream's heartbeat).
            client_name = str(self.redacted_session()["client"]["name"])
            self.pipeline = provider.get_pipeline(client_name)
            dsn = resolve_dsn(self.opts.dsn)
            if dsn is not None:
                client = client_for(dsn, client_name)
                self.stream = StreamSpanProcessor(client, self.bundle, self.public_run_id,
                                                  self.opts.capture_mode.value)
            sink = RunSink(self.bundle, self.opts.span_processors, self.stream)
            self.sink = sink
            self.pipeline.router.expect_run(self.debug_session_id, sink)
            span = emit.start_run_span(self.pipeline.tracer, self.redacted_session(),
                                       self.parent_ctx, str(self.policy.id))
            self.run_span = span
            self.run_ctx = trace.set_span_in_context(span)

    def end_run(self, budget_s: float) -> dict[str, Any] | None:
        assert self.run_span is not None and self.bundle is not None
        unsettled = self.unsettled()
        if unsettled and self.writer is not None:
            self.writer.extra_producer_facts["unsettled_side_effects"] = unsettled
            _internal.logger.warning(
                "augur_sdk: run %r closed with %d side effect(s) declared but neither committed "
                "nor aborted (%s); they stay intent_only in the bundle", self.public_run_id,
                len(unsettled), ", ".join(unsettled[:5]))
        self.spans.end_open_step()
        self.spans.end_hashed_spans(wait_s=budget_s)
        emit.end_run_span(self.run_span, self.redacted_session())
        return self.bundle.manifest

    def set_mode(self, mode: CaptureMode) -> None:
        self.mode = mode
        self.mode_override = mode
        if gating.records_anything(mode):
            self.start_run()

    def update_session(self, prefixes: tuple[str, ...] = ("augur.tag.",
                                                          "augur.session_json.tags"),
                       ) -> None:
        """The session record changed (tags, costs, task spec): the run span's attributes
        under ``prefixes`` and the sinks get it."""
        if self.run_span is None or self.sink is None:
            return
        attrs = codec.run_attributes(self.redacted_session())
        for name, val in attrs.items():
            if name.startswith(prefixes):
                self.run_span.set_attribute(name, val)
        # The sinks get the record as the run span now carries it (what a collector sees).
        self.sink.on_record(SESSION, codec.decode_session(self.run_span.attributes or {}),
                            self.run_span)

    def detach_after_fork(self) -> None:
        """In a forked child: continue in a bundle of its own, ``<out_dir>.fork-<pid>``.

        The parent keeps its bundle and spans; the child's run gets a new debug session id,
        the tag ``augur.forked_from`` and a run span that is a child of the parent's run span,
        so neither process writes the other's files.
        """
        parent_id = self.debug_session_id
        self.parent_ctx = self.run_ctx
        self.writer = self.bundle = self.sink = self.stream = None
        self.run_span = self.run_ctx = None
        self.spans = StepSpans()  # the parent's hasher threads are not here
        self._seq = 0
        self.out_dir = Path(f"{self.out_dir}.fork-{os.getpid()}")
        self.debug_session_id = new_debug_session_id()
        self.session["debug_session_id"] = self.debug_session_id
        self.tags["augur.forked_from"] = parent_id
        self.session["tags"] = dict(self.tags)

    # ── records ─────────────────────────────────────────────────────────────

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def record(self, kind: RecordKind, record: dict[str, Any]) -> None:
        """Redact, gate, emit and hand ``record`` (checked, private) to the sinks."""
        repeat = False
        if kind is STEP:
            index = record["step_index"]
            repeat = index in self.known
            self.known.add(index)
        if self.run_span is None or self.mode < kind.min_mode:
            return
        if kind is STEP:
            self._record_step(record, repeat)
            return
        with _internal.internal_errors(f"record {kind.name}"):
            redacted = self.policy.apply(record)
            gated = kind.gate_record(redacted, self.mode)
            if gated is None:
                return
            self._emit(kind, gated)

    def _emit(self, kind: RecordKind, record: dict[str, Any]) -> None:
        assert self.run_span is not None and self.sink is not None
        step_span = self.spans.span_for_index(record.get("step_index"))
        target: Span = self.run_span if step_span is None else step_span
        placement = kind.placement
        if placement is Placement.SPAN_EVENT:
            seq = self.next_seq()
            attrs = codec.event_attributes(record, seq=seq, kind=kind.name)
            if kind.span_attributes is not None:
                attrs.update(kind.span_attributes(record))
            stamp = record.get(kind.timestamp_field) if kind.timestamp_field else None
            target.add_event(kind.span_event_name, attrs,
                             timestamp=records.iso_to_ns(
                                 stamp, f"{kind.name}.{kind.timestamp_field}")
                             if isinstance(stamp, str) else None)
            self.sink.on_record(kind, record, target,
                                seq if target is self.run_span else None)
        elif placement is Placement.CHILD_SPAN:
            assert self.pipeline is not None
            child = self.pipeline.tracer.start_span(
                kind.span_event_name, context=trace.set_span_in_context(target),
                kind=SpanKind.INTERNAL,
                attributes=codec.record_attributes(kind.name, record, seq=self.next_seq()))
            self.sink.on_record(kind, record, child)  # type: ignore[arg-type]
            child.end()
        else:  # RUN_SPAN / NONE: no span of its own, only the sinks
            self.sink.on_record(kind, record, target)

    def stamp_step(self, record: dict[str, Any]) -> None:
        """What the session stamps on every step it records: group id, changed mode."""
        if self.group_id is not None:
            record.setdefault("group_id", self.group_id)
        if self.mode_override is not None:
            record.setdefault("capture_mode", self.mode_override.value)

    def _record_step(self, record: dict[str, Any], repeat: bool) -> None:
        self.stamp_step(record)
        self._warn_step_id(record)
        iteration = False
        with _internal.internal_errors("record_step"):
            iteration = repeat and self._is_new_iteration(record)
        with _internal.internal_errors("record_step"):
            if iteration:
                self._emit_iteration(record)
            else:
                old = self._stored(int(record["step_index"]),
                                   str(self._public_step(record)["step_id"])) if repeat \
                    else None
                self._emit_step(record, old=old)
        if iteration:  # recorded first, then outside the gate (a filter may make it raise)
            _internal.warn_user(
                "record_step() with a new step_id at an existing step_index is deprecated; "
                "use DebugSession.record_step_iteration() to append iterations under the "
                "canonical step", DeprecationWarning)

    def _warn_step_id(self, record: dict[str, Any]) -> None:
        expected = f"{self.run_id}/step/{record['step_index']:04d}"
        if record["step_id"] != expected and not self._warned_step_id:
            self._warned_step_id = True
            _internal.logger.warning(
                "augur_sdk: step_id %r does not follow the convention '<run_id>/step/<NNNN>' "
                "(expected %r); `augur validate` will report it",
                self.policy.apply(record["step_id"]), self.policy.apply(expected),
            )

    def _public_step(self, record: dict[str, Any]) -> dict[str, Any]:
        """The step as it leaves the process: redacted, gated, its conventional id kept."""
        step = gating.gate_step(self.policy.apply(record), self.mode)
        conventional = f"{self.run_id}/step/{record['step_index']:04d}"
        if record["step_id"] == conventional:
            # Redact the run id as a unit: a pattern must not swallow "/step/NNNN" too, or the
            # step id would no longer follow the convention of the (redacted) run id.
            step["step_id"] = f"{self.public_run_id}/step/{record['step_index']:04d}"
        return step

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

    # ── the side-effect ledger ──────────────────────────────────────────────

    def declare(self, record: dict[str, Any]) -> None:
        """A new side effect, intent_only: on disk, streamed, and its span started."""
        sid = record["side_effect_id"]
        if self.ledger.state(sid) is not None:
            raise ValueError(f"declare_side_effect: side_effect_id={sid!r} is already declared")
        known = self._stored(int(record["step_index"]))
        if known is not None and isinstance(known.get("step_id"), str):
            record["step_id"] = known["step_id"]  # linked when the step is recorded already
        pending = side_effects.Pending(record, None)
        self.ledger.pending[sid] = pending
        if self.run_span is None or self.mode < SIDE_EFFECT.min_mode or self.pipeline is None:
            return
        with _internal.internal_errors("declare_side_effect"):
            public = self._public_side_effect(record)
            if public is None:
                return
            parent = self.spans.span_for_index(record["step_index"]) or self.run_span
            pending.span = side_effects.start_span(self.pipeline.tracer, parent, public)
            assert self.sink is not None
            self.sink.on_record(SIDE_EFFECT, public, pending.span)

    def settle(self, method: str, sid: str, status: str, changes: dict[str, Any]) -> None:
        """Commit or abort a pending side effect (its file rewritten, its span ended)."""
        state = self.ledger.state(sid)
        if state is None:
            raise ValueError(f"{method}: unknown side_effect_id={sid!r}. Declare it first via "
                             "declare_side_effect().")
        if state != "intent_only":
            raise ValueError(f"{method}: side_effect_id={sid!r} is already {state!r}")
        pending = self.ledger.pending.pop(sid)
        self.ledger.settled[sid] = status
        record = {**pending.record, **changes, "status": status}
        if self.run_span is None or self.mode < SIDE_EFFECT.min_mode:
            return
        with _internal.internal_errors(method):
            public = self._public_side_effect(record)
            if public is None:
                return
            assert self.sink is not None
            self.sink.on_record(SIDE_EFFECT, public, pending.span or self.run_span)
            if pending.span is not None:
                side_effects.end_span(pending.span, public)

    def _public_side_effect(self, record: dict[str, Any]) -> dict[str, Any] | None:
        public = SIDE_EFFECT.gate_record(self.policy.apply(record), self.mode)
        if public is not None and public.get("side_effect_id") != record["side_effect_id"]:
            public["side_effect_id"] = record["side_effect_id"]  # checked: a plain file name
        return public

    def unsettled(self) -> list[str]:
        """Side effects still pending: at close they stay intent_only, listed, and their
        spans end (without an ERROR: nothing says they failed)."""
        ids = sorted(self.ledger.pending)
        for sid in ids:
            span = self.ledger.pending[sid].span
            if span is not None and span.end_time is None:
                with _internal.internal_errors("unsettled side effect"):
                    span.set_attribute("augur.side_effect.unsettled", True)
                    span.end()
        return ids

    # ── step scopes ─────────────────────────────────────────────────────────

    def open_scope(self, index: int, step_type: str | None) -> Span | None:
        if self.run_span is None or self.pipeline is None:
            return None
        self.spans.end_open_step()
        assert self.run_ctx is not None
        span = emit.start_scope_span(self.pipeline.tracer, self.run_ctx, index, step_type,
                                     run_id=self.public_run_id)
        self.spans.scopes[index] = span
        return span

    # ── screenshots ─────────────────────────────────────────────────────────

    def write_observation(self, index: int, kind: str, data: bytes, width: int, height: int,
                          regions: list[Any]) -> str:
        assert self.writer is not None
        path = f"screenshots/{index:04d}_{kind}.png"
        with _internal.internal_errors("attach_observation"):
            facts = self.writer.write_screenshot(index, kind, data)
            if facts is not None:
                if regions:
                    facts["masked_regions"] = len(regions)
                    self.writer.write_observation_record(path, {
                        "artifact": path, "media_type": "image/png", "width": width,
                        "height": height, "coordinate_space": "screenshot_px",
                        "hashes": {"sha256": facts["sha256"].result()},
                        "redaction": {"applied": True, "policy_id": str(self.policy.id),
                                      "regions": regions},
                    })
                self.spans.pending_obs.setdefault(index, {})[kind] = facts
            if self.stream is not None:
                self.stream.send_screenshot(index, kind, data)
        return path

    # ── closing ─────────────────────────────────────────────────────────────

    def close_budget(self) -> float:
        if self.opts.close_timeout_s is not None:
            return self.opts.close_timeout_s
        return self.pipeline.settings.close_timeout_s if self.pipeline is not None else 5.0

    def flush_exporters(self) -> None:
        """Wait for OTLP/extra exporters and the stream together, within one close budget."""
        pipeline = self.pipeline
        if pipeline is None or self.run_span is None:
            return
        budget = self.close_budget()
        deadline = time.monotonic() + budget
        with _internal.internal_errors("flush"):
            sink = self.sink
            extras_done = pipeline.flush_in_background(
                budget, extra=None if sink is None else sink.flush_extras)
            stream_ok = True
            if self.stream is not None:
                stream_ok = self.stream.client.flush_run(self.public_run_id, budget)
            exporters_ok = extras_done.wait(max(0.0, deadline - time.monotonic()))
            if not exporters_ok:
                _internal.log_once(
                    "flush-timeout", 30,
                    "augur_sdk: exporters did not finish within %.1fs at close; the bundle is "
                    "complete, spans still queued are sent in the background "
                    "(or later with `augur export-otlp`)", budget,
                )
            if self.stream is not None:
                self._report_stream(stream_ok)

    def _report_stream(self, finished: bool) -> None:
        assert self.stream is not None and self.writer is not None
        client = self.stream.client
        stats = client.stats(self.public_run_id)
        dropped = dict(stats.dropped)
        if not finished:
            dropped["unsent_at_close"] = dropped.get("unsent_at_close", 0) + stats.pending
        facts = {"server": client.dsn.base_url, "tenant": client.dsn.tenant,
                 "sent": stats.sent, "dropped": dropped, "complete": not dropped,
                 "server_down_at_close": client.server_down()}
        self.writer.write_stream_report(facts)
        if dropped:
            _internal.logger.warning(
                "augur_sdk: streaming run %r to %s lost %d request(s) (%s); the local bundle "
                "is complete, see %s/stream.json", self.public_run_id, client.dsn.base_url,
                sum(dropped.values()),
                ", ".join(f"{n} {why}" for why, n in sorted(dropped.items())), self.out_dir)
        client.forget_run(self.public_run_id)
