"""Spare files: empty files made ahead of time on a helper thread, so that a call only writes
and links. What must hold: a spare write is as atomic as a rename, leaves no extra name or fd
behind, never waits, is never used by a forked child, and a killed run's spares are removed by
`augur recover`."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from augur_sdk.bundle import files, layout
from augur_sdk.bundle.files import SpareFiles
from augur_sdk.bundle.recover import recover_bundle
from augur_sdk.validation import validate_bundle

from support import ChildLines, wait_pid


def _wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def _helper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "augur-spare-files"]


def _spare_fds(root: Path) -> list[str]:
    """This process's open fds on files in ``root``'s spare directory."""
    spare_dir = str(root / layout.SPARES_DIR)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(spare_dir + "/"):
            found.append(target)
    return found


def _in_forked_child(work: Callable[[], bytes]) -> bytes:
    """Run ``work`` in a forked child; return what it returned (the child must exit 0)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.write(write_end, work())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        assert wait_pid(pid, timeout_s=60) == 0
        answer = os.read(read_end, 64)  # the child wrote it and exited: no wait
    finally:
        os.close(read_end)
    return answer


@pytest.fixture
def spares(tmp_path: Path) -> Any:
    pool = SpareFiles(tmp_path / layout.SPARES_DIR, depth=3)
    pool.start()
    assert _wait_for(lambda: pool.ready() == 3), "the helper made no spares"
    yield pool
    pool.close()


def test_a_spare_write_lands_the_whole_file_under_one_name(tmp_path: Path, spares: Any) -> None:
    """The file appears with all its bytes; the spare's own name is removed by the helper; the
    pool refills to its depth and never goes past it."""
    dest = tmp_path / "steps" / "0000.json"  # its directory does not exist yet
    data = os.urandom(300_000)
    assert spares.write(dest, data) is True
    assert dest.read_bytes() == data
    assert _wait_for(lambda: dest.stat().st_nlink == 1), "the spare's name was not removed"
    assert _wait_for(lambda: spares.ready() == 3)
    time.sleep(0.1)
    assert spares.ready() == 3
    assert len(list((tmp_path / layout.SPARES_DIR).iterdir())) == 3


def test_the_helper_refills_in_batches_once_half_the_spares_are_used(tmp_path: Path) -> None:
    """Each wake-up of the helper costs the writing thread a GIL hand-off: it sleeps until
    half the spares are used, then removes the used names and refills to the depth at once."""
    pool = SpareFiles(tmp_path / layout.SPARES_DIR, depth=8)
    pool.start()
    try:
        assert _wait_for(lambda: pool.ready() == 8)
        spare_dir = tmp_path / layout.SPARES_DIR
        for i in range(3):
            assert pool.write(tmp_path / f"{i}.json", b"{}\n")
        time.sleep(0.2)
        assert pool.ready() == 5  # not refilled yet
        assert len(list(spare_dir.iterdir())) == 8  # 5 spares + 3 names not yet removed
        assert pool.write(tmp_path / "3.json", b"{}\n")  # the fourth: half are used
        assert _wait_for(lambda: pool.ready() == 8)
        assert _wait_for(lambda: len(list(spare_dir.iterdir())) == 8)
        assert all((tmp_path / f"{i}.json").stat().st_nlink == 1 for i in range(4))
    finally:
        pool.close()


def test_an_existing_file_is_replaced_whole(tmp_path: Path, spares: Any) -> None:
    dest = tmp_path / "live.json"
    dest.write_bytes(b"old contents\n")
    assert spares.write(dest, b"new\n") is True
    assert dest.read_bytes() == b"new\n"
    assert dest.stat().st_nlink == 1  # renamed over, not linked


def test_close_removes_every_spare_the_directory_and_the_helper(tmp_path: Path) -> None:
    before = len(_helper_threads())
    pool = SpareFiles(tmp_path / layout.SPARES_DIR, depth=4)
    pool.start()
    assert _wait_for(lambda: pool.ready() == 4)
    assert len(_spare_fds(tmp_path)) == 4
    assert pool.write(tmp_path / "a.json", b"{}\n")
    pool.close()
    assert not (tmp_path / layout.SPARES_DIR).exists()
    assert len(_helper_threads()) == before
    assert _spare_fds(tmp_path) == []  # the spares' fds are closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert pool.write(tmp_path / "b.json", b"{}\n") is False  # closed: the caller writes


