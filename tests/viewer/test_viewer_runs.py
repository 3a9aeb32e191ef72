"""`augur view DIR`: the run list of a folder of bundles (local runs or augur serve's data
directory), each run opening in the step debugger; only bundles inside DIR are served."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from viewer_bundles import RICH_STEPS, record_steps, write_bundle
from viewer_support import http_get, listed, open_viewer, run_viewer, selected, started, wait_js

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.viewer.runs import RunDirectory, run_status
from augur_sdk.viewer.server import RunListServer

ROWS_JS = """() => [...document.querySelectorAll('#runs-body tr.run')].map(r => ({
  key: r.dataset.key, status: r.dataset.status,
  badge: r.querySelector('.badge').textContent,
  run_id: r.querySelector('.run-id a').textContent,
  client: r.querySelector('.client').textContent,
  steps: r.querySelector('.steps').textContent,
  failed: r.querySelector('.failed-steps').textContent,
  started: r.querySelector('.started').textContent}))"""


def three_runs(root: Path) -> DebugSession:
    """``root`` with a finished run, a failed run and a running one (oldest first); returns
    the running run's open session (its ``live.json`` names this process)."""
    write_bundle(root / "run_ok", RICH_STEPS[:3], run_id="run_ok")  # step 2 failed
    with DebugSession(run_id="run_failed", client_name="failagent", client_version="0.9",
                      capture_mode=CaptureMode.SCREENSHOTS, out_dir=root / "run_failed") as s:
        record_steps(s, "run_failed", RICH_STEPS[2:4])  # step 0 failed
        s.set_status("failed")
    live = DebugSession(run_id="run_live", client_name="liveagent", client_version="0.1",
                        capture_mode=CaptureMode.SCREENSHOTS, out_dir=root / "run_live")
    live.start()
    record_steps(live, "run_live", RICH_STEPS[:1])
    (root / "notes").mkdir()  # not a bundle: not listed
    (root / ".hidden_run").mkdir()
    (root / ".hidden_run" / "manifest.json").write_text("{}")
    return live


def rows(page: Any) -> list[dict[str, str]]:
    return page.evaluate(ROWS_JS)


def open_list(page: Any, url: str) -> Any:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def test_run_list_lists_opens_and_refreshes_runs(tmp_path: Path, new_page: Callable[..., Any]):
    """The list shows exactly the 3 runs, newest first, with status, client, steps, failed steps and start; a click and Enter open a run's steps, ← Runs and `u` come back; it follows a running run; nothing outside 127.0.0.1 is requested."""
    runs_dir = tmp_path / "augur-runs"
    live = three_runs(runs_dir)
    try:
        with run_viewer(runs_dir) as url:
            page = new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            open_list(page, url)
            got = rows(page)
            assert [(r["key"], r["status"], r["badge"], r["steps"], r["failed"]) for r in got] == [
                ("run_live", "running", "running", "1", "0"),
                ("run_failed", "failed", "failed", "2", "1"),
                ("run_ok", "finished", "finished", "3", "1"),
            ]
            assert [r["client"] for r in got] == ["liveagent 0.1", "failagent 0.9",
                                                  "testagent 1.2.3"]
            assert all(r["started"][:2] == "20" and len(r["started"]) == 19 for r in got)
            assert page.text_content("#runs-count") == "3 runs"
            assert not page.is_visible("th.col-tenant")  # local runs: no tenant column
            assert "running 1" in page.text_content("#runs-facts")

            # A click opens the run in the step debugger.
            page.click("#runs-body tr[data-key='run_failed'] td.steps")
            page.wait_for_url(url + "runs/run_failed/")
            page.wait_for_selector("body[data-ready='1']")
            assert listed(page) == [0, 1]
            assert selected(page) == 0  # its first failure
            assert page.text_content("#run-badge") == "failed"
            assert page.text_content("#run-id") == "run_failed"
            page.wait_for_selector("#shot-wrap[data-loaded='1']")
            assert "api/shot/0/pre" in page.get_attribute("#shot", "src")

            # Back to the list, on the row of the run we came from.
            page.click("#runs-link")
            page.wait_for_url(url + "#run=run_failed")
            page.wait_for_selector("body[data-ready='1']")
            assert page.evaluate("document.activeElement.dataset.key") == "run_failed"
            page.keyboard.press("k")  # the run above: run_live
            assert page.evaluate("document.activeElement.dataset.key") == "run_live"
            page.keyboard.press("Enter")
            page.wait_for_url(url + "runs/run_live/")
            open_viewer(page, page.url)
            assert page.text_content("#run-badge") == "running"
            assert listed(page) == [0]
            page.keyboard.press("u")
            page.wait_for_url(url + "#run=run_live")
            page.wait_for_selector("body[data-ready='1']")

            # The list follows a running run: a new step, then its end.
            t0 = time.monotonic()
            record_steps(live, "run_live", [RICH_STEPS[2]], first_index=1)
            wait_js(page, """() => {
              const r = document.querySelector("#runs-body tr[data-key='run_live']");
              return r && r.querySelector('.steps').textContent === '2'
                && r.querySelector('.failed-steps').textContent === '1'; }""")
            print(f"run list: new step counted {1000 * (time.monotonic() - t0):.0f} ms after "
                  "record_step")
            live.close()
            wait_js(page, """() => {
              const r = document.querySelector("#runs-body tr[data-key='run_live']");
              return r && r.dataset.status === 'finished'; }""")
            assert [r["key"] for r in rows(page)] == ["run_live", "run_failed", "run_ok"]
            page.close()  # it polls: stop it before the server stops
            assert len(requests) > 5
            assert [u for u in requests if not u.startswith(url)] == []
    finally:
        live.close()  # idempotent


