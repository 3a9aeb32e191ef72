"""Whole-bundle transfers: ``augur upload`` (send what the store lacks) and the local mirror
``augur view s3://...`` serves.

Both compare listings instead of trusting a record of what was sent earlier: the store may
have lost objects, or be a new server, since. An object counts as present when its size and
its ETag (the MD5 of a single-part upload) match the local file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from augur_sdk._version import __version__
from augur_sdk.bundle import layout
from augur_sdk.bundle.files import atomic_write
from augur_sdk.stores.s3 import RemoteObject, S3Location, TransferError
from augur_sdk.stores.transfer import (
    UPLOAD_REPORT,
    Outcome,
    bundle_files,
    content_type,
    md5_matches,
    owned_key,
    read_whole,
    run_batch,
    write_report,
)

CACHE_INDEX = ".augur-s3-cache.json"  # rel -> ETag of what the mirror holds


@dataclass
class UploadResult:
    report: dict[str, Any]
    sent: int = 0
    already: int = 0
    removed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def upload_bundle(root: Path, location: S3Location, *, jobs: int = 8, rounds: int = 5,
                  deadline: float | None = None) -> UploadResult:
    """Make ``location`` hold the bundle in ``root``: send what is missing or different
    (``manifest.json`` last, once everything else is there), then remove what the bundle no
    longer has (``live.json``, stale files of an older run), then write and send
    ``upload.json``. Retries failed files for up to ``rounds`` rounds."""
    started = time.monotonic()
    outcome = Outcome(location.destination, location.endpoint(), "augur upload",
                      f"augur-otel {__version__} (augur upload)")
    files = bundle_files(root)
    try:
        remote = location.list_objects()
    except TransferError as exc:
        if exc.retryable:
            raise
        remote = {}  # may PUT but not list: send everything, remove nothing
        outcome.notes.append(f"could not list the destination ({exc.reason}): sent every file")
    todo = [rel for rel in files if rel not in remote
            or not md5_matches(root / rel, rel, remote[rel])]
    result = UploadResult(report={}, already=len(files) - len(todo))
    arrived: set[str] = set()
    lock = threading.Lock()

    def send(rel: str) -> None:
        try:
            data, _ = read_whole(root / rel, rel)
        except OSError as exc:
            raise TransferError(f"local read failed: {type(exc).__name__}",
                                retryable=False) from None
        location.put(rel, data, content_type(rel))
        with lock:
            outcome.bytes_sent += len(data)
            arrived.add(rel)

    def send_all(rels: list[str]) -> list[str]:
        pending, pause = list(rels), 0.5
        for attempt in range(rounds):
            if not pending or (deadline is not None and time.monotonic() >= deadline):
                break
            if attempt:
                time.sleep(pause)
                pause = min(pause * 2, 8.0)
            results = run_batch(pending, send, workers=jobs, deadline=deadline)
            retry = []
            for rel in pending:
                exc = results.get(rel)
                if rel in arrived:
                    continue
                if exc is not None:
                    outcome.fail(exc.reason)
                if exc is None or exc.retryable:
                    retry.append(rel)
            pending = retry
        return [rel for rel in rels if rel not in arrived]

    missing = send_all([r for r in todo if r != layout.MANIFEST])
    if layout.MANIFEST in todo:
        missing += send_all([layout.MANIFEST]) if not missing else [layout.MANIFEST]
    result.sent = len(arrived)
    if not missing:
        for rel in sorted(remote):
            if rel not in files and rel != UPLOAD_REPORT and owned_key(rel):
                try:
                    location.delete(rel)
                    result.removed += 1
                except TransferError as exc:
                    outcome.fail(exc.reason)
                    outcome.notes.append(f"not removed from the store: {rel}")
    outcome.files = len(files)
    outcome.uploaded = len(files) - len(missing)
    outcome.missing = missing
    outcome.removed = result.removed
    report = outcome.as_json()
    report["complete"] = not missing and not any(n.startswith("not removed")
                                                 for n in outcome.notes)
    report["already_there"] = result.already
    data = write_report(root, report)
    try:
        location.put(UPLOAD_REPORT, data, content_type(UPLOAD_REPORT))
    except TransferError as exc:
        result.notes.append(f"{UPLOAD_REPORT} not sent: {exc.reason}")
    result.report = report
    result.seconds = time.monotonic() - started
    return result


# ── the mirror `augur view s3://...` serves ────────────────────────────────────


def _safe_rel(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return bool(parts) and not rel.startswith("/") and "\\" not in rel and \
        "\x00" not in rel and not any(p in ("", ".", "..") or p.startswith(".") for p in parts)


@dataclass
class MirrorResult:
    files: int = 0
    fetched: int = 0
    bytes: int = 0
    removed: int = 0
    failed: int = 0
    last_error: str | None = None


def mirror(location: S3Location, dest: Path, *, jobs: int = 8) -> MirrorResult:
    """Make ``dest`` a copy of everything under ``location`` (what changed is fetched; each
    file lands whole, ``manifest.json`` files after the rest; files the store no longer has
    are removed, ``live.json`` last, so a finished run never shows as running with half its
    files)."""
    dest.mkdir(parents=True, exist_ok=True)
    index_path = dest / CACHE_INDEX
    try:
        held: dict[str, str] = json.loads(index_path.read_text(encoding="utf-8"))
        if not isinstance(held, dict):
            held = {}
    except (OSError, ValueError):
        held = {}
    remote = {rel: obj for rel, obj in location.list_objects().items() if _safe_rel(rel)}
    result = MirrorResult(files=len(remote))
    lock = threading.Lock()

    def stale(rel: str, obj: RemoteObject) -> bool:
        if held.get(rel) != obj.etag:
            return True
        try:
            return (dest / rel).stat().st_size != obj.size
        except OSError:
            return True

    todo = sorted((rel for rel, obj in remote.items() if stale(rel, obj)),
                  key=lambda rel: (PurePosixPath(rel).name == layout.MANIFEST, rel))

    def fetch(rel: str) -> None:
        data = location.get(rel)
        target = dest / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, data)
        except OSError as exc:
            raise TransferError(f"local write failed: {type(exc).__name__}",
                                retryable=False) from None
        with lock:
            held[rel] = remote[rel].etag
            result.bytes += len(data)

    manifests = {r for r in todo if PurePosixPath(r).name == layout.MANIFEST}
    for batch in ([r for r in todo if r not in manifests], sorted(manifests)):
        for exc in run_batch(batch, fetch, workers=jobs, deadline=None).values():
            if exc is None:
                result.fetched += 1
            else:
                result.failed += 1
                result.last_error = exc.reason
    gone = sorted((rel for rel in held if rel not in remote),
                  key=lambda rel: PurePosixPath(rel).name == layout.LIVE)
    for rel in gone:
        try:
            (dest / rel).unlink(missing_ok=True)
        except OSError:
            continue
        held.pop(rel, None)
        result.removed += 1
    atomic_write(index_path, json.dumps(held, sort_keys=True).encode())
    _prune_empty_dirs(dest)
    return result


def _prune_empty_dirs(root: Path) -> None:
    for dirpath, _dirnames, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        path = Path(dirpath)
        if path != root:
            try:
                path.rmdir()  # only when empty
            except OSError:
                pass
