"""Bundle invariants while a run is going: live files, atomic writes, no stale files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from augur_sdk import DebugSession
from augur_sdk.testing import make_png
from augur_sdk.validation import validate_bundle

from support import event_record, run_seed_session, step_record


def test_each_call_is_on_disk_when_it_returns(tmp_path: Path) -> None:
    """After attach_observation / record_step / record_event return, their bytes are on disk."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots",
                      out_dir=out) as s:
        assert (out / "live.json").exists()
        for i in range(3):
            png = make_png(20, 10, seed=i)
            path = s.attach_observation(step_index=i, kind="pre", png_bytes=png)
            assert path == f"screenshots/{i:04d}_pre.png"
            assert (out / path).read_bytes() == png
            s.record_step(step_record("r", i, pre=path))
            on_disk = json.loads((out / f"steps/{i:04d}.json").read_text())
            assert on_disk["step_id"] == f"r/step/{i:04d}"
            assert on_disk["observation_pre"] == path
            s.record_event(event_record(i, 0))
            lines = (out / f"events/{i:04d}.jsonl").read_text().splitlines()
            assert json.loads(lines[-1])["summary"] == f"event 0 of step {i}"
            assert not (out / "trace.json").exists()  # finalized only at close
    assert not (out / "live.json").exists()
    assert validate_bundle(out) == []


def test_no_temp_files_remain_and_files_are_never_partial(tmp_path: Path) -> None:
    """A reader polling during a run only ever sees whole JSON step files; no .tmp is left."""
    out = tmp_path / "b"
    stop = threading.Event()
    partial: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for path in list((out / "steps").glob("*.json")) if (out / "steps").exists() else []:
                try:
                    json.loads(path.read_text())
                except FileNotFoundError:
                    continue
                except ValueError:
                    partial.append(path.name)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
            for i in range(200):
                s.record_step(step_record("r", i, intent="x" * 2000))
                s.record_step(step_record("r", i, intent="y" * 3000))  # rewrite same file
    finally:
        stop.set()
        thread.join()
    assert partial == []
    assert [p for p in out.rglob("*") if p.name.endswith(".tmp")] == []


def test_reusing_out_dir_leaves_no_stale_steps(tmp_path: Path) -> None:
    """A second run into the same out_dir has only its own steps, events and screenshots."""
    out = tmp_path / "b"
    run_seed_session(out, steps=6, run_id="old")
    (out / "notes.txt").write_text("user file")
    run_seed_session(out, steps=2, run_id="new", fail_at=None)
    assert sorted(p.name for p in (out / "steps").iterdir()) == ["0000.json", "0001.json"]
    assert sorted(p.name for p in (out / "events").iterdir()) == [
        "0000.jsonl", "0001.jsonl", "run.jsonl"]
    assert len(list((out / "screenshots").iterdir())) == 4
    assert (out / "notes.txt").read_text() == "user file"  # not ours: left alone
    assert json.loads((out / "manifest.json").read_text())["run_id"] == "new"
    assert validate_bundle(out) == []


