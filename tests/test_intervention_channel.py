"""The intervention channel on its own (no server): the public names, dispatch order and
repeats, and the stop() guarantee that no hook starts once it returned."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import augur_sdk.intervention as iv
from augur_sdk import DebugSession


class Slow:
    """Every hook; ``on_pause`` takes ``pause_s``; calls are recorded in order."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.calls: list[str] = []
        self.pause_s = pause_s
        self.started = threading.Event()

    def on_pause(self) -> None:
        self.started.set()
        time.sleep(self.pause_s)
        self.calls.append("on_pause")

    def on_resume(self) -> None:
        self.calls.append("on_resume")

    def on_kill(self) -> None:
        self.calls.append("on_kill")

    def on_inject_hint(self, hint_text: str) -> None:
        self.calls.append(f"on_inject_hint:{hint_text}")

    def on_action_override(self, coordinates: dict[str, float], *, provenance: str) -> None:
        self.calls.append("on_action_override")


def _channel(session: DebugSession, adapter: Any) -> iv.InterventionChannel:
    return iv.InterventionChannel(session=session, adapter=adapter,
                                  base_url="http://127.0.0.1:9", token="t")


def _cmd(n: int, kind: str, **payload: Any) -> dict[str, Any]:
    return {"command_id": f"c{n}", "seq": n, "type": kind, "issued_at": "2026-01-01T00:00:00Z",
            "payload": payload or None}


@pytest.fixture
def session(tmp_path: Path) -> Any:
    with DebugSession(run_id="iv_unit", client_name="t", out_dir=tmp_path / "b",
                      capture_mode="trace") as s:
        yield s


def test_the_public_names_are_0_6_1s() -> None:
    """COMMAND_TYPES, InterventionCommand, InterventionChannel (poll_once, dispatch, paused)
    are there, with 0.6.1's five command types."""
    assert {"pause", "resume", "kill", "inject_hint", "override_action"} == iv.COMMAND_TYPES
    assert {"COMMAND_TYPES", "InterventionChannel", "InterventionCommand"} <= set(iv.__all__)
    for name in ("poll_once", "dispatch", "start", "stop", "wait_while_paused"):
        assert callable(getattr(iv.InterventionChannel, name))
    cmd = iv.InterventionCommand.from_dict({"id": "x", "type": "kill", "issued_at": "t"})
    assert (cmd.command_id, cmd.type, cmd.payload) == ("x", "kill", None)


def test_commands_are_dispatched_in_order_once(session: DebugSession) -> None:
    """A batch is handed to the hooks in its order; a repeated command id, a command without
    an id and a non-object are skipped; an unknown type is audited, not dispatched."""
    adapter = Slow()
    channel = _channel(session, adapter)
    batch = [_cmd(1, "pause"), _cmd(2, "inject_hint", text="left"), _cmd(1, "pause"),
             {"type": "kill"}, "junk", _cmd(3, "teleport"), _cmd(4, "resume")]
    assert channel.dispatch(batch) == 3
    assert channel.dispatch([_cmd(4, "resume")]) == 0
    assert adapter.calls == ["on_pause", "on_inject_hint:left", "on_resume"]
    summaries = [line for line in (session.out_dir / "events" / "run.jsonl").read_text()
                 .splitlines()]
    assert any('"intervention.teleport.unknown_type"' in line for line in summaries)


def test_no_hook_starts_after_stop_returns(session: DebugSession) -> None:
    """stop() waits (within its budget) for the hook that runs, and the rest of the batch is
    never dispatched; past its budget it returns False, and still nothing more starts."""
    for pause_s, budget, quiet in ((0.4, 3.0, True), (1.5, 0.2, False)):
        adapter = Slow(pause_s)
        channel = _channel(session, adapter)
        worker = threading.Thread(target=channel.dispatch,
                                  args=([_cmd(1, "pause"), _cmd(2, "kill")],))
        worker.start()
        assert adapter.started.wait(5)
        started = time.monotonic()
        assert channel.stop(budget) is quiet
        assert time.monotonic() - started < budget + 0.3
        worker.join(5)
        assert adapter.calls == ["on_pause"]
        assert channel.poll_once() == 0  # a stopped channel does not poll


def test_wait_while_paused_follows_pause_resume_and_kill(session: DebugSession) -> None:
    """wait_while_paused times out while paused, returns at a resume, and a kill (also while
    paused) ends the wait with killed set."""
    channel = _channel(session, Slow())
    assert channel.wait_while_paused(0)
    channel.dispatch([_cmd(1, "pause")])
    assert channel.paused and not channel.wait_while_paused(0.05)
    channel.dispatch([_cmd(2, "resume")])
    assert channel.wait_while_paused(0)
    channel.dispatch([_cmd(3, "pause")])
    threading.Timer(0.1, channel.dispatch, args=([_cmd(4, "kill")],)).start()
    assert channel.wait_while_paused(5) and channel.killed
