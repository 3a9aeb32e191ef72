"""Fixtures for the viewer tests: Debian's Chromium driven by Playwright, `augur view`
subprocesses on 127.0.0.1, and bundles with known geometry.

Without /usr/bin/chromium (or without playwright) the browser tests skip, unless CI is set:
then they fail, so CI can never pass without having run them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from viewer_bundles import write_bundle
from viewer_support import browser_unavailable, run_viewer

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        browser_unavailable("Debian's chromium package is not installed (/usr/bin/chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("playwright (Python) is not installed")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS,
                                      headless=True)
        yield chromium
        chromium.close()


class PageErrors(list[str]):
    """Console errors and uncaught exceptions of a page (CSP violations land here too)."""


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(width=1280, height=800, **context_options)``; every page must end without
    console errors or uncaught exceptions."""
    contexts: list[tuple[Any, PageErrors]] = []

    def make(width: int = 1280, height: int = 800, **options: Any) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        page = context.new_page()
        errors = PageErrors()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.errors = errors
        contexts.append((context, errors))
        return page

    yield make
    for context, errors in contexts:
        context.close()
        assert not errors, errors


@pytest.fixture(scope="module")
def rich_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 12-step run of ``bundles.RICH_STEPS`` (written once per module)."""
    return write_bundle(tmp_path_factory.mktemp("rich") / "bundle")


@pytest.fixture(scope="module")
def rich_url(rich_bundle: Path) -> Iterator[str]:
    with run_viewer(rich_bundle, "--jaeger-url", "http://jaeger.invalid:16686/") as url:
        yield url
