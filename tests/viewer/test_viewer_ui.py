"""End-to-end tests of `augur view` in headless Chromium on the rich 12-step bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from viewer_bundles import (
    RICH_FAILURES,
    RICH_FAR,
    RICH_LOW_CONFIDENCE,
    RICH_MISSING_PRE,
    RICH_SKIPPED,
    RICH_STEPS,
    RICH_XSS,
    XSS_EVENT,
    XSS_INTENT,
    XSS_LABEL,
    hand_bundle,
    hand_step,
)
from viewer_support import (
    detail_sections,
    event_groups,
    listed,
    open_viewer,
    run_viewer,
    selected,
    wait_js,
)

MARKERS_JS = """() => {
  const img = document.getElementById('shot');
  const box = img.getBoundingClientRect();
  const center = (sel) => {
    const el = document.querySelector(sel);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return [r.left + r.width / 2, r.top + r.height / 2];
  };
  return {box: [box.left, box.top, box.width, box.height],
          natural: [img.naturalWidth, img.naturalHeight],
          click: center('#overlay .mk-click'), target: center('#overlay .mk-target')};
}"""


def press(page: Any, keys: str) -> None:
    for key in keys.split():
        page.keyboard.press(key)


def go(page: Any, step: int, tab: str = "action") -> None:
    """Follow a deep link inside the open page and wait until that step's image is shown."""
    page.evaluate(f"location.hash = '#step={step}&tab={tab}'")
    page.wait_for_selector(f"#detail[data-step='{step}'][data-ready='1']")
    page.wait_for_selector(f"#shot-wrap[data-step='{step}'][data-tab='{tab}']", state="attached")
    if RICH_STEPS[step].shots and not (step == RICH_MISSING_PRE and tab != "post"):
        page.wait_for_selector(f"#shot-wrap[data-step='{step}'][data-tab='{tab}'][data-loaded='1']")


def test_bundle_opens_on_first_failure_with_list_screenshot_and_markers(new_page, rich_url):
    """The page lists every step, opens on the first failure with its screenshot, click and target markers, and shows the run metadata."""
    page = open_viewer(new_page(), rich_url)
    assert selected(page) == RICH_FAILURES[0]
    assert listed(page) == list(range(12))
    assert page.text_content("#list-count") == "12 steps"
    page.wait_for_selector("#shot-wrap[data-loaded='1']")
    assert page.evaluate("document.getElementById('shot').naturalWidth") == 800
    assert page.locator("#overlay .mk-click").count() == 1
    assert page.locator("#overlay .mk-target").count() == 1
    assert "Sign in" in page.text_content("#overlay .mk-label")
    facts = page.text_content("#run-facts")
    for text in ("testagent 1.2.3", "0123456789", "screenshots", "steps 12", "failed 3",
                 "env=test"):
        assert text in facts
    assert page.text_content("#run-badge") == "succeeded"
    assert page.text_content("#run-id") == "run_viewer_test"
    failed_rows = page.eval_on_selector_all("#list-rows .row.failed", "r => r.map(x => +x.dataset.i)")
    assert failed_rows == RICH_FAILURES
    detail = page.text_content("#detail")
    for text in ("Press Sign in", "no_state_change", "page did not change after click", "fake-vlm",
                 "0.81", "viewport_css_px", "2.2 CSS px", "verifier", "no state change"):
        assert text in detail
    # Grounding evidence and provenance, timings, events grouped by layer then kind (step 2 of
    # RICH_STEPS: label "Sign in", started 09:30:02, 420 + 37 * 2 = 494 ms).
    sections = detail_sections(page)
    grounding = sections["Grounding"]
    assert grounding["provider"] == "fake-vlm"
    assert grounding["evidence"] == "button text 'Sign in'"
    assert grounding["provenance"] == "screenshot"
    assert grounding["confidence"].startswith("0.81")
    timing = sections["Timing"]
    assert timing["started"] == "2026-05-19T09:30:02.000000Z"
    assert timing["ended"] == "2026-05-19T09:30:02.494000Z"
    assert timing["duration"] == "494 ms"
    assert "Decision events (3)" in sections
    assert event_groups(page) == {
        "planner · 1 event · decision": ["decision (1)"],
        "verifier · 2 events · error, observation": ["error (1)", "observation (1)"],
    }
    times = page.eval_on_selector_all("#detail .ev-time", "e => e.map(x => x.textContent)")
    assert times == ["+15 ms", "+55 ms", "+95 ms"]  # relative to the step's start


