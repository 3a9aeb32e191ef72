"""The viewer's intervention buttons (`augur view DIR --control-dsn DSN`) in real headless
Chromium against a real `augur serve`: a press issues the command; the control token never
reaches the page or a URL; requests that are not the page's own are refused (CSRF)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from viewer_support import run_viewer, wait_js

SERVER_TESTS = Path(__file__).resolve().parents[1] / "server"
INGEST, CONTROL = "ing-acme", "ctl-acme-secret"
TOKENS = {"acme": [INGEST, {"token": CONTROL, "role": "control", "name": "alice"}]}
RUN = "iv_view_run"


def _server_kit() -> Any:
    """tests/server/conftest.py's start_server (loaded under a name of its own)."""
    sys.path.insert(0, str(SERVER_TESTS))
    spec = importlib.util.spec_from_file_location("server_conftest", SERVER_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.setdefault("server_conftest", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """augur serve with a running run of tenant acme."""
    from support import step_record

    server = _server_kit().start_server(tmp_path_factory.mktemp("ivv"), tokens=TOKENS)
    try:
        server.json("POST", "/heartbeat", {"client_id": "c", "run_id": RUN}, token=INGEST)
        server.json("PUT", f"/runs/{RUN}/steps/0", step_record(RUN, 0), token=INGEST)
        yield server
    finally:
        server.stop()
    assert server.proc.poll() is not None


@pytest.fixture(scope="module")
def viewer(serve: Any) -> Iterator[str]:
    with run_viewer(serve.data, "--control-dsn",
                    f"{serve.url}?token={CONTROL}&tenant=acme") as url:
        yield url


def _pending(serve: Any) -> list[dict[str, Any]]:
    """Commands waiting for the run (read through a copy of the file: a poll would ack)."""
    path = serve.data / "acme" / ".augur-server" / f"{RUN}.cmds.json"
    return json.loads(path.read_text())["commands"] if path.exists() else []


def test_a_button_press_issues_the_command_and_the_token_stays_out_of_the_page(
        serve: Any, viewer: str, new_page: Any) -> None:
    """Pause on the run page issues a pause (operator alice) on the server; the page's HTML
    and every URL the page requested are free of the control token."""
    page = new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(viewer + f"runs/acme/{RUN}/")
    page.wait_for_selector("body[data-ready='1']")
    assert CONTROL not in page.content()
    before = len(_pending(serve))
    page.click("#btn-pause")
    wait_js(page, "() => document.querySelector('#intervene-status').dataset.outcome")
    assert page.get_attribute("#intervene-status", "data-outcome") == "sent"
    pending = _pending(serve)
    assert len(pending) == before + 1
    assert pending[-1]["type"] == "pause" and pending[-1]["operator_id"] == "alice"
    assert urls and not any(CONTROL in url for url in urls)


def _post(viewer: str, *, origin: str | None, token: str | None,
          media: str = "application/json") -> urllib3.BaseHTTPResponse:
    headers = {"Content-Type": media}
    if origin is not None:
        headers["Origin"] = origin
    if token is not None:
        headers["X-Augur-CSRF"] = token
    return urllib3.request("POST", viewer + f"runs/acme/{RUN}/api/intervene",
                           body=json.dumps({"type": "kill"}).encode(), headers=headers,
                           timeout=30, retries=False)


def test_requests_that_are_not_the_pages_own_are_refused(serve: Any, viewer: str) -> None:
    """No Origin, another origin, no page token, a forged token, or a non-JSON body: refused,
    and nothing reaches the server; the page's token from its own origin is accepted."""
    page = urllib3.request("GET", viewer + f"runs/acme/{RUN}/", timeout=30).data.decode()
    found = re.search(r'"csrf": "([0-9a-f]{32}\.[0-9a-f]{64})"', page)
    assert found is not None and CONTROL not in page
    token, own = found.group(1), viewer.rstrip("/")
    forged = "0" * 32 + "." + "0" * 64
    before = len(_pending(serve))
    for origin, csrf, media, status in ((None, token, "application/json", 403),
                                        ("http://evil.example", token, "application/json", 403),
                                        (own, None, "application/json", 403),
                                        (own, forged, "application/json", 403),
                                        (own, token, "text/plain", 415)):
        resp = _post(viewer, origin=origin, token=csrf, media=media)
        assert resp.status == status, (origin, csrf, media, resp.data)
    assert len(_pending(serve)) == before
    accepted = _post(viewer, origin=own, token=token)
    assert accepted.status == 201, accepted.data
    assert _pending(serve)[-1]["type"] == "kill"


def test_without_a_control_dsn_there_are_no_buttons(serve: Any, new_page: Any) -> None:
    """A viewer without --control-dsn shows no buttons and answers 404 to a POST."""
    with run_viewer(serve.data) as url:
        page = new_page()
        page.goto(url + f"runs/acme/{RUN}/")
        page.wait_for_selector("body[data-ready='1']")
        assert page.query_selector("#intervene") is None
        resp = _post(url, origin=url.rstrip("/"), token=None)
        assert resp.status == 404
        # The page polls its (live) run: leave it before the viewer stops, or its next poll
        # is refused and logged as a console error the fixture rightly fails on.
        page.goto("about:blank")


def test_a_finished_run_shows_disabled_buttons(serve: Any, viewer: str, new_page: Any,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """On a run the server finished, the buttons are disabled and say why."""
    from support import run_seed_session

    monkeypatch.setenv("AUGUR_DSN", f"{serve.url}?token={INGEST}&tenant=acme")
    run_seed_session(tmp_path / "local", steps=1, run_id="iv_done")
    serve.wait_status("iv_done", "finished", token=INGEST)
    page = new_page()
    page.goto(viewer + "runs/acme/iv_done/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_disabled("#btn-pause") and page.is_disabled("#btn-kill")
    assert page.get_attribute("#intervene-status", "data-outcome") == "finished"


def test_refusals_keep_the_connection_usable(serve: Any, viewer: str) -> None:
    """Refused requests on one keep-alive connection: each gets its answer, and the next
    request on the same connection is served (the refusal read the body, or said
    `Connection: close`); before, the server dropped the connection silently."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(viewer)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        for origin in ("http://evil.example", viewer.rstrip("/"), None):
            headers = {"Content-Type": "application/json"}
            if origin is not None:
                headers["Origin"] = origin
            conn.request("POST", f"/runs/acme/{RUN}/api/intervene",
                         body=json.dumps({"type": "kill"}).encode(), headers=headers)
            resp = conn.getresponse()
            assert resp.status == 403
            resp.read()
    finally:
        conn.close()
