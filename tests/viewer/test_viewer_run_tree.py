"""`augur view DIR`: an orchestrator and its workers as one tree in the run list (the
order and links from viewer/tree.py, drawn, folded and filtered by runs.js)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from viewer_support import open_viewer, run_viewer, wait_js

from augur_sdk import DebugSession
from augur_sdk.viewer import tree
from augur_sdk.viewer.runs import RunDirectory

from support import step_record

TREE_JS = """() => [...document.querySelectorAll('#runs-body tr.run')].map(r => ({
  key: r.dataset.key, depth: r.dataset.depth, parent: r.dataset.parent || null,
  workers: (r.querySelector('.workers') || {}).textContent || '',
  orch: !!r.querySelector('.tag.orch')}))"""


def _run(root: Path, run_id: str, minute: int, *, steps: int = 1, failed: bool = False,
         **kwargs: Any) -> None:
    with DebugSession(run_id=run_id, client_name="agent", out_dir=root / run_id,
                      capture_mode="metadata", dsn="",
                      started_at=f"2026-05-19T10:{minute:02d}:00Z", **kwargs) as s:
        for i in range(steps):
            s.record_step(step_record(run_id, i, status="failed" if failed else "succeeded"))
        if failed:
            s.set_status("failed")


def fan_out(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An orchestrator (10:00) with three workers (started from its environment, 10:01-10:03,
    one failed), a 0.6.1-style worker naming it in branch_context (10:04), a replay branch of
    an ordinary run (not a worker: 10:06), and a later ordinary run (10:09)."""
    with DebugSession.open_orchestrator(run_id="nightly", client_name="boss",
                                        out_dir=root / "nightly", capture_mode="metadata",
                                        dsn="", started_at="2026-05-19T10:00:00Z") as boss:
        for n in (2, 0, 1):  # started out of order: listed in start order
            with monkeypatch.context() as env:
                for key, value in boss.worker_env().items():
                    env.setenv(key, value)
                _run(root, f"nightly-w{n}", 1 + n, failed=n == 1)
    _run(root, "legacy-w", 4, branch_context={
        "parent_run_id": "nightly", "branch_point_step_index": 0, "mutated_axis": "action"})
    _run(root, "base", 5)
    _run(root, "base-branch", 6, branch_context={
        "parent_run_id": "base", "branch_point_step_index": 0, "mutated_axis": "model"})
    _run(root, "later", 9)


def test_run_list_orders_workers_under_their_orchestrator(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    """/api/runs: roots newest first, each orchestrator followed by its workers in start
    order with parent_key/depth/children; a replay branch of an ordinary run stays a root."""
    fan_out(tmp_path, monkeypatch)
    runs = RunDirectory(tmp_path).listing()["runs"]
    assert [(r["key"], r["depth"], r["parent_key"]) for r in runs] == [
        ("later", 0, None), ("base-branch", 0, None), ("base", 0, None),
        ("nightly", 0, None), ("nightly-w0", 1, "nightly"), ("nightly-w1", 1, "nightly"),
        ("nightly-w2", 1, "nightly"), ("legacy-w", 1, "nightly")]
    by_key = {r["key"]: r for r in runs}
    assert by_key["nightly"]["orchestrator"] and by_key["nightly"]["children"] == 4
    assert not any(k.startswith("_") for r in runs for k in r)


def test_tree_survives_cycles_self_parents_and_reused_run_ids() -> None:
    """Untrusted tags: a cycle is cut (every run is listed once), a run naming itself is a
    root, and of two runs with the parent's id the one started last before the worker wins."""
    def run(key: str, run_id: str, sort: float, parent: str | None = None) -> dict[str, Any]:
        return {"key": key, "run_id": run_id, "tenant": None, "_sort": sort,
                "orchestrator": False, "_parent_tag": parent, "_parent_branch": None}

    runs = [run("a", "a", 9, "b"), run("b", "b", 8, "a"), run("self", "self", 7, "self"),
            run("p-new", "p", 6), run("w", "w", 5, "p"), run("p-old", "p", 4)]
    out = tree.arrange(runs)
    assert sorted(r["key"] for r in out) == sorted(r["key"] for r in runs)
    parents = {r["key"]: r["parent_key"] for r in out}
    assert parents["self"] is None and parents["w"] == "p-old"
    assert {parents["a"], parents["b"]} in ({None, "a"}, {None, "b"})
    assert [r["key"] for r in out if r["depth"] == 0][:1] == ["a" if parents["a"] is None
                                                              else "b"]


def test_run_list_draws_folds_and_filters_the_tree(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   new_page: Callable[..., Any]):
    """In Chromium: workers indented under the orchestrator, which says 4 workers · 1
    failed; ← folds them, → shows them, ← on a worker goes to its orchestrator; a filter
    that matches one worker shows it under its orchestrator; a worker opens in the debugger."""
    fan_out(tmp_path, monkeypatch)
    with run_viewer(tmp_path) as url:
        page = new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        got = page.evaluate(TREE_JS)
        assert [(r["key"], r["depth"], r["parent"]) for r in got] == [
            ("later", "0", None), ("base-branch", "0", None), ("base", "0", None),
            ("nightly", "0", None), ("nightly-w0", "1", "nightly"),
            ("nightly-w1", "1", "nightly"), ("nightly-w2", "1", "nightly"),
            ("legacy-w", "1", "nightly")]
        nightly = next(r for r in got if r["key"] == "nightly")
        assert nightly["orch"] and nightly["workers"] == "4 workers · 1 failed"
        indent = page.evaluate("""() => ['nightly', 'nightly-w1'].map(k => parseFloat(getComputedStyle(
            document.querySelector(`#runs-body tr[data-key='${k}'] td.run-id`)).paddingLeft))""")
        assert indent[1] > indent[0]

        page.focus("#runs-body tr[data-key='nightly']")
        page.keyboard.press("ArrowLeft")
        wait_js(page, "() => document.querySelectorAll('#runs-body tr.run').length === 4")
        assert page.evaluate("document.activeElement.dataset.key") == "nightly"
        assert page.text_content("#runs-body tr[data-key='nightly'] .fold") == "▸"
        page.keyboard.press("ArrowRight")
        wait_js(page, "() => document.querySelectorAll('#runs-body tr.run').length === 8")
        page.keyboard.press("j")
        page.keyboard.press("j")
        assert page.evaluate("document.activeElement.dataset.key") == "nightly-w1"
        page.keyboard.press("ArrowLeft")
        assert page.evaluate("document.activeElement.dataset.key") == "nightly"
        page.click("#runs-body tr[data-key='nightly'] .fold")
        wait_js(page, "() => document.querySelectorAll('#runs-body tr.run').length === 4")
        page.click("#runs-body tr[data-key='nightly'] .fold")
        wait_js(page, "() => document.querySelectorAll('#runs-body tr.run').length === 8")

        page.fill("#runs-search", "w2")
        wait_js(page, """() => [...document.querySelectorAll('#runs-body tr.run')]
            .map(r => r.dataset.key).join(',') === 'nightly,nightly-w2'""")
        assert page.text_content("#runs-count") == "1 of 8 runs"
        page.fill("#runs-search", "")
        wait_js(page, "() => document.querySelectorAll('#runs-body tr.run').length === 8")

        page.click("#runs-body tr[data-key='nightly-w1'] td.steps")
        page.wait_for_url(url + "runs/nightly-w1/")
        open_viewer(page, page.url)
        assert page.text_content("#run-id") == "nightly-w1"
        page.close()
