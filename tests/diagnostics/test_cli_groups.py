"""`augur diagnose DIR` groups the same failure across runs; `augur summarize` prints one
screen. Runs recorded with the real SDK, their screenshots drawn (each with a unique clock
stamp, so no two screenshots are byte-identical, as in real runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from augur_sdk.diagnostics.groups import FailedStep, group_failures
from drawn_runs import base_task, dialog_task, record, retry_task


def _augur(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", *args], capture_output=True,
                          text=True, timeout=300)


def _runs(root: Path) -> Path:
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    for k in range(3):
        record(root / f"dialog{k}", dialog_task(), stamp=True, start=start)
    for k in range(2):
        record(root / f"retry{k}", retry_task(), stamp=True, start=start)
    record(root / "clean", base_task(), stamp=True, start=start)
    return root


def test_diagnose_dir_groups_the_same_failure_of_several_runs(tmp_path: Path) -> None:
    """Three runs broken by the dialog are one group (3 runs), two runs whose sign-in click
    missed are another (2 runs); the clean run is in none. The groups are saved for the
    viewer and every run got its findings.json."""
    root = _runs(tmp_path / "runs")
    proc = _augur("diagnose", str(root))
    assert proc.returncode == 0, proc.stderr
    assert "6 runs, 5 with failed steps, 5 failed steps in 2 group(s)" in proc.stdout
    doc = json.loads((root / "failure-groups.json").read_text())
    first, second = doc["groups"]
    assert first["runs"] == ["dialog0", "dialog1", "dialog2"]
    assert first["rule_id"] == "cua.modal_covers_target"
    assert [s["step_index"] for s in first["steps"]] == [10, 10, 10]
    assert second["runs"] == ["retry0", "retry1"]
    assert second["rule_id"] == "cua.click_far_from_grounding"
    for run in ("dialog0", "retry1", "clean"):
        assert (root / run / "diagnostics" / "findings.json").is_file()
    js = json.loads(_augur("diagnose", str(root), "--json", "--no-write").stdout)
    assert [g["run_count"] for g in js["groups"]] == [3, 2]


def test_grouping_splits_different_screens_and_classes() -> None:
    """Same class, action and finding on screens far apart are two groups; a near screen
    joins; another failure class is its own group."""
    a, near, far = 0, 0b111, (1 << 128) - 1
    steps = [FailedStep("r1", 3, "no_state_change", "click", "cua.x", None, a),
             FailedStep("r2", 3, "no_state_change", "click", "cua.x", None, near),
             FailedStep("r3", 3, "no_state_change", "click", "cua.x", None, far),
             FailedStep("r4", 3, "infra_failure", "click", "cua.x", None, a)]
    groups = group_failures(steps)
    assert groups[0].runs == ["r1", "r2"]
    assert sorted(g.runs[0] for g in groups[1:]) == ["r3", "r4"]


def test_summarize_prints_one_screen(tmp_path: Path) -> None:
    """Steps by status, failures by class, the top finding, duration and cost."""
    bundle = record(tmp_path / "run", dialog_task(), start=datetime(2026, 3, 1, tzinfo=UTC))
    proc = _augur("summarize", str(bundle))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "steps     13: 1 failed, 12 succeeded" in out
    assert "failures  no_state_change x1" in out
    assert "(from the CUA rules (not written))" in out
    assert "[high] cua.modal_covers_target (step 10)" in out
    assert len(out.splitlines()) <= 24
    _augur("diagnose", str(bundle))
    assert "(from diagnostics/findings.json)" in _augur("summarize", str(bundle)).stdout
    doc = json.loads(_augur("summarize", str(bundle), "--json").stdout)
    assert doc["steps"] == 13 and doc["duration_s"] > 0


def test_diagnose_errors_are_clear(tmp_path: Path) -> None:
    """A missing path, an empty directory and an unknown pack exit 2 with the reason."""
    proc = _augur("diagnose", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    proc = _augur("diagnose", str(tmp_path))
    assert proc.returncode == 2 and "no bundles" in proc.stderr
    proc = _augur("diagnose", str(tmp_path), "--pack", "acme")
    assert proc.returncode == 2 and "unknown rule pack: 'acme'" in proc.stderr
    proc = _augur("summarize", str(tmp_path))
    assert proc.returncode == 2 and "not an Augur bundle" in proc.stderr
