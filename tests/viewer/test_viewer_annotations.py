"""The viewer shows annotations in headless Chromium: the run's score timeline and costs,
a step's judge decisions, its iterations side by side, and other kinds' sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from viewer_support import open_viewer, run_viewer

from augur_sdk import DebugSession
from augur_sdk.testing import make_png


def _step(i: int, **extra: Any) -> dict[str, Any]:
    return {"step_id": f"ann/step/{i:04d}", "step_index": i, "step_type": "click",
            "status": "succeeded", "started_at": f"2026-05-19T00:00:0{i}Z", **extra}


@pytest.fixture(scope="module")
def annotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ann") / "bundle"
    with DebugSession(run_id="ann", client_name="annotator", out_dir=out, dsn="",
                      capture_mode="screenshots") as s:
        for i in range(4):
            pre = s.attach_observation(step_index=i, kind="pre", png_bytes=make_png(64, 48))
            s.record_step(_step(i, observation_pre=pre,
                                status="failed" if i == 2 else "succeeded"))
            s.set_score(i, [0.2, 0.5, 0.1, 0.9][i], comparator="verifier")
            s.set_step_costs(i, tokens_in=100, total_usd=0.01)
        s.record_judge_decision(2, judge_id="vlm-judge", judge_type="model",
                                verdict={"status": "failed", "score": 0.1,
                                         "reason": "dialog covers it"},
                                confidence=0.7)
        s.record_step_iteration(2, _step(2, step_id="ann/step/0002/retry", intent="retry",
                                         observation_pre=pre))
        s.record("reasoning", {"step_index": 2, "ts": "2026-05-19T00:00:02Z",
                               "format": "adapter_inferred", "text": "the dialog is modal"})
    return out


def test_run_facts_show_score_timeline_and_costs(new_page: Any, annotated: Path) -> None:
    """One point per scored step on the score line; run cost and tokens summed from steps."""
    with run_viewer(annotated) as url:
        page = open_viewer(new_page(), url)
        assert page.locator("#run-facts svg.scoreline circle").count() == 4
        facts = page.text_content("#run-facts")
        assert "cost $0.04" in facts and "tokens in 400" in facts


def test_step_detail_shows_judges_iterations_and_kind_sections(new_page: Any,
                                                              annotated: Path) -> None:
    """Step 2's detail lists its judge decision, its two records side by side and the
    reasoning section from the reasoning kind's spec."""
    with run_viewer(annotated) as url:
        page = open_viewer(new_page(), url, "#step=2")
        page.wait_for_selector("#detail[data-step='2'][data-ready='1']")
        rows = page.locator("#detail table.judges tr").all_text_contents()
        assert any("vlm-judge" in r and "model" in r and "0.7" in r for r in rows), rows
        assert page.locator("#detail .iterations .iteration").count() == 2
        text = page.text_content("#detail .iterations")
        assert "ann/step/0002/retry" in text and "ann/step/0002" in text
        assert "the dialog is modal" in page.text_content("#detail [data-section='reasoning']")


def test_a_run_without_capture_mode_says_why_it_is_empty(new_page: Any, tmp_path: Path) -> None:
    """A run recorded with no capture mode: the viewer says nothing was recorded and how to
    set a mode, not just "no steps"."""
    out = tmp_path / "off"
    with DebugSession(run_id="off", client_name="a", out_dir=out, dsn="") as s:
        s.record_step(_step(0))
    with run_viewer(out) as url:
        page = new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        text = page.text_content("#empty-reason")
        assert "no capture mode" in text and "AUGUR_CAPTURE_MODE=screenshots" in text
