"""Disk faults: ENOSPC / EIO part-way through a run never reach the agent and never corrupt.

Two layers:

* a real, small filesystem (a 2 MB tmpfs, mounted when we are root; skipped otherwise,
  failed instead when ``CI`` is set)
  filled up mid-run, so the kernel itself returns ENOSPC and short writes;
* fault injection at the file-write layer (``augur_sdk.bundle.files``: ``open`` for atomic
  writes, ``os.write`` for appends), which runs anywhere and lets the test count exactly
  which writes failed.

The promise checked: the agent is never interrupted (no exception from record_* or close,
internal-error re-raising off), the SDK logs once, the bundle stays consistent and says it is
incomplete, and ``augur recover`` repairs it once space is back.
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from reliability_support import (
    DISK_RUN_ID,
    child_env,
    cli,
    data_files,
    disk_event,
    disk_expected,
    disk_png,
    disk_step,
    disk_step_events,
    expected_lines,
    temp_files,
    torn_or_bad_jsonl,
)

from augur_sdk import DebugSession, _internal
from augur_sdk.bundle import files, rundir, writer
from augur_sdk.bundle.recover import recover_bundle
from augur_sdk.validation import validate_bundle

HERE = Path(__file__).resolve().parent
DISK_CHILD = HERE / "disk_child.py"
TMPFS_SIZE = "2m"
DATA_DIRS = ("steps", "screenshots", "events")


# ── checks shared by both layers ─────────────────────────────────────────────


def intact_problems(root: Path, expected: dict[str, bytes], *, allow_torn_tail: bool) -> list[str]:
    """Every data file on disk is byte-identical to what the agent sent (JSONL: line by line)."""
    problems = []
    lines = expected_lines(expected)
    for rel, data in data_files(root).items():
        if rel.endswith(".jsonl"):
            body = data
            if allow_torn_tail and not data.endswith(b"\n"):
                body = data[: data.rfind(b"\n") + 1]
            got = body.splitlines(keepends=True)
            if not set(got) <= lines.get(rel, set()):
                problems.append(f"{rel}: a line that the agent never sent")
            if len(got) != len(set(got)):
                problems.append(f"{rel}: duplicated lines")
        elif expected.get(rel) != data:
            problems.append(f"{rel}: {len(data)} bytes, not the {len(expected.get(rel, b''))} "
                            "the agent sent")
    return problems


def consistency_issues(root: Path, tmp_path: Path) -> list[str]:
    """Validate a copy of the bundle without its live marker: only 'incomplete' may remain.

    A bundle that lost writes keeps ``live.json`` (by design, so recover can retry); that
    marker makes ``validate_bundle`` stop after the manifest, so the copy lets the test check
    every cross-file invariant (trace vs steps/, signatures, missing screenshots) anyway.
    """
    copy = tmp_path / f"copy-of-{root.name}"
    shutil.copytree(root, copy)
    (copy / "live.json").unlink(missing_ok=True)
    return [i.render() for i in validate_bundle(copy) if i.code != "incomplete"]


def disk_errors(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records
            if r.name == "augur_sdk" and r.levelno >= logging.ERROR
            and "could not write to the bundle" in r.getMessage()]


# ── a real, small filesystem ─────────────────────────────────────────────────


def no_small_fs(reason: str) -> NoReturn:
    """Skip a real-disk-full test, or fail it under CI (``CI`` set): CI must run them."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the real disk-full tests, but {reason}")
    pytest.skip(reason)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for this test (unmounted after); skipped if we cannot mount
    (failed instead under CI)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        no_small_fs("mounting a small tmpfs needs root on Linux and `mount`")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755",
                           "tmpfs", str(mnt)], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        no_small_fs(f"a tmpfs cannot be mounted here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def fill(mnt: Path, leave_kb: int) -> Path:
    """Fill ``mnt`` with a file so that only ``leave_kb`` KiB stay free."""
    st = os.statvfs(mnt)
    filler = mnt / "filler"
    filler.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - leave_kb * 1024))
    return filler


