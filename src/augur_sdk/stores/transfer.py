"""What the uploader and ``augur upload`` share: which files of a bundle go up, reading them
whole, a bounded set of daemon threads for one batch of requests, and ``upload.json``.

The bundle writer is not involved: everything here reads the bundle directory as any reader
would. Files land whole (``.tmp`` + rename, or a hard link of a filled spare file), so a file
read here is complete; ``*.jsonl`` files grow by whole lines, so they are sent up to their
last newline and sent again when they have grown.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from augur_sdk.bundle import layout
from augur_sdk.bundle.files import atomic_write
from augur_sdk.records import utcnow_iso
from augur_sdk.stores.s3 import RemoteObject, TransferError

UPLOAD_REPORT = layout.UPLOAD_REPORT
MISSING_LISTED = 1000  # upload.json names at most this many missing files (and counts all)
LAST = (layout.MANIFEST,)  # sent after every other file arrived: its presence means "complete"

_TYPES = {".json": "application/json", ".jsonl": "application/x-ndjson", ".png": "image/png",
          ".md": "text/markdown; charset=utf-8", ".html": "text/html; charset=utf-8"}


class Sink(Protocol):
    """Where files go: an S3 location, or a user's ``Store`` (see :class:`StoreSink`)."""

    @property
    def destination(self) -> str: ...

    def put(self, rel: str, data: bytes, content_type: str | None = None) -> None: ...

    def delete(self, rel: str) -> None: ...

    def list_objects(self) -> dict[str, RemoteObject]: ...


class StoreSink:
    """A ``Store`` of your own (augur-sdk 0.6.1's protocol): files are written through its
    ``open_write_binary``; it cannot list or delete, so stale objects are not removed."""

    can_list = False

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def destination(self) -> str:
        try:
            return str(self.store.root_uri)
        except Exception:
            return type(self.store).__name__

    def put(self, rel: str, data: bytes, content_type: str | None = None) -> None:
        try:
            with self.store.open_write_binary(rel) as fh:
                fh.write(data)
        except Exception as exc:  # the user's store: any failure is a failed transfer
            raise TransferError(f"{type(exc).__name__}: {str(exc)[:200]}") from None

    def delete(self, rel: str) -> None:
        raise TransferError("this store cannot delete", retryable=False)

    def list_objects(self) -> dict[str, RemoteObject]:
        raise TransferError("this store cannot list", retryable=False)


def content_type(rel: str) -> str | None:
    return _TYPES.get(os.path.splitext(rel)[1])


def appendable(rel: str) -> bool:
    return rel.endswith(".jsonl")


def skipped_name(name: str) -> bool:
    """Never uploaded: hidden entries (``.spares.tmp/``, ``.x.tmp``) and temporary files."""
    return name.startswith(".") or layout.is_temp_name(name)


def owned_key(rel: str) -> bool:
    """A remote path a bundle owns: removed when it is not in the local bundle (a stale file
    of an older run at the same prefix, or ``live.json`` once the run is finished)."""
    first = rel.split("/", 1)[0]
    return first in layout.OWNED_ENTRIES or skipped_name(first) or \
        first == UPLOAD_REPORT or layout.is_temp_name(rel)


def bundle_files(root: Path) -> dict[str, int]:
    """Every file of the bundle under ``root`` that goes up: relative path -> inode."""
    found: dict[str, int] = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(root / rel_dir if rel_dir else root))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if skipped_name(entry.name):
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    found[rel] = entry.inode()
            except OSError:
                continue
    found.pop(UPLOAD_REPORT, None)  # written last, from the outcome
    return found


def read_whole(path: Path, rel: str) -> tuple[bytes, int]:
    """The file's bytes as they may be sent, and its inode. A ``.jsonl`` file is cut after
    its last newline (a line being appended is not yet written)."""
    with open(path, "rb") as fh:
        inode = os.fstat(fh.fileno()).st_ino
        data = fh.read()
    if appendable(rel) and data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    return data, inode


def run_batch(items: list[str], fn: Callable[[str], None], *, workers: int,
              deadline: float | None, stop: threading.Event | None = None
              ) -> dict[str, TransferError | None]:
    """Call ``fn(item)`` for each item on at most ``workers`` daemon threads; return each
    item's outcome (None = done). Items not started by the deadline (or after ``stop``) are
    left out of the result. Daemon threads: a request hanging on a dead server never holds
    up the interpreter's exit."""
    queue = collections.deque(items)
    results: dict[str, TransferError | None] = {}
    lock = threading.Lock()

    def work() -> None:
        while True:
            if stop is not None and stop.is_set():
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            with lock:
                if not queue:
                    return
                item = queue.popleft()
            try:
                fn(item)
                outcome: TransferError | None = None
            except TransferError as exc:
                outcome = exc
            with lock:
                results[item] = outcome

    threads = [threading.Thread(target=work, name="augur-upload", daemon=True)
               for _ in range(max(1, min(workers, len(items))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    with lock:
        return dict(results)


def error_kind(reason: str) -> str:
    """``EndpointConnectionError: Could not connect to ...`` -> ``EndpointConnectionError``,
    ``NoSuchBucket (HTTP 404)`` -> ``NoSuchBucket`` (counts are kept per kind, so a report
    stays small)."""
    return reason.split(" (HTTP", 1)[0].split(":", 1)[0]


@dataclass
class Outcome:
    """What reached the destination, for ``upload.json``."""

    destination: str
    endpoint: str | None
    mode: str
    by: str
    files: int = 0
    uploaded: int = 0
    bytes_sent: int = 0
    missing: list[str] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    last_error: str | None = None
    removed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing

    def fail(self, reason: str) -> None:
        self.errors[error_kind(reason)] += 1
        self.last_error = reason

    def as_json(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "destination": self.destination,
            "mode": self.mode,
            "by": self.by,
            "complete": self.complete,
            "files": self.files,
            "uploaded": self.uploaded,
            "bytes_sent": self.bytes_sent,
            "missing": sorted(self.missing)[:MISSING_LISTED],
            "missing_count": len(self.missing),
            "errors": dict(sorted(self.errors.items())),
            "updated_at": utcnow_iso(),
        }
        if self.endpoint:
            report["endpoint"] = self.endpoint
        if self.last_error:
            report["last_error"] = self.last_error
        if self.removed:
            report["removed_stale"] = self.removed
        if self.notes:
            report["notes"] = sorted(set(self.notes))
        return report


def write_report(root: Path, report: Mapping[str, Any]) -> bytes:
    """Write ``upload.json`` into the local bundle; return its bytes (to send as well)."""
    data = layout.dumps(dict(report)).encode()
    atomic_write(root / UPLOAD_REPORT, data)
    return data


def read_report(root: Path) -> dict[str, Any] | None:
    import json

    try:
        report = json.loads((root / UPLOAD_REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def md5_matches(path: Path, rel: str, remote: RemoteObject) -> bool:
    """The remote object holds these bytes (size, and the ETag when it is a plain MD5)."""
    import hashlib

    try:
        data, _ = read_whole(path, rel)
    except OSError:
        return False
    if len(data) != remote.size:
        return False
    etag = remote.etag.lower()
    if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag):
        return hashlib.md5(data, usedforsecurity=False).hexdigest() == etag
    return False  # a multipart or encrypted object's ETag says nothing: send it again


def ordered(rels: Iterable[str]) -> list[str]:
    """Send order: everything else, then the manifest (see :data:`LAST`)."""
    wanted = set(rels)
    return sorted(wanted - set(LAST)) + [r for r in LAST if r in wanted]
