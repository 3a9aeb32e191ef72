"""`augur import anthropic|openai LOG`: a logged computer-use run (built with the providers'
own SDK types) becomes a valid bundle: one step per action with the model's coordinates and
display size, screenshots before and after, the failed action failed, each call a model-I/O
record and a chat span, reasoning recorded; and the viewer draws the click where it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from augur_sdk.adapters import anthropic, openai
from augur_sdk.adapters.cua_log import import_log
from augur_sdk.validation import validate_bundle
from provider_logs import CLICKS, DISPLAY, ERROR, SHOT_SIZE, anthropic_log, openai_log

pytest.importorskip("anthropic")
pytest.importorskip("openai")

LOGS = {"anthropic": anthropic_log, "openai": openai_log}
FAILED_AS = {"anthropic": ERROR, "openai": "the model left this action incomplete"}


def _steps(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "steps").glob("*.json"))]


@pytest.mark.parametrize("provider", sorted(LOGS))
def test_import_cli_writes_a_valid_bundle_of_the_run(provider: str, tmp_path: Path) -> None:
    """Three actions -> three steps: a screenshot, a failed click, a click; coordinates in
    the declared display (viewport 640x400), screenshots chained pre -> post; four calls."""
    log = LOGS[provider](tmp_path / f"{provider}.jsonl")
    out = tmp_path / "bundle"
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "import", provider,
                           str(log.path), "--out", str(out), "--run-id", f"{provider}-run"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 steps, 4 model calls" in proc.stdout
    assert validate_bundle(out) == []
    steps = _steps(out)
    assert [s["step_type"] for s in steps] == ["screenshot", "click", "click"]
    assert [s["status"] for s in steps] == ["succeeded", "failed", "succeeded"]
    for step, (x, y) in zip(steps[1:], CLICKS, strict=True):
        assert (step["action"]["params"]["x"], step["action"]["params"]["y"]) == (x, y)
        assert step["action"]["params"]["viewport"] == {"width": DISPLAY[0],
                                                        "height": DISPLAY[1]}
        assert step["action"]["coordinate_space"] == "viewport_css_px"
        assert step["grounding"]["coordinates"] == {"x": x, "y": y}
    assert steps[1]["verdict"] == {"status": "failed", "reason": FAILED_AS[provider]}
    assert steps[1]["failure_class"] == f"{provider}.action_error"
    shot = lambda rel: (out / rel).read_bytes() if rel else None  # noqa: E731
    if provider == "anthropic":  # the first screenshot comes back from the first action
        assert steps[0]["observation_pre"] is None
        assert shot(steps[0]["observation_post"]) == log.shots[0]
        assert shot(steps[1]["observation_post"]) == log.shots[1]  # the error's screenshot
        assert shot(steps[2]["observation_pre"]) == log.shots[1]
    else:  # the task came with a screenshot
        assert shot(steps[0]["observation_pre"]) == log.shots[0]
        assert shot(steps[0]["observation_post"]) == log.shots[1]
        assert steps[1]["observation_post"] is None  # incomplete: nothing came back
        assert shot(steps[2]["observation_pre"]) == log.shots[1]
    assert shot(steps[2]["observation_post"]) == log.shots[2]
    calls = sorted((out / "modelio").glob("*.json"))
    assert [p.name for p in calls] == ["0000-model-0.json", "0001-model-0.json",
                                       "0002-model-0.json", "run-model-0.json"]
    first = json.loads(calls[1].read_text())
    assert first["response"]["usage"]["prompt_tokens"] > 0
    assert first["duration_ms"] > 0
    images = list((out / "modelio/images").iterdir())
    assert {p.read_bytes() for p in images} <= set(log.shots)
    reasoning = [json.loads(line)["text"] for line in
                 (out / "diagnostics/reasoning.jsonl").read_text().splitlines()]
    assert reasoning == ["The Sign in button is at the top left."]  # not the "concise" setting
    assert steps[1]["intent"] in ("Clicking Sign in.",)


@pytest.mark.parametrize("module", [anthropic, openai], ids=["anthropic", "openai"])
def test_a_bad_line_is_named_and_nothing_is_half_imported(module: Any, tmp_path: Path) -> None:
    """A line that is not a request/response pair raises naming the file and line, before
    anything is written."""
    log = tmp_path / "bad.jsonl"
    log.write_text('{"request": {}, "response": {}}\n["not", "an", "object"]\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: expected an object"):
        import_log(module, log, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_import_cli_refuses_a_missing_log(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "import", "openai",
                           str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_screenshots_are_twice_the_display() -> None:
    """The fixture's premise: the model's display is half the screenshot size."""
    assert (SHOT_SIZE[0] / DISPLAY[0], SHOT_SIZE[1] / DISPLAY[1]) == (2.0, 2.0)
