"""`augur validate` finds each kind of problem; `augur recover` repairs a killed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from augur_sdk.bundle.recover import RecoveryError, recover_bundle
from augur_sdk.validation import exit_code, validate_bundle

from support import ChildLines, run_seed_session


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    out = tmp_path / "b"
    run_seed_session(out, steps=3)
    return out


def _messages(path: Path) -> str:
    return "\n".join(i.render() for i in validate_bundle(path))


def test_bad_step_id_is_a_warning_named_per_step(bundle: Path) -> None:
    """A step_id that breaks '<run_id>/step/<NNNN>' is a warning naming the expected value:
    not among the errors validate_bundle returns by default (0.6.1's contract)."""
    for i in (0, 2):
        step = json.loads((bundle / f"steps/{i:04d}.json").read_text())
        step["step_id"] = f"step-{i}"
        (bundle / f"steps/{i:04d}.json").write_text(json.dumps(step))
    errors = "\n".join(i.render() for i in validate_bundle(bundle))
    assert "breaks the convention" not in errors
    warnings = [i for i in validate_bundle(bundle, include_warnings=True)
                if i.severity == "warning"]
    text = "\n".join(i.render() for i in warnings)
    assert "steps/0000.json: warning: step_id 'step-0' breaks the convention" in text
    assert "expected run_test/step/0002" in text


def test_cli_exits_0_on_warnings_alone_and_1_with_strict(tmp_path: Path) -> None:
    """`augur validate` prints warnings and passes; `--strict` fails on them."""
    from augur_sdk import DebugSession

    from support import step_record

    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="metadata",
                      dsn="") as session:
        for i in range(2):
            session.record_step({**step_record("r", i), "step_id": f"step-{i:04d}-000"})
    plain = _cli("validate", str(out))
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "[warning] steps/0001.json: warning: step_id 'step-0001-000'" in plain.stdout
    assert "valid: " in plain.stdout and "2 warning(s)" in plain.stdout
    strict = _cli("validate", "--strict", str(out))
    assert strict.returncode == 1 and "invalid under --strict" in strict.stdout
    as_json = [json.loads(line) for line in _cli("validate", "--json", str(out)).stdout.split(
        "\n") if line]
    assert {i["severity"] for i in as_json} == {"warning"}


def test_run_without_capture_mode_validates_with_a_warning_saying_why(tmp_path: Path) -> None:
    """A run with no capture mode records nothing: validate says so and how to set it."""
    from augur_sdk import DebugSession

    out = tmp_path / "off"
    with DebugSession(run_id="r", client_name="a", out_dir=out, dsn=""):
        pass
    assert validate_bundle(out) == []
    (warning,) = validate_bundle(out, include_warnings=True)
    assert "nothing was recorded" in warning.message and "AUGUR_CAPTURE_MODE" in warning.message
    assert _cli("validate", "--strict", str(out)).returncode == 1


def test_missing_screenshot_is_reported(bundle: Path) -> None:
    """A referenced screenshot that is gone and not in manifest.missing is an issue."""
    (bundle / "screenshots/0001_post.png").unlink()
    text = _messages(bundle)
    assert "references screenshots/0001_post.png" in text
    assert "signed file screenshots/0001_post.png is missing" in text


def test_signature_mismatch_is_reported(bundle: Path) -> None:
    """A file changed after signing fails its sha256 check."""
    events = bundle / "events/0000.jsonl"
    events.write_text(events.read_text().replace("event 0", "event X"))
    assert "events/0000.jsonl: sha256 does not match" in _messages(bundle)