def run_disk_child(out: Path, steps: int, free_at: int | None = None,
                   filler: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The disk child, with AUGUR_RAISE_INTERNAL_ERRORS unset (as in production)."""
    args = [sys.executable, str(DISK_CHILD), str(out), str(steps)]
    if free_at is not None and filler is not None:
        args += [str(free_at), str(filler)]
    return subprocess.run(args, capture_output=True, text=True, env=child_env(), timeout=180)


STEPS_ON_TMPFS = 60  # ~1 MB of data: roughly the first ten steps fit in what `fill` leaves


def test_disk_full_never_interrupts_the_agent_and_recovers_once_space_is_back(
        small_fs: Path, tmp_path: Path) -> None:
    """Real ENOSPC from step ~10 to the end (close too): the agent runs on; recover works once space is back."""
    filler = fill(small_fs, leave_kb=300)
    out = small_fs / "b"
    proc = run_disk_child(out, STEPS_ON_TMPFS)
    assert proc.returncode == 0, proc.stderr[-2000:]  # no exception reached the agent
    assert proc.stdout.count("a ") == STEPS_ON_TMPFS and "closed" in proc.stdout
    assert "could not write to the bundle" in proc.stderr and "ENOSPC" in proc.stderr
    expected = disk_expected(STEPS_ON_TMPFS)
    assert intact_problems(out, expected, allow_torn_tail=True) == []
    # (a partial .trace.json.<pid>.tmp may be left here: test_failed_trace_write_leaves_no_tmp)
    # The disk was still full at close: the bundle says it is not finished.
    assert (out / "live.json").exists()
    assert "unfinished" in [i.code for i in validate_bundle(out)]
    kept = {rel for rel in data_files(out) if rel.startswith("steps/")}
    assert 3 <= len(kept) < STEPS_ON_TMPFS, "the fill did not cut the run part-way"

    filler.unlink()  # space is back
    proc = cli("recover", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [i.render() for i in validate_bundle(out) if i.code != "incomplete"] == []
    assert intact_problems(out, expected, allow_torn_tail=False) == []
    assert torn_or_bad_jsonl(out) == [] and temp_files(out) == []
    assert {rel for rel in data_files(out) if rel.startswith("steps/")} == kept


# fixed: was a strict xfail before the fix; kept as a regression test
def test_disk_full_is_logged_once(small_fs: Path) -> None:
    """One disk-full episode produces exactly one ERROR line on the augur_sdk logger."""
    fill(small_fs, leave_kb=300)
    proc = run_disk_child(small_fs / "b", STEPS_ON_TMPFS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if "could not write to the bundle" in ln]
    assert len(lines) == 1, lines


# fixed: was a strict xfail before the fix; kept as a regression test
def test_space_back_mid_run_leaves_every_jsonl_line_whole(
        small_fs: Path, tmp_path: Path) -> None:
    """Real ENOSPC, then space back mid-run: every events line stays whole; the recovered bundle validates."""
    filler = fill(small_fs, leave_kb=300)
    out = small_fs / "b"
    proc = run_disk_child(out, STEPS_ON_TMPFS, free_at=40, filler=filler)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert intact_problems(out, disk_expected(STEPS_ON_TMPFS), allow_torn_tail=True) == []
    assert [p for p in torn_or_bad_jsonl(out) if "no newline" not in p] == []
    assert cli("recover", str(out)).returncode == 0
    assert [i.render() for i in validate_bundle(out) if i.code != "incomplete"] == []


# ── fault injection at the file-write layer ──────────────────────────────────


def _final_rel(path: str | os.PathLike[str]) -> str | None:
    """Bundle path (``steps/0003.json``) of a data file or of its ``.tmp`` sibling."""
    p = Path(path)
    if p.parent.name not in DATA_DIRS:
        return None
    name = p.name
    if name.endswith(".tmp"):  # .<name>.<pid>.<thread>.tmp
        name = ".".join(name[1:].split(".")[:-3])
    return f"{p.parent.name}/{name}"


class _HalfThenFail:
    """A file whose write puts half the bytes down, then fails (a write error part-way)."""

    def __init__(self, fh: Any, err: int) -> None:
        self.fh, self.err = fh, err

    def __enter__(self) -> _HalfThenFail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def write(self, data: bytes) -> int:
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        raise OSError(self.err, os.strerror(self.err))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


class WriteFaults:
    """Fails data writes number ``first`` .. ``first + count - 1`` with ``err``.

    Installed as ``augur_sdk.bundle.files.open`` (atomic writes: half the bytes land in the
    ``.tmp``, then the write fails) and ``augur_sdk.bundle.files.os`` (appends: ``os.write``
    fails before writing, or, with ``short=True``, writes half and returns the short count
    as the kernel does on a full disk; atomic writes into a spare file made ahead of time:
    half the bytes land, then the write fails). Only files under steps/, screenshots/,
    events/ count.
    """

    def __init__(self, err: int, first: int, count: int, *, short: bool = False) -> None:
        self.err, self.first, self.count, self.short = err, first, count, short
        self.n = 0
        self.failed: Counter[str] = Counter()
        self.failed_files: set[str] = set()
        self.failed_lines: list[tuple[str, bytes]] = []
        self.spare_targets: dict[int, Path] = {}  # fd of a spare being written -> its file
        self.spare_writes = 0
        self.active = True

    def _hit(self, rel: str | None) -> bool:
        if rel is None or not self.active:
            return False
        self.n += 1
        if self.first <= self.n < self.first + self.count:
            self.failed[rel.split("/")[0]] += 1
            return True
        return False

    def open(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 (caller closes)
        if "w" in mode and self._hit(_final_rel(file)):
            self.failed_files.add(str(_final_rel(file)))
            return _HalfThenFail(fh, self.err)
        return fh

    def os_proxy(self) -> Any:
        faults = self

        class _Os:
            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            def write(self, fd: int, data: bytes) -> int:
                target = faults.spare_targets.get(fd)
                if target is not None:  # an atomic write through a spare .tmp file
                    faults.spare_writes += 1
                    rel = _final_rel(target)
                    if faults._hit(rel):
                        written = os.write(fd, data[: len(data) // 2])
                        if rel is not None and rel.startswith("events/"):
                            faults.failed_lines.append((rel, bytes(data)))  # a first line
                        else:
                            faults.failed_files.add(str(rel))
                        raise OSError(faults.err, f"{os.strerror(faults.err)} after {written}")
                    return os.write(fd, data)
                rel = _final_rel(os.readlink(f"/proc/self/fd/{fd}"))
                if faults._hit(rel):
                    faults.failed_lines.append((str(rel), bytes(data)))
                    if faults.short:
                        return os.write(fd, data[: len(data) // 2])
                    raise OSError(faults.err, os.strerror(faults.err))
                return os.write(fd, data)

        return _Os()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(files, "open", self.open, raising=False)
        monkeypatch.setattr(files, "os", self.os_proxy())
        write_into_spare = files._write_into_spare

        def tracked(path: Path, data: bytes, spare: files.Spare, *, fsync: bool) -> None:
            self.spare_targets[spare[1]] = path
            try:
                write_into_spare(path, data, spare, fsync=fsync)
            finally:
                del self.spare_targets[spare[1]]

        monkeypatch.setattr(files, "_write_into_spare", tracked)

    def expected(self, steps: int) -> dict[str, bytes]:
        """What a run of ``steps`` disk steps holds when exactly these writes failed."""
        exp = disk_expected(steps)
        for rel in self.failed_files:
            exp.pop(rel, None)
        for rel, line in self.failed_lines:
            exp[rel] = exp[rel].replace(line, b"", 1)
        return {rel: data for rel, data in exp.items() if data}


def record_disk_run(out: Path, steps: int) -> dict[str, Any]:
    """The disk workload in-process; returns close()'s manifest. Must not raise."""
    with DebugSession(run_id=DISK_RUN_ID, client_name="diskfault", capture_mode="screenshots",
                      out_dir=out) as s:
        for i in range(steps):
            for kind in ("pre", "post"):
                s.attach_observation(step_index=i, kind=kind, png_bytes=disk_png(i, kind))
            s.record_step(disk_step(i))
            for event in disk_step_events(i):
                s.record_event(event)
            s.record_event(disk_event(None, i))
    return s.close()


INJECTED_STEPS = 12  # 7 data writes per step: 84 writes, faults hit 10..29


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """Internal errors logged, not re-raised (what users run), and log-once state fresh."""
    monkeypatch.delenv(_internal.RAISE_ENV, raising=False)
    _internal.reset_log_once()


@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC], ids=["EIO", "ENOSPC"])
def test_write_faults_never_interrupt_and_are_counted_exactly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        production: None, err: int) -> None:
    """20 failing writes (half-written .tmp, failed appends): no exception, one log line, exact loss counts, consistent bundle."""
    faults = WriteFaults(err, first=10, count=20)
    faults.install(monkeypatch)
    out = tmp_path / "b"
    with caplog.at_level(logging.WARNING, logger="augur_sdk"):
        manifest = record_disk_run(out, INJECTED_STEPS)
    assert sum(faults.failed.values()) == 20 and len(faults.failed) == 3, faults.failed
    logged = disk_errors(caplog.records)
    assert len(logged) == 1, logged
    assert errno.errorcode[err] in logged[0]
    producer = json.loads((out / "producer.json").read_text())
    assert producer["complete"] is False
    assert producer["lost"] == dict(faults.failed)
    assert data_files(out) == faults.expected(INJECTED_STEPS)  # nothing half-written
    assert temp_files(out) == []
    assert manifest["step_count"] == INJECTED_STEPS - faults.failed["steps"]
    assert consistency_issues(out, tmp_path) == []


