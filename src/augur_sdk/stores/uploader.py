"""The uploader: copies a live bundle directory to an object store on background threads.

One daemon thread looks for new and changed files (every ``poll_interval_s``) and sends them
on at most ``workers`` daemon threads; the agent's thread only starts it and, at close,
waits for it within the close budget. A file is sent when its inode is new (files land whole:
``.tmp`` + rename, or a filled spare linked into place); a ``*.jsonl`` file that grew is sent
again (whole, up to its last newline), at most every few seconds. ``manifest.json`` goes last
and only when every other file has arrived, so a remote ``manifest.json`` means a complete
remote bundle; then the remote ``live.json`` is removed. ``upload.json`` (local, and sent
when it can be) says what did not arrive; so does one WARNING on the ``augur_sdk`` logger.

Failures of the object store never raise into the agent: each request is retried by boto3,
each file again on the next round, with the rounds backing off up to 30 s while the store
is unreachable. Directory listings are cached by mtime, so a round costs a listing of the
directories that changed (plus a stat of the recently grown ``.jsonl`` files), not of the
whole bundle; with very big bundles the rounds space out so that looking for files takes at
most 5% of the time (a 20,000-step run's directories take ~0.1 s to list).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augur_sdk import _internal
from augur_sdk._version import __version__
from augur_sdk.bundle import layout
from augur_sdk.stores.s3 import S3Location, TransferError
from augur_sdk.stores.transfer import (
    UPLOAD_REPORT,
    Outcome,
    Sink,
    appendable,
    bundle_files,
    content_type,
    owned_key,
    read_whole,
    run_batch,
    skipped_name,
    write_report,
)

# A listing taken this long after the dir's last change stays valid until its mtime moves
# (2 s: safe on file systems with coarse timestamps too).
TRUST_NS = 2_000_000_000
FULL_SWEEP_S = 30.0  # every .jsonl file is looked at this often (recently grown ones: always)
HOT_S = 30.0  # a .jsonl that grew within this many seconds is looked at every round
MIN_RESEND_S = 2.0  # a growing .jsonl is sent at most this often...
RESEND_BYTES_PER_S = 200_000  # ...and, when big, at most this many bytes a second
MAX_BACKOFF_S = 30.0
SCAN_SHARE = 0.05  # looking for files takes at most this share of the time (big bundles)
LIVE_SKIP = frozenset({layout.MANIFEST, UPLOAD_REPORT})  # sent only at the end

_uploaders: weakref.WeakSet[BundleUploader] = weakref.WeakSet()


@dataclass
class _Listing:
    mtime_ns: int
    trusted: bool
    dirs: list[str]


class BundleUploader:
    """Copies the bundle in ``root`` to ``sink``; thread-safe; never raises into the caller."""

    def __init__(self, root: Path, sink: Sink, *, live: bool = True, workers: int = 4,
                 poll_interval_s: float = 1.0, finish_timeout_s: float | None = None,
                 endpoint: str | None = None, can_list: bool = True,
                 can_delete: bool = True) -> None:
        self.root = Path(root)
        self.sink = sink
        self.live = live
        self.workers = workers
        self.poll_interval_s = poll_interval_s
        self.finish_timeout_s = finish_timeout_s
        self.endpoint = endpoint
        self.can_list = can_list
        # A store that cannot delete never gets live.json: it would mark the run as
        # running there forever.
        self._live_skip = LIVE_SKIP if can_delete else LIVE_SKIP | {layout.LIVE}
        self._init_state()
        _uploaders.add(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, int] = {}  # rel -> inode of the copy that arrived
        self._sizes: dict[str, int] = {}  # .jsonl rel -> bytes of it that arrived
        self._permanent: dict[str, str] = {}  # rel -> why retrying it will not help
        self._retry: set[str] = set()  # failed in a live round: tried again in the next
        self._hot: dict[str, float] = {}  # .jsonl rel -> when it last grew (monotonic)
        self._resend_at: dict[str, float] = {}  # .jsonl rel -> not sent again before
        self._dirs: dict[str, _Listing] = {}
        self._bytes = 0
        self._outcome = Outcome(self.sink.destination, self.endpoint,
                                "live" if self.live else "close",
                                f"augur-otel {__version__} (DebugSession)")
        self._stale_checked = not self.can_list
        self._wake = threading.Event()
        self._finishing = threading.Event()  # the bundle is final: stop the live rounds
        self._final = threading.Event()  # the session writes nothing more (stream.json...)
        self._stop = threading.Event()  # the close budget is spent: no new requests
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._deadline: float | None = None
        self._report: dict[str, Any] | None = None
        self._last_sweep = 0.0
        self._scan_s = 0.0  # how long the last look for files took
        self._disabled = False

    # ── the session's three calls ───────────────────────────────────────────

    def start(self) -> None:
        """At session start, once the bundle directory is set up."""
        with _internal.internal_errors("upload start"):
            if self.root.is_dir():  # names the destination for `augur upload` after a crash
                write_report(self.root, {**self._outcome.as_json(), "complete": False,
                                         "state": "uploading"})
            if self.live:
                self._start_thread()

    def finish_async(self, budget_s: float) -> None:
        """At close, once the bundle is final: send the rest within the budget (or
        ``finish_timeout_s``), on the background thread."""
        if self._disabled:
            return
        with _internal.internal_errors("upload finish"):
            budget = self.finish_timeout_s if self.finish_timeout_s is not None else budget_s
            self._deadline = time.monotonic() + max(0.0, budget)
            self._finishing.set()
            self._wake.set()
            if self._thread is None:
                self._start_thread()

    def wait(self) -> dict[str, Any] | None:
        """After the session wrote its last file: finish, and report. Returns the report."""
        with _internal.internal_errors("upload wait"):
            if self._deadline is None or self._disabled:
                return None
            self._final.set()
            self._done.wait(max(0.0, self._deadline - time.monotonic()))
            with self._lock:
                if self._report is None:  # out of time: what arrived is what we know
                    self._stop.set()
                    self._report = self._conclude_locked(bundle_files(self.root))
                    self._write_report_quietly(self._report)
                report = self._report
            self._log(report)
            return report
        return None

    # ── the background thread ───────────────────────────────────────────────

    def _start_thread(self) -> None:
        if self._disabled:
            return
        thread = threading.Thread(target=self._run, name="augur-upload-scan", daemon=True)
        self._thread = thread
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            self._thread = None

    def _run(self) -> None:
        try:
            with _internal.internal_errors("upload"):
                endpoint = getattr(self.sink, "endpoint", None)
                if self.endpoint is None and callable(endpoint):
                    self._outcome.endpoint = endpoint()  # makes the client: not on the agent
                failures = 0
                while not self._finishing.is_set():
                    if not self._stale_checked:
                        self._remove_stale()
                    failures = 0 if self._live_round() else failures + 1
                    pause = self.poll_interval_s if failures == 0 else \
                        min(MAX_BACKOFF_S, self.poll_interval_s * 2 ** min(failures, 8))
                    pause = max(pause, self._scan_s / SCAN_SHARE)
                    self._wake.wait(pause)
                    self._wake.clear()
                self._finish()
        finally:
            self._done.set()

    def _live_round(self) -> bool:
        """Send what is new; False when the store failed (the next round backs off)."""
        now = time.monotonic()
        full = now - self._last_sweep >= FULL_SWEEP_S
        if full:
            self._last_sweep = now
        with self._lock:
            retry, self._retry = self._retry, set()
        changed = self._changed(full)
        self._scan_s = time.monotonic() - now
        todo = [rel for rel in [*changed, *sorted(retry - set(changed))]
                if rel not in self._live_skip]
        if not todo:
            return True
        return self._send(todo, deadline=None, interrupt=self._finishing)

    def _finish(self) -> None:
        deadline = self._deadline if self._deadline is not None else time.monotonic()
        if not self._stale_checked:
            self._remove_stale()
        self._send_until(self._unsent_but_manifest(bundle_files(self.root)), deadline)
        self._final.wait(max(0.0, deadline - time.monotonic()))
        files = bundle_files(self.root)  # stream.json and anything else written since
        self._send_until(self._unsent_but_manifest(files), deadline)
        if layout.MANIFEST in files and not self._unsent_but_manifest(files, all_=True):
            self._send_until([layout.MANIFEST], deadline)
            if layout.MANIFEST not in self._unsent(files):
                self._remove_gone(files, deadline)
        with self._lock:
            if self._report is not None:  # wait() gave up already and reported
                return
            report = self._conclude_locked(files)
        data = self._write_report_quietly(report)
        if data is not None and time.monotonic() < deadline and not self._stop.is_set():
            try:
                self.sink.put(UPLOAD_REPORT, data, content_type(UPLOAD_REPORT))
            except TransferError as exc:
                _internal.logger.debug("augur_sdk: upload.json not sent: %s", exc.reason)
        with self._lock:
            if self._report is None:
                self._report = report

    # ── sending ─────────────────────────────────────────────────────────────

    def _send_until(self, rels: list[str], deadline: float) -> None:
        """Send ``rels`` with retries until they arrived, failed for good, or the deadline."""
        pause = 0.2
        wanted = set(rels)
        pending = list(rels)
        while pending and time.monotonic() < deadline and not self._stop.is_set():
            self._send(pending, deadline=deadline, interrupt=self._stop)
            pending = [r for r in self._unsent(bundle_files(self.root))
                       if r in wanted and r not in self._permanent]
            if pending:
                self._stop.wait(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, 2.0)

    def _send(self, rels: list[str], *, deadline: float | None,
              interrupt: threading.Event) -> bool:
        """One attempt at each file; stops early once ``workers`` requests in a row failed
        (the store is down: no point queueing every file behind it). True if none failed."""
        stop = threading.Event()
        streak = [0]
        lock = threading.Lock()

        def one(rel: str) -> None:
            if interrupt.is_set():
                stop.set()
                return
            try:
                self._send_one(rel)
            except TransferError:
                with lock:
                    streak[0] += 1
                    if streak[0] >= self.workers:
                        stop.set()
                raise
            with lock:
                streak[0] = 0

        results = run_batch(rels, one, workers=self.workers, deadline=deadline, stop=stop)
        failed = [exc for exc in results.values() if exc is not None]
        with self._lock:
            for rel, exc in results.items():
                if exc is not None:
                    self._outcome.fail(exc.reason)
                    if not exc.retryable:
                        self._permanent[rel] = exc.reason
            # Failed, or not tried (the round stopped early): the next round tries again.
            self._retry.update(rel for rel in rels if results.get(rel) is not None
                               or rel not in results)
        return not failed

    def _send_one(self, rel: str) -> None:
        try:
            data, inode = read_whole(self.root / rel, rel)
        except FileNotFoundError:
            return  # replaced or removed since the scan: the next scan sees what is there
        except OSError as exc:
            raise TransferError(f"local read failed: {type(exc).__name__}",
                                retryable=False) from None
        self.sink.put(rel, data, content_type(rel))
        with self._lock:
            self._sent[rel] = inode
            self._bytes += len(data)
            self._permanent.pop(rel, None)
            if appendable(rel):
                self._sizes[rel] = len(data)
                self._hot[rel] = time.monotonic()
                self._resend_at[rel] = time.monotonic() + max(
                    MIN_RESEND_S, len(data) / RESEND_BYTES_PER_S)

    # ── what needs sending ──────────────────────────────────────────────────

    def _unsent_but_manifest(self, files: dict[str, int], *, all_: bool = False) -> list[str]:
        """What to send before the manifest (``all_``: including what failed for good)."""
        return [r for r in self._unsent(files)
                if r != layout.MANIFEST and (all_ or r not in self._permanent)]

    def _unsent(self, files: dict[str, int]) -> list[str]:
        """Files (of a full scan) whose current content has not arrived."""
        out = []
        with self._lock:
            for rel, inode in files.items():
                if self._sent.get(rel) != inode:
                    out.append(rel)
                elif appendable(rel):
                    try:
                        size = os.stat(self.root / rel).st_size
                    except OSError:
                        continue
                    if size > self._sizes.get(rel, 0) and self._grew_whole(rel, size):
                        out.append(rel)
        return out

    def _grew_whole(self, rel: str, size: int) -> bool:
        """A .jsonl whose new bytes hold at least one complete line."""
        try:
            with open(self.root / rel, "rb") as fh:
                fh.seek(self._sizes.get(rel, 0))
                return b"\n" in fh.read(size - self._sizes.get(rel, 0))
        except OSError:
            return False

    def _changed(self, full: bool) -> list[str]:
        """New or replaced files in the directories that changed since their last listing,
        and ``.jsonl`` files that grew (recently grown ones every round, all on ``full``)."""
        out: list[str] = []
        now_ns = time.time_ns()  # before any listing: see TRUST_NS
        seen: set[str] = set()
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            seen.add(rel_dir)
            path = self.root / rel_dir if rel_dir else self.root
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                continue
            cached = self._dirs.get(rel_dir)
            if cached is not None and cached.trusted and cached.mtime_ns == mtime and not full:
                stack.extend(cached.dirs)
                continue
            dirs: list[str] = []
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        if skipped_name(entry.name):
                            continue
                        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                        if entry.is_dir(follow_symlinks=False):
                            dirs.append(rel)
                        elif entry.is_file(follow_symlinks=False) and \
                                self._sent.get(rel) != entry.inode():
                            out.append(rel)
            except OSError:
                continue
            self._dirs[rel_dir] = _Listing(mtime, now_ns - mtime > TRUST_NS, dirs)
            stack.extend(dirs)
        for gone in [d for d in self._dirs if d not in seen]:
            del self._dirs[gone]
        now = time.monotonic()
        with self._lock:
            grown = [rel for rel in self._sizes
                     if (full or now - self._hot.get(rel, 0.0) < HOT_S)
                     and now >= self._resend_at.get(rel, 0.0)]
            if full:  # forget what went cold (full sweeps still look at every .jsonl)
                self._hot = {r: t for r, t in self._hot.items() if now - t < HOT_S}
                self._resend_at = {r: t for r, t in self._resend_at.items() if t > now}
        for rel in grown:
            try:
                size = os.stat(self.root / rel).st_size
            except OSError:
                continue
            if size > self._sizes.get(rel, 0) and rel not in out:
                out.append(rel)
        return out

    # ── remote housekeeping ─────────────────────────────────────────────────

    def _remove_stale(self) -> None:
        """Remove what an older run left at this prefix (only the names a bundle owns)."""
        try:
            remote = self.sink.list_objects()
        except TransferError as exc:
            if not exc.retryable:
                self._stale_checked = True
                with self._lock:
                    self._outcome.notes.append(f"stale objects not checked: {exc.reason}")
            return
        local = bundle_files(self.root)
        for rel in sorted(remote):
            # The manifest and upload.json are sent at the very end: an older run's copies
            # must not stand beside this run's files meanwhile.
            if owned_key(rel) and (rel not in local or rel in LIVE_SKIP):
                try:
                    self.sink.delete(rel)
                    with self._lock:
                        self._outcome.removed += 1
                except TransferError as exc:
                    with self._lock:
                        self._outcome.fail(exc.reason)
        self._stale_checked = True

    def _remove_gone(self, files: dict[str, int], deadline: float) -> None:
        """Files sent earlier and no longer in the bundle (``live.json``) leave the store."""
        with self._lock:
            gone = [rel for rel in self._sent if rel not in files]
        for rel in gone:
            if time.monotonic() >= deadline or self._stop.is_set():
                break  # the report names what is still there
            try:
                self.sink.delete(rel)
                with self._lock:
                    self._sent.pop(rel, None)
            except TransferError as exc:
                with self._lock:
                    self._outcome.fail(exc.reason)

    # ── the report ──────────────────────────────────────────────────────────

    def _conclude_locked(self, files: dict[str, int]) -> dict[str, Any]:
        outcome = self._outcome
        missing = []
        for rel, inode in files.items():
            if self._sent.get(rel) != inode:
                missing.append(rel)
            elif appendable(rel):
                try:
                    size = os.stat(self.root / rel).st_size
                except OSError:
                    continue
                if size > self._sizes.get(rel, 0):
                    missing.append(rel)
        outcome.files = len(files)
        outcome.uploaded = len(files) - len(missing)
        outcome.bytes_sent = self._bytes
        outcome.missing = missing
        for rel in sorted(set(self._sent) - set(files)):  # sent earlier, gone locally since
            outcome.notes.append(f"not removed from the store: {rel}")
        report = outcome.as_json()
        report["complete"] = not missing and not any(
            n.startswith("not removed") for n in outcome.notes)
        return report

    def _write_report_quietly(self, report: dict[str, Any]) -> bytes | None:
        try:
            return write_report(self.root, report)
        except OSError as exc:
            _internal.log_once("upload-report", logging.WARNING,
                               "augur_sdk: cannot write %s/%s (%s)", self.root, UPLOAD_REPORT,
                               type(exc).__name__)
            return None

    def _log(self, report: dict[str, Any]) -> None:
        if report.get("complete"):
            _internal.logger.debug("augur_sdk: uploaded %s to %s", self.root,
                                   report.get("destination"))
            return
        why = ", ".join(f"{n} {kind}" for kind, n in sorted(report["errors"].items())) or \
            "out of time"
        _internal.logger.warning(
            "augur_sdk: uploading %s to %s left %d of %d file(s) unsent (%s); the local "
            "bundle is complete, the list is in %s; finish with: augur upload %s",
            self.root, report.get("destination"), report["missing_count"], report["files"],
            why, UPLOAD_REPORT, self.root)

    # ── fork ────────────────────────────────────────────────────────────────

    def _after_fork_in_child(self) -> None:
        """A forked child records into ``<out_dir>.fork-<pid>`` (see DebugSession): its copy
        goes to ``<prefix>.fork-<pid>``, all at its close (no thread runs in the child)."""
        pid = os.getpid()
        self.root = Path(f"{self.root}.fork-{pid}")
        if isinstance(self.sink, S3Location):
            self.sink = S3Location(self.sink.bucket, f"{self.sink.prefix}.fork-{pid}",
                                   self.sink.options)
            disabled = False
        else:
            disabled = True  # a store of the user's own: we cannot pick a new place for it
        self._init_state()
        self._disabled = disabled


def _after_fork_in_child() -> None:
    for uploader in list(_uploaders):
        uploader._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

