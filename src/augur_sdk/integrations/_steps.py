"""Turning what a framework's hooks saw into records: one place for the three integrations.

An integration maps the framework's objects into :class:`ObservedStep` / :class:`ObservedCall`
(plain data, no framework types) and hands them to a :class:`StepRecorder`, which owns the
step numbering, the pre/post screenshot pairing, the step dict and the model-call record.
Every recorder method runs behind the internal-error gate: what a framework hands us is not
the user's input, and a surprise in it must never break the agent (it re-raises under our
own tests, ``AUGUR_RAISE_INTERNAL_ERRORS=1``).

Screenshots: frameworks take one screenshot per turn (before the model decides, or as the
result of an action). The recorder keeps the step it was last given *open* until the next
screenshot arrives: that screenshot is the open step's ``post`` and the next step's ``pre``
(``hold`` + ``screenshot``). ``close`` writes a step still open with the post it has.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augur_sdk import records
from augur_sdk._internal import internal_errors
from augur_sdk.capture import CaptureMode, capture_mode_is_explicit

if TYPE_CHECKING:
    from augur_sdk.session import DebugSession


@dataclass
class ObservedStep:
    """One action the agent took, as the framework reported it."""

    action_type: str                              # click, type, scroll, navigate, done, ...
    params: dict[str, Any] = field(default_factory=dict)
    intent: str = ""
    status: str = "succeeded"                     # succeeded | failed | skipped
    failure_class: str | None = None              # namespaced by the integration if its own
    error: str | None = None                      # the framework's error text (verdict reason)
    started_at: str | None = None                 # ISO-8601 UTC; default: when recorded
    ended_at: str | None = None
    coordinates: tuple[float, float] | None = None
    coordinate_space: str = "viewport_css_px"
    target_label: str | None = None
    provenance: str = "screenshot"                # screenshot | dom (element-index actions)
    pre_png: bytes | None = None
    post_png: bytes | None = None
    reasoning: str | None = None
    reasoning_format: str = "adapter_inferred"
    # decision events: {"kind", "summary", "detail"} (+ "layer", default "adapter")
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ObservedCall:
    """One model call, as the framework's model hook saw it (provider-shaped messages)."""

    model: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    system: str | None = None
    tools: list[dict[str, Any]] | None = None
    params: dict[str, Any] | None = None
    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    stop_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    duration_ms: float | None = None
    layer: str = "model"
    provider: str | None = None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

DEFAULT_CAPTURE_MODE = CaptureMode.MODEL_IO
"""A session an integration opens records at this mode unless ``capture_mode=`` or
``AUGUR_CAPTURE_MODE`` says otherwise: screenshots and the model's messages."""


