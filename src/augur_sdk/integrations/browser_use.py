"""Record a `browser-use <https://github.com/browser-use/browser-use>`_ agent in one line.

    from augur_sdk.integrations.browser_use import record

    agent = Agent(task=..., llm=llm)
    record(agent, out_dir="augur-runs/shop")     # or record(agent, session=my_session)
    history = await agent.run()                  # recorded; the bundle is closed at the end

``record`` hooks browser-use's own extension points, on that agent only:

- ``agent.run`` is wrapped so that browser-use's ``on_step_end`` hook (chained with one you
  pass) turns each new :class:`AgentHistory` item into steps, and the run's end sets the
  run's status and closes the bundle. One wrap instead of asking for two hook arguments:
  the user's ``agent.run()`` line (and ``run_sync``) stays as it was, and nothing can be
  recorded without the close that writes the manifest.
- the agent's model's ``ainvoke`` is observed (the way browser-use's own token counter does
  it) so every call's messages and output become a model-call record. A model object is
  patched once however many recorded agents share it; each call goes to the recording
  whose run is active in the calling context (a :class:`~contextvars.ContextVar` the run
  wrapper sets), so two agents run with ``asyncio.gather`` keep their own calls.

Mapping (the details are :mod:`._browser_use_map`): each *action* of a browser-use step is a
step; the step's screenshot is the first action's ``pre`` and the previous step's last
action's ``post``; a CDP click's executed point is the action's ``x``/``y`` and the centre
of the interacted element's DOM bounds the grounding's target, both ``dom_client_rect``
with ``provenance="dom"``; ``thinking`` / ``evaluation_previous_goal`` / ``memory`` /
``next_goal`` are the reasoning; an ``ActionResult.error`` is a failed step with a
``browser_use.<class>`` failure class.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from augur_sdk._internal import internal_errors
from augur_sdk.integrations._browser_use_map import (
    call_from_invoke,
    judgement_of,
    run_status,
    steps_from_history_item,
)
from augur_sdk.integrations._framework import Framework
from augur_sdk.integrations._steps import StepRecorder, open_session

if TYPE_CHECKING:
    from augur_sdk.session import DebugSession

__all__ = ["FRAMEWORK", "BrowserUseRecording", "record"]

FRAMEWORK = Framework(identifier="browser_use", distribution="browser-use",
                      module="browser_use", minimum=(0, 13, 14), below=(0, 14),
                      extra="browser-use")

_WHERE = "integrations.browser_use"

Hook = Callable[[Any], Awaitable[None]]

_ACTIVE: ContextVar[BrowserUseRecording | None] = ContextVar("augur_browser_use_recording",
                                                           default=None)
"""The recording whose ``agent.run()`` is running in this context (set by the run wrapper):
a chat model shared by several recorded agents writes each call to that recording only."""


class _ObservedModel:
    """One chat model object, patched once however many recordings observe it (two agents
    sharing one model, as with ``asyncio.gather``); restored when the last one closes."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.own = "ainvoke" in getattr(llm, "__dict__", {})
        self.original = llm.ainvoke
        self.observers: list[BrowserUseRecording] = []
        original, entry = self.original, self

        async def ainvoke(messages: Any, output_format: Any = None, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = await original(messages, output_format, **kwargs)
            recording = entry.route()
            if recording is not None:
                recording._model_call(llm, messages, output_format, result,
                                      (time.perf_counter() - started) * 1000.0)
            return result

        # object.__setattr__: pydantic-backed chat models refuse a plain assignment.
        object.__setattr__(llm, "ainvoke", ainvoke)

    def route(self) -> BrowserUseRecording | None:
        """The recording a call belongs to: the one whose run is active in this context;
        outside any recorded run (``agent.step()`` driven by hand) the model's only
        observer. A call no recording can claim is not recorded."""
        active = _ACTIVE.get()
        if active is not None:
            return active if any(o is active for o in self.observers) else None
        return self.observers[0] if len(self.observers) == 1 else None

    def restore(self) -> None:
        if self.own:
            object.__setattr__(self.llm, "ainvoke", self.original)
        else:
            try:
                object.__delattr__(self.llm, "ainvoke")
            except AttributeError:
                pass


_MODELS: dict[int, _ObservedModel] = {}    # id(llm) -> its patch (while observed)
_MODELS_LOCK = threading.Lock()


class BrowserUseRecording:
    """What :func:`record` returns: the recorder of one agent's run.

    ``session`` is the :class:`DebugSession` written into. ``on_step_end`` is the hook the
    wrapped ``agent.run`` passes to browser-use (call it yourself when you drive
    ``agent.step()`` by hand, then :meth:`close`)."""

    def __init__(self, agent: Any, session: DebugSession, owns_session: bool, *,
                 final_screenshot: bool) -> None:
        self.agent = agent
        self.session = session
        self.final_screenshot = final_screenshot
        # The recording closes a session it owns itself, after the recorder's close wrote
        # the step still held: the judge's verdict needs that step written.
        self.owns_session = owns_session
        self.recorder = StepRecorder(session, integration="browser_use",
                                     dispatch_backend="cdp", owns_session=False)
        # history items already turned into steps (an agent run before keeps its own)
        self._seen = len(getattr(getattr(agent, "history", None), "history", None) or [])
        self._finished = False          # the done step is recorded: later calls go to it
        self._last_held: int | None = None   # the index of the step held last
        self._done_index: int | None = None  # the done step's
        self._observed: list[_ObservedModel] = []
        self._original_run: Any = None
        self._session_closed = False

    # ── hooks ───────────────────────────────────────────────────────────────────────────

    async def on_step_end(self, agent: Any) -> None:
        """browser-use's ``on_step_end`` hook: record the history items added since the
        last call (normally one: the step that just ended)."""
        self._consume(agent)
        done = False
        with internal_errors(_WHERE):
            done = bool(agent.history.is_done())
        if done and not self._finished:
            self._finished = True
            self._done_index = self._last_held
            if self.final_screenshot:
                await self._final_screenshot(agent)

    def _consume(self, agent: Any) -> None:
        """Turn the history items added since the last call into steps (the last one held
        open for its post: the next item's screenshot)."""
        items: list[Any] = []
        with internal_errors(_WHERE):
            items = list(agent.history.history[self._seen:])
            self._seen += len(items)
        for item in items:
            with internal_errors(_WHERE):
                self.recorder.screenshot(_screenshot_of(item))
                observed = steps_from_history_item(item)
                for step in observed[:-1]:
                    self.recorder.record(step)
                if observed:
                    self._last_held = self.recorder.hold(observed[-1])

    async def _final_screenshot(self, agent: Any) -> None:
        """The done step's ``post``: the page as the agent left it (no later step takes
        one). A failure here only loses that screenshot."""
        png: bytes | None = None
        with internal_errors(_WHERE):
            session = getattr(agent, "browser_session", None)
            if session is not None:
                try:
                    png = await session.take_screenshot()
                except Exception:  # the browser may be gone; the step keeps no post
                    png = None
        self.recorder.screenshot(png)

    # ── the model ───────────────────────────────────────────────────────────────────────

    def observe_llm(self, llm: Any) -> None:
        """Record every ``ainvoke`` of ``llm`` (once per object; undone by :meth:`close`).
        The model object is patched once for all recordings observing it."""
        if llm is None or any(entry.llm is llm for entry in self._observed):
            return
        with _MODELS_LOCK:
            entry = _MODELS.get(id(llm))
            if entry is None or entry.llm is not llm:
                entry = _MODELS[id(llm)] = _ObservedModel(llm)
            entry.observers.append(self)
        self._observed.append(entry)

    def _model_call(self, llm: Any, messages: Any, output_format: Any, result: Any,
                    duration_ms: float) -> None:
        with internal_errors(_WHERE):
            call = call_from_invoke(llm, messages, output_format, result, duration_ms)
            index = None                  # a turn's call: the step it decides (upcoming)
            if self._finished:            # the judge's call after the done step: that step
                index = self._done_index if self._done_index is not None else \
                    max(self.recorder.upcoming_index - 1, 0)
            self.recorder.model_call(call, step_index=index)

    def _judgement(self) -> None:
        """browser-use's judge (``use_judge``) judges the run after its done step: its
        verdict is a judge decision of that step, beside the step's own verdict (browser-use
        does not let it override the agent's success either). Called by :meth:`close` once
        the recorder wrote the step it held (the done step, when no final screenshot did)."""
        with internal_errors(_WHERE):
            verdict = judgement_of(getattr(self.agent, "history", None))
            index = self._done_index
            if verdict is None or index is None or index >= self.recorder.next_index:
                return
            llm = getattr(self.agent, "judge_llm", None)
            model = getattr(llm, "model", None) or "unknown"
            self.session.record_judge_decision(
                index, judge_id=f"browser_use.judge:{model}", judge_type="model",
                verdict=verdict, promote=False)

    # ── the end ─────────────────────────────────────────────────────────────────────────

    def close(self, *, status: str | None = None) -> None:
        """Write the step still open, record the judge's verdict, set the run's status,
        close the session if :func:`record` opened it, and undo the hooks. Idempotent."""
        self._release()
        self._finish(status)

    def _release(self) -> None:
        """Undo the hooks: this recording stops observing its models (a model object is
        restored when its last observer is gone) and ``agent.run`` is the class's again."""
        with internal_errors(_WHERE):
            with _MODELS_LOCK:
                while self._observed:
                    entry = self._observed.pop()
                    entry.observers = [o for o in entry.observers if o is not self]
                    if not entry.observers:
                        entry.restore()
                        if _MODELS.get(id(entry.llm)) is entry:
                            del _MODELS[id(entry.llm)]
            if self._original_run is not None and "run" in vars(self.agent):
                del self.agent.run
                self._original_run = None

    def _finish(self, status: str | None) -> None:
        """The slow half of :meth:`close` (disk, exporters, the DSN): the async run wrapper
        runs it in a worker thread so that the agent's event loop keeps going."""
        if self._session_closed:
            return
        self._session_closed = True
        self.recorder.close(status=status)    # writes the held step; our session stays open
        self._judgement()
        if self.owns_session:
            self.session.__exit__(None, None, None)

    def _wrap_run(self) -> None:
        original = self.agent.run
        self._original_run = original
        recording = self

        signature = inspect.signature(original)

        async def run(*args: Any, **kwargs: Any) -> Any:
            # Agent.run(max_steps, on_step_start, on_step_end): the user's own on_step_end
            # (by keyword or position) runs after ours.
            bound = signature.bind(*args, **kwargs)
            users_hook: Hook | None = bound.arguments.get("on_step_end")

            async def step_end(agent: Any) -> None:
                await recording.on_step_end(agent)
                if users_hook is not None:
                    await users_hook(agent)

            bound.arguments["on_step_end"] = step_end
            status = "failed"
            token = _ACTIVE.set(recording)   # this run's model calls go to this recording
            try:
                history = await original(*bound.args, **bound.kwargs)
                with internal_errors(_WHERE):
                    status = run_status(history)
                return history
            except BaseException as exc:
                cancelled = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
                status = "cancelled" if cancelled else "failed"
                raise
            finally:
                # what browser-use added after the last step (the max-steps item)
                recording._consume(recording.agent)
                _ACTIVE.reset(token)
                recording._release()
                # closing writes files and flushes exporters (up to the close budget):
                # off the event loop, which other agents and tasks may share
                await asyncio.to_thread(recording._finish, status)

        self.agent.run = run


def _screenshot_of(item: Any) -> bytes | None:
    """The PNG browser-use stored for a history item (its step's screenshot)."""
    encoded = item.state.get_screenshot() if item.state is not None else None
    return base64.b64decode(encoded) if encoded else None


def record(agent: Any, *, out_dir: Any = None, session: DebugSession | None = None,
           run_id: str | None = None, client_name: str | None = None,
           final_screenshot: bool = True, **session_options: Any) -> BrowserUseRecording:
    """Record ``agent`` (a ``browser_use.Agent``) into a new bundle under ``out_dir``
    (``session_options`` go to :class:`DebugSession`: ``capture_mode=``, default
    ``model_io`` unless ``AUGUR_CAPTURE_MODE`` is set, ``tags=``, ...) or into ``session``.

    The agent's next ``agent.run()`` (or ``run_sync()``) is recorded; when it ends the run's
    status is set and the recording closed (a bundle ``record`` opened is finished, a
    ``session`` you passed stays open). Raises :class:`IntegrationNotInstalled` when
    browser-use is missing or not a tested version, :class:`TypeError` naming the argument
    for a wrong one."""
    module = FRAMEWORK.load()
    agent_type = getattr(module, "Agent", None)
    if agent_type is None or not isinstance(agent, agent_type):
        raise TypeError(f"agent: expected a browser_use.Agent, got {type(agent).__name__}")
    if "run" in vars(agent):
        raise ValueError("agent: already recorded (record() was called on it before and "
                         "its run has not ended)")
    opened, owns = open_session(session, identifier="browser_use", out_dir=out_dir,
                                run_id=run_id, client_name=client_name,
                                session_kwargs=session_options)
    recording = BrowserUseRecording(agent, opened, owns, final_screenshot=final_screenshot)
    try:
        for llm in _models_of(agent):
            recording.observe_llm(llm)
        recording._wrap_run()
    except BaseException:
        # nothing half-done: the hooks undone, a session record() opened closed
        recording.close(status="failed")
        raise
    return recording


def _models_of(agent: Any) -> list[Any]:
    """The chat models the agent calls: its own, then extraction, judge and fallback."""
    settings = getattr(agent, "settings", None)
    found = [getattr(agent, "llm", None),
             getattr(settings, "page_extraction_llm", None),
             getattr(agent, "judge_llm", None),
             getattr(agent, "_fallback_llm", None)]
    return [llm for llm in found if llm is not None and hasattr(llm, "ainvoke")]
