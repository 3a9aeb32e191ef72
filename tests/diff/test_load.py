"""Bundles are untrusted input to augur diff: broken, oversized or hostile content is reported
or ignored, never followed out of the bundle, and only a non-bundle is an error."""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from augur_sdk.diff import BundleError, compare_runs, load_run, screens
from augur_sdk.diff import load as load_module
from augur_sdk.diff.screens import ScreenHasher, dhash
from drawn_runs import Page, base_task, draw_page, record


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return record(tmp_path / "run", base_task()[:4])


def _write_step(bundle: Path, index: int, record: object) -> None:
    text = record if isinstance(record, str) else json.dumps(record)
    (bundle / "steps" / f"{index:04d}.json").write_text(text)


def test_a_directory_that_is_not_a_bundle_is_an_error(tmp_path: Path) -> None:
    """A missing path, a file, or a folder without manifest/trace/steps raise BundleError."""
    for path in (tmp_path / "missing", tmp_path):
        with pytest.raises(BundleError):
            load_run(path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError):
        load_run(tmp_path / "file")


def test_a_broken_trace_json_falls_back_to_the_step_files(bundle: Path) -> None:
    """trace.json that is not JSON is reported; the steps come from steps/ instead."""
    (bundle / "trace.json").write_text('{"session": {"run_id": "x", "status": "succ')
    run = load_run(bundle)
    assert run.source == "steps/" and len(run.steps) == 4
    assert any("trace.json" in p for p in run.problems)


def test_records_that_are_not_objects_or_not_json_are_reported(bundle: Path) -> None:
    """A step file holding a list, NaN, deep nesting or garbage gives that step an error and
    an empty record; the others load."""
    (bundle / "trace.json").unlink()
    _write_step(bundle, 1, [1, 2, 3])
    _write_step(bundle, 2, "[" * 100_000 + "]" * 100_000)
    _write_step(bundle, 3, "\xff not json")
    _write_step(bundle, 4, '{"step_index": 9, "status": NaN, "step_type": "click"}')
    run = load_run(bundle)
    by_index = {s.index: s for s in run.steps}
    assert by_index[0].error is None and by_index[0].record["step_type"] == "click"
    assert "not a JSON object" in by_index[1].error
    assert by_index[2].record == {} and "could not be read" in by_index[2].error
    assert by_index[3].record == {} and by_index[3].error
    assert by_index[4].record["status"] is None and "step_index 9" in by_index[4].error


def test_an_oversized_step_file_is_not_read(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step file above the size limit is reported, not parsed."""
    (bundle / "trace.json").unlink()
    monkeypatch.setattr(load_module, "MAX_STEP_FILE_BYTES", 100)
    run = load_run(bundle)
    assert all(s.record == {} and "larger than" in (s.error or "") for s in run.steps)


def test_screenshot_paths_never_leave_the_bundle(bundle: Path, tmp_path: Path) -> None:
    """Absolute paths, '..', drive letters and symlinks out of the bundle are not followed."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    (bundle / "screenshots" / "link.png").symlink_to(secret)
    (bundle / "trace.json").unlink()
    for index, ref in enumerate([str(secret), "../secret.png", "C:secret.png",
                                 "screenshots/link.png"]):
        _write_step(bundle, index, {"step_index": index, "step_type": "click",
                                    "observation_pre": ref})
    _write_step(bundle, 4, {"step_index": 4, "step_type": "click",
                            "observation_pre": {"artifact": "screenshots/0000_pre.png"}})
    run = load_run(bundle)
    assert [s.pre for s in run.steps[:4]] == [None, None, None, None]
    assert run.steps[4].pre == (bundle / "screenshots" / "0000_pre.png").resolve()


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + body
            + struct.pack(">I", zlib.crc32(body)))


