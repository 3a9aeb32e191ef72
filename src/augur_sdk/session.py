"""``DebugSession``: the facade an agent loop talks to.

Each call checks its input (raising ``TypeError``/``ValueError`` naming the field before
anything is written), redacts, gates by capture mode, and hands the record to OpenTelemetry:
the run is an ``invoke_agent`` span, each step an ``execute_tool`` child span, each decision
event a span event. Our bundle processor writes the Augur bundle from those spans as they
happen; OTLP (when configured) carries the same spans to a collector. Screenshots go straight
to the bundle and appear on spans only as path, sha256, size and dimensions.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping
from concurrent import futures
from pathlib import Path
from types import TracebackType
from typing import Any

from augur_schema import SCHEMA_VERSION
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Span, SpanProcessor

from augur_sdk import _internal, codec, gating, images, records
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.capture import CaptureMode, capture_mode_is_explicit, resolve_capture_mode
from augur_sdk.otel import emit, provider
from augur_sdk.otel.processors import BundleSpanProcessor, RunSink
from augur_sdk.redaction import DefaultRedactionPolicy, RedactionPolicy, _matches
from augur_sdk.stores import Store, bind_store
from augur_sdk.stream.client import client_for
from augur_sdk.stream.dsn import resolve_dsn
from augur_sdk.stream.processor import StreamSpanProcessor

_NO_MODE_MESSAGE = (
    "augur_sdk: no capture mode was given and AUGUR_CAPTURE_MODE is not set, so run %r "
    "records nothing (mode 'off': only manifest.json is written, nothing is exported). "
    "To record it, pass capture_mode=CaptureMode.SCREENSHOTS (or another mode) to "
    "DebugSession, or set AUGUR_CAPTURE_MODE=screenshots."
)


_open_sessions: weakref.WeakSet[DebugSession] = weakref.WeakSet()
_exit_hooks_installed = False
_exit_lock = threading.Lock()
SIGTERM_ENV = "AUGUR_HANDLE_SIGTERM"


def _close_open_sessions() -> None:
    """At interpreter exit, finish every session still open (status ``halted``)."""
    for session in list(_open_sessions):
        with _internal.internal_errors("atexit"):
            session.close(status="halted")


def _on_sigterm(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C does: `with DebugSession` blocks see an exception and end the run
    # `halted` with a complete bundle; the exit status is still "terminated by SIGTERM".
    raise SystemExit(128 + signum)


def _install_exit_hooks() -> None:
    global _exit_hooks_installed
    with _exit_lock:
        if _exit_hooks_installed:
            return
        _exit_hooks_installed = True
        atexit.register(_close_open_sessions)
        if os.environ.get(SIGTERM_ENV, "1") in ("0", "false", "no"):
            return
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # never replace the app's
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass


def _after_fork_in_child() -> None:
    for session in list(_open_sessions):
        session._detach_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _refuse_required_fields(paths: list[str]) -> None:
    """A never-record path may not match a field every step, event or session record must
    have: the record could not be written (or would not validate) without it."""
    for path in paths:
        if not isinstance(path, str):
            continue  # the policy reports the type
        for record, fields in records.required_fields().items():
            hit = next((f for f in fields if _matches(path.split("."), [f])), None)
            if hit is not None:
                raise ValueError(
                    f"never_record: {path!r} matches {record}.{hit}, which every {record} "
                    "record must have; name the sensitive field inside it instead")


def _new_debug_session_id() -> str:
    return f"dbg_{uuid.uuid4().hex[:16]}"


class DebugSession:
    """Records one agent run. Use as ``with DebugSession(...) as session:`` (or ``async with``).

    Args:
        run_id: your id for the run (any non-empty string).
        client_name: the agent's name (``gen_ai.agent.name`` on the run span).
        out_dir: the bundle directory; an older bundle there is replaced.
        store: ``LocalFSStore(dir)`` writes the bundle to ``dir`` instead of ``out_dir``;
            ``S3Store(bucket, prefix)`` also copies the bundle to object storage, from
            background threads (docs/stores.md).
        client_version: the agent's version, recorded in the session record.
        client_git_sha: the agent's git commit, recorded in the session record.
        capture_mode: a :class:`CaptureMode` or its name; else ``$AUGUR_CAPTURE_MODE``,
            else ``off``.
        tags: string key/value pairs on the session record and the run span.
        debug_session_id: ``dbg_...``; generated when omitted.
        started_at: ISO-8601 UTC start time; now when omitted.
        redaction_policy: applied to every record before it leaves the process
            (default ``default-pii-v1``).
        dsn: Augur server DSN for streaming (``""`` disables; default ``$AUGUR_DSN``).
        span_processors: extra OpenTelemetry span processors that see this run's spans.
        close_timeout_s: the most ``close()`` waits for exporters (default 5 s).
        fsync: also ``fsync`` every file (survives power loss, slower).
    """

    def __init__(
        self,
        *,
        run_id: str,
        client_name: str,
        out_dir: str | Path,
        client_version: str | None = None,
        client_git_sha: str | None = None,
        capture_mode: CaptureMode | str | None = None,
        debug_session_id: str | None = None,
        redaction_policy: RedactionPolicy | None = None,
        tags: Mapping[str, str] | None = None,
        started_at: str | None = None,
        dsn: str | None = None,
        store: Store | None = None,
        task_spec: Mapping[str, Any] | None = None,
        task_spec_id: str | None = None,
        branch_context: Mapping[str, Any] | None = None,
        group_id: str | None = None,
        capture_logprobs: bool = False,
        never_record: Iterable[str] = (),
        span_processors: Iterable[SpanProcessor] = (),
        close_timeout_s: float | None = None,
        fsync: bool = False,
    ) -> None:
        self.run_id = records.check_run_id(run_id)
        if not isinstance(client_name, str) or not client_name:
            raise ValueError("client_name: must be a non-empty string")
        if not isinstance(out_dir, str | os.PathLike):
            raise TypeError(f"out_dir: expected a path, got {type(out_dir).__name__}")
        if "\x00" in os.fspath(out_dir):
            raise ValueError("out_dir: must not contain NUL bytes")
        self._mode_explicit = capture_mode_is_explicit(capture_mode)
        self.capture_mode: CaptureMode = resolve_capture_mode(capture_mode)
        self._step_mode: CaptureMode = self.capture_mode
        self._mode_override: CaptureMode | None = None
        self.debug_session_id = debug_session_id or _new_debug_session_id()
        policy = redaction_policy or DefaultRedactionPolicy()
        if not isinstance(policy, RedactionPolicy):
            raise TypeError("redaction_policy: expected a RedactionPolicy")
        if isinstance(never_record, str):
            raise TypeError("never_record: expected a list of paths, got a string")
        never = list(never_record)
        self.redaction_policy: RedactionPolicy = (
            policy.with_never_record(never) if never else policy)
        _refuse_required_fields(sorted(self.redaction_policy.never_record))
        self._store = bind_store(store, Path(out_dir))  # see augur_sdk.stores
        self._out_dir = self._store.local_dir
        self._tags = records.check_tags(tags)
        if started_at is None:
            started_at = records.utcnow_iso()
        elif not isinstance(started_at, str):
            started_at = str(records.clean_json(started_at, "started_at"))
        records.iso_to_ns(started_at, "started_at")
        client: dict[str, str] = {"name": client_name}
        for key, value in (("version", client_version), ("git_sha", client_git_sha)):
            if value is not None:
                if not isinstance(value, str):
                    raise TypeError(f"client_{key}: expected a string, got {type(value).__name__}")
                client[key] = value
        self._group_id = group_id
        self.capture_logprobs = bool(capture_logprobs)
        self._session: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "debug_session_id": self.debug_session_id,
            "run_id": self.run_id,
            "client": client,
            "capture_mode": self.capture_mode.value,
            "started_at": started_at,
            "status": "running",
            "tags": dict(self._tags),
        }
        extras: tuple[tuple[str, object], ...] = (
            ("task_spec", task_spec), ("task_spec_id", task_spec_id),
            ("branch_context", branch_context))
        for key, extra in extras:
            if extra is not None:
                self._session[key] = records.clean_json(extra, key)
        records.clean_json(self._session, "session")
        records._schema_errors("debug_session", self._session, "session")
        # What leaves the process (files, spans, stream, log lines) uses the redacted run id.
        self._public_run_id = str(self.redaction_policy.apply(self.run_id))
        self._dsn = dsn
        self._extra_processors = list(span_processors)
        self._close_timeout_s = close_timeout_s
        self._fsync = fsync

        self._lock = threading.RLock()
        self._opened = False
        self._closed = False
        self._final_status: str | None = None
        self._manifest: dict[str, Any] | None = None
        self._seq = 0
        self._writer: BundleWriter | None = None
        self._bundle: BundleSpanProcessor | None = None
        self._sink: RunSink | None = None
        self._stream: StreamSpanProcessor | None = None
        self._pipeline: provider.Pipeline | None = None
        self._parent_ctx: otel_context.Context | None = None
        self._run_span: Span | None = None
        self._run_ctx: otel_context.Context | None = None
        self._open_step: tuple[Span, int, int] | None = None
        self._pending_obs: dict[int, dict[str, dict[str, Any]]] = {}
        self._scopes: dict[int, Span] = {}
        self._span_hashes: dict[int, list[tuple[str, Any]]] = {}
        # Step spans done but for their screenshots' sha256: (span, hashes, end time).
        self._hashing: list[tuple[Span, list[tuple[str, Any]], int]] = []
        self._warned_step_id = False
        self._restart_after_fork = False

    # ── lifecycle ───────────────────────────────────────────────────────────

    def __enter__(self) -> DebugSession:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._final_status is None:
            self._final_status = "halted"
        self.close()

    async def __aenter__(self) -> DebugSession:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() may wait (bounded) for exporters: keep the event loop free meanwhile.
        await asyncio.to_thread(self.__exit__, exc_type, exc, tb)

    def start(self) -> DebugSession:
        """Open the session (what ``with`` does); the current OTel span becomes the parent."""
        with self._lock:
            if self._opened:
                raise RuntimeError("DebugSession: already started")
            self._opened = True
            self._parent_ctx = otel_context.get_current()
            _install_exit_hooks()
            _open_sessions.add(self)
            if self.capture_mode is CaptureMode.OFF and not self._mode_explicit:
                _internal.log_once("no-capture-mode", 30, _NO_MODE_MESSAGE,
                                   self._public_run_id)
            if gating.records_anything(self.capture_mode):
                self._start_run()
            self._store.start()
        return self

    def _start_run(self) -> None:
        if self._run_span is not None:
            return
        with _internal.internal_errors("start"):
            self._writer = BundleWriter(self._out_dir, policy_id=str(self.redaction_policy.id),
                                        fsync=self._fsync, spare_files=True,
                                        keep_open=True)
            self._bundle = BundleSpanProcessor(self._writer)
            # The client name leaves the process too (service.name, the stream's heartbeat).
            client_name = str(self._redacted_session()["client"]["name"])
            self._pipeline = provider.get_pipeline(client_name)
            dsn = resolve_dsn(self._dsn)
            if dsn is not None:
                client = client_for(dsn, client_name)
                self._stream = StreamSpanProcessor(client, self._bundle, self._public_run_id,
                                                   self.capture_mode.value)
            sink = RunSink(self._bundle, self._extra_processors, self._stream)
            self._sink = sink
            self._pipeline.router.expect_run(self.debug_session_id, sink)
            span = emit.start_run_span(self._pipeline.tracer, self._redacted_session(),
                                       self._parent_ctx, str(self.redaction_policy.id))
            self._run_span = span
            self._run_ctx = trace.set_span_in_context(span)

    def _redacted_session(self) -> dict[str, Any]:
        redacted: dict[str, Any] = self.redaction_policy.apply(self._session)
        return redacted

    def _require_open(self) -> None:
        if not self._opened:
            raise RuntimeError("DebugSession: not started; use `with DebugSession(...) as s:`")
        if self._closed:
            raise RuntimeError("DebugSession: already closed")
        if self._restart_after_fork:
            self._restart_after_fork = False
            if gating.records_anything(self._step_mode):
                self._start_run()

    def _detach_after_fork(self) -> None:
        """In a forked child: continue in a bundle of its own, ``<out_dir>.fork-<pid>``.

        The parent keeps its bundle and spans; the child's run gets a new debug session id,
        the tag ``augur.forked_from`` and a run span that is a child of the parent's run span,
        so neither process writes the other's files.
        """
        self._lock = threading.RLock()  # another thread may have held it at fork time
        if self._closed or self._run_span is None:
            return
        parent_id = self.debug_session_id
        self._parent_ctx = self._run_ctx
        self._writer = self._bundle = self._sink = self._stream = None
        self._run_span = self._run_ctx = self._open_step = None
        self._pending_obs = {}
        self._span_hashes = {}
        self._hashing = []  # the parent's hasher threads are not here
        self._seq = 0
        self._out_dir = Path(f"{self._out_dir}.fork-{os.getpid()}")
        self.debug_session_id = _new_debug_session_id()
        self._session["debug_session_id"] = self.debug_session_id
        self._tags["augur.forked_from"] = parent_id
        self._session["tags"] = dict(self._tags)
        self._restart_after_fork = True

    def close(self, status: str | None = None) -> dict[str, Any]:
        """Finish the run and return the manifest (a second call returns the same manifest)."""
        if status is not None:
            records.check_status(status)
        with self._lock:
            if self._closed:
                return dict(self._manifest or {})
            if not self._opened:
                raise RuntimeError("DebugSession.close(): the session was never started")
            if self._restart_after_fork:
                self._require_open()
            self._closed = True
            _open_sessions.discard(self)
            final = status or self._final_status or "succeeded"
            self._session["status"] = final
            self._session["ended_at"] = records.utcnow_iso()
            manifest: dict[str, Any] | None = None
            with _internal.internal_errors("close"):
                if self._run_span is not None:
                    manifest = self._end_run(final)
                else:
                    writer = BundleWriter(self._out_dir, policy_id=str(self.redaction_policy.id))
                    manifest = writer.write_envelope_only(self._redacted_session())
            if manifest is None:
                from augur_sdk.bundle.layout import build_manifest

                manifest = build_manifest(self._redacted_session(), step_count=0,
                                          created_at=records.utcnow_iso(),
                                          policy_id=str(self.redaction_policy.id))
            self._manifest = manifest
        self._store.finish_async(self._close_budget())  # the upload runs beside the flush
        self._flush_exporters()
        self._store.wait()
        return dict(manifest)

    def _end_run(self, final_status: str) -> dict[str, Any] | None:
        assert self._run_span is not None and self._bundle is not None
        self._end_open_step()
        self._end_hashed_spans(wait_s=self._close_budget())
        emit.end_run_span(self._run_span, self._redacted_session())
        return self._bundle.manifest

    def _flush_exporters(self) -> None:
        """Wait for OTLP/extra exporters and the stream together, within one close budget."""
        pipeline = self._pipeline
        if pipeline is None or self._run_span is None:
            return
        budget = self._close_budget()
        deadline = time.monotonic() + budget
        with _internal.internal_errors("flush"):
            sink = self._sink
            extras_done = pipeline.flush_in_background(
                budget, extra=None if sink is None else sink.flush_extras)
            stream_ok = True
            if self._stream is not None:
                stream_ok = self._stream.client.flush_run(self._public_run_id, budget)
            exporters_ok = extras_done.wait(max(0.0, deadline - time.monotonic()))
            if not exporters_ok:
                _internal.log_once(
                    "flush-timeout", 30,
                    "augur_sdk: exporters did not finish within %.1fs at close; the bundle is "
                    "complete, spans still queued are sent in the background "
                    "(or later with `augur export-otlp`)", budget,
                )
            if self._stream is not None:
                self._report_stream(stream_ok, budget)

    def _report_stream(self, finished: bool, budget: float) -> None:
        assert self._stream is not None and self._writer is not None
        client = self._stream.client
        stats = client.stats(self._public_run_id)
        dropped = dict(stats.dropped)
        if not finished:
            dropped["unsent_at_close"] = dropped.get("unsent_at_close", 0) + stats.pending
        facts = {"server": client.dsn.base_url, "tenant": client.dsn.tenant,
                 "sent": stats.sent, "dropped": dropped, "complete": not dropped,
                 "server_down_at_close": client.server_down()}
        self._writer.write_stream_report(facts)
        if dropped:
            _internal.logger.warning(
                "augur_sdk: streaming run %r to %s lost %d request(s) (%s); the local bundle "
                "is complete, see %s/stream.json", self._public_run_id, client.dsn.base_url,
                sum(dropped.values()),
                ", ".join(f"{n} {why}" for why, n in sorted(dropped.items())), self._out_dir)
        client.forget_run(self._public_run_id)

    # ── recording ───────────────────────────────────────────────────────────

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _end_open_step(self) -> None:
        if self._open_step is not None:
            span, _index, end_ns = self._open_step
            self._open_step = None
            self._end_when_hashed(span, end_ns)

    def _end_when_hashed(self, span: Span, end_ns: int | None) -> None:
        """End a step span once its screenshots' sha256 (computed on helper threads) are on
        it. The agent never waits for a hash: a span whose hashes are still running is ended
        by a later call (on the agent's thread, so span processors never run on a hasher),
        or at close."""
        if span.end_time is not None or any(s is span for s, _, _ in self._hashing):
            return  # already ended, or already waiting (a step_scope block that ends later)
        hashes = self._span_hashes.pop(id(span), [])
        self._hashing.append((span, hashes, time.time_ns() if end_ns is None else end_ns))
        self._end_hashed_spans()

    def _end_hashed_spans(self, wait_s: float | None = None) -> None:
        """End the waiting spans whose hashes are done; with ``wait_s``, wait (bounded) for
        the rest, and end every span then, with the hashes that made it."""
        if wait_s is not None and self._hashing:
            futures.wait([d for _, hashes, _ in self._hashing for _, d in hashes],
                         timeout=max(wait_s, 0.0))
        waiting = []
        for span, hashes, end_ns in self._hashing:
            if wait_s is None and not all(digest.done() for _, digest in hashes):
                waiting.append((span, hashes, end_ns))
                continue
            for kind, digest in hashes:
                with _internal.internal_errors("screenshot hash"):
                    if digest.done():
                        span.set_attribute(f"augur.observation.{kind}.sha256", digest.result())
            with _internal.internal_errors("end step span"):
                span.end(end_time=end_ns)
        self._hashing = waiting

    def _close_budget(self) -> float:
        if self._close_timeout_s is not None:
            return self._close_timeout_s
        return self._pipeline.settings.close_timeout_s if self._pipeline is not None else 5.0

    def record_step(self, step: Mapping[str, Any]) -> None:
        """Record one step; its file is on disk when this returns."""
        record = records.check_step(step)
        with self._lock:
            self._require_open()
            if self._run_span is None:
                return
            if self._group_id is not None:
                record.setdefault("group_id", self._group_id)
            if self._mode_override is not None:
                record.setdefault("capture_mode", self._mode_override.value)
            self._check_step_id(record)
            with _internal.internal_errors("record_step"):
                self._emit_step(record)

    def _check_step_id(self, record: dict[str, Any]) -> None:
        expected = f"{self.run_id}/step/{record['step_index']:04d}"
        if record["step_id"] != expected and not self._warned_step_id:
            self._warned_step_id = True
            _internal.logger.warning(
                "augur_sdk: step_id %r does not follow the convention '<run_id>/step/<NNNN>' "
                "(expected %r); `augur validate` will report it",
                self.redaction_policy.apply(record["step_id"]),
                self.redaction_policy.apply(expected),
            )

    def _emit_step(self, record: dict[str, Any]) -> None:
        assert self._pipeline is not None and self._run_ctx is not None
        mode = self._step_mode
        step = gating.gate_step(self.redaction_policy.apply(record), mode)
        conventional = f"{self.run_id}/step/{record['step_index']:04d}"
        if record["step_id"] == conventional:
            # Redact the run id as a unit: a pattern must not swallow "/step/NNNN" too, or the
            # step id would no longer follow the convention of the (redacted) run id.
            step["step_id"] = f"{self._public_run_id}/step/{record['step_index']:04d}"
        index = int(step["step_index"])
        observations = self._pending_obs.pop(index, {})
        observations = {
            kind: facts for kind, facts in observations.items()
            if step.get(f"observation_{kind}") == facts["path"]
        }
        # Screenshot digests may still be computing: they go on the span when it ends.
        hashes = [(kind, facts["sha256"]) for kind, facts in observations.items()]
        observations = {kind: {k: v for k, v in facts.items() if k != "sha256"}
                        for kind, facts in observations.items()}
        scope = self._scopes.get(index)
        if scope is not None and scope.is_recording():
            # The step span was opened by step_scope(): fill it in, and let the bundle and
            # stream see the record now (they skipped the span when it started empty).
            if self._open_step is not None and self._open_step[0] is not scope:
                self._end_open_step()
            end_ns = emit.fill_step_span(scope, step, run_id=self._public_run_id,
                                         seq=self._next_seq(), observations=observations)
            self._span_hashes[id(scope)] = hashes
            assert self._sink is not None
            self._sink.on_step_filled(scope, step)
            self._open_step = (scope, index, end_ns)
            return
        self._end_open_step()
        assert self._sink is not None
        self._sink.expect_step(step)
        span, end_ns = emit.start_step_span(
            self._pipeline.tracer, self._run_ctx, step, run_id=self._public_run_id,
            seq=self._next_seq(), observations=observations)
        self._span_hashes[id(span)] = hashes
        self._open_step = (span, index, end_ns)

    @contextlib.contextmanager
    def step_scope(self, step_index: int, step_type: str | None = None) -> Iterator[None]:
        """Open step ``step_index``'s span now and make it the current span until the block ends.

        Spans your code creates inside the block (a model call instrumented by your own
        OpenTelemetry setup, an HTTP request) become children of the step span. Call
        ``record_step`` for this index inside the block; the span then carries the record as
        usual and ends when the block does::

            with session.step_scope(i, "click"):
                plan = call_model(screenshot)      # your instrumented call: a child span
                session.record_step({...})
        """
        index = records._require_index(step_index, "step_index")
        if step_type is not None and not isinstance(step_type, str):
            raise TypeError("step_type: expected a string")
        token = None
        span: Span | None = None
        with self._lock:
            self._require_open()
            if self._run_span is not None and self._pipeline is not None:
                with _internal.internal_errors("step_scope"):
                    self._end_open_step()
                    assert self._run_ctx is not None
                    span = emit.start_scope_span(self._pipeline.tracer, self._run_ctx, index,
                                                 step_type, run_id=self._public_run_id)
                    self._scopes[index] = span
                    token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        except BaseException as exc:
            if span is not None:
                with _internal.internal_errors("step_scope"):
                    emit.add_exception_event(span, exc, self.redaction_policy,
                                             with_text=gating.records_events(self._step_mode))
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
            with self._lock:
                if span is not None:
                    self._scopes.pop(index, None)
                    if self._open_step is not None and self._open_step[0] is span:
                        self._open_step = None
                    with _internal.internal_errors("step_scope"):
                        self._end_when_hashed(span, None)

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Record a decision event; it is on disk when this returns.

        An event for the step recorded last becomes an event of that step's span (also when
        it arrives after ``record_step``); any other event goes on the run span.
        """
        record = records.check_event(event)
        with self._lock:
            self._require_open()
            if self._run_span is None or not gating.records_events(self._step_mode):
                return
            with _internal.internal_errors("record_event"):
                gated = gating.gate_event(record, self._step_mode)
                if gated is None:
                    return
                redacted = self.redaction_policy.apply(gated)
                index = redacted.get("step_index")
                target: Span = self._run_span
                if self._open_step is not None and index == self._open_step[1]:
                    target = self._open_step[0]
                attrs = emit.add_event(target, redacted, self._next_seq())
                assert self._sink is not None
                self._sink.on_event(attrs, target is self._run_span, redacted)

    def attach_observation(
        self,
        *,
        step_index: int,
        kind: str,
        png_bytes: bytes,
        mask_regions: Iterable[Any] | None = None,
    ) -> str | None:
        """Write a screenshot now; return its bundle path (``None`` below ``screenshots``).

        ``mask_regions`` (and the policy's ``screenshot_regions`` hook) name rectangles, in
        image pixels, painted opaque black before the PNG is written or sent anywhere.
        """
        index, kind, data = records.check_observation(step_index, kind, png_bytes)
        width, height = records.png_dimensions(data)
        regions = images.normalize_regions(() if mask_regions is None else mask_regions, width,
                                           height)
        with self._lock:
            self._require_open()
            if self._run_span is None or not gating.records_screenshots(self._step_mode):
                return None
            hook = list(self.redaction_policy.screenshot_regions(index, kind, width, height))
            regions += images.normalize_regions(hook, width, height, "screenshot_regions")
            if regions:
                data = images.mask_png(data, regions)  # raises without Pillow: nothing written
            assert self._writer is not None
            path = f"screenshots/{index:04d}_{kind}.png"
            with _internal.internal_errors("attach_observation"):
                facts = self._writer.write_screenshot(index, kind, data)
                if facts is not None:
                    if regions:
                        facts["masked_regions"] = len(regions)
                        self._writer.write_observation_record(path, {
                            "artifact": path, "media_type": "image/png", "width": width,
                            "height": height, "coordinate_space": "screenshot_px",
                            "hashes": {"sha256": facts["sha256"].result()},
                            "redaction": {"applied": True,
                                          "policy_id": str(self.redaction_policy.id),
                                          "regions": regions},
                        })
                    self._pending_obs.setdefault(index, {})[kind] = facts
                if self._stream is not None:
                    self._stream.send_screenshot(index, kind, data)
            return path

    def set_status(self, status: str) -> None:
        """Set the run's final status (``succeeded``, ``failed``, ``cancelled``, ``halted``)."""
        self._final_status = records.check_status(status)

    def set_capture_mode(self, mode: CaptureMode | str) -> None:
        """Change what is recorded from the next step on; those steps carry their mode."""
        new = resolve_capture_mode(mode)
        with self._lock:
            self._require_open()
            self._step_mode = new
            self._mode_override = new
            if gating.records_anything(new):
                self._start_run()

    def add_tag(self, key: str, value: str) -> None:
        """Add or change a tag on the session record (and the run span)."""
        if not isinstance(key, str):
            raise TypeError(f"tags: key {key!r} is not a string")
        tags = records.check_tags({key: value})
        with self._lock:
            self._require_open()
            self._tags.update(tags)
            self._session["tags"] = dict(self._tags)
            if self._run_span is not None and self._sink is not None:
                with _internal.internal_errors("add_tag"):
                    session = self._redacted_session()
                    for name, val in codec.run_attributes(session).items():
                        if name.startswith(("augur.tag.", "augur.session_json.tags")):
                            self._run_span.set_attribute(name, val)
                    self._sink.on_session_update(self._run_span)

    # ── introspection ───────────────────────────────────────────────────────

    @property
    def out_dir(self) -> Path:
        return self._out_dir

    @property
    def store(self) -> Store:
        return self._store.store

    @property
    def manifest(self) -> dict[str, Any] | None:
        return None if self._manifest is None else dict(self._manifest)

    @property
    def trace_id(self) -> str | None:
        """The run's OpenTelemetry trace id (hex), once started with a recording mode."""
        if self._run_span is None:
            return None
        return f"{self._run_span.get_span_context().trace_id:032x}"

    @property
    def status(self) -> str:
        return str(self._session["status"])
