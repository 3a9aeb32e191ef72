"""Live intervention through a real ``augur serve``: token roles and tenants, the long poll,
commands on disk across a restart, idleness, and the SDK's channel (order, exactly once,
audit events, close())."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serverkit import read_jsonl

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.intervention import InterventionChannel
from augur_sdk.testing import capture_spans
from conftest import start_server

INGEST, CONTROL, OTHER_CONTROL = "ing-acme", "ctl-acme", "ctl-globex"
TOKENS: dict[str, list[Any]] = {
    "acme": [INGEST, {"token": CONTROL, "role": "control", "name": "alice"}],
    "globex": ["ing-globex", {"token": OTHER_CONTROL, "role": "control"}],
}


class Recorder:
    """An adapter with every hook; remembers each call in order (thread-safe)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail_on = fail_on
        self.changed = threading.Condition()

    def _note(self, *call: Any) -> None:
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()
        if call[0] == self.fail_on:
            raise RuntimeError(f"{call[0]} broke")

    def on_pause(self) -> None:
        self._note("on_pause")

    def on_resume(self) -> None:
        self._note("on_resume")

    def on_kill(self) -> None:
        self._note("on_kill")

    def on_inject_hint(self, hint_text: str) -> None:
        self._note("on_inject_hint", hint_text)

    def on_action_override(self, coordinates: dict[str, float], *, provenance: str) -> None:
        self._note("on_action_override", coordinates, provenance)

    def wait_for(self, n: int, timeout_s: float = 10.0) -> list[tuple[Any, ...]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.calls) >= n, timeout_s), self.calls
            return list(self.calls)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = start_server(tmp_path_factory.mktemp("iv"), "--commands-hold", "5",
                          tokens=TOKENS)
    try:
        yield server
    finally:
        server.stop()
    assert server.proc.poll() is not None


def _open_run(server: Any, run: str, token: str = INGEST) -> None:
    """The run exists on the server and is running (a client's heartbeat)."""
    server.json("POST", "/heartbeat", {"client_id": "c1", "run_id": run}, token=token)


def _issue(server: Any, run: str, body: dict[str, Any], *, token: str = CONTROL,
           expect: int = 201, **kwargs: Any) -> Any:
    return server.json("POST", f"/runs/{run}/commands", body, token=token, expect=expect,
                       **kwargs)


# ── roles and tenants ───────────────────────────────────────────────────────


def test_an_ingest_token_cannot_issue_commands(srv: Any) -> None:
    """A token without the control role gets 403 saying a control token is needed; nothing
    is queued."""
    _open_run(srv, "role_ingest")
    body = _issue(srv, "role_ingest", {"type": "kill"}, token=INGEST, expect=403)
    assert "control" in body["error"]
    assert srv.json("GET", "/runs/role_ingest/commands?cursor=0", token=INGEST)["commands"] == []


def test_a_tenant_cannot_command_another_tenants_run(srv: Any) -> None:
    """globex's control token cannot reach acme's run: 404 under its own tenant, 403 when it
    names acme; acme's run gets no command."""
    _open_run(srv, "role_tenant")
    assert "no such run" in _issue(srv, "role_tenant", {"type": "kill"}, token=OTHER_CONTROL,
                                   expect=404)["error"]
    _issue(srv, "role_tenant?tenant=acme", {"type": "kill"}, token=OTHER_CONTROL, expect=403)
    assert srv.json("GET", "/runs/role_tenant/commands", token=INGEST)["commands"] == []
    assert not (srv.data / "globex" / "role_tenant").exists()


def test_a_control_token_commands_its_tenants_run_under_its_name(srv: Any) -> None:
    """acme's control token issues a command stamped with the token's name from the tokens
    file, and the run's own (ingest) token polls it."""
    _open_run(srv, "role_ok")
    command = _issue(srv, "role_ok", {"type": "pause", "payload": {"reason": "look"}})["command"]
    assert command["type"] == "pause" and command["operator_id"] == "alice"
    assert command["seq"] == 1 and command["payload"] == {"reason": "look"}
    polled = srv.json("GET", "/runs/role_ok/commands", token=INGEST)
    assert [c["command_id"] for c in polled["commands"]] == [command["command_id"]]


