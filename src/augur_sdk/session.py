"""``DebugSession``: the facade an agent loop talks to.

Each public method checks its input (raising ``TypeError``/``ValueError`` naming the field
before anything is written) and delegates. The machinery is private, in
:mod:`augur_sdk._session`: option resolution (``options``), the run's pipeline that takes
every kind of record through check -> redact -> gate -> emit -> sinks (``recorder``), step-span
bookkeeping (``spans``) and process hooks (``hooks``). What a kind of record is lives in its
spec (:mod:`augur_sdk.kinds`). See ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Span, SpanProcessor

from augur_sdk import _internal, gating, images, records
from augur_sdk._session import hooks
from augur_sdk._session.annotate_api import StepAnnotations, check_task_spec
from augur_sdk._session.branch_api import Branching
from augur_sdk._session.intervention_api import Intervention
from augur_sdk._session.ledger_api import SideEffectLedger
from augur_sdk._session.modelio_api import ModelCalls
from augur_sdk._session.options import resolve_options
from augur_sdk._session.recorder import Recorder
from augur_sdk._session.run_api import (
    ORCHESTRATOR_TAG_KEY,
    ORCHESTRATOR_TAG_VALUE,
    PARENT_RUN_ENV,
    PARENT_RUN_TAG,
    RunStructure,
    resolve_parent,
)
from augur_sdk.capture import CaptureMode, resolve_capture_mode
from augur_sdk.kinds import builtin, registry
from augur_sdk.kinds.spec import RecordKind
from augur_sdk.otel import emit
from augur_sdk.redaction import RedactionPolicy
from augur_sdk.stores import Store, bind_store

_NO_MODE_MESSAGE = (
    "augur_sdk: no capture mode was given and AUGUR_CAPTURE_MODE is not set, so run %r "
    "records nothing (mode 'off': only manifest.json is written, nothing is exported). "
    "To record it, pass capture_mode=CaptureMode.SCREENSHOTS (or another mode) to "
    "DebugSession, or set AUGUR_CAPTURE_MODE=screenshots."
)


# Kinds with a method of their own (state, files or spans beyond one record): record()
# refuses them by name, so that nothing bypasses that method.
_OWN_METHODS = {
    "modelio": "record_modelio",
    "session": "the constructor, add_tag and the set_* methods",
    "observation": "attach_observation", "observation_record": "attach_observation",
    "step_iteration": "record_step_iteration", "step_patch": "the annotation methods",
    "session_costs": "set_costs", "side_effect": "declare_side_effect",
}


class DebugSession(StepAnnotations, SideEffectLedger, RunStructure, ModelCalls, Branching,
                   Intervention):
    """Records one agent run. Use as ``with DebugSession(...) as session:`` (or ``async with``).

    Args:
        run_id: your id for the run (any non-empty string).
        client_name: the agent's name (``gen_ai.agent.name`` on the run span).
        out_dir: the bundle directory; an older bundle there is replaced.
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
        store: ``LocalFSStore(dir)`` writes the bundle to ``dir`` instead of ``out_dir``;
            ``S3Store(bucket, prefix)`` uploads it as it is written, on background threads
            (``docs/stores.md``); the local bundle stays the live, crash-safe copy.
        span_processors: extra OpenTelemetry span processors that see this run's spans.
        close_timeout_s: the most ``close()`` waits for exporters (default 5 s).
        fsync: also ``fsync`` every file (survives power loss, slower).
        modelio_budget_bytes: the most bytes of model calls (records and their images) a
            run writes (default 50 MB; ``None``: no budget); calls past it are counted in
            ``producer.json`` and logged, not written.
        branch_context: marks a replay branch (``parent_run_id``,
            ``branch_point_step_index``, ``mutated_axis``...); stamped on every step
            without the ``mutation`` payload.
        parent: the run span's parent (a span, a context or a W3C traceparent); else
            ``$TRACEPARENT``, else the current span (``docs/run-structure.md``).
        fingerprint_algorithm: the manifest's ``trajectory_fingerprint`` algorithm
            (default ``cua_v1``; plug-ins: :mod:`augur_sdk.fingerprints`).
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
        parent: Any = None,
        modelio_budget_bytes: int | None = 50_000_000,
        fingerprint_algorithm: str | None = None,
    ) -> None:
        if not isinstance(out_dir, str | os.PathLike):
            raise TypeError(f"out_dir: expected a path, got {type(out_dir).__name__}")
        # The local bundle is always the live, crash-safe copy; a store gets it as it goes
        # (LocalFSStore(dir) writes it to dir instead of out_dir; see docs/stores.md).
        self._store = bind_store(store, Path(out_dir))
        out_dir = self._store.local_dir
        if task_spec is not None:
            task_spec = check_task_spec(task_spec)
        parent_run = os.environ.get(PARENT_RUN_ENV)
        if parent_run and PARENT_RUN_TAG not in (tags or {}):
            tags = {**(tags or {}), PARENT_RUN_TAG: parent_run}
        opts = resolve_options(
            run_id=run_id, client_name=client_name, out_dir=out_dir,
            client_version=client_version, client_git_sha=client_git_sha,
            capture_mode=capture_mode, debug_session_id=debug_session_id,
            redaction_policy=redaction_policy, tags=tags, started_at=started_at, dsn=dsn,
            task_spec=task_spec, task_spec_id=task_spec_id, branch_context=branch_context,
            group_id=group_id, capture_logprobs=capture_logprobs, never_record=never_record,
            span_processors=span_processors, close_timeout_s=close_timeout_s, fsync=fsync,
            modelio_budget_bytes=modelio_budget_bytes,
            fingerprint_algorithm=fingerprint_algorithm)
        self.run_id = opts.run_id
        self.capture_mode: CaptureMode = opts.capture_mode
        self.redaction_policy: RedactionPolicy = opts.policy
        self.capture_logprobs = opts.capture_logprobs
        self._mode_explicit = opts.mode_explicit
        self._run = Recorder(opts)
        self._lock = threading.RLock()
        self._opened = False
        self._closed = False
        self._final_status: str | None = None
        self._manifest: dict[str, Any] | None = None
        self._restart_after_fork = False
        self._parent = parent

    @classmethod
    def open_orchestrator(cls, *, run_id: str, client_name: str, out_dir: str | Path,
                          session_name: str | None = None, tenant_id: str | None = None,
                          tags: Mapping[str, str] | None = None,
                          **session_kwargs: Any) -> DebugSession:
        """A parent run for a fan-out: no steps of its own, its workers' runs nest under it
        (start them with :meth:`worker_env`). Tagged ``augur.session_type=orchestrator``."""
        for owned in ("run_id", "client_name", "out_dir", "tags"):
            session_kwargs.pop(owned, None)
        merged = {**(tags or {}), ORCHESTRATOR_TAG_KEY: ORCHESTRATOR_TAG_VALUE}
        if session_name is not None:
            merged.setdefault("session_name", session_name)
        if tenant_id is not None:
            merged.setdefault("tenant_id", tenant_id)
        return cls(run_id=run_id, client_name=client_name, out_dir=out_dir, tags=merged,
                   **session_kwargs)

    def _forbid_on_orchestrator(self, method: str) -> None:
        if self.is_orchestrator:
            raise RuntimeError(
                f"{method}() is not supported on an orchestrator session (opened via "
                "DebugSession.open_orchestrator); record steps on its worker sessions")

    # ── lifecycle ───────────────────────────────────────────────────────────

    def __enter__(self) -> DebugSession:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and self._final_status is None:
            self._final_status = "halted"
        self.close()

    async def __aenter__(self) -> DebugSession:
        return self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        # close() may wait (bounded) for exporters: keep the event loop free meanwhile.
        await asyncio.to_thread(self.__exit__, exc_type, exc, tb)

    def start(self) -> DebugSession:
        """Open the session (what ``with`` does); the current OTel span becomes the parent."""
        with self._lock:
            if self._opened:
                raise RuntimeError("DebugSession: already started")
            self._opened = True
            self._run.parent_ctx = resolve_parent(self._parent)
            hooks.track(self)
            if self.capture_mode is CaptureMode.OFF and not self._mode_explicit:
                _internal.log_once("no-capture-mode", 30, _NO_MODE_MESSAGE,
                                   self._run.public_run_id)
            if gating.records_anything(self.capture_mode):
                self._run.start_run()
            self._store.start()  # after the writer has set up the directory
            self._replay_branch_prefix()  # a replay branch's prefix from its parent
        return self

    def _require_open(self) -> None:
        if not self._opened:
            raise RuntimeError("DebugSession: not started; use `with DebugSession(...) as s:`")
        if self._closed:
            raise RuntimeError("DebugSession: already closed")
        if self._restart_after_fork:
            self._restart_after_fork = False
            if gating.records_anything(self._run.mode):
                self._run.start_run()

    def detach_after_fork(self) -> None:
        """In a forked child (called by the fork hook): continue in a bundle of its own,
        ``<out_dir>.fork-<pid>``, with a new debug session id (see ``Recorder``)."""
        self._lock = threading.RLock()  # another thread may have held it at fork time
        if self._closed or self._run.run_span is None:
            return
        self._run.detach_after_fork()
        self._restart_after_fork = True

    def close(self, status: str | None = None) -> dict[str, Any]:
        """Finish the run and return the manifest (a second call returns the same manifest)."""
        if status is not None:
            records.check_status(status)
        if self._opened and not self._closed:
            # Before the lock: a running hook may be waiting for it.
            self._stop_intervention(self._run.close_budget())
        with self._lock:
            if self._closed:
                return dict(self._manifest or {})
            if not self._opened:
                raise RuntimeError("DebugSession.close(): the session was never started")
            if self._restart_after_fork:
                self._require_open()
            self._closed = True
            hooks.untrack(self)
            self._manifest = self._finish(status or self._final_status or "succeeded")
        self._store.finish_async(self._run.close_budget())  # the upload runs beside the flush
        self._run.flush_exporters()
        self._store.wait()  # files the flush wrote (stream.json) go up too
        return dict(self._manifest)

    def _finish(self, final: str) -> dict[str, Any]:
        run = self._run
        run.session["status"] = final
        run.session["ended_at"] = records.utcnow_iso()
        manifest: dict[str, Any] | None = None
        with _internal.internal_errors("close"):
            if run.run_span is not None:
                manifest = run.end_run(run.close_budget())
            else:
                from augur_sdk.bundle.writer import BundleWriter

                writer = BundleWriter(run.out_dir, policy_id=str(self.redaction_policy.id))
                manifest = writer.write_envelope_only(run.redacted_session())
        if manifest is None:
            from augur_sdk.bundle.layout import build_manifest

            manifest = build_manifest(run.redacted_session(), step_count=0,
                                      created_at=records.utcnow_iso(),
                                      policy_id=str(self.redaction_policy.id))
        return manifest

    # ── recording ───────────────────────────────────────────────────────────

    def record(self, kind: str | RecordKind, record: Mapping[str, Any]) -> None:
        """Record ``record`` as a record of ``kind`` (a registered :class:`RecordKind` or its
        name): checked against its spec here, then redacted, gated, put on the spans and
        written where the spec says. The typed methods below are this for their kind."""
        spec = registry.get(kind) if isinstance(kind, str) else kind
        method = _OWN_METHODS.get(spec.name)
        if method is not None:
            raise ValueError(f"kind: {spec.name!r} records are made by {method}")
        if spec.check is not None:
            clean = spec.check(record)
        else:
            clean = records.check_record(spec.name, spec.schema, record, spec.timestamp_field)
        with self._lock:
            self._require_open()
            self._run.record(spec, clean)

    def record_step(self, step: Mapping[str, Any]) -> None:
        """Record one step; its file is on disk when this returns."""
        self._forbid_on_orchestrator("record_step")
        self.record(builtin.STEP, step)

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Record a decision event; it is on disk when this returns.

        An event for the step recorded last becomes an event of that step's span (also when
        it arrives after ``record_step``), as does one for a step whose span is already open
        before its record (``step_scope``, a model call of that step); any other event goes
        on the run span.
        """
        self.record(builtin.EVENT, event)

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
        index = records.require_index(step_index, "step_index")
        if step_type is not None and not isinstance(step_type, str):
            raise TypeError("step_type: expected a string")
        token = None
        span: Span | None = None
        with self._lock:
            self._require_open()
            with _internal.internal_errors("step_scope"):
                span = self._run.open_scope(index, step_type)
                if span is not None:
                    token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        except BaseException as exc:
            if span is not None:
                with _internal.internal_errors("step_scope"):
                    emit.add_exception_event(span, exc, self.redaction_policy,
                                             with_text=gating.records_events(self._run.mode))
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
            if span is not None:
                with self._lock:
                    self._run.spans.close_scope(index, span)

    def attach_observation(self, *, step_index: int, kind: str, png_bytes: bytes,
                           mask_regions: Iterable[Any] | None = None) -> str | None:
        """Write a screenshot now; return its bundle path (``None`` below ``screenshots``).

        ``mask_regions`` (and the policy's ``screenshot_regions`` hook) name rectangles, in
        image pixels, painted opaque black before the PNG is written or sent anywhere.
        """
        self._forbid_on_orchestrator("attach_observation")
        index, kind, data = records.check_observation(step_index, kind, png_bytes)
        width, height = records.png_dimensions(data)
        regions = images.normalize_regions(() if mask_regions is None else mask_regions, width,
                                           height)
        with self._lock:
            self._require_open()
            if self._run.run_span is None or self._run.mode < builtin.OBSERVATION.min_mode:
                return None
            hook = list(self.redaction_policy.screenshot_regions(index, kind, width, height))
            regions += images.normalize_regions(hook, width, height, "screenshot_regions")
            if regions:
                raw = data
                data = images.mask_png(data, regions)  # raises without Pillow: nothing written
                path = self._run.write_observation(index, kind, data, width, height, regions)
                # The same screenshot sent to a model later is stored masked too.
                self._run.modelio_state.mask(hashlib.sha256(raw).hexdigest(), path)
                return path
            return self._run.write_observation(index, kind, data, width, height, regions)

    def set_status(self, status: str) -> None:
        """Set the run's final status (``succeeded``, ``failed``, ``cancelled``, ``halted``)."""
        self._final_status = records.check_status(status)

    def set_capture_mode(self, mode: CaptureMode | str) -> None:
        """Change what is recorded from the next step on; those steps carry their mode."""
        new = resolve_capture_mode(mode)
        with self._lock:
            self._require_open()
            self._run.set_mode(new)
            self._replay_branch_prefix()

    def add_tag(self, key: str, value: str) -> None:
        """Add or change a tag on the session record (and the run span)."""
        if not isinstance(key, str):
            raise TypeError(f"tags: key {key!r} is not a string")
        tags = records.check_tags({key: value})
        with self._lock:
            self._require_open()
            self._run.tags.update(tags)
            self._run.session["tags"] = dict(self._run.tags)
            with _internal.internal_errors("add_tag"):
                self._run.update_session()

    # ── introspection ───────────────────────────────────────────────────────

    @property
    def debug_session_id(self) -> str:
        return self._run.debug_session_id

    @property
    def out_dir(self) -> Path:
        return self._run.out_dir

    @property
    def store(self) -> Store:
        """The store the bundle goes to (``LocalFSStore(out_dir)`` when none was given)."""
        return self._store.store

    @property
    def manifest(self) -> dict[str, Any] | None:
        return None if self._manifest is None else dict(self._manifest)

    @property
    def trace_id(self) -> str | None:
        """The run's OpenTelemetry trace id (hex), once started with a recording mode."""
        span = self._run.run_span
        return None if span is None else f"{span.get_span_context().trace_id:032x}"

    @property
    def next_step_index(self) -> int:
        """One past the highest step index recorded so far (0 before the first step): the
        index a step recorded by other code (an integration, beside your own steps) takes."""
        with self._lock:
            return self._run.known.next_after()

    @property
    def status(self) -> str:
        return str(self._run.session["status"])
