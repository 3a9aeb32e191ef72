"""The demo agent with OTEL_EXPORTER_OTLP_ENDPOINT set: the same run lands in a real collector.

The README promises that the main command, run with the standard OTLP variable, sends the
run's spans to the user's collector as well as writing the bundle. Here the collector is the
Phoenix receiver of ``conftest.py`` and the agent drives real headless Chromium.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from augur_sdk.validation import validate_bundle

if TYPE_CHECKING:
    from conftest import Phoenix

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _require_browser() -> None:
    if os.path.exists(CHROMIUM) and importlib.util.find_spec("playwright") is not None:
        return
    reason = f"the demo needs Chromium at {CHROMIUM} and Playwright for Python"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"under CI: {reason}")
    pytest.skip(reason)


def test_demo_run_appears_in_the_collector(phoenix: Phoenix, tmp_path: Path) -> None:
    """With only OTEL_EXPORTER_OTLP_ENDPOINT set, the demo's run span and every step span
    (failed step as ERROR) reach the collector, in the trace the bundle's sidecar names."""
    _require_browser()
    project = f"augur-demo-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUGUR_"))}
    env.update({"AUGUR_OUT": str(tmp_path), "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.base_url,
                "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}"})
    proc = subprocess.run([sys.executable, str(ROOT / "examples/playwright_agent/demo.py")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sent over OTLP too" in proc.stdout
    (bundle,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert validate_bundle(bundle) == []

    sidecar = [json.loads(line) for line in
               (bundle / "otel" / "spans.jsonl").read_text(encoding="utf-8").splitlines()]
    run_line = next(line for line in sidecar if line["kind"] == "run")
    step_lines = {line["span_id"]: line for line in sidecar if line["kind"] == "step"}
    records = [json.loads(p.read_text(encoding="utf-8")) for p in (bundle / "steps").glob("*.json")]
    steps = {record["step_id"]: record for record in records}
    assert len(step_lines) == len(steps) >= 10

    spans = phoenix.wait_for_spans(project, run_line["trace_id"], 1 + len(steps))
    by_id = {span["context"]["span_id"]: span for span in spans}
    run = by_id[run_line["span_id"]]
    assert run["name"].startswith("invoke_agent ") and run["parent_id"] is None
    for span_id, line in step_lines.items():
        span = by_id[span_id]
        assert span["parent_id"] == run_line["span_id"]
        step = steps[line["step_id"]]
        assert span["name"] == f"execute_tool {step['step_type']}"
        assert span["status_code"] == ("ERROR" if step["status"] == "failed" else "UNSET")
    assert any(s["status"] == "failed" for s in steps.values())