def test_an_open_server_issues_no_commands(make_server: Any) -> None:
    """Without tokens nobody may command (403), though anyone may still poll."""
    server = make_server(tokens={})
    _open_run(server, "open_run", token=None)
    assert "no tokens" in _issue(server, "open_run", {"type": "kill"}, token=None,
                                 expect=403)["error"]
    assert server.json("GET", "/runs/open_run/commands", token=None)["commands"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "nuke"}, "type"),
    ({"type": "inject_hint"}, "payload.text"),
    ({"type": "override_action", "payload": {"coordinates": {"x": 1}}}, "payload.coordinates"),
    ({"type": "pause", "payload": {"text": "x"}}, "payload.text"),
    ({"type": "pause", "ttl_s": -1}, "ttl_s"),
    ({"type": "pause", "when": "now"}, "when"),
])
def test_a_bad_command_is_refused_naming_the_field(srv: Any, body: dict[str, Any],
                                                   field: str) -> None:
    """400 with the offending field's name; nothing is queued."""
    _open_run(srv, "bad_cmd")
    assert srv.json("POST", "/runs/bad_cmd/commands", body, token=CONTROL,
                    expect=400)["error"].startswith(field)
    assert srv.json("GET", "/runs/bad_cmd/commands", token=INGEST)["commands"] == []


