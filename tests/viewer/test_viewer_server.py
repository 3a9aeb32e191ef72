"""The viewer's server, bundle reader and CLI without a browser."""

from __future__ import annotations

import errno
import http.client
import json
import re
import select
import socket
import subprocess
import sys
from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from viewer_bundles import (
    RICH_FAILURES,
    RICH_FAR,
    RICH_MISSING_PRE,
    RICH_SKIPPED,
    hand_bundle,
    wireframe_png,
)
from viewer_support import browser_unavailable, http_get, run_viewer, started

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.cli import main as cli_main
from augur_sdk.cli.view import DEFAULT_PORT
from augur_sdk.viewer import BundleReader, ViewerServer, export_html
from augur_sdk.viewer.summary import click_point, jaeger_url, normalize_jaeger_base


def serving(bundle: Path, **kw: Any) -> AbstractContextManager[ViewerServer]:
    return started(ViewerServer(bundle, **kw))


get = http_get


def strict_json(body: bytes) -> Any:
    def reject(name: str) -> None:
        raise ValueError(f"{name} is not JSON a browser accepts")
    return json.loads(body, parse_constant=reject)


def test_index_summarizes_every_step(rich_bundle: Path):
    """The index summarizes every step (status, far flag, click/target, distance, missing shots) and run meta; since=gen returns nothing new."""
    reader = BundleReader(rich_bundle)
    index = reader.index(0)
    steps = {s["i"]: s for s in index["steps"]}
    assert sorted(steps) == list(range(12))
    assert [i for i, s in steps.items() if s["status"] == "failed"] == RICH_FAILURES
    assert [i for i, s in steps.items() if s.get("far")] == RICH_FAR
    assert steps[7]["dist"] == 107.7 and steps[7]["click"] == [400.0, 300.0]
    assert "click" not in steps[RICH_SKIPPED] and "missing" not in steps[RICH_SKIPPED]
    assert steps[RICH_MISSING_PRE]["missing"] == ["pre"]
    assert [i for i, s in steps.items() if "missing" in s] == [RICH_MISSING_PRE]
    meta = index["meta"]
    assert meta["state"] == "finished"
    assert meta["session"]["tags"] == {"env": "test", "task_id": "checkout"}
    assert meta["manifest"]["client"]["name"] == "testagent"
    assert re.fullmatch(r"[0-9a-f]{32}", meta["run_span"]["trace_id"])
    assert reader.index(index["gen"])["steps"] == []
    detail = reader.step_detail(2)
    assert detail is not None
    assert [e["summary"] for e in detail["events"]] == [
        "press Sign in", "no state change", "diff 0 px"]
    assert detail["shots"]["pre"]["width"] == 800
    assert re.fullmatch(r"[0-9a-f]{16}", detail["span"]["span_id"])


def test_reader_tails_a_bundle_being_written(tmp_path: Path):
    """A bundle being written reads as running, and a new step or a new event comes back from index(since=gen)."""
    out = tmp_path / "live"
    with DebugSession(run_id="run_tail", client_name="t", capture_mode=CaptureMode.SCREENSHOTS,
                      out_dir=out) as s:
        png = wireframe_png(80, 50)
        pre = s.attach_observation(step_index=0, kind="pre", png_bytes=png)
        s.record_step({"step_id": "run_tail/step/0000", "step_index": 0, "step_type": "click",
                       "status": "succeeded", "started_at": "2026-05-19T00:00:00Z",
                       "observation_pre": pre})
        reader = BundleReader(out)
        first = reader.index(0)
        assert first["meta"]["state"] == "running" and len(first["steps"]) == 1
        s.record_step({"step_id": "run_tail/step/0001", "step_index": 1, "step_type": "wait",
                       "status": "failed", "started_at": "2026-05-19T00:00:01Z"})
        reader.scan(force=True)
        second = reader.index(first["gen"])
        assert [x["i"] for x in second["steps"]] == [1]
        s.record_event({"ts": "2026-05-19T00:00:01.5Z", "step_index": 1, "layer": "verifier",
                        "kind": "error", "summary": "late event"})
        reader.scan(force=True)
        third = reader.index(second["gen"])
        assert [x["i"] for x in third["steps"]] == [1]
        assert [e["summary"] for e in reader.step_detail(1)["events"]] == ["late event"]
    reader.scan(force=True)
    assert reader.index(0)["meta"]["state"] == "finished"


