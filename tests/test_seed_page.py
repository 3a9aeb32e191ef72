"""The seed page's code, as written, against a fake CUA."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from augur_schema import validator_for

from augur_sdk.validation import validate_bundle

ROOT = Path(__file__).resolve().parent.parent

# The seed page's "whole integration" block verbatim; only the out_dir prefix
# "/var/log/augur" is pointed at a temporary directory by the test.
SEED_CODE = textwrap.dedent('''
    import os, time
    from augur_sdk import CaptureMode, DebugSession
    run_id = f"run_{int(time.time())}"
    with DebugSession(
        run_id=run_id,
        client_name="myagent",
        client_version="2.3.0",
        client_git_sha=os.environ.get("GIT_SHA", ""),
        capture_mode=CaptureMode.SCREENSHOTS,
        out_dir=f"/var/log/augur/{run_id}",
        tags={"env": "prod", "task_id": task.id},
    ) as session:
        for i, step in enumerate(my_cua.run()):
            # 1. Stage screenshots (no-op when capture_mode < screenshots)
            pre = session.attach_observation(step_index=i, kind="pre", png_bytes=step.pre_png)
            post = session.attach_observation(step_index=i, kind="post", png_bytes=step.post_png)
            # 2. Record the step
            session.record_step({
                "step_id": f"{run_id}/step/{i:04d}",
                "step_index": i,
                "step_type": step.action_type,
                "intent": step.intent,
                "status": "succeeded" if step.ok else "failed",
                "failure_class": step.failure_class, # optional
                "started_at": step.started_at, # ISO-8601 UTC
                "ended_at": step.ended_at,
                "duration_ms": step.duration_ms,
                "observation_pre": pre,
                "observation_post": post,
                "action": {
                    "type": step.action_type,
                    "params": step.action_params,
                    "coordinate_space": "viewport_css_px",
                    "dispatch_backend": "playwright",
                },
                "grounding": {
                    "provider": step.grounding.provider,
                    "target_label": step.grounding.label,
                    "coordinates": {"x": step.grounding.x, "y": step.grounding.y},
                    "confidence": step.grounding.confidence,
                    "evidence": step.grounding.evidence_text,
                    "provenance": "screenshot", # ALWAYS for CUA contract
                },
                "verdict": {
                    "status": step.verdict,
                    "reason": step.verdict_reason,
                },
            })
            # 3. Optionally surface decision events
            for ev in step.decision_events:
                session.record_event({
                    "ts": ev.ts,
                    "step_index": i,
                    "layer": ev.layer,
                    "kind": ev.kind,
                    "summary": ev.summary,
                    "detail": ev.detail,
                })
        if cua_halted:
            session.set_status("halted")
''')


def run_seed(tmp_path: Path, *, steps: int = 6, halted: bool = False) -> Path:
    from types import SimpleNamespace

    from fake_cua import FakeCUA

    code = SEED_CODE.replace('"/var/log/augur/', f'"{tmp_path}/')
    namespace = {"task": SimpleNamespace(id="t-1"), "my_cua": FakeCUA(steps=steps, fail_at=3),
                 "cua_halted": halted}
    exec(compile(code, "seed_page", "exec"), namespace)
    (bundle,) = tmp_path.iterdir()
    return bundle


def test_seed_code_produces_a_valid_bundle(tmp_path: Path) -> None:
    """The seed code runs unchanged and `validate_bundle` finds no issue."""
    bundle = run_seed(tmp_path)
    assert validate_bundle(bundle) == []
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["step_count"] == 6
    assert manifest["capture_mode"] == "screenshots"
    assert sorted(p.name for p in (bundle / "screenshots").iterdir())[:2] == [
        "0000_post.png", "0000_pre.png"]


def test_seed_bundle_validates_file_by_file_against_augur_schema(tmp_path: Path) -> None:
    """Every JSON/JSONL file that has a schema validates against augur-schema directly."""
    bundle = run_seed(tmp_path)
    checked = 0
    for name, pattern in (("manifest", "manifest.json"), ("trace", "trace.json"),
                          ("step_trace", "steps/*.json")):
        for path in bundle.glob(pattern):
            errors = list(validator_for(name).iter_errors(json.loads(path.read_text())))
            assert errors == [], (path, errors)
            checked += 1
    for path in bundle.glob("events/*.jsonl"):
        for line in path.read_text().splitlines():
            assert list(validator_for("decision_event").iter_errors(json.loads(line))) == []
            checked += 1
    assert checked == 2 + 6 + 6 * 2


def test_seed_failed_step_and_halted_status(tmp_path: Path) -> None:
    """The fake CUA's failed step is recorded as failed; `set_status('halted')` ends the run halted."""
    bundle = run_seed(tmp_path, halted=True)
    trace = json.loads((bundle / "trace.json").read_text())
    assert trace["session"]["status"] == "halted"
    assert [s["status"] for s in trace["steps"]].count("failed") == 1
    assert trace["steps"][3]["failure_class"] == "no_state_change"
    assert "failure_class" not in trace["steps"][0]  # None meant "not given"


def test_augur_validate_cli_accepts_the_seed_bundle(tmp_path: Path) -> None:
    """`augur validate` exits 0 on the seed bundle."""
    bundle = run_seed(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "validate", str(bundle)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid" in proc.stdout


@pytest.mark.parametrize("script", ["generic_loop.py", "late_attach.py", "async_loop.py"])
def test_example_script_runs(tmp_path: Path, script: str) -> None:
    """Each example runs as a script and leaves a bundle that validates."""
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script)],
                          capture_output=True, text=True, timeout=120,
                          env={"AUGUR_OUT": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    (bundle,) = tmp_path.iterdir()
    assert validate_bundle(bundle) == []