def test_commands_for_unknown_or_finished_runs_are_refused(srv: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """404 for a run the server never saw, 409 for a finished one."""
    _issue(srv, "never_seen", {"type": "kill"}, expect=404)
    monkeypatch.setenv("AUGUR_DSN", f"{srv.url}?token={INGEST}&tenant=acme")
    with DebugSession(run_id="done_run", client_name="t", out_dir=tmp_path / "b",
                      capture_mode="trace"):
        pass
    srv.wait_status("done_run", "finished", token=INGEST)
    assert "finished" in _issue(srv, "done_run", {"type": "kill"}, expect=409)["error"]


# ── the long poll and the commands on disk ─────────────────────────────────


def test_pending_commands_are_answered_at_once_in_order_and_acknowledged(srv: Any) -> None:
    """A poll with commands waiting returns at once (the hold is 5 s), in issue order; the
    next poll's cursor acknowledges them and they are not sent again."""
    _open_run(srv, "order_run")
    ids = [_issue(srv, "order_run", {"type": t})["command"]["command_id"]
           for t in ("pause", "resume", "kill")]
    started = time.monotonic()
    polled = srv.json("GET", "/runs/order_run/commands", token=INGEST)
    assert time.monotonic() - started < 1.0
    assert [c["command_id"] for c in polled["commands"]] == ids
    assert [c["seq"] for c in polled["commands"]] == [1, 2, 3]
    again = srv.json("GET", f"/runs/order_run/commands?cursor={polled['cursor']}",
                     token=INGEST)
    assert again["commands"] == []
    stored = json.loads((srv.data / "acme" / ".augur-server" / "order_run.cmds.json")
                        .read_text())
    assert stored["commands"] == [] and stored["next_seq"] == 4


def test_a_held_poll_is_woken_by_a_new_command(srv: Any) -> None:
    """A poll held with nothing pending returns within a moment of a command being issued,
    not at the end of its 5 s hold."""
    _open_run(srv, "wake_run")
    result: dict[str, Any] = {}

    def poll() -> None:
        result["body"] = srv.json("GET", "/runs/wake_run/commands", token=INGEST)
        result["at"] = time.monotonic()

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    issued = time.monotonic()
    _issue(srv, "wake_run", {"type": "inject_hint", "payload": {"text": "the green one"}})
    thread.join(10)
    assert not thread.is_alive()
    assert result["at"] - issued < 1.5
    assert [c["payload"] for c in result["body"]["commands"]] == [{"text": "the green one"}]


def test_commands_survive_a_restart_until_delivered_or_expired(make_server: Any,
                                                               tmp_path: Path) -> None:
    """A command issued before a restart is delivered after it; one whose ttl passed is
    not."""
    base = tmp_path / "restart"
    first = make_server("--commands-hold", "1", tokens=TOKENS, base=base)
    _open_run(first, "restart_run")
    kept = _issue(first, "restart_run", {"type": "kill"})["command"]
    _issue(first, "restart_run", {"type": "pause", "ttl_s": 0.5})
    first.stop()
    time.sleep(0.6)
    second = make_server("--commands-hold", "1", tokens=TOKENS, base=base)
    polled = second.json("GET", "/runs/restart_run/commands", token=INGEST)
    assert [c["command_id"] for c in polled["commands"]] == [kept["command_id"]]


def test_a_run_that_only_polls_is_not_idle(make_server: Any) -> None:
    """With --finish-idle-after 1.5, a run whose client only polls for commands (a paused
    agent) stays running; once the polls stop it is finished as halted."""
    server = make_server("--commands-hold", "0.3", "--finish-idle-after", "1.5", tokens=TOKENS)
    _open_run(server, "idle_run")
    server.json("PUT", "/runs/idle_run/steps/0", _step("idle_run"), token=INGEST)
    until = time.monotonic() + 4.0
    while time.monotonic() < until:
        server.json("GET", "/runs/idle_run/commands", token=INGEST)
    info = server.json("GET", "/api/runs/acme/idle_run", token=INGEST)
    assert info["status"] == "running", info
    halted = server.wait_status("idle_run", "failed", token=INGEST, timeout_s=15)
    assert halted["halted_by_server"] and halted["session_status"] == "halted"


def _step(run: str) -> dict[str, Any]:
    from support import step_record

    return step_record(run, 0)


# ── the SDK's channel against the server ───────────────────────────────────


def _session(server: Any, run: str, out: Path, **kwargs: Any) -> DebugSession:
    return DebugSession(run_id=run, client_name="agent", out_dir=out, capture_mode="trace",
                        dsn=f"{server.url}?token={INGEST}&tenant=acme", **kwargs)


def _events(bundle: Path) -> list[dict[str, Any]]:
    return read_jsonl(bundle / "events" / "run.jsonl")


def test_the_sdk_dispatches_each_command_once_in_order_and_audits_it(srv: Any,
                                                                     tmp_path: Path) -> None:
    """Commands issued through the server reach the adapter's hooks in issue order, each
    once; every command and its outcome is a run event (bundle and server copy) and a span
    event of the run span."""
    adapter = Recorder()
    with capture_spans() as spans, _session(srv, "sdk_order", tmp_path / "b") as session:
        channel = session.bind_intervention(adapter, poll_timeout=10)
        assert isinstance(channel, InterventionChannel)
        srv.wait_status("sdk_order", "running", token=INGEST)
        for body in ({"type": "pause"},
                     {"type": "inject_hint", "payload": {"text": "use the search box"}},
                     {"type": "override_action",
                      "payload": {"coordinates": {"x": 10, "y": 20.5}}},
                     {"type": "resume"}):
            _issue(srv, "sdk_order", body)
        calls = adapter.wait_for(4)
        time.sleep(0.5)  # a repeat would arrive now
        assert channel.paused is False
    assert adapter.calls == calls == [
        ("on_pause",), ("on_inject_hint", "use the search box"),
        ("on_action_override", {"x": 10.0, "y": 20.5}, "human_override"), ("on_resume",)]
    summaries = [e["summary"] for e in _events(tmp_path / "b")]
    assert summaries == ["intervention.pause", "intervention.pause.applied",
                         "intervention.inject_hint", "intervention.inject_hint.applied",
                         "intervention.override_action", "intervention.override_action.applied",
                         "intervention.resume", "intervention.resume.applied"]
    first = _events(tmp_path / "b")[0]
    assert first["layer"] == "runner" and first["detail"]["operator_id"] == "alice"
    srv.wait_status("sdk_order", "finished", token=INGEST)
    assert [e["summary"] for e in _events(srv.data / "acme" / "sdk_order")] == summaries
    run_span = next(s for s in spans.get_finished_spans() if s.name.startswith("invoke_agent"))
    span_summaries = [e.attributes.get("augur.event.summary") for e in run_span.events
                      if e.attributes and "augur.event.summary" in e.attributes]
    assert span_summaries == summaries


def test_a_failing_or_unsupported_hook_is_audited_and_the_channel_goes_on(
        srv: Any, tmp_path: Path) -> None:
    """A hook that raises is audited as failed (kind error, with the exception); a hook that
    raises NotImplementedError as unsupported; later commands still arrive."""

    class Partial(Recorder):
        def on_action_override(self, coordinates: dict[str, float], *,
                               provenance: str) -> None:
            raise NotImplementedError

    adapter = Partial(fail_on="on_pause")
    with _session(srv, "sdk_fail", tmp_path / "b") as session:
        session.bind_intervention(adapter, poll_timeout=10)
        srv.wait_status("sdk_fail", "running", token=INGEST)
        _issue(srv, "sdk_fail", {"type": "pause"})
        _issue(srv, "sdk_fail", {"type": "override_action",
                                 "payload": {"coordinates": {"x": 1, "y": 2}}})
        _issue(srv, "sdk_fail", {"type": "resume"})
        adapter.wait_for(2)
        deadline = time.monotonic() + 5
        while len(_events(tmp_path / "b")) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    outcomes = {e["summary"]: e for e in _events(tmp_path / "b") if e["summary"].count(".") == 2}
    failed = outcomes["intervention.pause.failed"]
    assert failed["kind"] == "error" and "RuntimeError: on_pause broke" in failed["detail"]["error"]
    assert "intervention.override_action.unsupported" in outcomes
    assert "intervention.resume.applied" in outcomes


def test_a_kill_aborts_pending_side_effects_before_on_kill(srv: Any, tmp_path: Path) -> None:
    """The kill marks every pending side effect aborted (reason names the operator) before
    the adapter's on_kill runs, and the outcome lists them."""
    seen: dict[str, Any] = {}

    class Killer(Recorder):
        def on_kill(self) -> None:
            seen["file"] = json.loads(next((tmp_path / "b" / "side_effects").glob("*.json"))
                                      .read_text())
            super().on_kill()

    adapter = Killer()
    with _session(srv, "sdk_kill", tmp_path / "b") as session:
        sid = session.declare_side_effect(0, resource="orders", action="place")
        channel = session.bind_intervention(adapter, poll_timeout=10)
        assert channel is not None
        srv.wait_status("sdk_kill", "running", token=INGEST)
        _issue(srv, "sdk_kill", {"type": "kill"})
        adapter.wait_for(1)
        assert channel.killed and channel.wait_while_paused(0)
    assert seen["file"]["status"] == "aborted"
    assert seen["file"]["abort_reason"] == "intervention.kill by alice"
    kill = [e for e in _events(tmp_path / "b") if e["summary"] == "intervention.kill.applied"]
    assert kill[0]["detail"]["aborted_side_effects"] == [sid]


def test_close_stops_the_poller_within_its_budget(make_server: Any, tmp_path: Path) -> None:
    """close() returns within its budget while a poll is held (hold 30 s); a command issued
    after close() never reaches the adapter, and the poller thread is gone."""
    server = make_server("--commands-hold", "30", tokens=TOKENS)
    adapter = Recorder()
    session = _session(server, "sdk_close", tmp_path / "b", close_timeout_s=2.0)
    session.start()
    channel = session.bind_intervention(adapter, poll_timeout=30)
    assert channel is not None
    time.sleep(0.5)  # the poll is held by the server now
    started = time.monotonic()
    session.close()
    assert time.monotonic() - started < 2.0
    assert channel.stopped
    assert not any(t.name == "augur-intervention" and t.is_alive()
                   for t in threading.enumerate())
    _issue(server, "sdk_close", {"type": "kill"}, expect=409)  # finished: refused
    time.sleep(0.5)
    assert adapter.calls == []


def test_bind_refuses_an_adapter_without_every_hook(tmp_path: Path) -> None:
    """A missing hook is a TypeError at bind time naming it (even without a DSN); a bad
    poll_timeout a ValueError naming it; nothing is started."""

    class NoKill:
        def on_pause(self) -> None: ...
        def on_resume(self) -> None: ...
        def on_inject_hint(self, hint_text: str) -> None: ...
        def on_action_override(self, coordinates: Any, *, provenance: str) -> None: ...

    with DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "b",
                      capture_mode=CaptureMode.TRACE) as session:
        with pytest.raises(TypeError, match="on_kill"):
            session.bind_intervention(NoKill())
        with pytest.raises(ValueError, match="poll_timeout"):
            session.bind_intervention(Recorder(), poll_timeout=0)
        assert session.bind_intervention(Recorder()) is None  # no DSN
        assert session.intervention is None


