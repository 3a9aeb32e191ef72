"""Make docs/img/run-tree.png, the run list with an orchestrator and its workers (not a test;
run by hand): ``python tests/viewer/make_tree_image.py``.

Runs an ordinary run, then ``tests/otlp/fanout_agent.py`` (an orchestrator process and three
worker processes, no server, no collector), then another run, and shoots ``augur view`` on
the folder in Debian's Chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from viewer_support import run_viewer  # noqa: E402

from augur_sdk import DebugSession  # noqa: E402

from support import step_record  # noqa: E402


def ordinary(root: Path, run_id: str, steps: int) -> None:
    with DebugSession(run_id=run_id, client_name="checkout-agent", client_version="2.3",
                      out_dir=root / run_id, capture_mode="trace", dsn="") as s:
        for i in range(steps):
            s.record_step(step_record(run_id, i))


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "augur-runs"
        ordinary(root, "checkout-1041", 6)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
        env.update({"AUGUR_CAPTURE_MODE": "trace", "AUGUR_DSN": ""})
        subprocess.run([sys.executable, str(ROOT / "tests/otlp/fanout_agent.py"),
                        "orchestrator", str(root), "nightly-0412"], env=env, check=True,
                       timeout=300, stdout=subprocess.DEVNULL)
        ordinary(root, "checkout-1042", 4)
        with run_viewer(root) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1100, "height": 330})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            page.screenshot(path=str(ROOT / "docs/img/run-tree.png"))
            browser.close()


if __name__ == "__main__":
    main()