def test_write_faults_through_spare_files_are_counted_exactly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        production: None) -> None:
    """With the spare files ready before the run, the first 6 data writes go through spares
    and fail half-way: no exception, exact loss counts, nothing half-written, no spare left."""
    import time

    from augur_sdk.bundle.files import SPARE_DEPTH
    from augur_sdk.bundle.layout import SPARES_DIR

    faults = WriteFaults(errno.EIO, first=1, count=6)
    faults.install(monkeypatch)
    faults.active = False
    out = tmp_path / "b"
    session = DebugSession(run_id=DISK_RUN_ID, client_name="diskfault",
                           capture_mode="screenshots", out_dir=out)
    session.start()
    deadline = time.monotonic() + 10
    while len(list((out / SPARES_DIR).glob("*.tmp"))) < SPARE_DEPTH:
        assert time.monotonic() < deadline, "the spare files were not made"
        time.sleep(0.01)
    time.sleep(0.05)  # the last one is handed over just after its create
    faults.active = True
    with caplog.at_level(logging.WARNING, logger="augur_sdk"):
        for i in range(2):
            for kind in ("pre", "post"):
                session.attach_observation(step_index=i, kind=kind,
                                           png_bytes=disk_png(i, kind))
            session.record_step(disk_step(i))
            for event in disk_step_events(i):
                session.record_event(event)
            session.record_event(disk_event(None, i))
        session.close()
    assert faults.spare_writes > 0  # the faults did hit writes into spares
    assert sum(faults.failed.values()) == 6, faults.failed
    assert len(disk_errors(caplog.records)) == 1
    producer = json.loads((out / "producer.json").read_text())
    assert producer["complete"] is False and producer["lost"] == dict(faults.failed)
    assert data_files(out) == faults.expected(2)  # nothing half-written
    assert temp_files(out) == [] and not (out / SPARES_DIR).exists()
    assert consistency_issues(out, tmp_path) == []


