"""SIGTERM and Ctrl-C end a run `halted` with a complete bundle; an app's own handler is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from augur_sdk.validation import validate_bundle

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import signal, sys, time
    from support import step_record
    from augur_sdk import DebugSession
    if sys.argv[2] == "app-handler":
        signal.signal(signal.SIGTERM, lambda *a: print("APP HANDLER", flush=True))
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=sys.argv[1]) as s:
        for i in range(100000):
            s.record_step(step_record("r", i))
            print(i, flush=True)
            time.sleep(0.005)
""")


def _run_until(out: Path, steps: int, mode: str = "plain") -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), mode], text=True,
                            stdout=subprocess.PIPE, env=dict(os.environ,
                                                             PYTHONPATH=str(ROOT / "tests")))
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().isdigit() and int(line) >= steps:
            break
    return proc


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, -signal.SIGINT)])
def test_signal_ends_the_run_halted_with_a_complete_bundle(tmp_path: Path, sig: int,
                                                           code: int) -> None:
    """SIGTERM (exit 143) and SIGINT (KeyboardInterrupt, re-raised by Python) close the run: valid, status halted."""
    out = tmp_path / "b"
    proc = _run_until(out, 20)
    proc.send_signal(sig)
    assert proc.stdout is not None
    acked = [int(x) for x in proc.stdout.read().split() if x.isdigit()]
    assert proc.wait(timeout=60) == code
    assert validate_bundle(out) == []
    trace = json.loads((out / "trace.json").read_text())
    assert trace["session"]["status"] == "halted"
    last = max([20, *acked])
    assert [s["step_index"] for s in trace["steps"]][: last + 1] == list(range(last + 1))


def test_an_apps_sigterm_handler_is_not_replaced(tmp_path: Path) -> None:
    """When the app installed its own SIGTERM handler before us, it keeps running it."""
    proc = _run_until(tmp_path / "b", 5, "app-handler")
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    line = ""
    for line in proc.stdout:
        if "APP HANDLER" in line:
            break
    assert "APP HANDLER" in line
    proc.kill()
    proc.wait(timeout=30)
