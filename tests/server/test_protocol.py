"""The Augur streaming protocol, sent by hand to a real ``augur serve`` on loopback."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from serverkit import (
    event_files,
    manifest_body,
    read_json,
    read_jsonl,
    screenshot_files,
    session_record,
    step_files,
)

from augur_sdk.testing import make_png
from augur_sdk.validation import RUNNING, validate_bundle

from support import event_record, step_record


def _beat(server: Any, run_id: str, **extra: Any) -> None:
    body = {"client_id": "sdk_test", "client_name": "handbot", "client_version": "9.9",
            "capture_mode": "trace", "run_id": run_id, **extra}
    server.json("POST", "/heartbeat", body)


def _shot(server: Any, run_id: str, i: int, kind: str, png: bytes) -> Any:
    return server.json("POST", f"/runs/{run_id}/screenshots/{i}/{kind}",
                       fields={"image": ("shot.png", png, "image/png")})


def test_hand_built_stream_becomes_a_valid_bundle(server: Any) -> None:
    """A hand-built protocol stream becomes a finished, valid bundle holding exactly what was sent."""
    run = "hand_full"
    _beat(server, run)
    steps, events, shots = [], {}, {}
    for i in range(3):
        for kind, seed in (("pre", i), ("post", 100 + i)):
            shots[f"{i:04d}_{kind}.png"] = make_png(32, 24, seed=seed)
            assert _shot(server, run, i, kind, shots[f"{i:04d}_{kind}.png"])["ok"]
        step = step_record(run, i, pre=f"screenshots/{i:04d}_pre.png",
                           post=f"screenshots/{i:04d}_post.png",
                           status="failed" if i == 1 else "succeeded")
        steps.append(step)
        server.json("PUT", f"/runs/{run}/steps/{i}", step)
        events[f"{i:04d}.jsonl"] = [event_record(i, 0), event_record(i, 1)]
        server.json("POST", f"/runs/{run}/events",
                    {"events": events[f"{i:04d}.jsonl"], "step_index": i})
    events["run.jsonl"] = [event_record(None, 0, layer="runner")]
    server.json("POST", f"/runs/{run}/events", {"events": events["run.jsonl"]})
    server.json("POST", "/runs", manifest_body(run, steps=3))
    session = session_record(run)
    assert server.json("PUT", f"/runs/{run}/trace", {"session": session, "steps": steps}) == \
        {"ok": True, "steps": 3}

    info = server.wait_status(run, "finished")
    root = server.run_dir(run)
    assert validate_bundle(root) == []
    assert step_files(root) == {f"{i:04d}.json": s for i, s in enumerate(steps)}
    assert event_files(root) == events
    assert screenshot_files(root) == shots
    assert read_json(root / "trace.json") == {"session": session, "steps": steps}
    manifest = read_json(root / "manifest.json")
    assert manifest["debug_session_id"] == session["debug_session_id"]
    assert manifest["redaction"]["policy_id"] == "default-pii-v1"
    assert manifest["step_count"] == 3 and "missing" not in manifest
    assert read_json(root / "producer.json")["complete"] is True
    assert not (root / "live.json").exists()
    assert info["step_count"] == 3 and info["client_step_count"] == 3
    assert info["session_status"] == "succeeded" and info["placeholder_session"] is False


def test_first_contact_creates_a_running_bundle_from_the_heartbeat(server: Any) -> None:
    """First contact creates a live bundle whose placeholder session comes from the heartbeat."""
    run = "hand_running"
    _beat(server, run)
    server.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0))
    root = server.run_dir(run)
    live = read_json(root / "live.json")["session"]
    assert live["run_id"] == run and live["status"] == "running"
    assert live["client"] == {"name": "handbot", "version": "9.9"}
    assert live["capture_mode"] == "trace"
    assert read_json(root / "manifest.json")["client"]["name"] == "handbot"
    assert (root / "steps" / "0000.json").is_file()
    assert [i.code for i in validate_bundle(root)] == [RUNNING]
    info = server.json("GET", f"/api/runs/acme/{run}")
    assert info["status"] == "running" and info["step_count"] == 1
    assert info["placeholder_session"] is True and info["stale"] is False
    listed = {r["run_id"]: r for r in server.json("GET", "/api/runs?status=running")["runs"]}
    assert listed[run]["client"]["name"] == "handbot"


def test_step_before_heartbeat_gets_a_placeholder_the_heartbeat_fills_in(server: Any) -> None:
    """A step before any heartbeat creates the bundle; the later heartbeat fills in the placeholder."""
    run = "hand_step_first"
    server.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0))
    root = server.run_dir(run)
    assert read_json(root / "live.json")["session"]["client"]["name"] == "unknown"
    _beat(server, run)
    session = read_json(root / "live.json")["session"]
    assert session["client"]["name"] == "handbot" and session["capture_mode"] == "trace"


def test_put_session_replaces_the_placeholder(server: Any) -> None:
    """PUT /runs/{run}/session (our SDK's extension) becomes the running bundle's session."""
    run = "hand_session"
    _beat(server, run)
    session = session_record(run, status="running", dsid="dbg_fromsdk01", name="sdkbot")
    server.json("PUT", f"/runs/{run}/session", session)
    root = server.run_dir(run)
    assert read_json(root / "live.json")["session"] == session
    assert read_json(root / "manifest.json")["debug_session_id"] == "dbg_fromsdk01"
    _beat(server, run)  # a later heartbeat does not overwrite a real session
    assert read_json(root / "live.json")["session"] == session
    info = server.json("GET", f"/api/runs/acme/{run}")
    assert info["debug_session_id"] == "dbg_fromsdk01" and info["placeholder_session"] is False
    assert info["tags"] == {"env": "test"}


def test_trace_writes_steps_that_were_never_put(server: Any) -> None:
    """Steps present in the trace but never PUT are written from it."""
    run = "hand_trace_only"
    server.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0))
    steps = [step_record(run, i) for i in range(3)]
    server.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": steps})
    root = server.run_dir(run)
    assert step_files(root) == {f"{i:04d}.json": s for i, s in enumerate(steps)}
    assert read_json(root / "trace.json")["steps"] == steps
    assert validate_bundle(root) == []


def test_re_put_replaces_the_step(server: Any) -> None:
    """A re-PUT of a step replaces it (the latest wins), and repeating a PUT is harmless."""
    run = "hand_reput"
    first = step_record(run, 0, intent="first try")
    second = step_record(run, 0, intent="second try")
    server.json("PUT", f"/runs/{run}/steps/0", first)
    server.json("PUT", f"/runs/{run}/steps/0", second)
    server.json("PUT", f"/runs/{run}/steps/0", second)
    root = server.run_dir(run)
    assert step_files(root) == {"0000.json": second}
    server.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": [second]})
    assert read_json(root / "trace.json")["steps"] == [second]
    assert validate_bundle(root) == []


def test_trace_is_authoritative_and_late_data_is_merged(server: Any) -> None:
    """After the trace a stale step PUT is ignored; late events and screenshots are merged validly."""
    run = "hand_late"
    final = step_record(run, 0, intent="final", pre="screenshots/0000_pre.png")
    server.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": [final]})
    root = server.run_dir(run)
    assert read_json(root / "manifest.json")["missing"] == ["screenshots/0000_pre.png"]
    stale = server.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0, intent="stale"))
    assert "ignored" in stale
    png = make_png(16, 16, seed=7)
    _shot(server, run, 0, "pre", png)
    server.json("POST", f"/runs/{run}/events", {"events": [event_record(0, 5)]})
    assert read_json(root / "steps" / "0000.json") == final
    assert read_jsonl(root / "events" / "0000.jsonl") == [event_record(0, 5)]
    manifest = read_json(root / "manifest.json")
    assert "missing" not in manifest
    assert {"events/0000.jsonl", "screenshots/0000_pre.png"} <= set(manifest["signatures"])
    assert validate_bundle(root) == []
    assert server.json("GET", f"/api/runs/acme/{run}")["status"] == "finished"


def test_failed_and_halted_runs_are_listed_as_failed(server: Any) -> None:
    """The run list says failed when the trace's session status is failed or halted."""
    for run, status in (("st_ok", "succeeded"), ("st_failed", "failed"),
                        ("st_halted", "halted"), ("st_cancelled", "cancelled")):
        server.json("PUT", f"/runs/{run}/trace",
                    {"session": session_record(run, status=status), "steps": []})
    runs = {r["run_id"]: r for r in server.json("GET", "/api/runs")["runs"]}
    assert runs["st_ok"]["status"] == "finished"
    assert runs["st_failed"]["status"] == "failed"
    assert runs["st_halted"]["status"] == "failed"
    assert runs["st_cancelled"]["status"] == "finished"
    failed = {r["run_id"] for r in server.json("GET", "/api/runs?status=failed")["runs"]}
    assert {"st_failed", "st_halted"} <= failed and "st_ok" not in failed
    detail = server.json("GET", "/api/runs/acme/st_failed?validate=1")
    assert detail["validation"] == {"valid": True, "issues": []}


def test_the_other_record_kinds_land_in_the_bundle(server: Any) -> None:
    """Costs, model I/O, side effects, reasoning, outcomes, candidates, judges and logs are
    stored and signed, and the bundle validates (each file kind against its schema)."""
    run = "hand_kinds"
    server.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0))
    server.json("PUT", f"/runs/{run}/costs", {"total_usd": 0.5, "tokens_in": 10})
    assert read_json(server.run_dir(run) / "live.json")["session"]["costs"] == \
        {"total_usd": 0.5, "tokens_in": 10}
    modelio = {"schema_version": "0.1", "step_index": 0, "layer": "planner",
               "ts": "2026-05-19T00:00:00Z", "request": {"model": "m"}, "response": {}}
    server.json("POST", f"/runs/{run}/modelio/0000-planner-0.json", modelio)
    side = {"side_effect_id": "se_1", "step_index": 0, "resource": "db", "action": "write",
            "status": "intent_only"}
    server.json("POST", f"/runs/{run}/side-effects", side)
    server.json("POST", f"/runs/{run}/side-effects", {**side, "status": "committed"})
    reasoning = {"step_index": 0, "text": "think", "format": "adapter_inferred"}
    server.json("POST", f"/runs/{run}/reasoning", reasoning)
    outcome = {"scope": "session", "verdict": {"status": "passed"},
               "finalized_at": "2026-05-19T00:01:00Z"}
    server.json("POST", f"/runs/{run}/outcomes", outcome)
    server.json("POST", f"/runs/{run}/outcomes", outcome)  # a retry is not stored twice
    server.json("POST", f"/runs/{run}/eval-candidates",
                {"step_index": 0, "reason": "r", "tagged_at": "2026-05-19T00:00:00Z"})
    judge = {"judge_id": "j", "judge_type": "rule", "verdict": {"status": "passed"}}
    server.json("POST", f"/runs/{run}/steps/0/judge-decisions", judge)
    server.json("POST", f"/runs/{run}/steps/0/judge-decisions", judge)  # a retry: once
    # Judge decisions live in the step (as in the SDK), not in a second server-only file.
    assert read_json(server.run_dir(run) / "steps/0000.json")["judge_decisions"] == [judge]
    server.json("POST", f"/runs/{run}/logs", {"text": "hello\n", "name": "agent"})
    server.json("POST", f"/runs/{run}/logs", {"text": "step log\n", "step_index": 0})
    session = session_record(run, costs={"total_usd": 0.75})
    server.json("PUT", f"/runs/{run}/trace",
                {"session": session, "steps": [step_record(run, 0)]})
    root = server.run_dir(run)
    assert read_json(root / "modelio/0000-planner-0.json") == modelio
    assert read_json(root / "side_effects/0000-se_1.json")["status"] == "committed"
    assert read_jsonl(root / "diagnostics/reasoning.jsonl") == [reasoning]
    assert read_json(root / "outcomes.json") == {"outcomes": [outcome]}
    assert read_json(root / "eval_candidates.json")["candidates"][0]["reason"] == "r"
    assert not (root / "diagnostics/judge_decisions.jsonl").exists()
    assert (root / "logs/agent.log").read_text() == "hello\n"
    assert (root / "logs/step-0.log").read_text() == "step log\n"
    manifest = read_json(root / "manifest.json")
    assert manifest["costs"] == {"total_usd": 0.75}  # the trace's session is authoritative
    for rel in ("modelio/0000-planner-0.json", "outcomes.json", "logs/agent.log",
                "diagnostics/reasoning.jsonl", "side_effects/0000-se_1.json"):
        assert rel in manifest["signatures"], rel
    assert validate_bundle(root) == []
    (root / "outcomes.json").write_text('{"outcomes": [{"scope": "galaxy"}]}')
    assert any(i.where == "outcomes.json" and "galaxy" in i.message
               for i in validate_bundle(root))  # the validator checks each file kind