def test_trace_json_equals_a_whole_document_dump(tmp_path: Path) -> None:
    """trace.json, streamed from step files, is exactly the session plus the steps in order."""
    out = tmp_path / "b"
    run_seed_session(out, steps=5)
    trace = json.loads((out / "trace.json").read_text())
    steps = [json.loads((out / f"steps/{i:04d}.json").read_text()) for i in range(5)]
    assert trace["steps"] == steps
    expected = json.dumps(trace, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert (out / "trace.json").read_text() == expected


def test_manifest_signs_every_file_and_counts_steps(tmp_path: Path) -> None:
    """Manifest signatures cover steps, events, screenshots, trace and schemas; step_count is right."""
    out = tmp_path / "b"
    manifest = run_seed_session(out, steps=3)
    sigs = manifest["signatures"]
    for rel in ("trace.json", "steps/0002.json", "events/0001.jsonl", "events/run.jsonl",
                "screenshots/0000_pre.png", "schema/step_trace.schema.json", "AGENT.md",
                "otel/spans.jsonl"):
        assert rel in sigs, rel
    assert manifest["step_count"] == 3
    assert "missing" not in manifest


def test_off_mode_writes_only_the_manifest(tmp_path: Path) -> None:
    """capture_mode off: manifest.json only, attach_observation returns None."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="off", out_dir=out) as s:
        assert s.attach_observation(step_index=0, kind="pre", png_bytes=make_png()) is None
        s.record_step(step_record("r", 0))
        s.record_event(event_record(0))
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["step_count"] == 0
    assert validate_bundle(out) == []


def test_no_capture_mode_says_so_once(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """With no mode and no env var, one WARNING explains that nothing is recorded and the fix."""
    for n in range(2):
        with DebugSession(run_id=f"r{n}", client_name="a", out_dir=tmp_path / str(n)) as s:
            s.record_step(step_record(f"r{n}", 0))
    warnings = [r for r in caplog.records if "records nothing" in r.getMessage()]
    assert len(warnings) == 1
    assert "AUGUR_CAPTURE_MODE" in warnings[0].getMessage()


def test_below_screenshots_attach_observation_is_a_noop(tmp_path: Path) -> None:
    """In trace mode attach_observation returns None and writes no PNG."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
        assert s.attach_observation(step_index=0, kind="post", png_bytes=make_png()) is None
        s.record_step(step_record("r", 0))
    assert not (out / "screenshots").exists()


def test_exception_in_with_block_marks_run_halted(tmp_path: Path) -> None:
    """An exception escaping the with-block ends the run 'halted' with a complete bundle."""
    out = tmp_path / "b"
    try:
        with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
            s.record_step(step_record("r", 0))
            raise RuntimeError("agent crashed")
    except RuntimeError:
        pass
    trace = json.loads((out / "trace.json").read_text())
    assert trace["session"]["status"] == "halted"
    assert validate_bundle(out) == []


def test_async_with_has_the_same_semantics(tmp_path: Path) -> None:
    """`async with DebugSession(...)` records and finalizes like the sync form."""
    import asyncio

    out = tmp_path / "b"

    async def agent() -> None:
        async with DebugSession(run_id="r", client_name="a", capture_mode="trace",
                                out_dir=out) as s:
            s.record_step(step_record("r", 0))
            await asyncio.sleep(0)
            s.record_event(event_record(0))

    asyncio.run(agent())
    assert json.loads((out / "manifest.json").read_text())["step_count"] == 1
    assert validate_bundle(out) == []


def test_late_attach_skipped_steps(tmp_path: Path) -> None:
    """Skipped steps with null observations validate and are not listed as missing."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots",
                      out_dir=out) as s:
        for i in range(3):
            s.record_step({"step_id": f"r/step/{i:04d}", "step_index": i, "step_type": "verify",
                           "status": "skipped", "started_at": "2026-05-19T00:00:00Z",
                           "observation_pre": None, "observation_post": None})
        s.record_step(step_record("r", 3, pre="screenshots/0003_pre.png"))  # never attached
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["missing"] == ["screenshots/0003_pre.png"]
    assert json.loads((out / "steps/0000.json").read_text())["observation_pre"] is None
    assert validate_bundle(out) == []


def test_run_without_steps_is_a_valid_bundle(tmp_path: Path) -> None:
    """A run that records no step still finishes with a valid trace.json (empty steps list)."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out):
        pass
    assert json.loads((out / "trace.json").read_text())["steps"] == []
    assert validate_bundle(out) == []


def test_a_reference_outside_screenshots_that_is_absent_is_listed_missing(tmp_path: Path) -> None:
    """A step naming a bundle-relative file that never arrives is listed in manifest.missing."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots", out_dir=out) as s:
        s.record_step(step_record("r", 0, pre="crops/0000_pre.png"))
    assert json.loads((out / "manifest.json").read_text())["missing"] == ["crops/0000_pre.png"]
    assert validate_bundle(out) == []


def test_record_step_after_set_capture_mode_off_records_nothing(tmp_path: Path) -> None:
    """After set_capture_mode("off") mid-run, record_step records nothing and does not fail
    (a bug of the code before the record-kind spine, found by the golden test's author)."""
    from augur_sdk import DebugSession

    with DebugSession(run_id="r", client_name="c", capture_mode="trace", out_dir=tmp_path,
                      dsn="") as session:
        for i in range(2):
            session.record_step({"step_id": f"r/step/{i:04d}", "step_index": i,
                                 "step_type": "click", "status": "succeeded",
                                 "started_at": f"2026-01-02T03:04:0{i}Z"})
            session.set_capture_mode("off")
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["0000.json"]
