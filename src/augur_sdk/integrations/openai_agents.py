"""Record an agent built on the OpenAI Agents SDK (the ``openai-agents`` extra).

One line, before the agent runs::

    recording = augur_sdk.integrations.openai_agents.record(out_dir="augur-runs")
    ...                                   # Runner.run(agent, ...) as before
    recording.close()                     # or: with openai_agents.record(...) as recording:

It adds a tracing processor of the SDK (``agents.add_trace_processor``) *beside* the SDK's own
tracing, which keeps exporting wherever it did. From the spans it sees:

* each action of a computer call (``function`` span ``computer``) becomes a step: the action's
  type and parameters, its ``x``/``y`` (screenshot pixels) as the step's coordinates, the
  screenshot the computer returned after it as the post screenshot and the one before as the
  pre screenshot;
* a computer that raised is a failed step, ``failure_class`` ``openai_agents.<exception
  class>``, the SDK's error text as the verdict's reason;
* each model call (``response`` / ``generation`` span) becomes a model-I/O record and a GenAI
  ``chat`` span of the step it leads to; the final answer (a response with text and no tool
  call) is a ``done`` step; other function tools are ``function_call`` steps;
* the run's status is the last agent span's: ``failed`` when the SDK marked it with an error.

The spans carry inputs, outputs and screenshots only while the SDK traces sensitive data
(``RunConfig.trace_include_sensitive_data``, on by default); without them steps have no
parameters or screenshots and model calls are not recorded.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections import deque
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from augur_sdk._internal import internal_errors, log_once, raise_internal_errors
from augur_sdk.adapters.cua_log import decode_png
from augur_sdk.integrations import _openai_agents_spans as spans
from augur_sdk.integrations._framework import Framework
from augur_sdk.integrations._steps import ObservedStep, StepRecorder, open_session

if TYPE_CHECKING:
    from augur_sdk.session import DebugSession

FRAMEWORK = Framework(identifier="openai_agents", distribution="openai-agents",
                      module="agents", minimum=(0, 24), below=(0, 25), extra="openai-agents")
DISPATCH_BACKEND = "openai_agents.computer"

_lock = threading.Lock()
_recordings: list[Recording] = []
# The recording whose record() (or `with`) the current context is in; a trace started in
# that context is bound to it (on_trace_start), so that two agents recorded at once (two
# tasks, two threads) each get only their own spans.
_current: contextvars.ContextVar[Recording | None] = contextvars.ContextVar(
    "augur_openai_agents_recording", default=None)
_by_trace: dict[str, Recording] = {}
_processor: Any = None          # the one processor we register, per trace provider
_provider: Any = None


def record(*, out_dir: Any = None, session: DebugSession | None = None,
           run_id: str | None = None, client_name: str | None = None,
           **session_kwargs: Any) -> Recording:
    """Record what the SDK's agents do into ``session``, or into a new session written under
    ``out_dir`` (``session_kwargs`` are :class:`DebugSession`'s options). Returns the
    :class:`Recording`; ``close()`` it when the agent is done (a session opened here is
    closed then too). A session opened here records ``model_io`` (steps, screenshots, model
    calls) unless ``capture_mode=`` or ``AUGUR_CAPTURE_MODE`` says otherwise."""
    _register(FRAMEWORK.load())
    opened, owns = open_session(session, identifier=FRAMEWORK.identifier, out_dir=out_dir,
                                run_id=run_id, client_name=client_name,
                                session_kwargs=dict(session_kwargs))
    recording = Recording(StepRecorder(opened, integration=FRAMEWORK.identifier,
                                       dispatch_backend=DISPATCH_BACKEND, owns_session=owns))
    with _lock:
        _recordings.append(recording)
    _current.set(recording)
    return recording


def tracing_processor() -> Any:
    """The ``agents.TracingProcessor`` that feeds every open :class:`Recording` (registered
    by :func:`record`; pass it again if you replace the SDK's processors with
    ``set_trace_processors``)."""
    return _register(FRAMEWORK.load())


def _register(agents: ModuleType) -> Any:
    """Add our processor to the SDK's trace provider once (again if the provider changed)."""
    global _processor, _provider
    provider = agents.tracing.get_trace_provider()
    with _lock:
        if _processor is None:
            _processor = _processor_class(agents.TracingProcessor)()
        if _provider is not provider:
            agents.add_trace_processor(_processor)
            _provider = provider
        return _processor


def _processor_class(base: type) -> type:
    """A subclass of the SDK's ``TracingProcessor`` (made when the SDK is imported) that
    hands each finished span to the open recordings."""

    def _dispatch(name: str, item: Any) -> None:
        with _lock:
            bound = _by_trace.get(getattr(item, "trace_id", None) or "")
            open_now = list(_recordings)
        if bound is None and len(open_now) > 1:
            # A trace started outside every recording's context while several are open:
            # whose it is cannot be known, so it goes to none (said once).
            log_once("openai_agents.unbound", logging.WARNING, "augur_sdk.integrations."
                     "openai_agents: a trace started outside the context of every open "
                     "recording while %d are open: its spans are not recorded (start each "
                     "agent's run where its record() was called)", len(open_now))
            return
        for recording in [bound] if bound is not None else open_now:
            recording._guarded(name, item)

    class AugurTracingProcessor(base):  # type: ignore[misc]
        def on_trace_start(self, trace: Any) -> None:
            recording = _current.get()
            with _lock:
                if recording is not None and recording in _recordings:
                    _by_trace[str(trace.trace_id)] = recording

        def on_trace_end(self, trace: Any) -> None:
            with _lock:
                _by_trace.pop(str(trace.trace_id), None)

        def on_span_start(self, span: Any) -> None:
            return None

        def on_span_end(self, span: Any) -> None:
            _dispatch("_span_end", span)

        def shutdown(self) -> None:
            return None

        def force_flush(self) -> None:
            return None

    return AugurTracingProcessor


class Recording:
    """What :func:`record` returns: the session being recorded into, and ``close()``."""

    def __init__(self, steps: StepRecorder) -> None:
        self.steps = steps
        self.session = steps.session
        self._lock = threading.RLock()
        self._queued: deque[list[dict[str, Any]]] = deque()  # computer calls not run yet
        self._said = ""
        self._thought = ""
        self._screen: bytes | None = None  # the newest screenshot seen
        self._run_failed: bool | None = None
        self._deferred: list[BaseException] = []
        self._closed = False

    # ── the handle ──────────────────────────────────────────────────────────────────────

    def close(self, *, status: str | None = None) -> None:
        """Stop recording; set the run's status (default: the last agent run's, ``failed``
        when the SDK marked it with an error); close the session if :func:`record` opened
        it. Under our own tests (``AUGUR_RAISE_INTERNAL_ERRORS=1``) an internal error met in a
        span is raised here."""
        with _lock:
            if self in _recordings:
                _recordings.remove(self)
            for trace_id in [t for t, r in _by_trace.items() if r is self]:
                del _by_trace[trace_id]
        if _current.get() is self:
            _current.set(None)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if status is None and self._run_failed is not None:
                status = "failed" if self._run_failed else "succeeded"
            self.steps.close(status=status)
        if self._deferred:
            raise self._deferred[0]

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(status="failed" if exc is not None else None)

    # ── spans ───────────────────────────────────────────────────────────────────────────

    def _guarded(self, name: str, item: Any) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                getattr(self, name)(item)
            except Exception as exc:
                # The SDK logs what a processor raises and goes on; under our tests the
                # error is kept and raised again by close().
                if raise_internal_errors():
                    self._deferred.append(exc)
                with internal_errors("integrations.openai_agents"):
                    raise

    def _span_end(self, span: Any) -> None:
        data = span.span_data
        kind = getattr(data, "type", None)
        if kind == "response":
            self._response(span)
        elif kind == "generation":
            self._generation(span)
        elif spans.is_computer_span(data):
            self._computer(span)
        elif kind == "function":
            self._function(span)
        elif kind == "agent":
            self._run_failed = span.error is not None

    def _response(self, span: Any) -> None:
        data = span.span_data
        found = spans.response_call(data)
        if found is None:
            return
        call, answer = found
        call.duration_ms = spans.duration_ms(span)
        if self._screen is None:  # a screenshot the user sent in the first input
            png = spans.newest_image(spans.plain(getattr(data, "input", None)))
            if png:
                self._screenshot(png)
        self.steps.model_call(call)
        self._said, self._thought = spans.said_and_thought(answer)
        self._queued.extend(spans.computer_calls(answer))
        self._maybe_done(call.tool_calls or any(
            item.get("type", "").endswith("_call") for item in answer.get("output") or []
            if isinstance(item, dict)))

    def _generation(self, span: Any) -> None:
        call = spans.generation_call(span.span_data)
        if call is None:
            return
        call.duration_ms = spans.duration_ms(span)
        self.steps.model_call(call)
        self._said, self._thought = call.text or "", ""
        self._maybe_done(bool(call.tool_calls))

    def _maybe_done(self, calls_tools: Any) -> None:
        """A model answer that calls no tool ends the agent's turn: a ``done`` step."""
        if calls_tools or not self._said:
            return
        answer = {"answer": self._said[:2000]}  # not "text": never_record paths name that
        self._record_unseen(ObservedStep(action_type="done", params=answer, intent=self._said,
                                         reasoning=self._thought or None,
                                         reasoning_format="openai_reasoning_summary"))

    def _screenshot(self, png: bytes) -> None:
        self._screen = png
        self.steps.screenshot(png)

    def _record_unseen(self, step: ObservedStep) -> None:
        """Write a step no screenshot followed: the newest screenshot stays the next step's
        pre (nothing newer shows the screen)."""
        self.steps.record(step)
        if self._screen is not None:
            self.steps.screenshot(self._screen)

    def _failure(self, span: Any) -> tuple[str | None, str | None]:
        """The error text and failure class of a span the SDK marked with an error. The
        exception class comes from the exception unwinding through the span's ``with``
        block (the span ends inside it); the span itself keeps only the text."""
        error = span.error
        if not error:
            return None, None
        detail = (error.get("data") or {}).get("error") if isinstance(error, dict) else None
        text = str(detail or (error.get("message") if isinstance(error, dict) else error))
        unwinding = sys.exc_info()[1]
        name = type(unwinding).__name__ if isinstance(unwinding, Exception) else "tool_error"
        return text, f"openai_agents.{name}"

    def _computer(self, span: Any) -> None:
        data = span.span_data
        queued = self._queued.popleft() if self._queued else None
        actions = spans.traced_actions(data) or queued or []  # [] : not traced
        error, failure_class = self._failure(span)
        post = None if error else decode_png(getattr(data, "output", None))
        steps = spans.computer_steps(actions, post_png=post, error=error,
                                     failure_class=failure_class,
                                     started_at=span.started_at, ended_at=span.ended_at,
                                     intent=self._said, reasoning=self._thought)
        self._thought = ""
        for step in steps[:-1]:
            self.steps.record(step)
        if post is None:
            self._record_unseen(steps[-1])
            return
        self.steps.hold(steps[-1])
        self._screenshot(post)

    def _function(self, span: Any) -> None:
        data = span.span_data
        error, failure_class = self._failure(span)
        params = {"name": str(getattr(data, "name", "")),
                  "input": str(getattr(data, "input", "") or "")[:2000],
                  "output": str(getattr(data, "output", "") or "")[:2000]}
        step = ObservedStep(action_type="function_call", params=params, intent=self._said,
                            started_at=span.started_at,
                            ended_at=span.ended_at)
        if error is not None:
            step.status, step.error, step.failure_class = "failed", error, failure_class
        self._record_unseen(step)


__all__ = ["FRAMEWORK", "Recording", "record", "tracing_processor"]