def test_screenshots_outside_the_bundle_are_never_served(tmp_path: Path):
    """Observation paths climbing out of the bundle, absolute, or symlinked outside are reported missing and never served."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(wireframe_png(10, 10))
    root = hand_bundle(tmp_path / "b", {
        0: json.dumps({"step_index": 0, "status": "succeeded",
                       "observation_pre": "../secret.png", "observation_post": str(secret)}),
        1: json.dumps({"step_index": 1, "status": "succeeded",
                       "observation_pre": "screenshots/0001_pre.png"}),
    })
    (root / "screenshots/0001_pre.png").symlink_to(secret)
    with serving(root) as server:
        for path in ("/api/shot/0/pre", "/api/shot/0/post", "/api/shot/1/pre",
                     "/api/shot/1/post", "/api/shot/9/pre"):
            status, _, _ = get(server, path)
            assert status == 404, path
        status, _, body = get(server, "/api/step/0")
        shots = strict_json(body)["shots"]
        assert shots["pre"]["status"] == "missing" and shots["post"]["status"] == "missing"
        assert "url" not in shots["pre"]
        for path in ("/static/../reader.py", "/static/reader.py", "/static/%2e%2e/server.py"):
            assert get(server, path)[0] == 404, path


def test_host_header_and_security_headers(rich_bundle: Path):
    """Only Host headers naming the server on loopback are answered, and pages carry a strict CSP, nosniff and no-referrer."""
    with serving(rich_bundle) as server:
        assert get(server, "/", host="evil.example")[0] == 403
        assert get(server, "/api/index", host=f"attacker.test:{server.port}")[0] == 403
        assert get(server, "/", host="127.0.0.1:1")[0] == 403
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
            assert get(server, "/", host=host)[0] == 200
        status, headers, body = get(server, "/")
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        html = body.decode()
        assert 'id="augur-initial"' in html  # the first index comes with the page
        assert "http://" not in html.replace(f"http://127.0.0.1:{server.port}", "")
        status, headers, _ = get(server, "/api/shot/0/pre?v=1")
        assert status == 200 and headers["content-type"] == "image/png"


def test_bad_step_files_and_nan_still_give_valid_json(tmp_path: Path):
    """Unreadable or malformed step files and NaN become flagged entries, and every API answer stays valid browser JSON."""
    root = hand_bundle(tmp_path / "b", {
        0: '{"step_index": 0, "status": "failed", "grounding": {"confidence": NaN}}',
        1: "{not json",
        2: "[1, 2]",
        3: json.dumps({"step_index": 7, "status": "succeeded", "intent": "</script><b>x</b>"}),
    })
    with serving(root) as server:
        status, _, body = get(server, "/api/index")
        assert status == 200
        steps = {s["i"]: s for s in strict_json(body)["steps"]}
        assert "conf" not in steps[0] and steps[0]["status"] == "failed"
        assert "could not be read" in steps[1]["err"]
        assert "not a JSON object" in steps[2]["err"]
        assert "step_index 7" in steps[3]["err"]
        for i in range(4):
            assert get(server, f"/api/step/{i}")[0] == 200
            strict_json(get(server, f"/api/step/{i}")[2])
        html = get(server, "/")[2].decode()
        # the inlined index cannot close its tag: dom.js, branch.js, app.js and the data
        # block, each closed once
        assert html.lower().count("</script") == html.lower().count("<script") == 4


def test_click_point_shapes_and_jaeger_links():
    """Click points come from x/y or coordinate pairs/objects; Jaeger links are built only from an http(s) base and hex ids."""
    assert click_point({"params": {"x": 1, "y": 2.5}}) == (1.0, 2.5)
    assert click_point({"params": {"coordinate": [3, 4]}}) == (3.0, 4.0)
    assert click_point({"params": {"position": {"x": 5, "y": 6}}}) == (5.0, 6.0)
    assert click_point({"params": {"x": True, "y": 1}}) is None
    assert click_point({"params": {"text": "hi"}}) is None
    base = normalize_jaeger_base("http://localhost:16686/")
    assert jaeger_url(base, "ab" * 16, "cd" * 8) == \
        f"http://localhost:16686/trace/{'ab' * 16}?uiFind={'cd' * 8}"
    assert jaeger_url(base, "not-hex\"><script>", "cd") is None
    assert jaeger_url(None, "ab" * 16) is None
    for bad in ("javascript:alert(1)", "ftp://x", "http://x\"onmouseover=1"):
        with pytest.raises(ValueError):
            normalize_jaeger_base(bad)


def test_static_assets_ship_in_the_package_and_are_self_contained():
    """The step debugger's and the run list's HTML, JS and CSS ship as package data and reference nothing external, no innerHTML, eval or service worker."""
    static = resources.files("augur_sdk.viewer").joinpath("static")
    names = {item.name for item in static.iterdir()}
    pages = ("index.html", "app.js", "app.css", "runs.html", "runs.js", "runs.css")
    assert {*pages, "favicon.svg"} <= names
    for name in pages:
        text = static.joinpath(name).read_text(encoding="utf-8")
        text = text.replace("http://www.w3.org/2000/svg", "")  # an XML namespace, not a fetch
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, name
        assert "serviceWorker" not in text and "eval(" not in text, name


def test_cli_view_errors_and_export(tmp_path: Path, rich_bundle: Path, capsys,
                                   monkeypatch: pytest.MonkeyPatch):
    """`augur view` exits 2 on a missing dir, a folder without bundles, --export of a folder of runs or a bad Jaeger URL; --export writes the file using AUGUR_JAEGER_URL."""
    assert cli_main(["view", str(tmp_path / "nope"), "--no-open"]) == 2
    assert "no such directory" in capsys.readouterr().err
    (tmp_path / "empty" / "not_a_run").mkdir(parents=True)
    assert cli_main(["view", str(tmp_path / "empty"), "--no-open"]) == 2
    assert "no bundles in it" in capsys.readouterr().err
    runs = tmp_path / "runs"
    (runs / "run_a").mkdir(parents=True)
    (runs / "run_a" / "manifest.json").write_text("{}")
    assert cli_main(["view", str(runs), "--export", str(tmp_path / "runs.html")]) == 2
    err = capsys.readouterr().err
    assert "holds 1 run." in err and f"augur view {runs / 'run_a'} --export" in err
    assert not (tmp_path / "runs.html").exists()
    assert cli_main(["view", str(rich_bundle), "--jaeger-url", "ftp://x", "--export",
                     str(tmp_path / "x.html")]) == 2
    out = tmp_path / "run.html"
    monkeypatch.setenv("AUGUR_JAEGER_URL", "http://jaeger.local:16686/")
    assert cli_main(["view", str(rich_bundle), "--export", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert re.search(r"http://jaeger\.local:16686/trace/[0-9a-f]{32}\?uiFind=[0-9a-f]{16}", html)
    assert export_html(rich_bundle, tmp_path / "again.html").exists()


def test_cli_serves_on_loopback_with_port_zero(rich_bundle: Path):
    """`augur view --port 0 --no-open` prints a 127.0.0.1 URL on a free port that serves the page and the API."""
    with run_viewer(rich_bundle) as url:
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url)
        assert m and int(m.group(1)) > 0
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
        conn.request("GET", "/api/index")
        resp = conn.getresponse()
        assert resp.status == 200
        assert len(strict_json(resp.read())["steps"]) == 12
        conn.close()


def test_cli_says_when_its_default_port_is_taken(rich_bundle: Path):
    """With 7357 held by another socket, `augur view` says so on stderr and serves on a free port."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", DEFAULT_PORT))
        holder.listen(1)
    except OSError as exc:  # held by someone else already: just as good
        assert exc.errno == errno.EADDRINUSE, exc
    proc = subprocess.Popen([sys.executable, "-m", "augur_sdk.cli", "view", str(rich_bundle),
                             "--no-open"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        assert re.search(r" at http://127\.0\.0\.1:(\d+)/", line), line
        assert f":{DEFAULT_PORT}/" not in line
        ready, _, _ = select.select([proc.stderr], [], [], 10)
        said = proc.stderr.readline() if ready else ""
        assert said == (f"augur view: port {DEFAULT_PORT} is taken (another augur view?); "
                        "using a free port instead\n"), said
    finally:
        holder.close()
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_in_ci_missing_chromium_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch):
    """With CI set, a missing browser fails the viewer tests; without CI it skips them."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser_unavailable("no chromium here")
    for unset in ("", "false", "0"):
        monkeypatch.setenv("CI", unset)
        with pytest.raises(pytest.skip.Exception, match="no chromium here"):
            browser_unavailable("no chromium here")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        browser_unavailable("no chromium here")
