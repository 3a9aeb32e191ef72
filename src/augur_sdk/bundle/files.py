"""The only place that writes bundle bytes: atomic replace and line append."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import BinaryIO


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
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def append_line(path: Path, line: bytes, *, fsync: bool = False) -> None:
    """Append one newline-terminated record with a single ``write`` on an O_APPEND fd.

    Readers treat a final line without its newline as not yet written, so a record is either
    wholly there or absent.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:  # first file of its directory
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        done = 0
        try:
            while done < len(line):
                written = os.write(fd, line[done:])
                if written <= 0:
                    raise OSError(errno.ENOSPC, f"no space left writing {path}")
                done += written
            if fsync:
                os.fsync(fd)
        except BaseException:
            # Roll back a partial line so the next append does not land mid-record.
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


def complete_lines(data: bytes) -> list[bytes]:
    """The newline-terminated lines of ``data``; a torn final line is left out."""
    if not data:
        return []
    lines = data.split(b"\n")
    return [ln for ln in lines[:-1] if ln.strip()]