def test_commands_poll_answers_an_empty_list(server: Any) -> None:
    """GET /runs/{run}/commands is held briefly, then answers an empty list with the given cursor."""
    started = time.monotonic()
    body = server.json("GET", "/runs/hand_cmd/commands?cursor=c7")
    assert body == {"commands": [], "cursor": "c7"}
    assert 0.1 <= time.monotonic() - started < 5


def test_ingest_is_also_served_under_api_v1(server: Any) -> None:
    """A DSN whose base is /api/v1 (augur-sdk 0.6.1's documented form) works the same."""
    run = "hand_v1"
    server.json("POST", "/api/v1/heartbeat", {"client_id": "c", "client_name": "v1bot",
                                               "capture_mode": "metadata", "run_id": run})
    server.json("PUT", f"/api/v1/runs/{run}/steps/0", step_record(run, 0))
    server.json("PUT", f"/api/v1/runs/{run}/trace",
                {"session": session_record(run), "steps": [step_record(run, 0)]})
    assert validate_bundle(server.run_dir(run)) == []


def test_idempotency_key_makes_a_retried_post_harmless(server: Any) -> None:
    """Two POSTs of the same events with one Idempotency-Key append the events once."""
    run = "hand_idem"
    body = {"events": [event_record(0, 1)], "step_index": 0}
    first = server.json("POST", f"/runs/{run}/events", body, headers={"Idempotency-Key": "k1"})
    again = server.json("POST", f"/runs/{run}/events", body, headers={"Idempotency-Key": "k1"})
    assert first == {"ok": True, "events": 1} and again["replayed"] is True
    assert read_jsonl(server.run_dir(run) / "events/0000.jsonl") == [event_record(0, 1)]


