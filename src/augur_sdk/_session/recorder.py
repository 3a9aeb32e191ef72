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
from augur_sdk._session.ledger import LedgerRecords
from augur_sdk._session.modelio_records import ModelIORecords, ModelIOState
from augur_sdk._session.options import SessionOptions, new_debug_session_id
from augur_sdk._session.spans import StepSpans
from augur_sdk._session.step_records import StepRecords
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds.builtin import LOG, SESSION, STEP
from augur_sdk.kinds.spec import Placement, RecordKind
from augur_sdk.otel import emit, provider
from augur_sdk.otel import logs as otel_logs
from augur_sdk.otel.processors import BundleSpanProcessor, RunSink
from augur_sdk.stream.client import client_for
from augur_sdk.stream.dsn import resolve_dsn
from augur_sdk.stream.processor import StreamSpanProcessor


class Recorder(StepRecords, LedgerRecords, ModelIORecords):
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
        self.run_links: list[trace.Link] = []  # a branch's run span links to its parent
        # A replay branch's steps below this index are the parent's, replayed (not executed).
        self.replayed_below = 0
        branch = self.session.get("branch_context")
        # What a branch stamps on every step: its context without the mutation payload.
        self.step_branch: dict[str, Any] | None = None if not isinstance(branch, dict) else {
            k: v for k, v in branch.items() if k != "mutation"}
        self.spans = StepSpans()
        self.known = IndexSet()  # every step index recorded, whatever the mode
        self.subgoal_first: dict[str, int] = {}  # subgoal id -> first step it completed at
        self.ledger = side_effects.Ledger()
        self.modelio_state = ModelIOState(Path(options.out_dir))
        # Versions a model call named for a step not recorded yet (stamped by record_step).
        self.pending_versions: dict[int, dict[str, str]] = {}
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
            self.writer.fingerprint_algorithm = self.opts.fingerprint_algorithm
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
                                       self.parent_ctx, str(self.policy.id), self.run_links)
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
        unfilled = self.spans.end_unfilled_call_scopes()
        if unfilled:
            _internal.logger.warning(
                "augur_sdk: run %r closed with model calls recorded for step(s) %s that "
                "record_step() never recorded; their spans end unfilled "
                "(augur.step.unfilled)", self.public_run_id,
                ", ".join(map(str, unfilled[:10])))
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

    def record(self, kind: RecordKind, record: dict[str, Any],
               span_extra: dict[str, Any] | None = None) -> None:
        """Redact, gate, emit and hand ``record`` (checked, private) to the sinks.
        ``span_extra``: attributes for its span event or span only (not in the record)."""
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
            redacted = kind.redact(self.policy, record) if kind.redact is not None \
                else self.policy.apply(record)
            gated = kind.gate_record(redacted, self.mode)
            if gated is None:
                return
            self._emit(kind, gated, span_extra)
            if kind is LOG and self.pipeline is not None and self.pipeline.logger is not None:
                self._otel_log(gated)

    def _otel_log(self, record: dict[str, Any]) -> None:
        """A log line as an OpenTelemetry log record, under its step's span if open."""
        assert self.pipeline is not None and self.run_span is not None
        assert self.pipeline.logger is not None
        index = record.get("step_index")
        span = self.spans.live_span(index)
        attrs: dict[str, Any] = {"augur.run_id": self.public_run_id,
                                 "augur.log.name": str(record.get("name", "run"))}
        if isinstance(index, int):
            attrs["augur.step_index"] = index
        otel_logs.emit(self.pipeline.logger, str(record.get("text", "")),
                       span if span is not None else self.run_span, attrs)

    def _emit(self, kind: RecordKind, record: dict[str, Any],
              span_extra: dict[str, Any] | None = None) -> None:
        assert self.run_span is not None and self.sink is not None
        step_span = self.spans.live_span(record.get("step_index"))
        target: Span = self.run_span if step_span is None else step_span
        placement = kind.placement
        if placement is Placement.SPAN_EVENT:
            seq = self.next_seq()
            attrs = codec.event_attributes(record, seq=seq, kind=kind.name)
            if kind.span_attributes is not None:
                attrs.update(kind.span_attributes(record))
            if span_extra:
                attrs.update(span_extra)
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
                attributes={**codec.record_attributes(kind.name, record, seq=self.next_seq()),
                            **(span_extra or {})})
            self.sink.on_record(kind, record, child)  # type: ignore[arg-type]
            child.end()
        else:  # RUN_SPAN / NONE: no span of its own, only the sinks
            self.sink.on_record(kind, record, target)

    def stamp_step(self, record: dict[str, Any]) -> None:
        """What the session stamps on every step it records: group id, changed mode, the
        replay branch it belongs to (a step's own ``branch_context`` wins)."""
        if self.step_branch is not None:
            record.setdefault("branch_context", dict(self.step_branch))
        if self.group_id is not None:
            record.setdefault("group_id", self.group_id)
        if self.mode_override is not None:
            record.setdefault("capture_mode", self.mode_override.value)
        versions = self.pending_versions.pop(int(record["step_index"]), None)
        if versions:
            own = record.get("captured_versions")
            record["captured_versions"] = {**versions, **(own if isinstance(own, dict)
                                                          else {})}

    def _record_step(self, record: dict[str, Any], repeat: bool) -> None:
        self.stamp_step(record)
        self._warn_step_id(record)
        iteration = False
        if repeat:  # only a step index seen before can be an iteration (reads its file)
            with _internal.internal_errors("record_step"):
                iteration = self._is_new_iteration(record)
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

    # ── step scopes ─────────────────────────────────────────────────────────

    def open_scope(self, index: int, step_type: str | None) -> Span | None:
        if self.run_span is None or self.pipeline is None:
            return None
        reuse = self.spans.scopes.get(index)
        if index in self.spans.call_scopes and reuse is not None and reuse.is_recording():
            # A model call of this step opened its span already: the block takes it over.
            self.spans.call_scopes.discard(index)
            if step_type:
                reuse.update_name(codec.step_span_name({"step_type": step_type}))
            return reuse
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
