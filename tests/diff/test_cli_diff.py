"""`augur diff A B` as a command: its report, --json, and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drawn_runs import base_task, dialog_task, record


def _augur(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    return {"clean": record(root / "clean", base_task()),
            "clean2": record(root / "clean2", base_task()),
            "dialog": record(root / "dialog", dialog_task())}


def test_different_runs_exit_1_with_the_first_divergence(runs: dict[str, Path]) -> None:
    """The report names both runs, the first divergence and the one-sided steps; exit 1."""
    proc = _augur("diff", str(runs["clean"]), str(runs["dialog"]))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert f"A  {runs['clean'].resolve()}" in out and f"B  {runs['dialog'].resolve()}" in out
    assert "first divergence: B step 10 has no counterpart in A" in out
    assert "click 'Place order' · failed (no_state_change)" in out
    assert "A goes on with step 10: click 'Place order' · succeeded" in out
    assert "only in B: click 'Got it'" in out
    assert out.rstrip().endswith("the runs differ: different steps (exit 1)")


def test_the_same_run_twice_exits_0(runs: dict[str, Path]) -> None:
    """Two runs that did the same thing with the same outcome: exit 0 and say so."""
    proc = _augur("diff", str(runs["clean"]), str(runs["clean2"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "same: both runs did the same 11 steps with the same outcome (exit 0)" in proc.stdout


def test_json_report(runs: dict[str, Path]) -> None:
    """--json prints one JSON object with the exit code and the first divergence."""
    proc = _augur("diff", "--json", str(runs["dialog"]), str(runs["clean"]))
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["exit_code"] == 1 and report["first_divergence"]["a"] == 10
    assert report["a"]["run_id"] == "dialog" and report["b"]["steps"] == 11


def test_an_unreadable_bundle_exits_2(runs: dict[str, Path], tmp_path: Path) -> None:
    """A path that is not a bundle: exit 2 with the reason on stderr, nothing on stdout."""
    proc = _augur("diff", str(runs["clean"]), str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "not an Augur bundle" in proc.stderr
    assert _augur("diff", str(tmp_path / "nope"), str(runs["clean"])).returncode == 2


def test_exact_screens_flag(runs: dict[str, Path]) -> None:
    """--exact-screens compares screenshots by digest and says so."""
    proc = _augur("diff", "--exact-screens", str(runs["dialog"]), str(runs["clean"]))
    assert proc.returncode == 1 and "exact digest" in proc.stdout


def test_view_compare_needs_two_bundles(runs: dict[str, Path], tmp_path: Path) -> None:
    """`augur view A --compare B` with B not a bundle (or a folder of runs) exits 2."""
    proc = _augur("view", str(runs["clean"]), "--compare", str(tmp_path), "--no-open")
    assert proc.returncode == 2 and "--compare takes two bundles" in proc.stderr
    folder = runs["clean"].parent
    proc = _augur("view", str(folder), "--compare", str(runs["clean"]), "--no-open")
    assert proc.returncode == 2