def test_close_removes_a_spare_lost_to_an_interrupt(tmp_path: Path) -> None:
    """A spare taken by a write that Ctrl-C stopped before it could hand the spare back (here:
    a file the pool does not know) does not outlive close()."""
    pool = SpareFiles(tmp_path / layout.SPARES_DIR, depth=2)
    pool.start()
    assert _wait_for(lambda: pool.ready() == 2)
    (tmp_path / layout.SPARES_DIR / "lost.tmp").write_bytes(b"")
    pool.close()
    assert not (tmp_path / layout.SPARES_DIR).exists()


def test_with_no_spare_ready_write_does_nothing_and_says_so(tmp_path: Path) -> None:
    pool = SpareFiles(tmp_path / layout.SPARES_DIR)  # never started
    assert pool.write(tmp_path / "a.json", b"{}\n") is False
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_neither_the_file_nor_the_spare(
        tmp_path: Path, spares: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that puts half the bytes down and then fails (a full disk) raises, and leaves
    no half file at the destination and no spare behind it."""

    class HalfThenFull:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def write(self, fd: int, data: bytes) -> int:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "os", HalfThenFull())
    dest = tmp_path / "screenshots" / "0000_pre.png"
    with pytest.raises(OSError) as info:
        spares.write(dest, os.urandom(10_000))
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert not dest.exists()
    assert _wait_for(lambda: spares.ready() == 3)
    assert len(list((tmp_path / layout.SPARES_DIR).iterdir())) == 3  # only fresh spares


def test_without_hard_links_the_write_lands_by_rename_and_spares_stop(
        tmp_path: Path, spares: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a file system that refuses links (vfat, exFAT, some network mounts: EPERM), the
    write still lands, whole, by a rename; then the pool stops and the writer writes as
    usual."""

    class NoLinkOs:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def link(self, src: Any, dst: Any) -> None:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(files, "os", NoLinkOs())
    dest = tmp_path / "steps" / "0000.json"
    assert spares.write(dest, b"step\n") is True
    assert dest.read_bytes() == b"step\n"
    assert spares.write(tmp_path / "b.json", b"{}\n") is False  # stopped: caller writes
    assert not (tmp_path / "b.json").exists()


def test_a_spare_whose_directory_was_removed_is_not_a_lost_write(
        tmp_path: Path, spares: Any) -> None:
    """Another run cleared the spare directory: the write says it did nothing (so the writer
    writes as usual), and nothing half-written appears."""
    import shutil

    shutil.rmtree(tmp_path / layout.SPARES_DIR)
    dest = tmp_path / "steps" / "0000.json"
    assert spares.write(dest, b"step\n") is False
    assert not dest.exists()


def test_close_in_a_forked_child_leaves_the_parents_spares_alone(
        tmp_path: Path, spares: Any) -> None:
    def child() -> bytes:
        spares.close()
        return str(len(_spare_fds(tmp_path))).encode()

    assert _in_forked_child(child) == b"0"  # the child closed the fds it inherited
    assert spares.ready() == 3 and len(list((tmp_path / layout.SPARES_DIR).iterdir())) == 3
    assert spares.write(tmp_path / "a.json", b"{}\n") is True  # the parent's still work


def test_a_forked_child_never_writes_into_the_parents_spares(tmp_path: Path, spares: Any) -> None:
    def child() -> bytes:  # its spares' fds are the parent's open files
        return b"used" if spares.write(tmp_path / "child.json", b"{}\n") else b"declined"

    assert _in_forked_child(child) == b"declined"
    assert spares.ready() == 3 and not (tmp_path / "child.json").exists()


_KILLED_RUN = """
import sys, time
from augur_sdk import DebugSession
from augur_sdk.testing import make_png
sys.path.insert(0, {tests!r})
from support import step_record, event_record
s = DebugSession(run_id="r", client_name="a", capture_mode="screenshots", out_dir={out!r})
s.__enter__()
for i in range(3):
    s.attach_observation(step_index=i, kind="pre", png_bytes=make_png(40, 40, seed=i))
    s.record_step(step_record("r", i))
    s.record_event(event_record(i))
print("recorded", flush=True)
time.sleep(60)
"""


def test_spares_of_a_killed_run_are_removed_by_recover(tmp_path: Path) -> None:
    """SIGKILL while spares wait: the folder holds them, `recover` removes them and the
    bundle validates with every step that was recorded."""
    out = tmp_path / "b"
    script = _KILLED_RUN.format(tests=str(Path(__file__).parent), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = ChildLines(proc.stdout).next(timeout_s=60)
        assert first is not None and first.strip() == "recorded", first
        assert _wait_for(lambda: len(list((out / layout.SPARES_DIR).glob("*.tmp"))) > 0)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    recover_bundle(out, force=True)
    assert not (out / layout.SPARES_DIR).exists()
    assert list(out.rglob("*.tmp")) == []
    assert validate_bundle(out) == []
    assert sorted(p.name for p in (out / "steps").iterdir()) == ["0000.json", "0001.json",
                                                                  "0002.json"]


def test_a_session_uses_spares_and_leaves_none(tmp_path: Path) -> None:
    """While a run records, its spare directory holds ready files; after close() the bundle
    has no spare directory, no .tmp file, and no step file with a second name."""
    from augur_sdk import DebugSession

    from support import event_record, step_record

    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
        s.record_step(step_record("r", 0))
        # The helper refills only once half the spares are used: more than half are there.
        assert _wait_for(lambda: files.SPARE_DEPTH // 2 < len(list(
            (out / layout.SPARES_DIR).glob("*.tmp"))) <= files.SPARE_DEPTH)
        for i in range(1, 4):
            s.record_step(step_record("r", i))
            s.record_event(event_record(i))
    assert not (out / layout.SPARES_DIR).exists()
    assert list(out.rglob("*.tmp")) == []
    assert all(p.stat().st_nlink == 1 for p in out.rglob("*") if p.is_file())
    assert validate_bundle(out) == []


