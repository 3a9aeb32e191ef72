"""The viewer shows a step's model calls in headless Chromium: model, latency, tokens, the
prompt with its images (served from modelio/images/ by content name only), the response and
tool calls, the step's reasoning; the run header sums the calls' tokens."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from viewer_support import open_viewer, run_viewer

from augur_sdk import DebugSession
from augur_sdk.testing import make_png


@pytest.fixture(scope="module")
def with_calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("calls") / "bundle"
    shot, result_shot = make_png(40, 30, seed=5), make_png(48, 30, seed=6)
    with DebugSession(run_id="calls", client_name="agent", out_dir=out, dsn="",
                      capture_mode="model_io") as s:
        for i in range(2):
            s.record_modelio({
                "layer": "planner", "duration_ms": 1234,
                "request": {"model": "claude-sonnet-4-5", "system": "Operate the browser.",
                            "messages": [{"role": "user", "content": [
                                {"type": "text", "text": f"Step {i}: where is Sign in?"},
                                {"type": "image", "source": {
                                    "type": "base64", "media_type": "image/png",
                                    "data": base64.b64encode(shot).decode()}}]},
                                {"role": "user", "content": [  # Anthropic's tool result
                                    {"type": "tool_result", "tool_use_id": "t0", "content": [
                                        {"type": "image", "source": {
                                            "type": "base64", "media_type": "image/png",
                                            "data": base64.b64encode(result_shot).decode()}},
                                        {"type": "text", "text": "clicked <b>here</b>"}]}]}]},
                "response": {"text": f"Sign in is at the top right ({i})",
                             "stop_reason": "tool_use",
                             "usage": {"prompt_tokens": 1000, "completion_tokens": 25},
                             "tool_calls": [{"type": "tool_use", "name": "computer",
                                             "input": {"action": "left_click"}}]},
            }, step_index=i)
            s.record_reasoning(i, f"The button is labelled Sign in ({i})", format="scratchpad")
            s.record_step({"step_id": f"calls/step/{i:04d}", "step_index": i,
                           "step_type": "click", "status": "succeeded",
                           "started_at": f"2026-05-19T00:00:0{i}Z"})
    return out


def test_step_detail_shows_its_model_calls_with_images(new_page: Any, with_calls: Path) -> None:
    """Step 1's detail: one model call with its facts, prompt text, the image loaded from
    the bundle, response and tool call; its reasoning as text."""
    with run_viewer(with_calls) as url:
        page = open_viewer(new_page(), url, "#step=1")
        page.wait_for_selector("#detail[data-step='1'][data-ready='1']")
        call = page.locator("#detail details.modelcall")
        assert call.count() == 1
        text = call.text_content()
        for expected in ("claude-sonnet-4-5", "planner", "1.23 s", "1000", "25", "tool_use",
                         "Operate the browser.", "Step 1: where is Sign in?",
                         "Sign in is at the top right (1)", "left_click"):
            assert expected in text, expected
        # Both images: the one in the prompt and the one inside the tool result's content.
        page.wait_for_function(
            "() => { const i = [...document.querySelectorAll('#detail img.msg-img')];"
            " return i.length === 2 && i.every((x) => x.complete)"
            " && i.map((x) => x.naturalWidth).join() === '40,48'; }", timeout=10_000)
        assert "clicked <b>here</b>" in text  # shown as text, never as markup
        assert page.locator("#detail .modelcall b:text('here')").count() == 0
        reasoning = page.text_content("#detail [data-section='reasoning']")
        assert "The button is labelled Sign in (1)" in reasoning
        facts = page.text_content("#run-facts")
        assert "tokens in 2000" in facts and "tokens out 50" in facts
        assert "model calls 2" in facts


def test_only_content_named_images_are_served(with_calls: Path) -> None:
    """The image route answers a <sha256>.<ext> name that is in the bundle, nothing else."""
    name = next((with_calls / "modelio/images").iterdir()).name
    with run_viewer(with_calls) as url:
        with urllib.request.urlopen(f"{url}api/modelio-image/{name}", timeout=10) as resp:
            assert resp.headers["Content-Type"] == "image/png"
            assert resp.read() == (with_calls / "modelio/images" / name).read_bytes()
        for bad in ("../manifest.json", "0" * 64 + ".png", name.replace(".png", ".json")):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"{url}api/modelio-image/{bad}", timeout=10)
            assert err.value.code == 404
