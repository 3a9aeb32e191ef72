"""A stuck test fails by itself and names itself (pytest-timeout, configured in
pyproject.toml), instead of holding the whole run until CI's own limit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STUCK = textwrap.dedent("""
    import subprocess, sys

    def test_reads_a_silent_child():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                 stdout=subprocess.PIPE)
        try:
            child.stdout.read()  # no deadline: only the suite's timeout ends this
        finally:
            child.kill()
            child.wait(timeout=10)

    def test_after_it():
        pass
""")


def test_the_suite_sets_a_timeout_per_test() -> None:
    """pyproject.toml gives every test a timeout, and the plugin that enforces it is installed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert 0 < config["tool"]["pytest"]["ini_options"]["timeout"] <= 600
    assert any(req.startswith("pytest-timeout")
               for req in config["project"]["optional-dependencies"]["test"])
    import pytest_timeout  # noqa: F401


def test_a_stuck_test_fails_naming_itself_and_the_run_goes_on(tmp_path: Path) -> None:
    """With the suite's settings (timeout shortened to 3 s), a test stuck reading a silent
    child fails with 'Timeout' and its name; the next test still runs."""
    (tmp_path / "test_stuck.py").write_text(STUCK)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
         str(tmp_path), "-o", "timeout=3", "-p", "no:cacheprovider", "test_stuck.py"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Timeout" in proc.stdout and "test_reads_a_silent_child" in proc.stdout, proc.stdout
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout
