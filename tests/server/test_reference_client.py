"""The real augur-sdk 0.6.1 client (its own virtualenv, a subprocess) streaming to
``augur serve``: its run arrives, validates, and holds what the client recorded."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from serverkit import ACME, event_files, read_json, read_jsonl, screenshot_files, step_files

from augur_sdk.validation import validate_bundle

ROOT = Path(__file__).resolve().parents[2]
REF_PYTHON = ROOT / ".ci-venvs" / "augur-sdk-0.6.1" / "bin" / "python"

# A seed-page run, as a user of augur-sdk 0.6.1 writes it. Screenshots are tiny real PNGs.
# The 0.6.1 sink posts from one daemon thread per request and never waits for them, so the
# script waits for those threads before exiting (else its last requests are lost at exit).
SEED_RUN = textwrap.dedent('''
    import json, struct, sys, threading, time, zlib
    from augur_sdk import CaptureMode, DebugSession, __version__
    assert __version__ == "0.6.1", __version__

    def png(seed):
        def chunk(kind, data):
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
        rows = (b"\\x00" + bytes([seed % 256, 40, 90]) * 8) * 6
        return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 6, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

    run_id, out_dir, extras = sys.argv[1], sys.argv[2], sys.argv[3] == "extras"
    with DebugSession(run_id=run_id, client_name="refagent", client_version="0.6.1-test",
                      capture_mode=CaptureMode.SCREENSHOTS, out_dir=out_dir,
                      tags={"env": "test"}) as session:
        for i in range(4):
            pre = session.attach_observation(step_index=i, kind="pre", png_bytes=png(i))
            post = session.attach_observation(step_index=i, kind="post", png_bytes=png(100 + i))
            ok = i != 2
            step = {
                "step_id": f"{run_id}/step/{i:04d}", "step_index": i, "step_type": "click",
                "intent": f"click button {i}", "status": "succeeded" if ok else "failed",
                "started_at": f"2026-05-19T00:00:0{i}.100000Z",
                "ended_at": f"2026-05-19T00:00:0{i}.600000Z", "duration_ms": 500,
                "observation_pre": pre, "observation_post": post,
                "action": {"type": "click", "params": {"x": 10 + i, "y": 20},
                           "coordinate_space": "viewport_css_px",
                           "dispatch_backend": "playwright"},
                "grounding": {"provider": "vlm", "target_label": f"Button {i}",
                              "coordinates": {"x": 10 + i, "y": 20}, "confidence": 0.9,
                              "evidence": "label text", "provenance": "screenshot"},
                "verdict": {"status": "passed" if ok else "failed", "reason": "checked"},
            }
            if not ok:
                step["failure_class"] = "no_state_change"
            session.record_step(step)
            for n in range(2):
                session.record_event({"ts": f"2026-05-19T00:00:0{i}.3{n}0000Z", "step_index": i,
                                      "layer": "planner", "kind": "decision",
                                      "summary": f"event {n} of step {i}",
                                      "detail": {"n": n}})
            if extras:
                session.set_costs(total_usd=0.01 * (i + 1), tokens_in=100 * (i + 1))
        if extras:
            session.declare_side_effect(1, "orders-db", "insert", side_effect_id="se_order")
            session.record_reasoning(1, "the button is enabled, so click it")
            session.record_judge_decision(3, judge_id="rules", judge_type="rule",
                                          verdict={"status": "passed", "reason": "ok"})
            session.finalize_outcome(scope="session", verdict={"status": "passed"})
            session.append_log("agent log line", name="agent")
        session.set_status("failed" if extras else "succeeded")
    deadline = time.monotonic() + 30
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    print(json.dumps({"threads_left": threading.active_count() - 1}))
''')


@pytest.fixture(scope="module")
def ref_python() -> Path:
    if not REF_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("augur-sdk 0.6.1 venv missing: .ci/install-augur-sdk-0.6.1.sh did not run")
        pytest.skip("run .ci/install-augur-sdk-0.6.1.sh to install the reference SDK")
    return REF_PYTHON


def run_reference_client(python: Path, server: Any, tmp_path: Path, run_id: str,
                         extras: bool = False, base: str = "/api/v1") -> Path:
    script = tmp_path / "seed_run.py"
    script.write_text(SEED_RUN)
    local = tmp_path / "local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    env["AUGUR_DSN"] = f"{server.url}{base}?token={ACME}&tenant=acme"
    proc = subprocess.run([str(python), str(script), run_id, str(local),
                           "extras" if extras else "plain"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"threads_left": 0}
    return local


def _ref_validate(python: Path, bundle: Path) -> list[str]:
    code = ("import json, sys; from augur_sdk.validation import validate_bundle; "
            "print(json.dumps([i.render() for i in validate_bundle(sys.argv[1])]))")
    proc = subprocess.run([str(python), "-c", code, str(bundle)], capture_output=True,
                          text=True, timeout=120, check=True)
    issues: list[str] = json.loads(proc.stdout)
    return issues


def _unordered(events: dict[str, list[Any]]) -> dict[str, list[str]]:
    # 0.6.1 sends each request from its own thread, so two events of one step can reach the
    # server in either order; the server keeps arrival order.
    return {name: sorted(json.dumps(e, sort_keys=True) for e in lines)
            for name, lines in events.items()}


def test_reference_client_seed_run_arrives_and_validates(server: Any, tmp_path: Path,
                                                         ref_python: Path) -> None:
    """augur-sdk 0.6.1's seed-page run arrives, validates (both validators) and equals its local bundle."""
    run = "ref_seed_run"
    local = run_reference_client(ref_python, server, tmp_path, run)
    info = server.wait_status(run, "finished")
    root = server.run_dir(run)
    assert validate_bundle(root) == []
    assert _ref_validate(ref_python, root) == []
    assert step_files(root) == step_files(local)
    assert _unordered(event_files(root)) == _unordered(event_files(local))
    assert screenshot_files(root) == screenshot_files(local)
    assert read_json(root / "trace.json") == read_json(local / "trace.json")
    local_manifest = read_json(local / "manifest.json")
    manifest = read_json(root / "manifest.json")
    for key in ("run_id", "debug_session_id", "client", "capture_mode", "step_count",
                "redaction"):
        assert manifest[key] == local_manifest[key], key
    assert info["client"]["name"] == "refagent" and info["step_count"] == 4
    assert info["client_step_count"] == 4 and info["session_status"] == "succeeded"


