"""SIGTERM and Ctrl-C end a run `halted` with a complete bundle; an app's own handler is kept.

Every child here is bounded (it stops by itself after CHILD_STEPS steps) and every wait on it
has a deadline. A child started from a background job (`cmd &`, `nohup`) inherits SIGINT as
*ignored*, and Python then installs no KeyboardInterrupt handler: the child restores the
default one itself, as an app that wants Ctrl-C does.
"""

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

from support import ChildLines

ROOT = Path(__file__).resolve().parent.parent
CHILD_STEPS = 4000  # ~20-40 s at 5 ms a step: far more than a test needs, and still an end
WAIT_S = 60.0

CHILD = textwrap.dedent("""
    import signal, sys, time
    # Inherited as ignored from a background job: Ctrl-C must still interrupt this run.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from support import step_record
    from augur_sdk import DebugSession
    if sys.argv[2] == "app-handler":
        signal.signal(signal.SIGTERM, lambda *a: print("APP HANDLER", flush=True))
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=sys.argv[1]) as s:
        for i in range(int(sys.argv[3])):
            s.record_step(step_record("r", i))
            print(i, flush=True)
            time.sleep(0.005)
""")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_until(out: Path, steps: int, mode: str = "plain", *,
               from_background_job: bool = False) -> tuple[subprocess.Popen[str], ChildLines]:
    """Start the child and wait (at most WAIT_S) until it printed step ``steps``."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), mode, str(CHILD_STEPS)],
                            text=True, stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")),
                            preexec_fn=_ignore_sigint if from_background_job else None)
    assert proc.stdout is not None
    lines = ChildLines(proc.stdout)
    try:
        seen = lines.until(lambda line: line.strip().isdigit() and int(line) >= steps, WAIT_S)
    except BaseException:
        proc.kill()
        proc.wait(timeout=WAIT_S)
        raise
    assert seen and seen[-1].strip() == str(steps), f"the child stopped early: {seen[-3:]}"
    return proc, lines


@pytest.mark.parametrize(("sig", "code", "background"), [
    pytest.param(signal.SIGTERM, 143, False, id="SIGTERM"),
    pytest.param(signal.SIGINT, -signal.SIGINT, False, id="SIGINT"),
    pytest.param(signal.SIGINT, -signal.SIGINT, True, id="SIGINT-inherited-ignored"),
])
def test_signal_ends_the_run_halted_with_a_complete_bundle(tmp_path: Path, sig: int,
                                                           code: int, background: bool) -> None:
    """SIGTERM (exit 143) and SIGINT (KeyboardInterrupt, re-raised by Python), also in a child
    that inherited SIGINT as ignored, close the run: valid, status halted."""
    out = tmp_path / "b"
    proc, lines = _run_until(out, 20, from_background_job=background)
    try:
        proc.send_signal(sig)
        acked = [int(x) for x in lines.rest(WAIT_S) if x.strip().isdigit()]
        assert proc.wait(timeout=WAIT_S) == code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT_S)
    assert validate_bundle(out) == []
    trace = json.loads((out / "trace.json").read_text())
    assert trace["session"]["status"] == "halted"
    last = max([20, *acked])
    assert [s["step_index"] for s in trace["steps"]][: last + 1] == list(range(last + 1))
    assert len(trace["steps"]) < CHILD_STEPS  # the signal, not the end of the loop, stopped it


def test_an_apps_sigterm_handler_is_not_replaced(tmp_path: Path) -> None:
    """When the app installed its own SIGTERM handler before us, it keeps running it."""
    proc, lines = _run_until(tmp_path / "b", 5, "app-handler")
    try:
        proc.send_signal(signal.SIGTERM)
        seen = lines.until(lambda line: "APP HANDLER" in line, WAIT_S)
        assert seen and "APP HANDLER" in seen[-1], seen[-3:]
    finally:
        proc.kill()
        proc.wait(timeout=WAIT_S)


def test_the_signal_tests_pass_when_run_as_a_background_job(tmp_path: Path) -> None:
    """`pytest tests/test_signals.py &` from a non-interactive shell (SIGINT ignored in the
    job, as in CI and under nohup) passes, within a bound, instead of hanging."""
    job = (f"set +m; {sys.executable} -m pytest -q -p no:cacheprovider "
           f"{Path(__file__)} -k 'not background_job' & wait $!")
    proc = subprocess.run(["bash", "-c", job], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "4 passed" in proc.stdout, proc.stdout[-3000:]
