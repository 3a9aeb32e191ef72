"""A replay branch streamed to a real ``augur serve``: the replayed prefix arrives under the
child's own run id (augur-sdk 0.6.1 sends it to ``/runs/unknown``), next to its parent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serverkit import ACME, event_files, files_under, read_json, screenshot_files, step_files

from augur_sdk import DebugSession
from augur_sdk.limits import run_dir_name
from augur_sdk.stream.client import quote
from augur_sdk.testing import make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record


def _parent(out: Path, dsn: str) -> None:
    with DebugSession(run_id="br-parent", client_name="agent", out_dir=out,
                      capture_mode="screenshots", dsn=dsn) as s:
        for i in range(4):
            pre = s.attach_observation(step_index=i, kind="pre", png_bytes=make_png(seed=i))
            s.record_step(step_record("br-parent", i, pre=pre))
            s.record_event(event_record(i))


def test_a_streamed_branch_lands_under_its_own_run_id(server: Any, tmp_path: Path) -> None:
    """Parent and branch both streamed: the server holds the branch under its generated id
    (``br-parent:branch:<hex>``) with the replayed steps, screenshots and events byte-equal
    to the local child bundle, its branch context, and no run named ``unknown``."""
    dsn = f"{server.url}?token={ACME}&tenant=acme"
    _parent(tmp_path / "parent", dsn)
    server.wait_status("br-parent", "finished")
    with DebugSession.branch_from(
            parent_run_id="br-parent", branch_point_step_index=3, mutated_axis="prompt",
            mutation={"prompt_id": "v2"}, client_name="agent", out_dir=tmp_path / "child",
            capture_mode="screenshots", parent_bundle=tmp_path / "parent", dsn=dsn) as s:
        child_id = s.run_id
        s.record_step(step_record(child_id, 3, intent="the new prompt's click"))
    assert child_id.startswith("br-parent:branch:")
    info = server.wait_status(quote(child_id), "finished")
    assert info["run_id"] == child_id
    root, local = server.data / "acme" / run_dir_name(child_id), tmp_path / "child"
    assert validate_bundle(root) == []
    assert sorted(step_files(root)) == ["0000.json", "0001.json", "0002.json", "0003.json"]
    assert step_files(root) == step_files(local)
    assert sorted(screenshot_files(root)) == ["0000_pre.png", "0001_pre.png", "0002_pre.png"]
    assert screenshot_files(root) == screenshot_files(local)
    assert event_files(root) == event_files(local) and len(event_files(root)) == 3
    assert step_files(root)["0001.json"]["step_id"] == f"{child_id}/step/0001"
    session = read_json(root / "trace.json")["session"]
    assert session["branch_context"]["parent_run_id"] == "br-parent"
    assert session["branch_context"]["branch_point_step_index"] == 3
    assert sorted(p.name for p in (server.data / "acme").iterdir()
                  if not p.name.startswith(".")) == sorted(["br-parent",
                                                            run_dir_name(child_id)])
    assert not files_under(server.data / "acme" / "unknown")