# fixed: was a strict xfail before the fix; kept as a regression test
def test_incomplete_bundle_is_reported_as_incomplete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production: None) -> None:
    """After close() with lost writes, `augur validate` reports 'incomplete' only (not running/unfinished)."""
    faults = WriteFaults(errno.EIO, first=10, count=5)
    faults.install(monkeypatch)
    out = tmp_path / "b"
    record_disk_run(out, INJECTED_STEPS)
    faults.active = False
    proc = cli("validate", "--json", str(out))
    codes = [json.loads(line)["code"] for line in proc.stdout.splitlines()]
    assert codes == ["incomplete"], proc.stdout


# fixed: was a strict xfail before the fix; kept as a regression test
def test_recover_keeps_the_record_of_lost_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production: None) -> None:
    """Recovering a closed-but-incomplete bundle keeps producer.json's loss record and the run's status."""
    faults = WriteFaults(errno.EIO, first=10, count=5)
    faults.install(monkeypatch)
    out = tmp_path / "b"
    record_disk_run(out, INJECTED_STEPS)
    faults.active = False
    lost = json.loads((out / "producer.json").read_text())["lost"]
    recover_bundle(out, force=True)
    producer = json.loads((out / "producer.json").read_text())
    assert (producer["complete"], producer["lost"]) == (False, lost)
    assert json.loads((out / "trace.json").read_text())["session"]["status"] == "succeeded"