def test_clients_api_lists_heartbeats(server: Any) -> None:
    """GET /api/clients shows the latest heartbeat of each client of the caller's tenant."""
    server.json("POST", "/heartbeat", {"client_id": "sdk_listed", "client_name": "lister",
                                       "client_version": "1", "capture_mode": "off"})
    clients = {c["client_id"]: c for c in server.json("GET", "/api/clients")["clients"]}
    assert clients["sdk_listed"]["client_name"] == "lister"
    assert clients["sdk_listed"]["tenant"] == "acme"


def test_rate_limit_answers_429_with_retry_after(make_server: Any) -> None:
    """Past the tenant's rate limit the server answers 429 with Retry-After and writes nothing."""
    srv = make_server("--rate-limit", "0.2", "--rate-burst", "1")
    srv.json("PUT", "/runs/rl/steps/0", step_record("rl", 0))
    resp = srv.request("PUT", "/runs/rl/steps/1", step_record("rl", 1))
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert not (srv.run_dir("rl") / "steps/0001.json").exists()


def test_late_data_after_the_reopen_window_is_ignored(make_server: Any) -> None:
    """Data for a run finished longer ago than the reopen window is ignored: the run stays."""
    srv = make_server("--reopen-window", "0")
    run = "reused"
    old = [step_record(run, i) for i in range(3)]
    srv.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": old})
    time.sleep(0.05)
    late = srv.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0, intent="new run"))
    assert late == {"ok": True, "ignored": "finished"}
    root = srv.run_dir(run)
    assert step_files(root) == {f"{i:04d}.json": old[i] for i in range(3)}
    assert srv.json("GET", f"/api/runs/acme/{run}")["status"] == "finished"