def test_reference_client_other_record_kinds(server: Any, tmp_path: Path,
                                             ref_python: Path) -> None:
    """augur-sdk 0.6.1's costs, side effects, reasoning, judges, outcomes and logs arrive and validate."""
    run = "ref_extras_run"
    local = run_reference_client(ref_python, server, tmp_path, run, extras=True, base="")
    info = server.wait_status(run, "failed")
    root = server.run_dir(run)
    assert validate_bundle(root) == []
    assert step_files(root) == step_files(local)
    assert read_json(root / "manifest.json")["costs"] == read_json(local / "manifest.json")["costs"]
    assert read_json(root / "side_effects/0001-se_order.json")["resource"] == "orders-db"
    assert read_jsonl(root / "diagnostics/reasoning.jsonl")[0]["text"] == \
        "the button is enabled, so click it"
    # 0.6.1's judge decision lands in its step, where 0.6.1's own bundle has it
    judged = [s for s in step_files(root).values() if s.get("judge_decisions")]
    assert [j["judge_id"] for s in judged for j in s["judge_decisions"]] == ["rules"]
    assert not (root / "diagnostics/judge_decisions.jsonl").exists()
    assert read_json(root / "outcomes.json") == read_json(local / "outcomes.json")
    assert "agent log line" in (root / "logs/agent.log").read_text()
    assert info["costs"]["tokens_in"] == 400