def test_faults_during_close_leave_a_recoverable_bundle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        production: None) -> None:
    """EIO on trace.json and manifest.json at close: close() returns; once writes work, recover gives a valid bundle."""
    out = tmp_path / "b"
    state = {"fail": False}

    def failing_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if state["fail"] and "w" in mode and (
                "trace.json" in str(file) or "manifest.json" in str(file)):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", failing_open, raising=False)
    monkeypatch.setattr(writer, "open", failing_open, raising=False)
    monkeypatch.setattr(rundir, "open", failing_open, raising=False)  # trace.json
    with caplog.at_level(logging.WARNING, logger="augur_sdk"), DebugSession(
            run_id=DISK_RUN_ID, client_name="diskfault", capture_mode="screenshots",
            out_dir=out) as s:
        for i in range(5):
            for kind in ("pre", "post"):
                s.attach_observation(step_index=i, kind=kind, png_bytes=disk_png(i, kind))
            s.record_step(disk_step(i))
            for event in disk_step_events(i):
                s.record_event(event)
            s.record_event(disk_event(None, i))
        state["fail"] = True
    assert len(disk_errors(caplog.records)) == 1
    assert (out / "live.json").exists() and not (out / "trace.json").exists()
    assert "unfinished" in [i.code for i in validate_bundle(out)]
    state["fail"] = False
    recover_bundle(out)
    assert [i.render() for i in validate_bundle(out) if i.code != "incomplete"] == []
    assert data_files(out) == disk_expected(5)
    assert temp_files(out) == []


def test_short_append_is_completed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production: None) -> None:
    """An append the kernel cuts short is finished with the rest of the line: no partial line, nothing lost."""
    faults = WriteFaults(errno.ENOSPC, first=5, count=1, short=True)  # step 0, 2nd event
    faults.install(monkeypatch)
    out = tmp_path / "b"
    record_disk_run(out, 3)
    assert len(faults.failed_lines) == 1  # the fault did hit an append
    assert torn_or_bad_jsonl(out) == []
    assert data_files(out) == disk_expected(3)



def test_failed_trace_write_leaves_no_tmp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production: None) -> None:
    """A trace.json write that fails part-way at close leaves no .tmp behind."""
    state = {"fail": False}

    def failing_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 (caller closes)
        if state["fail"] and "w" in mode and "trace.json" in str(file):
            return _HalfThenFail(fh, errno.ENOSPC)
        return fh

    monkeypatch.setattr(writer, "open", failing_open, raising=False)
    monkeypatch.setattr(rundir, "open", failing_open, raising=False)  # trace.json
    out = tmp_path / "b"
    with DebugSession(run_id=DISK_RUN_ID, client_name="diskfault", capture_mode="trace",
                      out_dir=out) as s:
        for i in range(3):
            s.record_step(disk_step(i))
        state["fail"] = True
    assert json.loads((out / "producer.json").read_text())["lost"] == {"trace": 1}
    assert temp_files(out) == []
