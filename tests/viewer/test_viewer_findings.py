"""`augur view` shows each finding of `augur diagnose` on its step and draws its evidence
(boxes and points of ``#xywh=`` references) on the screenshot it refers to (Chromium)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from viewer_support import open_viewer, run_viewer

from augur_sdk.diagnostics import diagnose_bundle
from drawn_runs import WIDTH, centre, dialog_task, record

EVIDENCE_JS = """() => {
  const img = document.getElementById('shot').getBoundingClientRect();
  const k = img.width / document.getElementById('shot').naturalWidth;
  return [...document.querySelectorAll('#overlay .evmark')].map((el) => {
    const r = el.getBoundingClientRect();
    return {rule: el.dataset.rule, box: el.classList.contains('evbox'),
            rect: [(r.left - img.left) / k, (r.top - img.top) / k, r.width / k, r.height / k]};
  });
}"""


def _open(page: Any, url: str, step: int, tab: str) -> None:
    open_viewer(page, url, f"#step={step}&tab={tab}")
    page.wait_for_selector(f"#shot-wrap[data-step='{step}'][data-tab='{tab}'][data-loaded='1']")


def test_finding_is_listed_on_its_step_and_drawn_on_the_screenshot(new_page: Any,
                                                                   tmp_path: Path) -> None:
    """Step 10 of the dialog run: the modal finding is in the step's Findings section and
    pill; on the pre screenshot its dialog box is drawn within 3 image px of the finding's
    box and its click point at the click (also under the action tab's markers); a step
    without findings shows no Findings section and no marks."""
    bundle = record(tmp_path / "run", dialog_task(), start=datetime(2026, 3, 1, tzinfo=UTC))
    diagnosis = diagnose_bundle(bundle)
    modal = next(f for f in diagnosis.findings if f["rule_id"] == "cua.modal_covers_target")
    box = [float(v) for v in modal["evidence"][1]["ref"].split("#xywh=")[1].split(",")]
    page = new_page()
    with run_viewer(bundle) as url:
        _open(page, url, 10, "pre")
        section = page.inner_text("#detail [data-section='findings']")
        assert "cua.modal_covers_target" in section and "modal dialog" in section
        assert "finding: cua.modal_covers_target" in page.inner_text("#detail .pills")
        marks = [m for m in page.evaluate(EVIDENCE_JS) if m["rule"] == "cua.modal_covers_target"]
        drawn_box = next(m["rect"] for m in marks if m["box"])
        assert all(abs(a - b) <= 3 for a, b in zip(drawn_box, box, strict=True)), drawn_box
        point = next(m["rect"] for m in marks if not m["box"])
        x, y = centre("Place order")
        assert abs(point[0] + point[2] / 2 - x) <= 3 and abs(point[1] + point[3] / 2 - y) <= 3
        assert page.evaluate("document.getElementById('shot').naturalWidth") == WIDTH

        _open(page, url, 10, "action")  # the pre screenshot with click and target markers
        assert len(page.evaluate(EVIDENCE_JS)) == len([m for m in marks if m]) >= 2

        _open(page, url, 2, "pre")
        assert page.evaluate(EVIDENCE_JS) == []
        assert page.query_selector("#detail [data-section='findings']") is None
        assert page.errors == []
