"""Bugs of the current code found while building the golden test, pinned as strict xfails:
each starts failing (XPASS) once fixed, and then moves to a normal test."""

from __future__ import annotations

from pathlib import Path

import pytest

from augur_sdk import DebugSession


def _step(i: int) -> dict[str, object]:
    return {"step_id": f"r/step/{i:04d}", "step_index": i, "step_type": "click",
            "status": "succeeded", "started_at": f"2026-01-02T03:04:0{i}Z"}


@pytest.mark.xfail(strict=True, raises=KeyError,
                   reason="gate_step(record, OFF) drops step_index, then _emit_step reads it")
def test_record_step_after_set_capture_mode_off(tmp_path: Path) -> None:
    """After set_capture_mode("off") mid-run, record_step records nothing and does not fail."""
    with DebugSession(run_id="r", client_name="c", capture_mode="trace", out_dir=tmp_path,
                      dsn="") as session:
        session.record_step(_step(0))
        session.set_capture_mode("off")
        session.record_step(_step(1))  # KeyError: 'step_index' (an internal error)
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["0000.json"]