def as_png(data: bytes) -> bytes:
    """``data`` as PNG bytes: PNG as is; another image format (frameworks hand JPEG or WebP
    screenshots) converted with Pillow when it is installed (the ``images`` extra)."""
    if data.startswith(_PNG_SIGNATURE):
        return data
    try:
        from PIL import Image
    except ImportError:
        from augur_sdk.images import PILLOW_INSTALL

        raise ValueError("png_bytes: not a PNG image, and Pillow is not installed to convert "
                         f"it: {PILLOW_INSTALL}") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.save(out, format="PNG")
    except Exception as exc:
        raise ValueError(f"png_bytes: not an image Pillow can read ({exc})") from exc
    return out.getvalue()


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that are not ``None``."""
    return {name: value for name, value in fields.items() if value is not None}


def open_session(session: DebugSession | None, *, identifier: str, out_dir: Any,
                 run_id: str | None, client_name: str | None,
                 session_kwargs: dict[str, Any]) -> tuple[DebugSession, bool]:
    """The session to record into and whether the integration owns it (opened it, so closes
    it). Either a session is given, or ``out_dir`` is (both is an error naming them)."""
    if session is not None:
        if out_dir is not None or session_kwargs:
            raise TypeError("session: pass either session= or out_dir= (and session options), "
                            "not both")
        return session, False
    if out_dir is None:
        raise TypeError("out_dir: required when no session= is given")
    from augur_sdk.session import DebugSession

    session_kwargs = dict(session_kwargs)
    if session_kwargs.get("capture_mode") is None and not capture_mode_is_explicit(None):
        # DebugSession's own default (off) records nothing: a bundle opened here is meant
        # to be looked at, so it keeps what the integrations record by default.
        session_kwargs["capture_mode"] = DEFAULT_CAPTURE_MODE
    rid = run_id or f"{identifier}_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    tags = {"integration": identifier, **dict(session_kwargs.pop("tags", None) or {})}
    opened = DebugSession(run_id=rid, client_name=client_name or identifier, out_dir=out_dir,
                          tags=tags, **session_kwargs)
    opened.__enter__()
    return opened, True


class StepRecorder:
    """Numbers steps, pairs screenshots, writes steps and model calls into one session."""

    def __init__(self, session: DebugSession, *, integration: str, dispatch_backend: str,
                 grounding_provider: str | None = None, owns_session: bool = False) -> None:
        self.session = session
        self.integration = integration
        self.dispatch_backend = dispatch_backend
        self.grounding_provider = grounding_provider or integration
        self.owns_session = owns_session
        self.next_index = 0
        self._written = False
        self._held: ObservedStep | None = None
        self._pending_pre: bytes | None = None
        self._closed = False
        self._where = f"integrations.{integration}"

    # ── screenshots and held steps ──────────────────────────────────────────────────────

    def screenshot(self, png: bytes | None) -> None:
        """A new screenshot of the screen: the open step's post, the next step's pre."""
        with internal_errors(self._where):
            if not png:
                return
            if self._held is not None:
                held, self._held = self._held, None
                if held.post_png is None:
                    held.post_png = png
                self._write(held)
            self._pending_pre = png

    def hold(self, step: ObservedStep) -> int:
        """Keep ``step`` open until the next screenshot (its post); write the one open
        before it. Returns the step's index."""
        with internal_errors(self._where):
            self._flush_held()
            if step.pre_png is None:
                step.pre_png, self._pending_pre = self._pending_pre, None
            self._held = step
        return self._free_index()

    def record(self, step: ObservedStep) -> int | None:
        """Write ``step`` now (after the one held open); return its index."""
        with internal_errors(self._where):
            self._flush_held()
            if step.pre_png is None:
                step.pre_png, self._pending_pre = self._pending_pre, None
            return self._write(step)
        return None

    @property
    def upcoming_index(self) -> int:
        """The index the next step given to ``hold`` or ``record`` will get (a step held
        open already has its index)."""
        return self._free_index() + (1 if self._held is not None else 0)

    @property
    def holding(self) -> bool:
        """Whether a step is held open, waiting for its post screenshot."""
        return self._held is not None

    @property
    def last_index(self) -> int | None:
        """The index of the step this recorder wrote last (``None``: none yet)."""
        return self.next_index - 1 if self._written else None

    def _free_index(self) -> int:
        """The next index no step of the session has: steps recorded beside ours (the
        user's own, another agent's recorder) are never overwritten."""
        return max(self.next_index, self.session.next_step_index)

    # ── model calls ─────────────────────────────────────────────────────────────────────

    def model_call(self, call: ObservedCall, *, step_index: int | None = None) -> str | None:
        """Record a model call of ``step_index`` (default: the upcoming step: the model
        decides, then the agent acts)."""
        with internal_errors(self._where):
            index = self.upcoming_index if step_index is None else step_index
            response = _present(text=call.text, tool_calls=call.tool_calls or None,
                                stop_reason=call.stop_reason or None)
            usage = {name: value for name, value in (("prompt_tokens", call.prompt_tokens),
                                                     ("completion_tokens",
                                                      call.completion_tokens))
                     if isinstance(value, int) and value >= 0}
            if usage:
                response["usage"] = usage
            request = {"model": call.model, "messages": call.messages,
                       **_present(system=call.system, tools=call.tools or None,
                                  params=call.params or None)}
            record: dict[str, Any] = {"layer": call.layer, "step_index": index,
                                      "request": request, "response": response}
            if call.duration_ms is not None:
                record["duration_ms"] = max(0, int(call.duration_ms))
            return self.session.record_modelio(record, provider=call.provider)
        return None

    # ── the end ─────────────────────────────────────────────────────────────────────────

    def close(self, *, status: str | None = None) -> None:
        """Write the step still open; set the run's status; close the session if ours."""
        if self._closed:
            return
        self._closed = True
        with internal_errors(self._where):
            self._flush_held()
            if status is not None:
                self.session.set_status(status)
        if self.owns_session:
            self.session.__exit__(None, None, None)

    # ── the step dict ───────────────────────────────────────────────────────────────────

    def _flush_held(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._write(held)

    def _write(self, step: ObservedStep) -> int:
        session, index = self.session, self._free_index()
        shots: dict[str, str | None] = {"pre": None, "post": None}
        for kind, data in (("pre", step.pre_png), ("post", step.post_png)):
            if not data:
                continue
            try:
                shots[kind] = session.attach_observation(step_index=index, kind=kind,
                                                         png_bytes=as_png(data))
            except ValueError:
                # Bytes the framework got wrong cost that screenshot, not the step. (Other
                # errors, a closed session say, fail the whole step: one warning, not two.)
                with internal_errors(f"{self._where}.screenshot"):
                    raise
        if step.reasoning:
            session.record_reasoning(index, step.reasoning, format=step.reasoning_format)
        started = step.started_at or records.utcnow_iso()
        record: dict[str, Any] = {
            "step_id": f"{session.run_id}/step/{index:04d}", "step_index": index,
            "step_type": step.action_type, "intent": step.intent[:500],
            "status": step.status, "started_at": started,
            "observation_pre": shots["pre"], "observation_post": shots["post"],
            "action": {"type": step.action_type, "params": dict(step.params),
                       "coordinate_space": step.coordinate_space,
                       "dispatch_backend": self.dispatch_backend},
        }
        if step.ended_at:
            record["ended_at"] = step.ended_at
        if step.failure_class:
            record["failure_class"] = step.failure_class
        grounding: dict[str, Any] = {"provider": self.grounding_provider,
                                     "provenance": step.provenance}
        if step.coordinates is not None:
            x, y = step.coordinates
            grounding["coordinates"] = {"x": float(x), "y": float(y)}
        if step.target_label:
            grounding["target_label"] = step.target_label[:200]
        record["grounding"] = grounding
        if step.status == "failed":
            record["verdict"] = {"status": "failed", "reason": (step.error or "")[:1000]
                                 or "the framework reported a failure"}
        session.record_step(record)
        self.next_index, self._written = index + 1, True
        for event in step.events:
            session.record_event({"ts": records.utcnow_iso(), "step_index": index,
                                  "layer": "adapter", **event})
        return index