def test_a_run_continues_across_a_server_restart(make_server: Any, tmp_path: Path) -> None:
    """A run half-streamed to one server process is finished by the next on the same data dir."""
    run = "restarted"
    first = make_server(base=tmp_path / "srv")
    _beat(first, run)
    for i in range(2):
        first.json("PUT", f"/runs/{run}/steps/{i}", step_record(run, i))
        first.json("POST", f"/runs/{run}/events", {"events": [event_record(i)]})
    first.stop()
    second = make_server(base=tmp_path / "srv")
    assert second.json("GET", f"/api/runs/acme/{run}")["status"] == "running"
    for i in range(2, 4):
        second.json("PUT", f"/runs/{run}/steps/{i}", step_record(run, i))
        second.json("POST", f"/runs/{run}/events", {"events": [event_record(i)]})
    steps = [step_record(run, i) for i in range(4)]
    second.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": steps})
    root = second.run_dir(run)
    assert validate_bundle(root) == []
    assert event_files(root) == {f"{i:04d}.jsonl": [event_record(i)] for i in range(4)}
    assert read_json(root / "trace.json")["steps"] == steps


def test_concurrent_requests_for_one_run_lose_nothing(server: Any) -> None:
    """Many clients posting steps and events for one run at once: every record lands once."""
    run = "hand_concurrent"

    def send(i: int) -> None:
        server.json("PUT", f"/runs/{run}/steps/{i}", step_record(run, i))
        for n in range(5):
            server.json("POST", f"/runs/{run}/events", {"events": [event_record(i, n)]})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(24)))
    steps = [step_record(run, i) for i in range(24)]
    server.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": steps})
    root = server.run_dir(run)
    assert validate_bundle(root) == []
    events = event_files(root)
    assert {name: sorted(e["detail"]["n"] for e in lines) for name, lines in events.items()} \
        == {f"{i:04d}.jsonl": [0, 1, 2, 3, 4] for i in range(24)}
