"""The only place that writes bundle bytes: atomic replace and line append."""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import threading
import weakref
from collections import deque
from pathlib import Path
from typing import BinaryIO

Spare = tuple[Path, int]  # (path of an empty hidden .tmp file, its fd open for writing)
# The hot paths take plain strings too: building a Path per write costs more than the write
# itself on tmpfs.
AnyPath = str | Path


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _create(tmp: Path) -> BinaryIO:
    try:
        return open(tmp, "wb")
    except FileNotFoundError:  # first file of its directory: make it (not on every write)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return open(tmp, "wb")


def atomic_write(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    The bytes go to a hidden ``.tmp`` sibling that is then renamed over ``path``. Without
    ``fsync`` the data survives a crash of this process (it is in the kernel's page cache);
    with it, it also survives a crash of the machine.
    """
    tmp = _tmp_name(path)
    try:
        with _create(tmp) as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


def append_line(path: Path, line: bytes, *, fsync: bool = False) -> None:
    """Append one newline-terminated record with a single ``write`` on an O_APPEND fd.

    Readers treat a final line without its newline as not yet written, so a record is either
    wholly there or absent.
    """
    fd = _open_for_append(path)
    try:
        _append_whole(fd, line, path, fsync=fsync)
    finally:
        os.close(fd)


def _open_for_append(path: AnyPath) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:  # first file of its directory
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o644)


def _append_whole(fd: int, line: bytes, path: AnyPath, *, fsync: bool) -> None:
    """Write ``line`` at the end of ``fd``; a partial line is rolled back, so the next append
    does not land mid-record."""
    start = os.lseek(fd, 0, os.SEEK_END)  # where the file ends now: the roll-back point
    try:
        _write_all(fd, line, path)
        if fsync:
            os.fsync(fd)
    except BaseException:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass
        raise


class OpenAppends:
    """JSONL files of one bundle kept open for appending (the few most recently used).

    :func:`append_line` opens, seeks and closes the file for every line; a recording session
    appends a line to ``otel/spans.jsonl`` on every step, and usually several events to the
    current step's events file, so it keeps those descriptors instead. The guarantees are
    :func:`append_line`'s: one ``write`` per line on an ``O_APPEND`` fd, a partial line rolled
    back (to where the file ended just before the write). A forked child never writes through
    its parent's descriptors: it closes its copies right after the fork.
    """

    MAX_OPEN = 4

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._open: dict[AnyPath, int] = {}  # path -> fd, oldest first
        _live_appends.add(self)

    def append(self, path: AnyPath, line: bytes, *, fsync: bool = False) -> None:
        if self._pid != os.getpid():
            self._forget_in_child()
        fd = self._open.pop(path, None)
        if fd is None:
            while len(self._open) >= self.MAX_OPEN:
                self._close(next(iter(self._open)))
            fd = _open_for_append(path)
        self._open[path] = fd  # now the most recently used
        try:
            _append_whole(fd, line, path, fsync=fsync)
        except BaseException:
            self._close(path)  # start from a fresh descriptor next time
            raise

    def _close(self, path: AnyPath) -> None:
        fd = self._open.pop(path, None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _forget_in_child(self) -> None:
        for path in list(self._open):
            self._close(path)  # the child's copies; the parent's stay open
        self._pid = os.getpid()

    def close(self) -> None:
        if self._pid != os.getpid():
            self._forget_in_child()
        for path in list(self._open):
            self._close(path)


def _write_all(fd: int, data: bytes, path: AnyPath) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, f"no space left writing {path}")
        view = view[written:]


class SpareLost(Exception):
    """The spare file itself is gone (its directory was removed): nothing was written."""


class NoLinks(Exception):
    """The file system refuses hard links (vfat, exFAT, some network mounts); the data was
    put in place by a rename instead."""


def _replace_making_dir(tmp: Path, path: AnyPath) -> None:
    try:
        os.replace(tmp, path)
    except FileNotFoundError:
        if not os.path.lexists(tmp):
            raise SpareLost(str(tmp)) from None
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # first file of its directory
        os.replace(tmp, path)


def _write_into_spare(path: AnyPath, data: bytes, spare: Spare, *, fsync: bool) -> None:
    """Fill a spare and give it ``path`` as a second name: ``link`` locks only the target's
    directory (a rename would also lock the spare directory, where the helper is creating
    files). A ``path`` that exists already is replaced by a rename, and so is every path on a
    file system without hard links (then :class:`NoLinks` says so, after the write)."""
    tmp, fd = spare
    try:
        try:
            _write_all(fd, data, path)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            os.replace(tmp, path)
        except FileNotFoundError:  # the target's directory, or the spare, is missing
            _replace_making_dir(tmp, path)
        except OSError:  # EPERM, ENOTSUP, EXDEV...: no hard links here
            _replace_making_dir(tmp, path)
            raise NoLinks(str(path)) from None
    except (SpareLost, NoLinks):
        raise
    except BaseException:
        unlink_quietly(tmp)
        raise


SPARE_DEPTH = 8  # spares waiting at most (each is an open fd): two steps of four files
_SPARE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class SpareFiles:
    """Empty files made ahead of time on a helper thread, for atomic writes in one bundle.

    On some file systems creating a file costs far more than writing a small one: on the
    ext4 VM this project is measured on, a create takes about 1 ms of kernel CPU and a link
    30 us. :meth:`write` fills a spare and links it to its final path, so the caller's thread
    writes and links; the create has happened on the helper thread, on the other core, while
    the agent was busy. The spare's own name is removed later by the helper.

    Spares live in a hidden directory of their own (``<root>/.spares.tmp``, removed by
    :meth:`close`, and by ``augur recover`` if the process dies): creating a file locks its
    directory, and a link into ``steps/`` must not wait for that. At most ``depth`` spares
    wait (that many fds). :meth:`write` never waits: with none ready (a burst of writes, a
    directory the helper cannot create files in, a forked child) it returns ``False`` and the
    caller writes as usual.
    """

    def __init__(self, directory: Path, *, depth: int = SPARE_DEPTH) -> None:
        self.directory = directory
        self._depth = depth
        self._low = depth // 2  # the helper wakes when this few are left
        self._ready: deque[Spare] = deque()
        self._used: deque[Path] = deque()  # spare names to remove (their file lives on)
        self._cond = threading.Condition()
        self._stopped = False
        self._failed = False
        self._pid = os.getpid()
        self._names = itertools.count()
        self._thread: threading.Thread | None = None
        _live_pools.add(self)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._fill, name="augur-spare-files",
                                        daemon=True)
        self._thread.start()

    def ready(self) -> int:
        """How many spares are waiting now."""
        with self._cond:
            return len(self._ready)

    def write(self, path: AnyPath, data: bytes, *, fsync: bool = False) -> bool:
        """Write ``data`` to ``path`` atomically through a spare; ``False``: none was ready,
        nothing was done. Errors of the write itself are raised (the spare is gone then)."""
        if os.getpid() != self._pid:  # a forked child must not write into the parent's fds
            return False
        with self._cond:
            if not self._ready or self._stopped:
                return False
            spare = self._ready.popleft()
        done = True
        try:
            _write_into_spare(path, data, spare, fsync=fsync)
        except SpareLost:  # e.g. another run removed the spare directory: write as usual
            done = False
            self._give_up()
        except NoLinks:  # written, by a rename; spares would only cost a create each time
            self._give_up()
        finally:
            with self._cond:
                self._used.append(spare[0])
                if self._has_work():
                    self._cond.notify()  # one wake-up refills several (fewer GIL hand-offs)
        return done

    def _give_up(self) -> None:
        with self._cond:
            self._failed = True
            self._stopped = True
            self._cond.notify_all()

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop the helper; remove the spares nobody took and the spare directory."""
        if os.getpid() != self._pid:  # a forked child: the files are the parent's
            self._forget_in_child()
            return
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        with self._cond:
            left, used = list(self._ready), list(self._used)
            self._ready.clear()
            self._used.clear()
        for spare in left:
            _discard(spare)
        for name in used:
            unlink_quietly(name)
        # Anything else in it is a spare lost to an interrupt mid-write, or a second name of
        # a file that lives on under its bundle path: neither is data.
        shutil.rmtree(self.directory, ignore_errors=True)

    def _forget_in_child(self) -> None:
        """In a forked child: close the inherited fds, touch no file, never write again."""
        self._cond = threading.Condition()  # the parent's may have been held at fork time
        self._stopped = True
        for _, fd in self._ready:
            try:
                os.close(fd)
            except OSError:
                pass
        self._ready.clear()
        self._used.clear()

    def _fill(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return  # the writer writes without spares
        while True:
            with self._cond:
                while not self._has_work():
                    self._cond.wait()
                if self._stopped:
                    return
                names = list(self._used)
                self._used.clear()
                wanted = 0 if self._failed else self._depth - len(self._ready)
            for name in names:
                unlink_quietly(name)
            for _ in range(wanted):
                spare = self._create()
                with self._cond:
                    if spare is None:
                        self._failed = True
                    elif self._stopped:
                        _discard(spare)
                        return
                    else:
                        self._ready.append(spare)
                if spare is None:
                    break

    def _has_work(self) -> bool:
        """Stopping, few spares left, or used names piling up (called holding the lock)."""
        if self._stopped or (not self._failed and len(self._ready) <= self._low):
            return True
        return len(self._used) >= max(self._low, 1) or (self._failed and bool(self._used))

    def _create(self) -> Spare | None:
        path = self.directory / f"{self._pid}.{next(self._names)}.tmp"
        try:
            return path, os.open(path, _SPARE_FLAGS, 0o666)
        except OSError:  # the writer meets the same error on its own path and reports it
            return None


_live_pools: weakref.WeakSet[SpareFiles] = weakref.WeakSet()


_live_appends: weakref.WeakSet[OpenAppends] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_live_pools):
        pool._forget_in_child()
    for appends in list(_live_appends):
        appends._forget_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def unlink_quietly(path: Path) -> None:
    """Remove a temporary file if it is there; a failure to do so is not worth an error."""
    try:
        path.unlink()
    except OSError:
        pass


def _discard(spare: Spare) -> None:
    path, fd = spare
    try:
        os.close(fd)
    except OSError:
        pass
    unlink_quietly(path)


def complete_lines(data: bytes) -> list[bytes]:
    """The newline-terminated lines of ``data``; a torn final line is left out."""
    if not data:
        return []
    lines = data.split(b"\n")
    return [ln for ln in lines[:-1] if ln.strip()]