def test_step_count_disagreement_is_reported(bundle: Path) -> None:
    """step_count, trace.json and steps/ must agree."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["step_count"] = 7
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "steps/0001.json").unlink()
    text = _messages(bundle)
    assert "step_count is 7 but trace.json has 3 steps" in text
    assert "steps differ from steps/" in text


def test_schema_violation_is_reported_with_its_path(bundle: Path) -> None:
    """A step that breaks step_trace.schema.json is reported with the JSON path."""
    step = json.loads((bundle / "steps/0001.json").read_text())
    step["grounding"]["confidence"] = 3
    (bundle / "steps/0001.json").write_text(json.dumps(step))
    issues = [i for i in validate_bundle(bundle) if i.where == "steps/0001.json"]
    assert any(i.path == "grounding/confidence" for i in issues)


def test_exit_codes(bundle: Path, tmp_path: Path) -> None:
    """`augur validate` exits 0 valid, 1 invalid, 2 unreadable."""
    assert _cli("validate", str(bundle)).returncode == 0
    (bundle / "steps/0000.json").write_text("{broken")
    assert _cli("validate", str(bundle)).returncode == 1
    assert _cli("validate", str(tmp_path / "nope")).returncode == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _cli("validate", str(empty))
    assert proc.returncode == 2 and "manifest.json: missing" in proc.stdout


CHILD = textwrap.dedent("""
    import sys, time
    from augur_sdk import DebugSession
    from augur_sdk.testing import make_png
    from support import step_record, event_record
    out, steps = sys.argv[1], int(sys.argv[2])
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots", out_dir=out) as s:
        for i in range(steps):
            pre = s.attach_observation(step_index=i, kind="pre", png_bytes=make_png(64, 64, seed=i))
            s.record_step(step_record("r", i, pre=pre))
            s.record_event(event_record(i, 0))
            print(i, flush=True)
            time.sleep(0.01)
        print("closing", flush=True)
""")


def _start_child(out: Path, steps: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(steps)],
                            stdout=subprocess.PIPE, text=True, env=env)


def test_sigkill_mid_run_then_recover_keeps_every_returned_step(tmp_path: Path) -> None:
    """After SIGKILL at step ~50 of 100, `augur recover` yields a valid halted bundle with steps 0..k."""
    out = tmp_path / "b"
    child = _start_child(out, 100)
    assert child.stdout is not None
    last = -1
    try:
        seen = ChildLines(child.stdout).until(lambda line: int(line) >= 50, timeout_s=60)
        last = int(seen[-1]) if seen else -1
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert last >= 50
    issues = validate_bundle(out)
    assert [i.code for i in issues] == ["unfinished"]
    assert f"augur recover {out}" in issues[0].message
    proc = _cli("recover", str(out))
    assert proc.returncode == 0, proc.stderr
    assert validate_bundle(out) == []
    trace = json.loads((out / "trace.json").read_text())
    assert trace["session"]["status"] == "halted"
    indexes = [s["step_index"] for s in trace["steps"]]
    assert indexes[: last + 1] == list(range(last + 1))  # every step whose call returned
    for i in range(last + 1):
        assert (out / f"screenshots/{i:04d}_pre.png").is_file()
        assert (out / f"events/{i:04d}.jsonl").read_text().count("\n") == 1
    assert not list(out.rglob("*.tmp"))


def test_recover_refuses_a_bundle_still_being_written(tmp_path: Path) -> None:
    """While the producer process lives, recover refuses (unless --force) and validate says 'running'."""
    out = tmp_path / "b"
    child = _start_child(out, 10_000)
    assert child.stdout is not None
    try:
        assert ChildLines(child.stdout).next(timeout_s=60) is not None
        with pytest.raises(RecoveryError, match="still being written"):
            recover_bundle(out)
        issues = validate_bundle(out)
        assert [i.code for i in issues] == ["running"] and exit_code(issues) == 1
    finally:
        child.kill()
        child.wait(timeout=30)
    time.sleep(0.05)
    recover_bundle(out)
    assert validate_bundle(out) == []


def test_recover_after_a_kill_while_clearing_an_older_run(tmp_path: Path) -> None:
    """A producer killed while removing an older run's files (live.json says 'preparing'):
    recover removes the rest, so no stale step of the older run survives."""
    out = tmp_path / "b"
    run_seed_session(out, steps=3, run_id="old")
    live = {"state": "preparing", "pid": 999999, "host": "elsewhere",
            "redaction_policy": "default-pii-v1",
            "session": {"schema_version": "0.1", "debug_session_id": "dbg_new", "run_id": "new",
                        "client": {"name": "a"}, "capture_mode": "trace",
                        "started_at": "2026-05-19T00:00:00Z", "status": "running"}}
    (out / "live.json").write_text(json.dumps(live))
    (out / "trace.json").unlink()  # as if the clearing had got this far
    recover_bundle(out)
    assert validate_bundle(out) == []
    trace = json.loads((out / "trace.json").read_text())
    assert trace["session"]["run_id"] == "new" and trace["steps"] == []
    assert not (out / "steps").exists() and not (out / "screenshots").exists()
