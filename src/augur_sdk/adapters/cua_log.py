"""A computer-use run's model-API log into a bundle: the part every provider shares.

The log is JSONL, one model call per line: ``{"request": <what was sent>, "response": <what
came back>}`` (the provider's own JSON, e.g. ``response.model_dump(mode="json")``), optionally
``"duration_ms"`` and ``"ts"`` (when the response arrived). A provider module
(:mod:`.anthropic`, :mod:`.openai`) says where its actions, results and screenshots are.

One pass, line by line (a log holds the whole history in every request, so it is never read
whole): each call becomes a model-I/O record (and a ``chat`` span) of the step its first
action starts; each action a step whose pre screenshot is the newest one the model had seen,
whose post screenshot comes with the action's result in a later request, and which fails when
that result says so; reasoning blocks become reasoning records.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from augur_sdk import records
from augur_sdk.adapters import extract


@dataclass
class Action:
    """One action the model asked for, in the model's coordinate space."""

    call_id: str
    type: str  # click, double_click, type, key, scroll, move, drag, screenshot, wait, ...
    params: dict[str, Any]
    point: tuple[float, float] | None = None
    text: str = ""  # what the model said before it, for the step's intent


@dataclass
class Result:
    """What came back for an action: its screenshot, or the error the harness reported."""

    image: bytes | None = None
    error: str | None = None


@dataclass
class Turn:
    """What one logged call holds, read by a provider."""

    model: str
    actions: list[Action] = field(default_factory=list)
    results: dict[str, Result] = field(default_factory=dict)  # by call id, from the request
    images: list[bytes] = field(default_factory=list)  # other screenshots in the request
    display: tuple[int, int] | None = None
    response_model: str | None = None
    reasoning_tokens: int | None = None
    incomplete: set[str] = field(default_factory=set)  # call ids the response left undone
    immediate: set[str] = field(default_factory=set)  # call ids no result will come for


class Provider(Protocol):
    name: str
    dispatch_backend: str

    def read_turn(self, request: dict[str, Any], response: dict[str, Any]) -> Turn: ...
    def modelio(self, request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]: ...


def decode_png(data: Any) -> bytes | None:
    """The bytes of a base64 image (a bare string or a ``data:`` URL); ``None`` if not one."""
    if not isinstance(data, str):
        return None
    if data.startswith("data:"):
        _, _, data = data.partition(",")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_log(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, entry)`` of each non-empty line; a bad line raises naming it."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict) \
                    or not isinstance(entry.get("response"), dict):
                raise ValueError(f"{path}:{number}: expected an object with 'request' and "
                                 "'response' objects")
            yield number, entry


@dataclass
class _Pending:
    index: int
    action: Action
    pre: str | None
    display: tuple[int, int] | None
    started_at: str


def import_log(provider: Provider, log: str | Path, out_dir: str | Path, *,
               run_id: str | None = None, capture_mode: str = "model_io") -> Path:
    """Write the bundle of one logged computer-use run; return ``out_dir``."""
    from augur_sdk.session import DebugSession

    path, out = Path(log), Path(out_dir)
    rid = run_id or path.stem
    for _line in read_log(path):  # every line checked before anything is written
        pass
    pending: dict[str, _Pending] = {}  # actions whose result has not come back yet
    seen: bytes | None = None  # the newest screenshot the model had been sent
    index = 0
    with DebugSession(run_id=rid, client_name=f"augur-import-{provider.name}",
                      capture_mode=capture_mode, out_dir=out, dsn="",
                      tags={"adapter": provider.name, "imported_from": path.name}) as session:

        def finish(p: _Pending, result: Result | None, ended_at: str) -> None:
            post = None
            if result is not None and result.image is not None:
                post = session.attach_observation(step_index=p.index, kind="post",
                                                  png_bytes=result.image)
            session.record_step(_step(provider, rid, p, post,
                                      None if result is None else result.error, ended_at,
                                      done=result is not None))

        for _number, entry in read_log(path):
            request, response = entry["request"], entry["response"]
            stamp = entry.get("ts")
            ts: str = stamp if isinstance(stamp, str) else records.utcnow_iso()
            turn = provider.read_turn(request, response)
            for call_id, result in turn.results.items():  # earlier actions' outcomes
                if call_id in pending:
                    finish(pending.pop(call_id), result, ts)
                if result.image is not None:
                    seen = result.image
            if turn.images:
                seen = turn.images[-1]
            first = index if turn.actions else None
            record = provider.modelio(request, response)
            if isinstance(entry.get("duration_ms"), int):
                record["duration_ms"] = entry["duration_ms"]
            record["ts"] = ts
            session.record_modelio(record, step_index=first, provider=provider.name,
                                   response_model=turn.response_model,
                                   reasoning_tokens=turn.reasoning_tokens)
            if first is not None:
                for reasoning in extract.reasoning_from_response(response):
                    session.record_reasoning(first, reasoning["text"],
                                             format=reasoning["format"], model=turn.model,
                                             ts=ts)
            for action in turn.actions:
                pre = None if seen is None else session.attach_observation(
                    step_index=index, kind="pre", png_bytes=seen)
                p = _Pending(index, action, pre, turn.display, ts)
                if action.call_id in turn.incomplete:
                    finish(p, Result(error="the model left this action incomplete"), ts)
                elif action.call_id in turn.immediate:
                    finish(p, Result(), ts)
                else:
                    pending[action.call_id] = p
                index += 1
        for p in list(pending.values()):  # the log ends before these came back
            finish(p, None, p.started_at)
    return out


def _step(provider: Provider, run_id: str, p: _Pending, post: str | None, error: str | None,
          ended_at: str, *, done: bool) -> dict[str, Any]:
    action = p.action
    params = dict(action.params)
    if action.point is not None:
        params["x"], params["y"] = action.point
    if p.display is not None:
        params["viewport"] = {"width": p.display[0], "height": p.display[1]}
    step: dict[str, Any] = {
        "step_id": f"{run_id}/step/{p.index:04d}", "step_index": p.index,
        "step_type": action.type, "status": "failed" if error else "succeeded",
        "started_at": p.started_at, "ended_at": ended_at,
        "observation_pre": p.pre, "observation_post": post,
        "action": {"type": action.type, "params": params,
                   "coordinate_space": "viewport_css_px",
                   "dispatch_backend": provider.dispatch_backend},
    }
    if action.text:
        step["intent"] = action.text[:200]
    if action.point is not None:
        step["grounding"] = {"provider": provider.name, "provenance": "screenshot",
                             "coordinates": {"x": action.point[0], "y": action.point[1]}}
    if error:
        step["failure_class"] = f"{provider.name}.action_error"
        step["verdict"] = {"status": "failed", "reason": error[:500]}
    elif not done:
        step["verdict"] = {"status": "unknown", "reason": "the log ends before its result"}
    return step
