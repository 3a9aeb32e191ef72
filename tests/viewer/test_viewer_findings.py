"""`augur view` shows each finding of `augur diagnose` on its step and draws its evidence
(boxes and points of ``#xywh=`` references) on the screenshot it refers to (Chromium)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from viewer_support import open_viewer, run_viewer

from augur_sdk.cli import main
from augur_sdk.diagnostics import diagnose_bundle
from drawn_runs import WIDTH, base_task, centre, dialog_task, record, retry_task

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
    pill, and the list flags exactly the steps with findings; on the pre screenshot its dialog box is drawn within 3 image px of the finding's
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
        flagged = page.eval_on_selector_all(
            "#list-rows .row", "rows => rows.filter(r => r.querySelector('.flag.finding'))"
            ".map(r => Number(r.dataset.i))")
        assert flagged == sorted({f["step_index"] for f in diagnosis.findings})

        _open(page, url, 10, "action")  # the pre screenshot with click and target markers
        assert len(page.evaluate(EVIDENCE_JS)) == len([m for m in marks if m]) >= 2

        _open(page, url, 2, "pre")
        assert page.evaluate(EVIDENCE_JS) == []
        assert page.query_selector("#detail [data-section='findings']") is None
        assert page.errors == []


def test_run_list_shows_failure_groups_and_filters_by_them(new_page: Any,
                                                          tmp_path: Path) -> None:
    """After `augur diagnose DIR`, the run list of `augur view DIR` shows the failure groups
    (the dialog's with its 2 runs first); clicking a group lists only its runs, clicking it
    again lists all; the select filters the same way, and #group= links to a filter."""
    root = tmp_path / "runs"
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for k in range(2):
        record(root / f"dialog{k}", dialog_task(), stamp=True, start=start)
    record(root / "retry0", retry_task(), stamp=True, start=start)
    record(root / "clean", base_task(), stamp=True, start=start)
    assert main(["diagnose", str(root), "--json"]) == 0
    page = new_page()
    keys = "() => [...document.querySelectorAll('#runs-body tr.run')].map(r => r.dataset.key).sort()"
    with run_viewer(root) as url:
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        buttons = page.query_selector_all("#groups button.group")
        assert [b.inner_text().split("\n")[0].split(" ", 2)[:2] for b in buttons] == \
            [["2", "runs"], ["1", "run"]]
        assert "cua.modal_covers_target" in buttons[0].inner_text()
        assert len(page.evaluate(keys)) == 4
        buttons[0].click()
        assert page.evaluate(keys) == ["dialog0", "dialog1"]
        page.click("#groups button.group.on")
        assert len(page.evaluate(keys)) == 4
        second = page.get_attribute("#groups button.group:nth-of-type(2)", "data-group")
        page.select_option("#runs-group", second)
        assert page.evaluate(keys) == ["retry0"]
        page.goto(url + f"#group={second}")
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.evaluate(keys) == ["retry0"]
        assert page.errors == []
