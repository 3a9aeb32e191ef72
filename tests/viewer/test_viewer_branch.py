"""The viewer shows where a branch left its parent: a note with the parent run (a link when
the run list holds it), the branch point and the mutation; replayed steps and the branch
point are marked in the step list (real Chromium)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from viewer_support import open_viewer, run_viewer, wait_js

from augur_sdk import DebugSession
from augur_sdk.limits import run_dir_name
from augur_sdk.stream.client import quote
from augur_sdk.testing import make_png
from augur_sdk.viewer.export import export_html

from support import step_record

ROLES_JS = """() => [...document.querySelectorAll('#list-rows .row')].map(r => [
  Number(r.dataset.i), r.classList.contains('replayed') ? 'replayed'
    : r.classList.contains('point') ? 'point' : '',
  [...r.querySelectorAll('.flag')].map(f => f.textContent).join(' ')])"""


def _runs(root: Path) -> None:
    """``root/parent-run`` (4 steps) and ``root/child-run``, a replay branch at step 2."""
    with DebugSession(run_id="parent-run", client_name="agent", out_dir=root / "parent-run",
                      capture_mode="screenshots", dsn="") as s:
        for i in range(4):
            pre = s.attach_observation(step_index=i, kind="pre", png_bytes=make_png(seed=i))
            s.record_step(step_record("parent-run", i, pre=pre))
    with DebugSession.branch_from(
            parent_run_id="parent-run", branch_point_step_index=2, mutated_axis="model",
            mutation={"model": "m-2"}, client_name="agent", out_dir=root / "child-run",
            run_id="child-run", capture_mode="screenshots", parent_bundle=root / "parent-run",
            dsn="") as s:
        for i in (2, 3):
            s.record_step(step_record("child-run", i, intent=f"new click {i}"))


def _note(page: Any) -> str:
    page.wait_for_selector("#branch-note:not([hidden])")
    return " ".join(page.text_content("#branch-note").split())


def test_run_list_child_shows_its_branch_point_and_links_the_parent(
        tmp_path: Path, new_page: Callable[..., Any]) -> None:
    """In the run list the child's page says it branched from parent-run at step 0002 with
    the model changed, marks steps 0-1 replayed and step 2 as the branch point, and its
    parent link opens the parent run (which has no branch note)."""
    runs = tmp_path / "augur-runs"
    _runs(runs)
    with run_viewer(runs) as url:
        page = new_page()
        open_viewer(page, url + "runs/child-run/")
        note = _note(page)
        assert "Branch of run parent-run at step 0002" in note, note
        assert 'model changed {"model":"m-2"}' in note, note
        assert "steps 0000-0001 replayed from the parent" in note, note
        assert page.evaluate(ROLES_JS) == [
            [0, "replayed", "replayed"], [1, "replayed", "replayed"],
            [2, "point", "branch point"], [3, "", ""]]
        wait_js(page, "() => document.querySelector('#branch-parent').tagName === 'A'")
        assert page.get_attribute("#branch-parent", "href") == "/runs/parent-run/"
        page.click("#branch-parent")
        page.wait_for_url(url + "runs/parent-run/")
        open_viewer(page, page.url)
        assert page.text_content("#run-id") == "parent-run"
        assert page.is_hidden("#branch-note")
        assert [r[1] for r in page.evaluate(ROLES_JS)] == ["", "", "", ""]
        page.close()


def test_a_branch_alone_names_its_parent_without_a_link(
        tmp_path: Path, new_page: Callable[..., Any]) -> None:
    """``augur view CHILD`` (no run list) and the exported file show the note with the
    parent's run id as plain text: there is no page of the parent to link to."""
    runs = tmp_path / "augur-runs"
    _runs(runs)
    export = tmp_path / "child.html"
    export_html(runs / "child-run", export)
    with run_viewer(runs / "child-run") as url:
        page = new_page()
        open_viewer(page, url)
        assert "Branch of run parent-run at step 0002" in _note(page)
        assert page.evaluate("document.querySelector('#branch-parent').tagName") == "SPAN"
        page.close()
    page = new_page()
    open_viewer(page, export.as_uri())
    assert "steps 0000-0001 replayed from the parent" in _note(page)
    assert page.evaluate(ROLES_JS)[2] == [2, "point", "branch point"]
    page.close()


def _server_kit() -> Any:
    """tests/server's ``start_server`` (a real ``augur serve`` subprocess), loaded as a plain
    module; without the server extra the test is skipped as the server tests are."""
    loaded = sys.modules.get("augur_serve_kit")
    if loaded is not None:
        return loaded
    here = Path(__file__).resolve().parents[1] / "server"
    sys.path.insert(0, str(here))
    try:
        spec = importlib.util.spec_from_file_location("augur_serve_kit", here / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["augur_serve_kit"] = module  # its dataclasses look their module up
        try:
            spec.loader.exec_module(module)
        except BaseException:  # skipped (no server extra) or broken: not half-loaded
            del sys.modules["augur_serve_kit"]
            raise
    finally:
        sys.path.remove(str(here))
    return module


def test_a_branch_on_augur_serve_links_its_parent_in_the_data_directory(
        tmp_path: Path, new_page: Callable[..., Any]) -> None:
    """Parent and replay branch streamed to a real augur serve; `augur view DATA` lists both
    under tenant acme, and the child's page (its id has ':' in it) links the parent run."""
    kit = _server_kit()
    server = kit.start_server(tmp_path / "serve")
    try:
        dsn = f"{server.url}?token=tok-acme-1&tenant=acme"
        with DebugSession(run_id="srv-parent", client_name="agent", dsn=dsn,
                          out_dir=tmp_path / "parent", capture_mode="screenshots") as s:
            for i in range(3):
                s.record_step(step_record("srv-parent", i))
        with DebugSession.branch_from(
                parent_run_id="srv-parent", branch_point_step_index=1, mutated_axis="prompt",
                mutation={"prompt_id": "v2"}, client_name="agent", out_dir=tmp_path / "child",
                capture_mode="screenshots", parent_bundle=tmp_path / "parent", dsn=dsn) as s:
            child = s.run_id
            s.record_step(step_record(child, 1))
        server.wait_status("srv-parent", "finished")
        server.wait_status(quote(child), "finished")
    finally:
        server.stop()
    assert server.proc.poll() is not None
    with run_viewer(server.data) as url:
        page = new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        page.click(f"#runs-body tr[data-key='acme/{run_dir_name(child)}'] td.steps")
        open_viewer(page, page.url)
        assert "Branch of run srv-parent at step 0001" in _note(page)
        assert page.evaluate(ROLES_JS) == [[0, "replayed", "replayed"],
                                           [1, "point", "branch point"]]
        wait_js(page, "() => document.querySelector('#branch-parent').tagName === 'A'")
        page.click("#branch-parent")
        page.wait_for_url(url + "runs/acme/srv-parent/")
        open_viewer(page, page.url)
        assert page.text_content("#run-id") == "srv-parent"
        page.close()
