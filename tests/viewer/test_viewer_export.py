"""`augur view BUNDLE --export run.html`: one file that works from file:// with no network."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from viewer_bundles import RICH_FAILURES, RICH_XSS, XSS_INTENT
from viewer_support import listed, open_viewer, selected, wait_js


@pytest.fixture(scope="module")
def exported(rich_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "view", str(rich_bundle),
                           "--export", str(out), "--jaeger-url", "http://jaeger.invalid:16686"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    return out


def test_export_is_one_file_with_a_strict_csp_and_embedded_screenshots(exported: Path):
    """The export inlines script and style (allowed by sha256 in its CSP), embeds every screenshot on disk, and no bundle text can close its tags."""
    html = exported.read_text(encoding="utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy and "img-src data:" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert html.lower().count("</script") == 2  # the data block and the app, nothing from data
    assert "src=\"static/" not in html and "href=\"static/" not in html
    # 12 steps x 2 screenshots, less the skipped step's two and step 11's deleted pre.
    assert html.count("data:image/png;base64,") == 21
    assert XSS_INTENT not in html  # its '<' is escaped inside the JSON block


def test_exported_file_opens_offline_from_file_url(new_page, exported: Path):
    """The export opened from file:// offline lists the steps, shows screenshots and markers, navigates, runs no bundle script and fetches only file:/data: URLs."""
    page = new_page(offline=True)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_viewer(page, exported.as_uri())
    assert listed(page) == list(range(12))
    assert selected(page) == RICH_FAILURES[0]
    page.wait_for_selector("#shot-wrap[data-loaded='1']")
    assert page.evaluate("document.getElementById('shot').naturalWidth") == 800
    assert page.locator("#overlay .mk-click").count() == 1
    page.keyboard.press("n")
    assert selected(page) == RICH_FAILURES[1]
    page.keyboard.press("3")
    page.wait_for_selector("#shot-wrap[data-tab='post'][data-loaded='1']")
    page.evaluate(f"location.hash = '#step={RICH_XSS}&tab=action'")
    page.wait_for_selector(f"#detail[data-step='{RICH_XSS}'][data-ready='1']")
    assert page.text_content("#intent") == XSS_INTENT
    assert page.evaluate("window.__pwned") is None
    assert "jaeger.invalid:16686/trace/" in (page.get_attribute("#detail a.ext", "href") or "")
    page.keyboard.press("i")
    page.wait_for_selector("#info[open]")
    wait_js(page, "() => document.getElementById('info-body').textContent.includes('run started')")
    assert requests, "the page made no request at all?"
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