# ── augur intervene ─────────────────────────────────────────────────────────


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", "intervene", *args],
                          capture_output=True, text=True, timeout=60)


def test_the_cli_issues_a_command_and_says_what_the_server_refused(srv: Any) -> None:
    """`augur intervene RUN hint --hint TEXT` issues inject_hint (exit 0, prints the id); an
    ingest token's refusal is exit 1 with the server's reason; a hint without text exit 2."""
    _open_run(srv, "cli_run")
    done = _cli("cli_run", "hint", "--hint", "try the menu", "--json",
                "--dsn", f"{srv.url}?token={CONTROL}&tenant=acme")
    assert done.returncode == 0, done.stderr
    command = json.loads(done.stdout)
    assert command["type"] == "inject_hint" and command["payload"] == {"text": "try the menu"}
    refused = _cli("cli_run", "kill", "--dsn", f"{srv.url}?token={INGEST}")
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr
    assert "control" in refused.stderr
    usage = _cli("cli_run", "hint", "--dsn", f"{srv.url}?token={CONTROL}")
    assert usage.returncode == 2 and "--hint" in usage.stderr


def test_the_tokens_file_declares_roles_and_refuses_bad_entries(tmp_path: Path) -> None:
    """Strings are ingest tokens, objects may be control tokens with a name; a bad role, an
    unknown key or a non-string token stops the load naming the tenant and position (never
    the token)."""
    from augur_sdk.server.config import ConfigError, load_tokens

    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tenants": TOKENS}))
    table = load_tokens(path, env={"AUGUR_SERVER_TOKENS": "acme:env-token"})
    assert table.lookup(INGEST) == type(table.lookup(INGEST))("acme", "ingest", None)
    control = table.lookup(CONTROL)
    assert control is not None and (control.tenant, control.role, control.name) == \
        ("acme", "control", "alice")
    env_token = table.lookup("env-token")
    assert env_token is not None and env_token.role == "ingest"
    for entry, message in (({"token": "t-secret", "role": "admin"}, "'role'"),
                           ({"token": "t-secret", "roles": "control"}, "'roles'"),
                           ({"token": 5}, "'token'")):
        path.write_text(json.dumps({"tenants": {"acme": ["x", entry]}}))
        with pytest.raises(ConfigError, match=message) as info:
            load_tokens(path, env={})
        assert "tenant 'acme', token 2" in str(info.value)
        assert "t-secret" not in str(info.value)


def test_the_sdk_gets_a_command_issued_across_a_server_restart(make_server: Any,
                                                               tmp_path: Path) -> None:
    """The server restarts while the agent runs: the channel polls again once it is back,
    and a command issued before the restart (kept on disk) reaches the adapter once."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    base = tmp_path / "srv"
    first = make_server("--commands-hold", "1", "--port", port, tokens=TOKENS, base=base)
    adapter = Recorder()
    with _session(first, "sdk_restart", tmp_path / "b") as session:
        first.wait_status("sdk_restart", "running", token=INGEST)
        _issue(first, "sdk_restart", {"type": "pause"})
        first.stop()  # the command waits on disk; the channel starts while the server is down
        assert session.bind_intervention(adapter, poll_timeout=5) is not None
        time.sleep(1.0)
        assert adapter.calls == []
        second = make_server("--commands-hold", "1", "--port", port, tokens=TOKENS, base=base)
        assert adapter.wait_for(1, timeout_s=20) == [("on_pause",)]
        time.sleep(1.5)  # a repeat would arrive now
        assert adapter.calls == [("on_pause",)]
    second.wait_status("sdk_restart", "finished", token=INGEST)
