"""The side-by-side comparison in headless Chromium: `augur view A --compare B`, two runs
picked in the run list, and the exported file, on real demo runs and on SDK-recorded runs
with drawn screenshots."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from viewer_bundles import hand_bundle
from viewer_support import http_get, run_viewer, started, wait_js

from augur_sdk.viewer.compare import CompareServer
from demo_runs import demo_runs
from drawn_runs import base_task, dialog_task, record, retry_task

XSS_INTENT = '<img src=x onerror="window.__pwned = 1">Type the username'
XSS_TARGET = '<svg onload="window.__pwned = 2">Username</svg>'

PANES_JS = """() => Object.fromEntries(['a', 'b'].map(k => {
  const pane = document.getElementById('pane-' + k);
  const img = pane.querySelector('img');
  const box = img.getBoundingClientRect();
  const centre = (sel) => {
    const el = pane.querySelector(sel);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return [r.left + r.width / 2, r.top + r.height / 2];
  };
  return [k, {step: pane.dataset.step, context: pane.dataset.context, tab: pane.dataset.tab,
              loaded: pane.dataset.loaded, natural: [img.naturalWidth, img.naturalHeight],
              box: [box.left, box.top, box.width, box.height],
              click: centre('.mk-click'), target: centre('.mk-target'),
              title: pane.querySelector('.pane-head .title').textContent,
              marked: [...pane.querySelectorAll('.pane-facts dd.diff')].map(d => d.dataset.field)}];
}))"""


def panes(page: Any) -> dict[str, dict[str, Any]]:
    """Both panes once their screenshots (or messages) are shown."""
    page.wait_for_selector("#pane-a[data-loaded='1']")
    page.wait_for_selector("#pane-b[data-loaded='1']")
    return page.evaluate(PANES_JS)


def selected_row(page: Any) -> int:
    return int(page.get_attribute("body", "data-row"))


def open_compare(page: Any, url: str, fragment: str = "") -> Any:
    page.goto(url + fragment)
    page.wait_for_selector("body.compare-page[data-ready='1']")
    panes(page)
    return page


def press(page: Any, keys: str) -> None:
    for key in keys.split():
        page.keyboard.press(key)


def _at(marker: list[float], pane: dict[str, Any], point: tuple[float, float]) -> bool:
    """The marker's centre is on ``point`` (image pixels) within 1.5 CSS px."""
    left, top, width, height = pane["box"]
    x = left + point[0] * width / pane["natural"][0]
    y = top + point[1] * height / pane["natural"][1]
    return abs(marker[0] - x) <= 1.5 and abs(marker[1] - y) <= 1.5


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SDK-recorded runs with drawn screenshots, in one folder (for the run list)."""
    root = tmp_path_factory.mktemp("drawn") / "runs"
    hostile = base_task()
    hostile[1] = replace(hostile[1], intent=XSS_INTENT, target=XSS_TARGET)
    return {"clean": record(root / "run_clean", base_task()),
            "dialog": record(root / "run_dialog", dialog_task()),
            "retry": record(root / "run_retry", retry_task()),
            "hostile": record(root / "run_hostile", hostile)}


@pytest.fixture(scope="module")
def demo_dialog_url() -> Iterator[str]:
    runs = demo_runs()
    with run_viewer(runs["dialog"], "--compare", str(runs["clean"])) as url:
        yield url


@pytest.mark.slow
def test_opens_at_the_first_divergence_with_both_screens_and_markers(new_page, demo_dialog_url):
    """Real demo runs (dialog vs passing): the page opens on the failed 'Place order', run A's
    dialog screenshot next to run B's step 10, each with its click and grounding target at the
    recorded point."""
    page = open_compare(new_page(1400, 900), demo_dialog_url)
    state = panes(page)
    assert "first divergence" in page.text_content("#row-title")
    assert state["a"]["step"] == "10" and state["a"]["context"] == "0"
    assert state["b"]["step"] == "10" and state["b"]["context"] == "1"  # B goes on with 10
    assert "run B goes on with its step 10" in page.text_content("#row-diffs")
    assert page.text_content("#badge-a") == "succeeded"
    for side in ("a", "b"):
        pane = state[side]
        assert pane["natural"] == [960, 600] and pane["tab"] == "action"
        assert pane["click"] is not None and pane["target"] is not None
        assert _at(pane["click"], pane, (480.0, 254.4)), pane  # viewport px at scale 1
    row = page.locator("#list-rows .crow.sel")
    assert row.get_attribute("data-kind") == "only_a" and "A only" in row.text_content()
    assert page.is_visible("#list-rows .crow.first.sel")


def test_pairs_differences_navigation_and_tabs(new_page, drawn):
    """Retry vs passing run: the first divergence pairs both sign-ins and marks status, click
    and verdict on both sides; j, n, N, d, g, G move; 3 shows both post screenshots; the
    address bar follows."""
    with run_viewer(drawn["retry"], "--compare", str(drawn["clean"])) as url:
        page = open_compare(new_page(1280, 800), url)
        assert selected_row(page) == 4
        state = panes(page)
        assert (state["a"]["step"], state["b"]["step"]) == ("4", "4")
        for side in ("a", "b"):
            assert state[side]["marked"] == ["status", "click", "verdict", "duration"]
        chips = page.eval_on_selector_all("#row-diffs .dif", "els => els.map(e => e.textContent)")
        assert "click: 60 px apart" in chips
        assert page.url.endswith("#row=4&tab=action")
        press(page, "j")
        state = panes(page)
        assert selected_row(page) == 5 and state["a"]["step"] == "5"
        assert state["b"]["context"] == "1" and state["b"]["step"] == "5"
        press(page, "j")
        state = panes(page)
        assert (state["a"]["step"], state["b"]["step"]) == ("6", "5")  # no shift after it
        press(page, "N")
        assert selected_row(page) == 5
        press(page, "N n n")
        assert selected_row(page) == 5  # n stops at the last divergence
        press(page, "G")
        assert selected_row(page) == 11
        press(page, "d")
        assert selected_row(page) == 4
        press(page, "3")
        state = panes(page)
        assert state["a"]["tab"] == "post" and state["b"]["tab"] == "post"
        assert state["a"]["click"] is None  # markers are on the Action tab only
        assert page.url.endswith("#row=4&tab=post")
        page.close()  # before its server stops (a prefetch in flight would log an error)


def test_differences_only_and_deep_links(new_page, drawn):
    """f keeps the rows that differ; a #row= link opens that row and tab, also when the
    filter hides it."""
    with run_viewer(drawn["dialog"], "--compare", str(drawn["clean"])) as url:
        page = open_compare(new_page(), url, "#row=12&tab=pre")
        assert selected_row(page) == 12 and panes(page)["a"]["tab"] == "pre"
        press(page, "f")
        rows = page.eval_on_selector_all("#list-rows .crow", "els => els.map(e => e.dataset.row)")
        assert rows == ["10", "11", "12"][:len(rows)] and len(rows) >= 2
        assert page.text_content("#list-count").endswith(f"of {13} rows")
        page.evaluate("location.hash = '#row=2&tab=action'")
        wait_js(page, "() => document.body.dataset.row === '2'")
        assert page.text_content("#list-count") == "13 rows"  # the filter let it show
        page.close()


def test_bundle_text_is_only_text(new_page, drawn):
    """An intent and a target label holding markup are shown as text and never run."""
    with run_viewer(drawn["hostile"], "--compare", str(drawn["clean"])) as url:
        page = open_compare(new_page(), url, "#row=1&tab=action")
        assert XSS_TARGET in page.text_content("#pane-a .pane-head .title")
        assert XSS_INTENT in page.text_content("#pane-a .pane-facts")
        assert XSS_TARGET in page.text_content("#pane-a .mk-label")
        assert page.evaluate("window.__pwned") is None
        html = page.evaluate("document.getElementById('augur-compare').textContent")
        assert "\\u003cimg" in html and "<img" not in html  # escaped in the inlined JSON
        page.close()


def test_picking_two_runs_in_the_run_list_compares_them(new_page, drawn):
    """In `augur view DIR`, ticking two runs (A first) and Compare opens them side by side
    at their first divergence; `u` returns to the list. x and c do the same by keyboard."""
    folder = drawn["clean"].parent
    with run_viewer(folder) as url:
        page = new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        assert page.is_disabled("#btn-compare")
        page.click("#runs-body tr[data-key='run_clean'] td.pick input")
        page.click("#runs-body tr[data-key='run_retry'] td.pick input")
        assert page.text_content("#compare-hint") == "A: run_clean · B: run_retry"
        assert page.url == url  # a pick does not open the run
        page.click("#btn-compare")
        page.wait_for_selector("body.compare-page[data-ready='1']")
        state = panes(page)
        assert "/compare/?a=run_clean&b=run_retry" in page.url
        assert selected_row(page) == 4 and state["b"]["step"] == "4"
        assert page.text_content("#side-a") == "run_clean"
        press(page, "u")
        page.wait_for_selector("body.runs-page[data-ready='1']")
        page.focus("#runs-body tr[data-key='run_dialog']")
        press(page, "x")
        page.focus("#runs-body tr[data-key='run_clean']")
        press(page, "x c")
        page.wait_for_selector("body.compare-page[data-ready='1']")
        assert "/compare/?a=run_dialog&b=run_clean" in page.url and selected_row(page) == 10
        assert [u for u in requests if not u.startswith(url)] == []
        page.close()


def test_the_exported_comparison_works_offline(new_page, drawn, tmp_path):
    """--export writes one file with a hash-pinned CSP and embedded screenshots; from
    file:// with no network it opens at the first divergence and navigates, fetching only
    file: and data: URLs."""
    out = tmp_path / "compare.html"
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "view", str(drawn["dialog"]),
                           "--compare", str(drawn["clean"]), "--export", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)
    assert html.lower().count("</script") == 2 and 'src="static/' not in html
    assert html.count("data:image/png;base64,") == 13 + 11  # every pre screenshot of both
    page = new_page(offline=True)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_compare(page, out.as_uri())
    assert selected_row(page) == 10
    state = panes(page)
    assert state["a"]["natural"] == [640, 400] and state["a"]["click"] is not None
    assert not page.is_visible("a:has-text('open run')")  # no server behind a file
    press(page, "j j")
    assert panes(page)["a"]["step"] == "12"
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []


def test_the_compare_server_serves_only_its_two_runs(drawn):
    """The comparison page and both runs' APIs are served with the viewer's headers; other
    paths are 404, a foreign Host header 403."""
    server = CompareServer(drawn["dialog"], drawn["clean"])
    with started(server):
        status, headers, body = http_get(server, "/")
        assert status == 200 and b'id="augur-compare"' in body
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        status, _, body = http_get(server, "/runs/a/api/step/10")
        assert status == 200 and b"no_state_change" in body
        status, headers, _ = http_get(server, "/runs/b/api/shot/0/pre")
        assert status == 200 and headers["content-type"] == "image/png"
        for path in ("/runs/c/api/step/0", "/runs/a/../../etc/passwd", "/runs/", "/compare/"):
            assert http_get(server, path)[0] == 404, path
        assert http_get(server, "/", host="evil.example:80")[0] == 403


def test_the_run_list_compares_only_its_own_runs(drawn):
    """/compare/ of `augur view DIR` answers 404 for runs that are not in DIR."""
    from augur_sdk.viewer import RunListServer

    with started(RunListServer(drawn["clean"].parent)) as server:
        assert http_get(server, "/compare/?a=run_clean&b=run_retry")[0] == 200
        for query in ("a=run_clean", "a=run_clean&b=..", "a=run_clean&b=%2e%2e%2fetc",
                      "a=run_clean&b=nope", "a=/etc&b=run_clean"):
            assert http_get(server, f"/compare/?{query}")[0] == 404, query
        assert http_get(server, "/compare/static/compare.js")[0] == 200


def _big_step(index: int, original: int, status: str = "succeeded") -> str:
    return json.dumps({"step_index": index, "step_type": "click", "status": status,
                       "intent": f"click item {original}",
                       "action": {"type": "click", "params": {"x": 10 + original % 50, "y": 20}}})


def test_two_5000_step_runs_keep_the_list_small(new_page, tmp_path):
    """Two hand-written 5,000-step runs (B fails step 1234 and has one extra step at 3000):
    the page opens on step 1234, keeps fewer than 100 rows in the DOM, and n / G / d walk it."""
    a = hand_bundle(tmp_path / "a", {i: _big_step(i, i) for i in range(5000)})
    b_steps = {}
    for i in range(5000):
        at = i if i < 3000 else i + 1
        b_steps[at] = _big_step(at, i, "failed" if i == 1234 else "succeeded")
    b_steps[3000] = json.dumps({"step_index": 3000, "step_type": "scroll", "status": "succeeded",
                                "intent": "an extra look around", "action": {"type": "scroll"}})
    b = hand_bundle(tmp_path / "b", b_steps)
    with run_viewer(a, "--compare", str(b)) as url:
        page = open_compare(new_page(), url)
        assert selected_row(page) == 1234
        assert page.locator("#list-rows .crow").count() < 100
        assert page.text_content("#list-count") == "5001 rows"
        for key, row in (("n", 3000), ("G", 5000), ("d", 1234), ("n", 3000)):
            press(page, key)
            wait_js(page, "want => document.body.dataset.row === String(want)", row)
            assert page.locator("#list-rows .crow").count() < 100, key
            assert page.locator(f"#list-rows .crow.sel[data-row='{row}']").count() == 1, key
        state = panes(page)
        assert state["b"]["step"] == "3000" and state["a"]["context"] == "1"
        assert state["a"]["step"] == "3000"  # A goes on with its step 3000 (B's 3001)
        page.close()


def test_the_run_list_compares_runs_of_a_tenant(drawn, tmp_path):
    """In augur serve's layout (DIR/<tenant>/<run>/) the picked keys carry the tenant; the
    page gets each run's API base and the way back to the list."""
    import shutil

    from augur_sdk.viewer import RunListServer

    for name in ("run_clean", "run_dialog"):
        shutil.copytree(drawn["clean"].parent / name, tmp_path / "data" / "acme" / name)
    with started(RunListServer(tmp_path / "data")) as server:
        status, _, body = http_get(server, "/compare/?a=acme%2Frun_clean&b=acme%2Frun_dialog")
        assert status == 200
        assert b'"base":"/runs/acme/run_clean/"' in body and b'"runs":"/#run=acme/run_clean"' in body
        assert http_get(server, "/runs/acme/run_dialog/api/step/10")[0] == 200
