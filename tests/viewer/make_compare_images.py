"""Make the comparison screenshots in docs/img/ (not a test; run by hand).

    python tests/viewer/make_compare_images.py        # writes docs/img/compare-*.png

Records the Playwright demo agent three times (the passing run, the run a dialog broke, the
run with an extra retry) in headless Chromium, then opens `augur view A --compare B` and
`augur view DIR` and takes screenshots of the comparison and of the run list with two runs
picked.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from viewer_support import run_viewer  # noqa: E402

from demo_runs import _record  # noqa: E402

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
OUT = ROOT / "docs" / "img"


def _settle(page: object) -> None:
    page.wait_for_selector("#pane-a[data-loaded='1']")  # type: ignore[attr-defined]
    page.wait_for_selector("#pane-b[data-loaded='1']")  # type: ignore[attr-defined]
    time.sleep(0.4)


def main() -> int:
    from playwright.sync_api import sync_playwright

    runs = _record()
    folder = Path(tempfile.mkdtemp(prefix="augur-compare-docs-"))
    try:
        for name in ("clean", "dialog", "retry"):
            shutil.copytree(runs[name], folder / runs[name].name)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 860})
            with run_viewer(runs["clean"], "--compare", str(runs["dialog"])) as url:
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']")
                _settle(page)
                page.screenshot(path=str(OUT / "compare-dialog.png"))
                print("wrote docs/img/compare-dialog.png")
            with run_viewer(runs["clean"], "--compare", str(runs["retry"])) as url:
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']")
                _settle(page)
                page.screenshot(path=str(OUT / "compare-retry.png"))
                print("wrote docs/img/compare-retry.png")
            page.set_viewport_size({"width": 1280, "height": 300})
            with run_viewer(folder) as url:
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']")
                for name in ("clean", "dialog"):
                    page.click(f"#runs-body tr[data-key='{runs[name].name}'] td.pick input")
                time.sleep(0.2)
                page.screenshot(path=str(OUT / "compare-run-list.png"))
                print("wrote docs/img/compare-run-list.png")
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