def test_hostile_screenshots_give_no_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that is not an image, a truncated PNG, one claiming huge dimensions and one
    above the size limit give no perceptual hash (and no exception)."""
    assert dhash(b"GIF89a....") is None
    assert dhash(_png_header(100, 100)) is None  # header only: no image data
    assert dhash(_png_header(60_000, 60_000)) is None  # 3.6 G pixels: never decoded
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 2048)
    monkeypatch.setattr(screens, "MAX_SCREENSHOT_BYTES", 1024)
    assert ScreenHasher().hash_all([big]) == [screens.ScreenPrint(None, None)]


def test_a_hostile_live_json_is_an_unfinished_run(bundle: Path) -> None:
    """live.json that is a list or names a dead process makes the run 'unfinished'."""
    (bundle / "live.json").write_text("[1, 2]")
    assert load_run(bundle).status == "unfinished"
    (bundle / "live.json").write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname()[1]}))
    assert load_run(bundle).state == "unfinished"


def test_a_broken_step_still_compares(bundle: Path, tmp_path: Path) -> None:
    """A run with an unreadable step is compared; the step shows its read error."""
    other = record(tmp_path / "other", base_task()[:4])
    (bundle / "trace.json").unlink()
    _write_step(bundle, 2, "garbage")
    result = compare_runs(bundle, other)
    assert result.step_a(2).error and result.exit_code == 1
    assert result.alignment.matched()[3] == 3


def test_each_distinct_screenshot_is_decoded_once(bundle: Path, tmp_path: Path) -> None:
    """Hashing the same files again, or a copy under another name, decodes nothing; a file
    rewritten with new content is decoded again."""
    hasher = ScreenHasher()
    shots = sorted((bundle / "screenshots").glob("*.png"))
    distinct = len({p.read_bytes() for p in shots})
    first = hasher.hash_all(shots)
    assert hasher.decoded == distinct
    copy = tmp_path / "copy.png"
    copy.write_bytes(shots[0].read_bytes())
    assert hasher.hash_all([*shots, copy]) == [*first, first[0]]
    assert hasher.decoded == distinct
    shots[0].write_bytes(draw_page(Page("order")))
    hasher.hash_all(shots)
    assert hasher.decoded == distinct + 1


def test_worker_processes_decode_the_same_hashes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the threshold, worker processes decode the screenshots, with the same hashes as
    decoding here; workers that cannot start mean decoding here."""
    shots = []
    for k in range(12):
        path = tmp_path / f"{k}.png"
        path.write_bytes(draw_page(Page("checkout" if k % 2 else "login"), f"step {k}"))
        shots.append(path)
    here = ScreenHasher(processes=1).hash_all(shots)
    monkeypatch.setattr(screens, "PROCESSES_FROM", 4)
    decoded_by_workers: list[int] = []
    original = ScreenHasher._decode_in_workers

    def spy(self: ScreenHasher, blobs: list[bytes]) -> list[int | None]:
        result = original(self, blobs)
        decoded_by_workers.append(len(result))
        return result
    monkeypatch.setattr(ScreenHasher, "_decode_in_workers", spy)
    pooled = ScreenHasher(processes=2)
    assert pooled.hash_all(shots) == here and pooled.decoded == 12
    assert decoded_by_workers == [12]
    assert all(p is not None and p.phash is not None for p in here)

    monkeypatch.setattr(screens.sys, "executable", str(tmp_path / "no-such-python"))
    assert ScreenHasher(processes=2).hash_all(shots) == here


def test_huge_texts_are_compared_but_not_carried(tmp_path: Path) -> None:
    """Megabytes of typed text are compared by digest and shown truncated: the report stays
    small, and a change at the end of the text is still a difference."""
    steps = base_task()[:3]
    long_text = "x" * 2_000_000
    a = record(tmp_path / "a", [*steps[:1], replace(steps[1], params={"text": long_text})])
    b = record(tmp_path / "b", [*steps[:1], replace(steps[1], params={"text": long_text + "!"})])
    result = compare_runs(a, b)
    assert [d.field for d in result.rows[1].differences] == ["action"]
    assert len(json.dumps(result.to_json())) < 20_000
