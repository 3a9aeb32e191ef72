"""The ``Store`` protocol and ``LocalFSStore``, under augur-sdk 0.6.1's names and signatures.

A store is where a bundle ends up. ``LocalFSStore(root)`` is a directory: the session writes
its live bundle straight into ``root``. Any other store (``S3Store``, or your own object with
``open_write_binary``) receives a copy of the local bundle from a background uploader (see
:mod:`augur_sdk.stores.uploader`); the local bundle under ``out_dir`` stays the live,
crash-safe copy.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Protocol, runtime_checkable


def check_relpath(relpath: str) -> str:
    """A POSIX path relative to a store's root, with no ``..`` and no leading ``/``."""
    if not isinstance(relpath, str) or not relpath:
        raise ValueError(f"relpath: expected a non-empty relative path, got {relpath!r}")
    parts = PurePosixPath(relpath).parts
    if relpath.startswith("/") or "\\" in relpath or ".." in parts or "\x00" in relpath:
        raise ValueError(f"relpath must be a relative path inside the store: {relpath!r}")
    return relpath


@runtime_checkable
class Store(Protocol):
    """Where a bundle is kept. Paths are POSIX-style, relative to the store's root."""

    @property
    def root_uri(self) -> str:
        """The root as a URI (``file:///...``, ``s3://bucket/prefix``), no trailing slash."""
        ...

    def signed_url(self, relpath: str, *, ttl_seconds: int = 3600) -> str:
        """A URL a viewer can open (``file://`` for local stores, presigned for S3)."""
        ...

    def open_write_binary(self, relpath: str) -> AbstractContextManager[IO[bytes]]:
        """Write ``relpath`` atomically: readers see the old object or the whole new one."""
        ...

    def open_write_text(self, relpath: str) -> AbstractContextManager[IO[str]]:
        """Write ``relpath`` atomically as UTF-8 text."""
        ...

    def exists(self, relpath: str) -> bool: ...

    def read_text(self, relpath: str) -> str: ...

    def read_bytes(self, relpath: str) -> bytes: ...


class LocalFSStore:
    """A directory. ``DebugSession(store=LocalFSStore(root))`` writes the bundle into ``root``
    (as augur-sdk 0.6.1 does), instead of ``out_dir``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        if not isinstance(root, str | os.PathLike):
            raise TypeError(f"root: expected a path, got {type(root).__name__}")
        self._root = Path(root).resolve()
        self._root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalFSStore({str(self._root)!r})"

    @property
    def root(self) -> Path:
        return self._root

    @property
    def root_uri(self) -> str:
        return self._root.as_uri()

    def _full(self, relpath: str) -> Path:
        path = (self._root / check_relpath(relpath)).resolve()
        if path != self._root and self._root not in path.parents:
            raise ValueError(f"relpath escapes the store root: {relpath!r}")
        return path

    def signed_url(self, relpath: str, *, ttl_seconds: int = 3600) -> str:
        return self._full(relpath).as_uri()

    @contextmanager
    def open_write_binary(self, relpath: str) -> Iterator[IO[bytes]]:
        target = self._full(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def open_write_text(self, relpath: str) -> Iterator[IO[str]]:
        with self.open_write_binary(relpath) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            try:
                yield text
            finally:
                text.flush()
                text.detach()

    def exists(self, relpath: str) -> bool:
        return self._full(relpath).exists()

    def read_text(self, relpath: str) -> str:
        return self._full(relpath).read_text(encoding="utf-8")

    def read_bytes(self, relpath: str) -> bytes:
        return self._full(relpath).read_bytes()

    def remove_tree(self) -> None:
        """Delete the whole directory (for tests)."""
        shutil.rmtree(self._root, ignore_errors=True)
