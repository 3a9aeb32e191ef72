"""The Playwright demo agent's real run, where a dialog's backdrop swallows the order click:
`augur diagnose` names the dialog as the cause from screenshots and the click alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from builders import edit_steps

from augur_sdk.validation import validate_bundle
from demo_runs import demo_runs


def _augur(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _strip(record: dict[str, Any]) -> None:
    """Remove what the agent wrote about the failure: its recovery decision, the verdict's
    reason, the grounding's evidence text and the events list."""
    record.pop("recovery_decision", None)
    record.pop("events", None)
    if isinstance(record.get("verdict"), dict):
        record["verdict"].pop("reason", None)
    if isinstance(record.get("grounding"), dict):
        record["grounding"].pop("evidence", None)


def test_dialog_is_named_without_recovery_decision_or_events(tmp_path: Path) -> None:
    """On a copy with recovery_decision, all events and the failure's text removed, the
    failed order step's cause is the modal dialog covering the button, drawn on the pre
    screenshot; findings.json is written and the bundle still validates."""
    bundle = tmp_path / "dialog"
    shutil.copytree(demo_runs()["dialog"], bundle)
    shutil.rmtree(bundle / "events")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["signatures"] = {k: v for k, v in manifest["signatures"].items()
                              if not k.startswith("events/")}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    edit_steps(bundle, _strip)
    for rel in ["trace.json", *(p.relative_to(bundle).as_posix()
                                for p in (bundle / "steps").glob("*.json"))]:
        text = (bundle / rel).read_text()
        assert "recovery_decision" not in text and "backdrop" not in text, rel

    proc = _augur("diagnose", str(bundle))
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("  step 10 ")]
    assert "cua.modal_covers_target" in line and "modal dialog" in line, proc.stdout

    proc = _augur("diagnose", str(bundle), "--json", "--no-write")
    doc = json.loads(proc.stdout)
    (failed,) = doc["failed_steps"]
    assert failed["step_index"] == 10
    assert failed["cause"]["rule_id"] == "cua.modal_covers_target"
    refs = [e["ref"] for e in failed["cause"]["evidence"]]
    assert any(r.startswith("screenshots/0010_pre.png#xywh=") and not r.endswith(",0,0")
               for r in refs), refs  # the dialog's box
    assert "screenshots/0010_pre.png#xywh=480,254.4,0,0" in refs  # the click
    findings = json.loads((bundle / "diagnostics" / "findings.json").read_text())
    assert findings[0]["rule_id"] == "cua.modal_covers_target"
    assert validate_bundle(bundle) == []


def test_passing_demo_run_has_no_dialog_finding(tmp_path: Path) -> None:
    """The clean run (no dialog) gets no modal finding and no failed step; only the known
    44 px click offset of step 5."""
    proc = _augur("diagnose", str(demo_runs()["clean"]), "--json", "--no-write")
    doc = json.loads(proc.stdout)
    assert doc["failed_steps"] == []
    rules = {f["rule_id"] for f in doc["findings"]}
    assert rules == {"cua.click_far_from_grounding"}
