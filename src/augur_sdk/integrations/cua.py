"""Record a Cua ``ComputerAgent`` run (PyPI ``cua-agent``) with one line.

    from augur_sdk.integrations.cua import record

    agent = ComputerAgent(model=..., tools=[computer])
    record(agent, out_dir="augur-runs/shop")        # the agent's next run becomes a bundle
    async for _ in agent.run("Log in and search for mugs"):
        pass

:func:`record` appends a callback of cua's own kind (a subclass of its
``AsyncCallbackHandler``) to ``agent.callbacks`` and wraps ``agent.run``. Both halves are
needed, which is why it takes the agent rather than being passed as ``callbacks=[...]``:

* appended *after* the callbacks ``ComputerAgent`` adds itself (prompt instructions, image
  retention, its operator normalizer), it sees the messages as the model gets them and the
  output items as the agent executes them;
* a computer call that fails reaches no callback: cua swallows the ``ToolError`` into a
  ``function_call_output`` item that it only *yields* from ``run``, and an exception that ends
  the run skips ``on_run_end``. The wrapper sees both, so the failed call becomes a failed step
  (failure class ``cua.<exception class>``) and the run's status is set.

What becomes what: each computer call a step (action type, parameters, x/y in screenshot
pixels, the screenshot before it as ``pre`` and the one cua takes after it as ``post``); a turn
that ends with the assistant's message a ``done`` step; each model turn (``on_llm_start`` ->
``on_llm_end``) a model-I/O record of the step it decides, with ``on_usage``'s tokens; reasoning
items the reasoning of that step. The run succeeded when it ended with that message; a run
a callback stopped (cua's budget manager) or an exception ended failed.

With ``out_dir=`` the session is opened here and closed when the run ends (one bundle per
run), and the agent is given back as it was (callback removed, its own ``run``); with
``session=`` every run of the agent is recorded into that session, left open, until
:meth:`CuaRecording.detach`. Closing runs in a thread: it may wait for exporters or a DSN.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augur_sdk import records
from augur_sdk._internal import internal_errors, log_once
from augur_sdk.adapters.extract import reasoning_from_response
from augur_sdk.adapters.openai import as_message
from augur_sdk.integrations._cua_items import (
    SCREEN_NAMES,
    failure_of,
    screenshot_bytes,
    usage_tokens,
)
from augur_sdk.integrations._framework import Framework
from augur_sdk.integrations._steps import ObservedCall, ObservedStep, StepRecorder, open_session

if TYPE_CHECKING:
    from augur_sdk.session import DebugSession

__all__ = ["FRAMEWORK", "CuaRecording", "record"]

FRAMEWORK = Framework(identifier="cua", distribution="cua-agent", module="cua_agent",
                      minimum=(0, 9, 1), below=(0, 10), extra="cua")

_WHERE = "integrations.cua"


class CuaRecording:
    """What :func:`record` attaches to an agent: the callback's behaviour (the class actually
    appended also derives from cua's ``AsyncCallbackHandler``, see :func:`_load`).

    ``session`` is the session recorded into; ``bundle_dir`` its directory."""

    def __init__(self, session: DebugSession, *, owns_session: bool) -> None:
        self.session = session
        self._owns = owns_session
        self._recorder: StepRecorder | None = None
        self._runs = 0
        self._model = ""
        self._turn: dict[str, Any] | None = None
        self._intent = ""                             # what the model said this turn
        self._final = False                           # the turn has no calls: it ends the run
        self._reasoning: list[dict[str, Any]] = []
        self._call: dict[str, Any] | None = None      # the computer call under way
        self._screen: bytes | None = None             # the newest screenshot: the next pre
        self._done = False                            # this run wrote its done step
        self._agent: Any = None                       # the agent while attached
        self._own_run: Any = None                     # agent.run's instance attribute, if any

    @property
    def bundle_dir(self) -> Path:
        """The bundle's directory."""
        return Path(self.session.out_dir)

    # ── cua's callback hooks ────────────────────────────────────────────────────────────

    async def on_run_start(self, kwargs: dict[str, Any], old_items: list[Any]) -> None:
        with internal_errors(_WHERE):
            self._runs += 1
            if self._owns and self._runs > 1:
                log_once("cua.second_run", logging.WARNING, "augur_sdk.integrations.cua: "
                         "this agent's first run was recorded into %s; call record() again "
                         "(another out_dir) to record another run", self.bundle_dir)
                return
            self._recorder = StepRecorder(self.session, integration="cua",
                                          dispatch_backend="cua", owns_session=self._owns)
            self._model = str(kwargs.get("model") or "")
            self._done = False

    async def on_llm_start(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with internal_errors(_WHERE):
            if self._recorder is not None:
                self._end_call(None)
                self._turn = {"messages": list(messages), "t0": time.monotonic(),
                              "prompt": None, "completion": None}
        return messages

    async def on_usage(self, usage: dict[str, Any]) -> None:
        with internal_errors(_WHERE):
            if self._turn is not None:
                prompt, completion = usage_tokens(usage)
                for key, value in (("prompt", prompt), ("completion", completion)):
                    if value is not None:
                        self._turn[key] = (self._turn[key] or 0) + value

    async def on_llm_end(self, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with internal_errors(_WHERE):
            if self._recorder is not None and self._turn is not None:
                self._model_call(self._turn, list(output))
                self._turn = None
        return output

    async def on_screenshot(self, screenshot: str | bytes, name: str = "screenshot") -> None:
        with internal_errors(_WHERE):
            png = screenshot_bytes(screenshot) if name in SCREEN_NAMES else None
            if self._recorder is None or png is None:
                return
            if self._call is not None:
                self._call["post"] = png         # the call's result; written at its end
            else:
                self._screen = png               # the screen before the next step

    async def on_computer_call_start(self, item: dict[str, Any]) -> None:
        with internal_errors(_WHERE):
            if self._recorder is not None:
                self._end_call(None)
                self._call = {"item": item, "started": records.utcnow_iso(), "post": None}

    async def on_computer_call_end(self, item: dict[str, Any], result: list[Any]) -> None:
        with internal_errors(_WHERE):
            if self._call is not None:
                for out in result if self._call["post"] is None else ():
                    # no on_screenshot came: the image of the computer_call_output
                    shown = out.get("output") if isinstance(out, dict) else None
                    if isinstance(shown, dict) and self._call["post"] is None:
                        self._call["post"] = screenshot_bytes(shown.get("image_url"))
                self._end_call(("succeeded", None, None))

    async def on_text(self, item: dict[str, Any]) -> None:
        with internal_errors(_WHERE):
            if self._recorder is not None and self._final and item.get("role") == "assistant":
                text = " ".join(str(part.get("text", "")) for part in item.get("content") or []
                                if isinstance(part, dict)).strip()
                step = ObservedStep("done", params={"text": text[:2000]}, intent=text,
                                    ended_at=records.utcnow_iso())
                self._write(step)
                self._done = True

    async def on_run_end(self, kwargs: dict[str, Any], old_items: list[Any],
                         new_items: list[Any]) -> None:
        # The loop ends with the assistant's message, or because a callback's
        # on_run_continue said stop (cua's budget manager): that run did not finish its task.
        await self._finish("succeeded" if self._done else "failed")

    # ── what only the wrapped run sees ──────────────────────────────────────────────────

    def saw_chunk(self, chunk: Any) -> None:
        """A chunk ``run`` yielded: the error item of a computer call that failed."""
        with internal_errors(_WHERE):
            call = self._call
            if call is None or not isinstance(chunk, dict):
                return
            for out in chunk.get("output") or []:
                if (isinstance(out, dict) and out.get("type") == "function_call_output"
                        and out.get("call_id") == call["item"].get("call_id")):
                    failure_class, error = failure_of(out.get("output"))
                    self._end_call(("failed", failure_class, error))

    async def run_raised(self, exc: BaseException) -> None:
        """``run`` ended with ``exc`` (no ``on_run_end``): the call under way failed with it."""
        with internal_errors(_WHERE):
            if isinstance(exc, Exception):
                self._end_call(("failed", f"cua.{type(exc).__name__}", f"{exc!r}"))
        await self._finish("failed" if isinstance(exc, Exception) else "cancelled")

    def run_ended(self) -> None:
        """The wrapped ``run`` is over: a recording that owns its session (one run, one
        bundle) leaves the agent as it found it."""
        if self._owns:
            self.detach()

    def detach(self) -> None:
        """Take the callback out of ``agent.callbacks`` and give the agent back its own
        ``run``: its next runs are not recorded, and :func:`record` may be called on it
        again. The session is not closed (a recording with ``session=`` leaves that to you).
        Detaching twice does nothing."""
        agent, self._agent = self._agent, None
        if agent is None:
            return
        with internal_errors(_WHERE):
            agent.callbacks[:] = [c for c in agent.callbacks if c is not self]
            if self._own_run is not None:
                agent.run = self._own_run     # the run the user had set on the instance
            else:
                vars(agent).pop("run", None)  # the class's run again
            self._own_run = None

    # ── records ─────────────────────────────────────────────────────────────────────────

    def _end_call(self, outcome: tuple[str, str | None, str | None] | None) -> None:
        """Write the computer call under way as a step. ``None``: the agent moved on with no
        result for it (cua returned early), recorded as failed."""
        call, self._call = self._call, None
        if call is None or self._recorder is None:
            return
        status, failure_class, error = outcome or (
            "failed", "cua.NoResult", "the agent moved on without a result for this call")
        action = dict(call["item"].get("action") or {})
        action_type = str(action.pop("type", "") or "unknown")
        x, y = action.get("x"), action.get("y")
        point = ((float(x), float(y)) if isinstance(x, int | float) and
                 isinstance(y, int | float) else None)
        step = ObservedStep(action_type, params=action, intent=self._intent, status=status,
                            failure_class=failure_class, error=error,
                            started_at=call["started"], ended_at=records.utcnow_iso(),
                            coordinates=point, coordinate_space="screenshot_px",
                            post_png=call["post"])
        self._write(step)
        if call["post"] is not None:
            self._screen = call["post"]

    def _write(self, step: ObservedStep) -> None:
        """Write ``step`` with the newest screenshot as its pre (a failed call took none
        after it, so the next step starts from the same screen) and the turn's reasoning
        (the turn's first step only)."""
        assert self._recorder is not None
        step.pre_png = self._screen
        if self._reasoning:
            step.reasoning = self._reasoning[0]["text"]
            step.reasoning_format = self._reasoning[0]["format"]
            step.intent = step.intent or step.reasoning
            self._reasoning = []
        self._recorder.record(step)

    def _model_call(self, turn: dict[str, Any], output: list[dict[str, Any]]) -> None:
        assert self._recorder is not None
        texts = [str(part.get("text", "")) for item in output if item.get("type") == "message"
                 for part in item.get("content") or [] if isinstance(part, dict)]
        calls = [item for item in output
                 if item.get("type") in ("computer_call", "function_call")]
        self._recorder.model_call(ObservedCall(
            model=self._model,
            messages=[as_message(m) for m in turn["messages"] if isinstance(m, dict)],
            text=" ".join(texts).strip() or None, tool_calls=calls or None,
            stop_reason="tool_use" if calls else "end_turn",
            prompt_tokens=turn["prompt"], completion_tokens=turn["completion"],
            duration_ms=(time.monotonic() - turn["t0"]) * 1000.0))
        self._reasoning = reasoning_from_response({"output": output})
        self._intent, self._final = " ".join(texts).strip(), not calls

    async def _finish(self, status: str) -> None:
        recorder, self._recorder = self._recorder, None
        self._turn = None
        if recorder is None:
            return
        with internal_errors(_WHERE):
            self._end_call(None)  # cannot happen after on_run_end; kept for a raised run
        # Closing waits for exporters and a DSN's stream (up to the close budget): in a
        # thread, so the agent's event loop (its other tasks, the browser) keeps running.
        with internal_errors(_WHERE):
            await asyncio.to_thread(recorder.close, status=status if self._owns else None)

    def _attach(self, agent: Any) -> None:
        """Append the callback to ``agent.callbacks`` and wrap ``agent.run``."""
        self._agent = agent
        self._own_run = vars(agent).get("run")
        run: Callable[..., AsyncIterator[Any]] = agent.run
        recording = self

        async def recorded_run(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for chunk in run(*args, **kwargs):
                    recording.saw_chunk(chunk)
                    yield chunk
            except BaseException as exc:
                await recording.run_raised(exc)
                raise
            finally:
                recording.run_ended()

        agent.callbacks.append(self)
        agent.run = recorded_run


_LOADED: dict[str, Any] = {}


def _load() -> tuple[Any, Any]:
    """cua's ``ComputerAgent`` and our callback class: ``CuaRecording`` that is also a cua
    ``AsyncCallbackHandler`` (built on first use, so importing this module never imports
    cua; looked up by name, so type checking needs no cua either)."""
    if not _LOADED:
        agent_module = FRAMEWORK.load()
        base = importlib.import_module("cua_agent.callbacks.base").AsyncCallbackHandler
        _LOADED["agent"] = agent_module.ComputerAgent
        _LOADED["callback"] = type("AugurCuaCallback", (CuaRecording, base),
                                   {"__module__": __name__})
    return _LOADED["agent"], _LOADED["callback"]


def record(agent: Any, *, out_dir: str | Path | None = None,
           session: DebugSession | None = None, run_id: str | None = None,
           client_name: str | None = None, **session_kwargs: Any) -> CuaRecording:
    """Record ``agent`` (a cua ``ComputerAgent``): into a new bundle at ``out_dir`` (its
    next run; ``session_kwargs`` go to :class:`~augur_sdk.DebugSession`, e.g.
    ``capture_mode="model_io"`` to keep the model calls' messages), or into ``session`` (every
    run, left open). Returns the callback appended to ``agent.callbacks``.

    Raises :class:`~augur_sdk.integrations.IntegrationNotInstalled` when cua-agent is missing
    or not a tested version; ``TypeError`` for an ``agent`` that is not a ``ComputerAgent``;
    ``ValueError`` for an agent already being recorded (its callback still attached)."""
    computer_agent, callback = _load()
    if not isinstance(agent, computer_agent):
        raise TypeError(f"agent: expected a cua ComputerAgent, got {type(agent).__name__}")
    if any(isinstance(c, CuaRecording) for c in agent.callbacks):
        raise ValueError("agent: already recorded (record() was called on it and its "
                         "recording is attached: wait for the run to end, or call detach() "
                         "on the recording record() returned)")
    opened, owns = open_session(session, identifier="cua", out_dir=out_dir, run_id=run_id,
                                client_name=client_name, session_kwargs=session_kwargs)
    recording: CuaRecording = callback(opened, owns_session=owns)
    recording._attach(agent)
    return recording
