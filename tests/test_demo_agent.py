"""The Playwright demo agent (examples/playwright_agent), end to end in real headless Chromium.

Without Chromium or Playwright these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from augur_sdk.validation import validate_bundle
from augur_sdk.viewer import FAR_PX

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "examples" / "playwright_agent"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
VIEWPORT = (960, 600)
PASSWORD = "correct-horse-42"  # examples/playwright_agent/webapp.py


def _require_browser() -> None:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"no Chromium at {CHROMIUM} (run .ci/install-chromium.sh as root)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright for Python is not installed (pip install -e '.[demo]')")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"the demo agent needs a browser under CI: {reason}")
        pytest.skip(reason)


def _env(out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUGUR_"))}
    env["AUGUR_OUT"] = str(out)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    bundle: Path
    seconds: float
    extra: Any = None

    def steps(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.bundle / "steps").glob("*.json"))]

    def events(self, index: int | None = None) -> list[dict[str, Any]]:
        files = [self.bundle / "events" / f"{index:04d}.jsonl"] if index is not None else sorted(
            (self.bundle / "events").glob("*.jsonl"))
        return [json.loads(line) for f in files if f.exists()
                for line in f.read_text().splitlines() if line.strip()]


def _run(script: str, out: Path, *args: str) -> Run:
    """Run a demo script (or, for ``scripts/demo.sh``, the README's main command as written)."""
    _require_browser()
    started = time.monotonic()
    if script.endswith(".sh"):  # installs into ./.venv (already there: a quick re-install)
        command = ["bash", str(ROOT / script), *args]
    else:
        command = [sys.executable, str(DEMO_DIR / script), *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=_env(out),
                          cwd=ROOT)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bundles = [p for p in out.iterdir() if p.is_dir()]
    assert len(bundles) == 1, bundles
    return Run(proc, bundles[0], seconds)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The README's main command, ``./scripts/demo.sh``: every test below checks its run."""
    return _run("scripts/demo.sh", tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def in_app(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("in_app")
    spans_file = out.parent / f"{out.name}-spans.json"
    run = _run("in_app_span.py", out, "--share-spans", "--spans-json", str(spans_file))
    run.extra = json.loads(spans_file.read_text())
    return run


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_demo_runs_and_its_bundle_validates(demo: Run) -> None:
    """The README's main command exits 0, prints the bundle and the view/validate commands,
    runs `augur validate` on it (valid), and the bundle validates here too."""
    out = demo.proc.stdout
    assert f"augur view {demo.bundle}" in out and f"augur validate {demo.bundle}" in out
    assert f"valid: {demo.bundle}\n" in out  # demo.sh ran `augur validate` on it
    assert validate_bundle(demo.bundle) == []
    cli = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "validate", str(demo.bundle)],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    trace = json.loads((demo.bundle / "trace.json").read_text())
    assert trace["session"]["status"] == "succeeded"
    assert trace["session"]["capture_mode"] == "screenshots"
    print(f"demo.py took {demo.seconds:.1f} s")


def _printed(out: str, label: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith(f"{label}:"))


def test_the_printed_commands_work_as_printed(demo: Run, tmp_path: Path) -> None:
    """The view and validate commands the demo prints run as printed in a shell whose PATH
    lacks the venv (the view command, plus --export, writes the page)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    page = tmp_path / "demo.html"
    for command, expect in ((_printed(demo.proc.stdout, "check it"), "valid: "),
                            (_printed(demo.proc.stdout, "view it") + f" --export {page}",
                             "wrote ")):
        assert not command.startswith("augur "), command  # not on that PATH
        proc = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.startswith(expect), (
            command, proc.stdout + proc.stderr)
    assert page.stat().st_size > 10_000


@pytest.mark.parametrize("where", ["repo", "below", "elsewhere"])
def test_printed_paths_are_relative_to_where_the_caller_stands(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """From the repository the paths are relative (`.venv/bin/augur`, `augur-runs/...`); from
    anywhere else absolute, so the printed commands work from the caller's directory."""
    sys.path.insert(0, str(DEMO_DIR))
    try:
        import demo as demo_module
    finally:
        sys.path.remove(str(DEMO_DIR))
    caller = {"repo": ROOT, "below": ROOT / "augur-runs", "elsewhere": tmp_path}[where]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DEMO_CALLER_CWD", str(caller))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    demo_module.print_next_steps("augur-runs/run_x")
    out = capsys.readouterr().out
    augur = Path(sys.executable).parent / "augur"
    if augur.is_relative_to(caller):
        augur = augur.relative_to(caller)
    bundle = {"repo": "augur-runs/run_x", "below": "./run_x",
              "elsewhere": str(ROOT / "augur-runs" / "run_x")}[where]
    assert f"view it:  {augur} view {bundle}\n" in out, out
    assert f"check it: {augur} validate {bundle}\n" in out, out


def test_demo_records_the_screen_it_saw(demo: Run) -> None:
    """The session tags carry the viewport and device scale, and they match the screenshots,
    so `augur view` places the clicks without assuming a scale."""
    from PIL import Image

    tags = json.loads((demo.bundle / "trace.json").read_text())["session"]["tags"]
    assert (tags["viewport"], tags["device_scale_factor"]) == ("960x600", "1")
    shot = next((demo.bundle / "screenshots").glob("*.png"))
    with Image.open(shot) as img:
        assert img.size == (960 * 1, 600 * 1)


def test_screenshots_are_real_chromium_renderings(demo: Run) -> None:
    """Pre/post PNGs are viewport-sized Chromium renderings; every successful step changes the page."""
    from PIL import Image

    steps = demo.steps()
    assert len(steps) >= 10
    for step in steps:
        pre = (demo.bundle / step["observation_pre"]).read_bytes()
        post = (demo.bundle / step["observation_post"]).read_bytes()
        for data in (pre, post):
            assert _png_size(data) == VIEWPORT
            image = Image.open(io.BytesIO(data)).convert("RGB")
            assert image.size == VIEWPORT
            colors = image.getcolors(maxcolors=1 << 20)
            assert colors is not None and len(colors) > 50  # anti-aliased text, not a flat fill
        if step["status"] == "succeeded":
            assert hashlib.sha256(pre).digest() != hashlib.sha256(post).digest(), step["step_id"]


def test_one_step_fails_and_a_later_step_recovers_it(demo: Run) -> None:
    """The covered 'Place order' click fails (no_state_change) and its retry succeeds."""
    steps = demo.steps()
    failed = [s for s in steps if s["status"] == "failed"]
    assert len(failed) == 1
    bad = failed[0]
    assert bad["failure_class"] == "no_state_change"
    assert bad["verdict"]["status"] == "failed" and bad["verdict"]["reason"]
    assert bad["recovery_decision"]["type"] in ("replan", "retry")
    assert bad["recovery_decision"]["reason"]
    later = steps[bad["step_index"] + 1:]
    assert later and all(s["status"] == "succeeded" for s in later)
    retry = [s for s in later
             if any(e["layer"] == "step_recovery"
                    and e.get("detail", {}).get("recovered_step") == bad["step_index"]
                    for e in demo.events(s["step_index"]))]
    assert len(retry) == 1
    assert retry[0]["grounding"]["target_label"] == bad["grounding"]["target_label"]
    assert retry[0]["verdict"]["status"] == "passed"
    failed_events = demo.events(bad["step_index"])
    assert {"planner", "grounding", "verifier", "step_recovery"} <= {
        e["layer"] for e in failed_events}
    verifier = next(e for e in failed_events if e["layer"] == "verifier")
    assert verifier["kind"] == "error" and verifier["detail"]["screenshot_changed"] is False


def test_decision_events_come_from_several_layers(demo: Run) -> None:
    """Decision events of at least four layers, each tied to a step."""
    events = demo.events()
    layers = {e["layer"] for e in events}
    assert len(layers) >= 4 and {"planner", "grounding", "verifier", "step_recovery"} <= layers
    assert all(isinstance(e.get("step_index"), int) and e["summary"] for e in events)


def test_grounding_and_dispatch_fields(demo: Run) -> None:
    """Screenshot-provenance grounding, Playwright dispatch in CSS px; exactly one click off target."""
    far = []
    for step in demo.steps():
        grounding, action = step["grounding"], step["action"]
        assert grounding["provenance"] == "screenshot"
        assert grounding["target_label"] and grounding["evidence"]
        assert 0 < grounding["confidence"] <= 1
        assert action["dispatch_backend"] == "playwright"
        assert action["coordinate_space"] == "viewport_css_px"
        if action["type"] == "click":
            x, y = action["params"]["x"], action["params"]["y"]
            assert 0 <= x < VIEWPORT[0] and 0 <= y < VIEWPORT[1]
            gx, gy = grounding["coordinates"]["x"], grounding["coordinates"]["y"]
            distance = math.hypot(x - gx, y - gy)
            if distance > FAR_PX:
                far.append(step)
            else:
                assert distance < 1, step["step_id"]
    assert len(far) == 1 and far[0]["status"] == "succeeded"


def test_password_never_reaches_the_bundle(demo: Run) -> None:
    """The typed password is dropped by the default redaction: in no file of the bundle."""
    typed = [s for s in demo.steps() if s["step_type"] == "type"]
    secret = [s for s in typed if "chars" in s["action"]["params"]]
    assert len(secret) == 1 and "password" not in secret[0]["action"]["params"]
    for path in demo.bundle.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_demo_without_chromium_says_what_to_install(tmp_path: Path) -> None:
    """With no Chromium the demo exits 2 and says how to install it."""
    env = _env(tmp_path) | {"CHROMIUM_PATH": str(tmp_path / "no-chromium")}
    proc = subprocess.run([sys.executable, str(DEMO_DIR / "demo.py")], capture_output=True,
                          text=True, timeout=60, env=env, cwd=ROOT)
    assert proc.returncode == 2
    assert "apt-get install chromium" in proc.stderr and "install-chromium.sh" in proc.stderr


def test_in_app_span_nesting(in_app: Run) -> None:
    """Run span under the app's job span; the app's model span is a child of its step's span."""
    spans = in_app.extra
    job = next(s for s in spans if s["name"] == "POST /jobs/{id}")
    run = next(s for s in spans if s["name"].startswith("invoke_agent "))
    steps = [s for s in spans if s["name"].startswith("execute_tool ")]
    model = next(s for s in spans if s["name"] == "chat demo-model")
    assert run["scope"] == "augur_sdk" and model["scope"] == "demo-job-runner"
    assert {s["trace_id"] for s in spans} == {job["trace_id"]}
    assert run["parent_span_id"] == job["span_id"]
    assert steps and all(s["parent_span_id"] == run["span_id"] for s in steps)
    assert model["attributes"]["gen_ai.operation.name"] == "chat"
    assert model["attributes"]["gen_ai.request.model"] == "demo-model"
    assert model["attributes"]["gen_ai.usage.input_tokens"] > 0

    linked = [e for e in in_app.events() if e["layer"] == "model"]
    assert len(linked) == 1
    detail = linked[0]["detail"]  # kept: the variant records in model_io mode
    assert detail["otel_span_id"] == model["span_id"]
    assert detail["otel_trace_id"] == job["trace_id"]
    step = next(s for s in steps if s["step_index"] == linked[0]["step_index"])
    assert model["parent_span_id"] == step["span_id"]  # via session.step_scope(i)
    assert step["start_ns"] <= model["start_ns"] <= model["end_ns"] <= step["end_ns"]

    sidecar = [json.loads(line) for line in
               (in_app.bundle / "otel" / "spans.jsonl").read_text().splitlines()]
    run_line = next(r for r in sidecar if r["kind"] == "run")
    assert run_line["trace_id"] == job["trace_id"]
    assert run_line["parent_span_id"] == job["span_id"]
    assert validate_bundle(in_app.bundle) == []
    assert "chat demo-model" in in_app.proc.stdout