def test_keyboard_navigation_selects_expected_steps(new_page, rich_url):
    """j/k, n/N, ]/[, g/G select exactly the expected steps; 1/2/3 switch tabs (kept in the URL); / searches; ? toggles help."""
    page = open_viewer(new_page(), rich_url)
    expected = [("j", 3), ("k", 2), ("n", 5), ("n", 9), ("n", 9), ("N", 5), ("N", 2),
                ("G", 11), ("g", 0), ("]", 5), ("]", 7), ("[", 5), ("ArrowDown", 6),
                ("ArrowUp", 5)]
    for key, step in expected:
        press(page, key)
        assert selected(page) == step, key
    for key, tab in (("1", "pre"), ("3", "post"), ("2", "action")):
        press(page, key)
        assert page.get_attribute(f"#tab-{tab}", "aria-selected") == "true"
        wait_js(page, f"() => location.hash === '#step=5&tab={tab}'")
        page.wait_for_selector(f"#shot-wrap[data-tab='{tab}'][data-loaded='1']")
    press(page, "3")
    assert "api/shot/5/post" in page.get_attribute("#shot", "src")
    press(page, "/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("receipt")
    press(page, "Escape")
    wait_js(page, "() => document.getElementById('list-count').textContent === '2 of 12 steps'")
    assert listed(page) == [10, 11]
    assert selected(page) == 10
    press(page, "j")
    assert selected(page) == 11
    press(page, "?")
    assert page.evaluate("document.getElementById('help').open")
    assert "next / previous failure" in page.text_content("#help")
    press(page, "?")
    assert not page.evaluate("document.getElementById('help').open")


def test_failure_filters_and_search_select_exactly_the_expected_steps(new_page, rich_url):
    """Status, failure-class, low-confidence, far-click and text filters list exactly the matching steps, and j stays inside them."""
    page = open_viewer(new_page(), rich_url)

    def shown(expected: list[int]) -> list[int]:
        """The listed steps once they equal ``expected`` (filters apply after a short debounce)."""
        try:
            wait_js(page, "want => JSON.stringify([...document.querySelectorAll('#list-rows .row')]"
                          ".map(r => +r.dataset.i)) === JSON.stringify(want)", expected, timeout=5)
        except AssertionError:
            pass
        return listed(page)

    page.select_option("#f-status", "failures")
    assert shown(RICH_FAILURES) == RICH_FAILURES
    page.locator("#list").focus()  # keys typed into a form control do not navigate
    press(page, "g")
    assert selected(page) == 2
    press(page, "j j j")
    assert selected(page) == 9
    page.select_option("#f-status", "skipped")
    assert shown([RICH_SKIPPED]) == [RICH_SKIPPED]
    page.select_option("#f-status", "all")
    page.select_option("#f-class", "no_state_change")
    assert shown([2, 9]) == [2, 9]
    page.select_option("#f-class", "all")
    page.check("#f-lowconf")
    assert shown(RICH_LOW_CONFIDENCE) == RICH_LOW_CONFIDENCE
    page.fill("#f-conf", "0.7")
    page.dispatch_event("#f-conf", "change")
    assert shown([5, 7, 9]) == [5, 7, 9]
    page.fill("#f-conf", "0.5")
    page.dispatch_event("#f-conf", "change")
    page.uncheck("#f-lowconf")
    page.check("#f-far")
    assert shown(RICH_FAR) == RICH_FAR
    page.uncheck("#f-far")
    page.fill("#search", "checkout")
    wait_js(page, "() => document.getElementById('list-count').textContent === '1 of 12 steps'")
    assert shown([8]) == [8]
    page.fill("#search", "#7")
    wait_js(page, "() => document.getElementById('list-count').textContent === '1 of 12 steps'")
    assert shown([7]) == [7]
    page.fill("#search", "")
    wait_js(page, "() => document.getElementById('list-count').textContent === '12 steps'")
    page.locator("#list").focus()
    press(page, "f")
    assert shown(RICH_FAILURES) == RICH_FAILURES
    press(page, "f")
    assert shown(list(range(12))) == list(range(12))


@pytest.mark.parametrize(("width", "height", "dpr"), [(1280, 800, 1), (900, 700, 2)])
def test_markers_sit_within_one_css_px_of_the_recorded_point(new_page, rich_url, width, height,
                                                             dpr):
    """Click and target markers sit within 1 CSS px of the recorded point mapped to the displayed image, at two window sizes and DPRs."""
    page = open_viewer(new_page(width, height, device_scale_factor=dpr), rich_url)
    # step -> image pixels per recorded unit
    cases = {0: 1.0, 3: 2.0, 4: 1.0, 7: 1.0}
    widths = set()
    for step, scale in cases.items():
        go(page, step)
        m = page.evaluate(MARKERS_JS)
        left, top, w, h = m["box"]
        nat_w, nat_h = m["natural"]
        widths.add(round(w))
        spec = RICH_STEPS[step]
        for name, point in (("click", spec.click), ("target", spec.target)):
            assert point is not None and m[name] is not None, (step, name)
            want_x = left + point[0] * scale * w / nat_w
            want_y = top + point[1] * scale * h / nat_h
            got_x, got_y = m[name]
            assert abs(got_x - want_x) <= 1 and abs(got_y - want_y) <= 1, (step, name, m)
        if step == 3:
            assert "viewport 400\u00d7250" in page.text_content("#legend")
        if step == 0:
            assert "1 screenshot px = 1 CSS px, assumed" in page.text_content("#legend")
    assert all(w != 800 for w in widths)  # the image is scaled, so the mapping is exercised
    # A far click is flagged on the image and in the details.
    go(page, 7)
    assert "far from target" in page.text_content("#legend")
    assert "click 107.7 px from target" in page.text_content("#detail .pills")


def test_deep_link_opens_step_and_tab(new_page, rich_url):
    """#step=9&tab=post opens step 9 on the Post tab with its post screenshot and no markers."""
    page = open_viewer(new_page(), rich_url, "#step=9&tab=post")
    assert selected(page) == 9
    assert page.get_attribute("#tab-post", "aria-selected") == "true"
    page.wait_for_selector("#shot-wrap[data-step='9'][data-tab='post'][data-loaded='1']")
    assert "api/shot/9/post" in page.get_attribute("#shot", "src")
    assert page.locator("#overlay .mk").count() == 0  # markers only on the Action tab


def test_skipped_and_missing_screenshots_are_explained(new_page, rich_url):
    """A skipped step says "Not captured" on every tab and a screenshot absent from the bundle says "missing", never a blank pane."""
    page = open_viewer(new_page(), rich_url)
    for tab in ("pre", "action", "post"):
        go(page, RICH_SKIPPED, tab)
        assert page.is_visible("#shot-msg") and not page.is_visible("#shot-wrap")
        msg = page.text_content("#shot-msg")
        assert "Not captured" in msg and "skipped" in msg
    go(page, RICH_MISSING_PRE, "action")
    msg = page.text_content("#shot-msg")
    assert "Screenshot missing" in msg and "screenshots/0011_pre.png" in msg
    assert "no pre-action screenshot to draw on" in page.text_content("#legend")
    go(page, RICH_MISSING_PRE, "post")
    assert page.is_visible("#shot-wrap") and not page.is_visible("#shot-msg")


def test_html_in_bundle_text_is_shown_as_text_and_never_runs(new_page, rich_url):
    """Intent, label and event text holding <script>/onerror/onload payloads render literally and never run."""
    page = open_viewer(new_page(), rich_url)
    go(page, RICH_XSS)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.text_content("#intent") == XSS_INTENT
    assert XSS_LABEL in page.text_content("#overlay .mk-label")
    assert XSS_EVENT in page.text_content("#detail")
    assert XSS_INTENT in page.text_content("#list-rows")
    assert page.locator("img[src='x'], iframe, svg[onload], b[onmouseover]").count() == 0
    press(page, "i")
    page.wait_for_selector("#info[open]")
    press(page, "Escape")
    assert page.evaluate("window.__pwned") is None


def test_page_requests_only_the_local_server_and_links_steps_to_jaeger(new_page, rich_url,
                                                                         rich_bundle: Path):
    """A whole session requests only the viewer on 127.0.0.1; the step's Jaeger link is {jaeger}/trace/{trace_id}?uiFind={span_id}."""
    page = new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_viewer(page, rich_url)
    press(page, "j k n 1 2 3 G g ]")
    selected(page)
    press(page, "i")
    page.wait_for_selector("#info[open]")
    wait_js(page, "() => document.getElementById('info-body').textContent.includes('run started')")
    info = page.text_content("#info-body")
    assert "testagent" in info and "task_id" in info and "default-pii-v1" in info
    press(page, "Escape")
    press(page, "?")
    press(page, "?")
    go(page, 2)
    spans = [json.loads(line) for line in
             (rich_bundle / "otel/spans.jsonl").read_text().splitlines()]
    span = next(s for s in spans if s.get("step_index") == 2)
    href = page.get_attribute("#detail a.ext", "href")
    assert href == f"http://jaeger.invalid:16686/trace/{span['trace_id']}?uiFind={span['span_id']}"
    assert page.get_attribute("#detail a.ext", "rel") == "noopener noreferrer"
    assert len(requests) > 5
    outside = [u for u in requests if not u.startswith(rich_url)]
    assert outside == []


BIG_STEPS = 5000
BIG_FAILURES = (1234, 4321)


@pytest.fixture(scope="module")
def big_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A hand-written 5,000-step bundle without screenshots (cheap enough for every CI run)."""
    root = hand_bundle(tmp_path_factory.mktemp("big") / "bundle", {
        i: hand_step(i, "failed" if i in BIG_FAILURES else "succeeded") for i in range(BIG_STEPS)})
    with run_viewer(root) as url:
        yield url


def rows_in_dom(page: Any) -> int:
    return page.locator("#list-rows .row").count()


def test_a_5000_step_list_is_virtualized(new_page, big_url):
    """A 5,000-step run keeps fewer than 100 rows in the DOM while G, g and n walk the whole list (no timing asserted)."""
    page = open_viewer(new_page(), big_url)
    assert page.text_content("#list-count") == f"{BIG_STEPS} steps"
    assert selected(page) == BIG_FAILURES[0]  # opens on the first failure
    assert rows_in_dom(page) < 100
    page.locator("#list").focus()
    for key, step in (("G", BIG_STEPS - 1), ("g", 0), ("n", BIG_FAILURES[0]),
                      ("n", BIG_FAILURES[1]), ("G", BIG_STEPS - 1)):
        press(page, key)
        wait_js(page, "want => document.getElementById('detail').dataset.step === String(want)",
                step)
        assert selected(page) == step, key
        assert rows_in_dom(page) < 100, key
        # The selected row is rendered (scrolled into the window of rows that exist).
        assert page.locator(f"#list-rows .row.sel[data-i='{step}']").count() == 1, key
    assert page.evaluate("document.getElementById('list-spacer').offsetHeight") >= BIG_STEPS * 30