# ── without a browser ───────────────────────────────────────────────────────


def serving(root: Path) -> AbstractContextManager[RunListServer]:
    return started(RunListServer(root))


get = http_get


def test_only_bundles_inside_the_folder_are_served(tmp_path: Path):
    """`..` in any spelling, a symlink to a bundle (or a tenant folder) outside DIR, dot folders and unknown runs get 404; runs inside DIR are served with the step API."""
    runs_dir = tmp_path / "runs"
    write_bundle(runs_dir / "run_ok", RICH_STEPS[:2], run_id="run_ok")
    outside = tmp_path / "outside"
    write_bundle(outside / "secret_run", RICH_STEPS[:1], run_id="secret_run")
    (runs_dir / "linked").symlink_to(outside / "secret_run")
    (runs_dir / "tenant_link").symlink_to(outside)
    hidden = runs_dir / ".augur-server"
    write_bundle(hidden / "dot_run", RICH_STEPS[:1], run_id="dot_run")
    with serving(runs_dir) as server:
        status, _, body = get(server, "/api/runs")
        assert status == 200
        assert [r["key"] for r in json.loads(body)["runs"]] == ["run_ok"]
        assert get(server, "/runs/run_ok/api/index")[0] == 200
        assert get(server, "/runs/run_ok/api/step/1")[0] == 200
        status, headers, _ = get(server, "/runs/run_ok/api/shot/0/pre?v=1")
        assert status == 200 and headers["content-type"] == "image/png"
        status, headers, _ = get(server, "/runs/run_ok")
        assert status == 302 and headers["location"] == "/runs/run_ok/"
        status, headers, body = get(server, "/runs/run_ok/")
        assert status == 200 and "default-src 'none'" in headers["content-security-policy"]
        assert '"runs":"/#run=run_ok"' in body.decode()
        for path in (
            "/runs/../outside/secret_run/api/index",
            "/runs/%2e%2e/outside/secret_run/api/index",
            "/runs/%2E%2E%2Foutside%2Fsecret_run/api/index",
            "/runs/..%2foutside%2fsecret_run/api/index",
            "/runs/run_ok%2f..%2f..%2foutside%2fsecret_run/api/index",
            "/runs/run_ok/../../outside/secret_run/api/index",
            "/runs/run_ok/%2e%2e/%2e%2e/outside/secret_run/api/index",
            "/runs/linked/api/index",
            "/runs/linked/",
            "/runs/tenant_link/secret_run/api/index",
            "/runs/.augur-server/dot_run/api/index",
            "/runs/%2eaugur-server/dot_run/api/index",
            "/runs/" + str(outside / "secret_run").lstrip("/") + "/api/index",
            "/runs/%2F" + str(outside / "secret_run").lstrip("/").replace("/", "%2F") + "/",
            "/runs/%ff/api/index",
            "/runs/run_ok%00/api/index",
            "/runs//api/index",
            "/runs/nope/api/index",
            "/runs/run_ok/static/../../reader.py",
            "/static/../runs.py",
            "/api/index",  # the run list has no bundle of its own
        ):
            status, _, body = get(server, path)
            assert status == 404, path
            assert b"secret_run" not in body and b"trace_id" not in body, path
        assert get(server, "/", host="evil.example")[0] == 403
        assert get(server, "/runs/run_ok/api/index", host=f"attacker.test:{server.port}")[0] == 403


