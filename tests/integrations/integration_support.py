"""Helpers for the integration tests: each framework runs in a virtualenv of its own.

The frameworks pin their dependencies tightly (browser-use pins anthropic 1.x, cua-agent pins
litellm), against the project's own test pins, so each is installed by
``.ci/install-<name>.sh`` into ``.ci-venvs/<name>`` together with this repository (editable)
and Playwright. A test runs a *driver* script (``drivers/<name>_shop.py``) with that venv's
Python: the driver starts the demo shop, drives headless Chromium through the framework with a
scripted model, and records with the integration. The test, in the project's venv, then reads
the bundle and opens it in ``augur view`` in Chromium.

Without the venv the tests skip, unless ``CI`` is set: then they fail, so CI cannot pass
without having run them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DRIVERS = Path(__file__).resolve().parent / "drivers"
CHROMIUM = Path("/usr/bin/chromium")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI (which must have installed everything)."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: the integration tests must run)")
    pytest.skip(reason)


def framework_python(name: str) -> Path:
    """The Python of ``.ci-venvs/<name>`` (``<NAME>_VENV`` points elsewhere, the variable
    its installer reads too: .ci/lib/pinned-venv.sh)."""
    override = os.environ.get(f"{name.upper().replace('-', '_')}_VENV")
    venv = Path(override) if override else REPO / ".ci-venvs" / name
    python = venv / "bin" / "python"
    if not (venv / ".augur-installed").is_file() or not python.exists():
        unavailable(f"{name} is not installed for the tests: bash .ci/install-{name}.sh")
    if not CHROMIUM.exists():
        unavailable("Debian's chromium package is not installed (/usr/bin/chromium)")
    return python


def run_driver(python: Path, driver: str, *args: str, timeout: float = 300,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``drivers/<driver>`` with ``python``; fail with its output unless it exits 0.
    The child inherits ``AUGUR_RAISE_INTERNAL_ERRORS`` (set by tests/conftest.py), so an
    internal error of the integration fails the test instead of being logged."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("AUGUR_DSN", None)
    try:
        done = subprocess.run([str(python), str(DRIVERS / driver), *args], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{driver} did not finish in {timeout} s:\n"
                             f"{exc.stdout}\n{exc.stderr}") from exc
    if done.returncode != 0:
        raise AssertionError(f"{driver} exited {done.returncode}:\n{done.stdout}\n"
                             f"{done.stderr[-6000:]}")
    return done


def viewer_steps(bundle: Path, step: int | None = None) -> dict[str, Any]:
    """Open ``bundle`` in ``augur view`` in headless Chromium at ``step`` (default: the
    viewer's choice); return what the page shows: ``rows`` (step indexes in the list),
    ``failed`` (rows marked failed), ``selected`` (the step shown), ``images`` (screenshots
    loaded in the step's view: the main screenshot ``#shot`` and images of its details),
    ``shot_width`` (the main screenshot's natural width, None without one), ``click_markers``
    (click markers drawn on it), ``post_loaded`` (the post screenshot loaded after pressing 3)
    and ``errors`` (page errors)."""
    from viewer.viewer_support import open_viewer, run_viewer  # tests/ is on sys.path

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright (Python) is not installed")
    launch = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run"]
    with run_viewer(bundle) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=launch,
                                     headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            open_viewer(page, url, "" if step is None else f"#step={step}")
            if step is not None:
                page.wait_for_selector(f"#detail[data-step='{step}'][data-ready='1']")
            selected = int(page.get_attribute("#detail", "data-step") or -1)
            rows = [int(i) for i in page.eval_on_selector_all(
                "#list-rows .row", "rows => rows.map(r => r.dataset.i)")]
            failed = [int(i) for i in page.eval_on_selector_all(
                "#list-rows .row.failed", "rows => rows.map(r => r.dataset.i)")]
            shot_width = click_markers = None
            post_loaded = False
            if not page.locator("#shot-wrap").evaluate("e => e.hidden"):
                page.wait_for_selector("#shot-wrap[data-loaded='1']")
                shot_width = page.evaluate("document.getElementById('shot').naturalWidth")
                click_markers = page.locator("#overlay .mk-click").count()
            images = page.eval_on_selector_all(
                "#shot, #detail img", "imgs => imgs.filter(i => i.complete && "
                "i.naturalWidth > 0).map(i => i.getAttribute('src'))")
            if shot_width is not None:
                page.keyboard.press("3")
                try:
                    page.wait_for_selector("#shot-wrap[data-tab='post'][data-loaded='1']",
                                           timeout=10_000)
                    post_loaded = True
                except Exception:  # no post screenshot: the tab shows a message instead
                    post_loaded = False
            page.close()
            return {"rows": rows, "failed": failed, "selected": selected, "images": images,
                    "shot_width": shot_width, "click_markers": click_markers,
                    "post_loaded": post_loaded, "errors": errors}
        finally:
            browser.close()
