"""End to end: `augur intervene` pauses, resumes and then kills the real Playwright demo agent
(examples/playwright_agent/demo.py --intervene, headless Chromium) through a real
`augur serve`; the bundle (local and the server's copy) shows the audit trail.

Skips without Chromium or Playwright, except under CI=true, where it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serverkit import read_json, read_jsonl
from test_intervention import CONTROL, INGEST, TOKENS

from augur_sdk.validation import validate_bundle
from test_demo_agent import DEMO_DIR, _require_browser

from support import ChildLines

pytestmark = pytest.mark.slow

STEP_PREFIX = "  step "


def _intervene(server: Any, run: str, cmd: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "augur_sdk.cli", "intervene", run, cmd,
         "--dsn", f"{server.url}?token={CONTROL}&tenant=acme"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{cmd} issued for run {run}: cmd_")


def test_augur_intervene_pauses_resumes_and_kills_the_demo_agent(make_server: Any,
                                                                 tmp_path: Path) -> None:
    """Paused after a step, the agent records no step for 2 s although it keeps polling;
    resumed, it records steps again; killed, it stops before its plan ends, the run closes
    as cancelled, and both bundles carry each command and its outcome, in order."""
    _require_browser()
    server = make_server("--commands-hold", "5", tokens=TOKENS)
    out = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUGUR_"))}
    env.update(AUGUR_OUT=str(out), PYTHONUNBUFFERED="1",
               AUGUR_DSN=f"{server.url}?token={INGEST}&tenant=acme")
    proc = subprocess.Popen([sys.executable, str(DEMO_DIR / "demo.py"), "--intervene"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        lines = ChildLines(proc.stdout)  # type: ignore[arg-type]
        intro = lines.until(lambda line: "augur intervene " in line, 120)
        run = intro[-1].split("augur intervene ", 1)[1].split()[0]
        lines.until(lambda line: line.startswith(STEP_PREFIX), 120)
        server.wait_status(run, "running", token=INGEST)

        _intervene(server, run, "pause")
        seen = lines.until(lambda line: "paused by the operator: waiting" in line, 60)
        assert any("operator: pause" in line for line in seen), seen
        with pytest.raises(TimeoutError):  # nothing at all while paused
            lines.next(2.0)
        steps_before = len(list((out / run / "steps").glob("*.json")))
        info = server.json("GET", f"/api/runs/acme/{run}", token=INGEST)
        assert info["status"] == "running" and info["step_count"] == steps_before

        _intervene(server, run, "resume")
        seen = lines.until(lambda line: line.startswith(STEP_PREFIX), 60)
        assert any("operator: resume" in line for line in seen), seen

        _intervene(server, run, "kill")
        rest = lines.rest(120)
        assert proc.wait(60) == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert any("operator: kill" in line for line in rest), rest
    assert any("stopped by the operator" in line for line in rest), rest

    bundle = out / run
    steps = sorted((bundle / "steps").glob("*.json"))
    assert steps_before < len(steps) < 13  # resumed, then killed before the plan's end
    assert read_json(bundle / "trace.json")["session"]["status"] == "cancelled"
    assert validate_bundle(bundle) == []
    trail = [(e["summary"], e["detail"].get("outcome"))
             for e in read_jsonl(bundle / "events" / "run.jsonl")
             if e["summary"].startswith("intervention.")]
    assert trail == [("intervention.pause", None), ("intervention.pause.applied", "applied"),
                     ("intervention.resume", None), ("intervention.resume.applied", "applied"),
                     ("intervention.kill", None), ("intervention.kill.applied", "applied")]
    issued = [e["detail"] for e in read_jsonl(bundle / "events" / "run.jsonl")
              if e["summary"] in ("intervention.pause", "intervention.resume",
                                  "intervention.kill")]
    assert [d["seq"] for d in issued] == [1, 2, 3]
    assert {d["operator_id"] for d in issued} == {"alice"}

    served = server.wait_status(run, "finished", token=INGEST)
    assert served["session_status"] == "cancelled"
    server_copy = read_jsonl(server.data / "acme" / run / "events" / "run.jsonl")
    assert [e["summary"] for e in server_copy] == [
        e["summary"] for e in read_jsonl(bundle / "events" / "run.jsonl")]
    pending = json.loads((server.data / "acme" / ".augur-server" / f"{run}.cmds.json")
                         .read_text())
    assert pending["next_seq"] == 4