# ── JSONL files kept open (OpenAppends) ──────────────────────────────────────


def _fds_on(path: Path) -> int:
    """How many of this process's fds are open on ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:
            continue
    return count


def test_kept_open_appends_write_whole_lines_through_one_fd_per_file(tmp_path: Path) -> None:
    """Lines land in order through one descriptor per file; at most MAX_OPEN files stay open
    (the least recently used is closed, and reopened at its end when needed); close() closes
    them all."""
    appends = files.OpenAppends()
    spans = tmp_path / "otel" / "spans.jsonl"  # its directory does not exist yet
    for i in range(50):
        appends.append(spans, f'{{"n":{i}}}\n'.encode())
    assert _fds_on(spans) == 1
    others = [tmp_path / f"events{i}.jsonl" for i in range(files.OpenAppends.MAX_OPEN)]
    for path in others:  # pushes spans.jsonl out: it is the least recently used
        appends.append(path, b"{}\n")
    assert _fds_on(spans) == 0 and all(_fds_on(p) == 1 for p in others[1:])
    appends.append(spans, b'{"n":50}\n')  # reopened: continues at the end
    assert spans.read_text().splitlines() == [f'{{"n":{i}}}' for i in range(51)]
    appends.close()
    assert _fds_on(spans) == 0 and all(_fds_on(p) == 0 for p in others)


def test_a_kept_open_append_cut_short_is_rolled_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that puts half a line down and fails (disk full) leaves the file ending on its
    last whole line, and the next append goes on from there."""
    appends = files.OpenAppends()
    path = tmp_path / "events.jsonl"
    appends.append(path, b'{"a":1}\n')
    real_write_all = files._write_all

    def half_then_enospc(fd: int, data: bytes, where: Path) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_write_all", half_then_enospc)
    with pytest.raises(OSError):
        appends.append(path, b'{"b":2222222}\n')
    assert path.read_bytes() == b'{"a":1}\n'
    monkeypatch.setattr(files, "_write_all", real_write_all)
    appends.append(path, b'{"c":3}\n')
    assert path.read_bytes() == b'{"a":1}\n{"c":3}\n'
    appends.close()


def test_a_forked_child_appends_through_its_own_fd(tmp_path: Path) -> None:
    """A child closes the descriptors it inherited and opens its own: both processes' lines
    are whole, and the parent's descriptor still works after the child is gone."""
    appends = files.OpenAppends()
    path = tmp_path / "spans.jsonl"
    appends.append(path, b'{"who":"parent"}\n')

    def child() -> bytes:
        appends.append(path, b'{"who":"child"}\n')
        appends.close()
        return b"ok"

    assert _in_forked_child(child) == b"ok"
    appends.append(path, b'{"who":"parent again"}\n')
    assert path.read_bytes().splitlines() == [b'{"who":"parent"}', b'{"who":"child"}',
                                              b'{"who":"parent again"}']
    assert _fds_on(path) == 1
    appends.close()
