"""Helpers for the viewer tests: run `augur view` in a subprocess, read the page's state."""

from __future__ import annotations

import http.client
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason}; CI is set, so the viewer's browser tests must run "
                    "(bash .ci/install-chromium.sh; pip install -e '.[test]')")
    pytest.skip(reason)


@contextmanager
def run_viewer(bundle: Path, *args: str) -> Iterator[str]:
    """Start `augur view BUNDLE --no-open --port 0` in a subprocess; yield its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "augur_sdk.cli", "view", str(bundle), "--no-open", "--port", "0",
         *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        if " at http://" not in line:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"augur view did not start: {line!r} {err}")
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def open_viewer(page: Any, url: str, fragment: str = "") -> Any:
    """Load the viewer and wait until the list and the selected step are shown."""
    page.goto(url + fragment)
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#detail[data-ready='1']")
    return page


def selected(page: Any) -> int:
    """The step whose details are shown (waits for them to be rendered)."""
    page.wait_for_selector("#detail[data-ready='1']")
    return int(page.get_attribute("#detail", "data-step"))


def listed(page: Any) -> list[int]:
    """Step indexes in the list as rendered (the list is virtualized; these are few)."""
    return [int(i) for i in page.eval_on_selector_all(
        "#list-rows .row", "rows => rows.map(r => r.dataset.i)")]


def wait_js(page: Any, expression: str, arg: Any = None, timeout: float = 15.0) -> Any:
    """Poll a JS function (``"arg => ..."``) until it returns a truthy value.

    ``page.wait_for_function`` evaluates its predicate with ``eval`` inside the page, which
    the viewer's Content-Security-Policy forbids; ``page.evaluate`` is not subject to it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {expression}")
        time.sleep(0.03)


SECTIONS_JS = """() => Object.fromEntries([...document.querySelectorAll('#detail section')].map(sec => {
  const title = sec.querySelector('h3') ? sec.querySelector('h3').textContent : '';
  const pairs = {};
  const dl = sec.querySelector(':scope > dl.kv');
  if (dl) for (const dt of dl.querySelectorAll(':scope > dt')) pairs[dt.textContent] = dt.nextElementSibling.textContent;
  return [title, pairs];
}))"""


def detail_sections(page: Any) -> dict[str, dict[str, str]]:
    """The shown step's detail sections as ``{title: {label: value}}`` (text as rendered)."""
    page.wait_for_selector("#detail[data-ready='1']")
    return page.evaluate(SECTIONS_JS)


def event_groups(page: Any) -> dict[str, list[str]]:
    """The shown step's decision events as rendered: ``{layer summary line: [kind lines]}``."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#detail details.layer')].map(d => [d.querySelector(':scope > summary').textContent,
        [...d.querySelectorAll('.kind-name')].map(k => k.textContent)]))""")


@contextmanager
def started(server: Any) -> Iterator[Any]:
    """A viewer or run-list server running in the background for the block, stopped after."""
    server.start_background()
    try:
        yield server
    finally:
        server.stop()


def http_get(server: Any, path: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from a viewer server on 127.0.0.1 with an exact Host header (``host``
    overrides it, for the Host-check tests): (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{server.port}")
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