def test_augur_serve_data_dir_lists_tenants_with_the_servers_statuses(tmp_path: Path):
    """On a data directory written by augur serve's run store, every run is listed with its tenant, and status and step count agree with the server's own runs API."""
    pytest.importorskip("starlette")
    from augur_schema import SCHEMA_VERSION

    from augur_sdk.server.config import ServerConfig
    from augur_sdk.server.store import RunStore
    from augur_sdk.server.store import run_status as server_run_status

    from support import step_record

    store = RunStore(ServerConfig(tmp_path / "data"))

    def apply(tenant: str, run_id: str, op: Callable[[Any], Any]) -> None:
        with store.use(tenant, run_id) as run:
            run.call(None, lambda: op(run))

    cases = {("acme", "run_done"): "succeeded", ("acme", "run_fail"): "failed",
             ("globex", "run_halt"): "halted", ("acme", "run_going"): None}
    for (tenant, run_id), final in cases.items():
        steps = [step_record(run_id, i, status="failed" if i == 1 and final else "succeeded")
                 for i in range(3)]
        for i, step in enumerate(steps):
            apply(tenant, run_id, lambda run, i=i, step=step: run.put_step(i, step))
        if final is not None:
            session = {"schema_version": SCHEMA_VERSION, "debug_session_id": f"dbg_{run_id}",
                       "run_id": run_id, "client": {"name": "srvagent", "version": "1.0"},
                       "capture_mode": "screenshots", "started_at": "2026-05-19T00:00:00Z",
                       "ended_at": "2026-05-19T00:01:00Z", "status": final}
            trace = {"session": session, "steps": steps}
            apply(tenant, run_id, lambda run, trace=trace: run.put_trace(trace))

    server_runs = {(r["tenant"], r["run_id"]): r for r in store.list_runs(store.tenants())}
    listing = RunDirectory(tmp_path / "data").listing()
    ours = {(r["tenant"], r["dir"]): r for r in listing["runs"]}
    assert sorted(ours) == sorted(server_runs) == sorted(cases)
    for key, theirs in server_runs.items():
        assert ours[key]["status"] == theirs["status"], key
        assert ours[key]["step_count"] == theirs["step_count"], key
        assert ours[key]["client"] == theirs["client"], key
        assert ours[key]["started_at"] == theirs["started_at"], key
        assert ours[key]["key"] == "/".join(key)
    assert {k: r["status"] for k, r in ours.items()} == {
        ("acme", "run_done"): "finished", ("acme", "run_fail"): "failed",
        ("globex", "run_halt"): "failed", ("acme", "run_going"): "running"}
    assert ours[("acme", "run_fail")]["failed_steps"] == 1
    assert ours[("acme", "run_going")]["failed_steps"] == 0
    assert listing["running"] == 1
    # The rule itself (one function, shared with the server through bundle.layout).
    assert server_run_status is run_status
    for finished, session, want in (
            (False, {"status": "failed"}, "running"), (True, None, "finished"),
            (True, {}, "finished"), (True, {"status": "failed"}, "failed"),
            (True, {"status": "halted"}, "failed"), (True, {"status": "cancelled"}, "finished"),
            (True, {"status": 3}, "finished")):
        assert run_status(finished, session) == want
    with serving(tmp_path / "data") as server:
        status, _, body = get(server, "/runs/acme/run_fail/api/index")
        assert status == 200
        index = json.loads(body)
        assert [s["status"] for s in index["steps"]] == ["succeeded", "failed", "succeeded"]
        assert get(server, "/runs/acme/run_fail")[1]["location"] == "/runs/acme/run_fail/"
        assert get(server, "/runs/globex/run_fail/api/index")[0] == 404
        assert get(server, "/runs/acme/.augur-server/api/index")[0] == 404
        assert get(server, "/runs/run_fail/api/index")[0] == 404
