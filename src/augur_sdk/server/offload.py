"""``augur serve --store s3://bucket/prefix``: finished runs are copied to object storage.

``--data`` stays the staging area (the bundle writer needs a POSIX file system). When a run
finishes (its trace or run span arrived, or the server halted it for idleness) it is queued;
after ``store_delay_s`` (late data within that time is folded into the same upload) one
background thread sends the bundle with :func:`augur_sdk.stores.sync.upload_bundle` to
``<store>/<tenant>/<run dir>/``: what the bucket lacks, ``manifest.json`` last, then
``upload.json``. A run finished again (late data merged within ``--reopen-window``) is queued
again and only its changed files are sent. Failed uploads are retried with backoff; at start
the data directory is scanned for finished runs whose ``upload.json`` is missing, incomplete or
older than their manifest (a server stopped before it uploaded them).

Eviction (``--evict``, off by default): once a run's upload is complete *and* its reopen
window has passed (late data is ignored from then on), its bundle directory is removed; the
server's small index file stays, so later requests for the run are still answered as for a
finished run. Evicted runs leave ``GET /api/runs``; ``augur view s3://...`` shows them.
"""

from __future__ import annotations

import heapq
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augur_sdk.bundle import layout
from augur_sdk.server.paths import run_dir

if TYPE_CHECKING:
    from augur_sdk.server.run_core import RunCore
    from augur_sdk.server.store import RunStore
    from augur_sdk.stores.s3 import S3Location

logger = logging.getLogger("augur_sdk.server")

MAX_BACKOFF_S = 60.0


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    tenant: str = field(compare=False)
    run_id: str = field(compare=False)
    evict: bool = field(compare=False, default=False)  # False: upload; True: evict


class Offloader:
    """Queues finished runs and uploads them on one background thread (see module doc)."""

    def __init__(self, store: RunStore, url: str, *, endpoint_url: str | None = None,
                 delay_s: float = 2.0, evict: bool = False, jobs: int = 4) -> None:
        from augur_sdk.stores.s3 import ClientOptions, S3Location, parse_s3_url, require_boto3

        require_boto3()
        bucket, prefix = parse_s3_url(url)
        self.store = store
        self.base = S3Location(bucket, prefix, ClientOptions(endpoint_url=endpoint_url,
                                                             max_connections=jobs + 2))
        self.delay_s = delay_s
        self.evict = evict
        self.jobs = jobs
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        self._pending: dict[tuple[str, str], float] = {}  # newest upload due per run
        self._failures: dict[tuple[str, str], int] = {}
        self._seq = 0
        self._stop = False
        self._thread: threading.Thread | None = None
        self.uploaded = 0  # complete uploads (a run finished again counts again)
        self.evicted = 0
        self.failed = 0  # upload attempts that did not complete

    def location(self, tenant: str, run_id: str) -> S3Location:
        from augur_sdk.stores.s3 import S3Location

        rel = f"{tenant}/{run_dir(run_id)}"
        prefix = f"{self.base.prefix}/{rel}" if self.base.prefix else rel
        return S3Location(self.base.bucket, prefix, self.base.options)

    # ── queueing ────────────────────────────────────────────────────────────

    def _push(self, tenant: str, run_id: str, due: float, *, evict: bool = False) -> None:
        with self._cond:
            self._seq += 1
            if not evict:
                self._pending[(tenant, run_id)] = due
            heapq.heappush(self._heap, _Job(due, self._seq, tenant, run_id, evict))
            self._cond.notify()

    def run_finished(self, run: RunCore) -> None:
        """Called (under the run's lock) each time a run is finished or finished again."""
        self._push(run.tenant, run.run_id, time.monotonic() + self.delay_s)

    def scan(self) -> int:
        """Queue finished runs on disk whose upload is missing, incomplete or stale."""
        from augur_sdk.limits import run_id_from_dir
        from augur_sdk.stores.transfer import read_report

        found = 0
        for tenant in self.store.tenants():
            try:
                dirs = [p for p in (self.store.data_dir / tenant).iterdir() if p.is_dir()]
            except OSError:
                continue
            for root in dirs:
                run_id = run_id_from_dir(root.name)
                manifest = root / layout.MANIFEST
                if run_id is None or not manifest.is_file() or (root / layout.LIVE).exists():
                    continue
                report = read_report(root)
                try:
                    stale = (report is None or not report.get("complete")
                             or (root / layout.UPLOAD_REPORT).stat().st_mtime
                             < manifest.stat().st_mtime)
                except OSError:
                    stale = True
                if stale:
                    self._push(tenant, run_id, time.monotonic())
                    found += 1
        return found

    # ── the worker ──────────────────────────────────────────────────────────

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="augur-offload", daemon=True)
        self._thread.start()

    def stop(self, budget_s: float = 30.0) -> None:
        """Upload what is still queued (evictions are dropped), within ``budget_s``."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(budget_s)

    def idle(self) -> bool:
        """True when no upload is queued or running."""
        with self._cond:
            return not self._pending

    def _next(self) -> _Job | None:
        with self._cond:
            while True:
                if self._stop:
                    uploads = sorted(j for j in self._heap if not j.evict
                                     and self._pending.get((j.tenant, j.run_id)) == j.due)
                    self._heap = uploads[1:]
                    return uploads[0] if uploads else None
                if self._heap:
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            try:
                if job.evict:
                    self._evict(job.tenant, job.run_id)
                elif self._pending.get((job.tenant, job.run_id)) == job.due:
                    self._upload(job)
            except Exception:  # a bug of ours: log it, keep the thread alive
                logger.exception("augur serve: --store: %s/%s", job.tenant, job.run_id)

    def _upload(self, job: _Job) -> None:
        from augur_sdk.stores.s3 import TransferError
        from augur_sdk.stores.sync import upload_bundle

        key = (job.tenant, job.run_id)
        root, _ = self.store.paths(job.tenant, job.run_id)
        complete, reason = False, "no manifest"
        if (root / layout.MANIFEST).is_file():
            try:
                result = upload_bundle(root, self.location(*key), jobs=self.jobs, rounds=2)
                complete = bool(result.report.get("complete"))
                reason = str(result.report.get("last_error"))
            except TransferError as exc:
                reason = exc.reason
        with self._cond:
            if self._pending.get(key) != job.due:
                return  # finished again meanwhile: a newer upload is queued
            if complete:
                del self._pending[key]
                self._failures.pop(key, None)
            else:
                tries = self._failures[key] = self._failures.get(key, 0) + 1
        if complete:
            self.uploaded += 1
            if self.evict:
                self._push(job.tenant, job.run_id, time.monotonic()
                           + self.store.config.reopen_window_s, evict=True)
            return
        self.failed += 1
        pause = min(MAX_BACKOFF_S, 2.0 ** tries)
        logger.warning("augur serve: --store: upload of %s/%s incomplete (%s); retrying in "
                       "%g s", job.tenant, job.run_id[:128], reason, pause)
        if not self._stop:
            self._push(job.tenant, job.run_id, time.monotonic() + pause)

    def _evict(self, tenant: str, run_id: str) -> None:
        with self._cond:
            if (tenant, run_id) in self._pending:
                return  # finished again: its new upload schedules the eviction
        with self.store.use(tenant, run_id, request=False) as run, run.lock:
            if not _evictable(run):
                return
            shutil.rmtree(run.root, ignore_errors=True)
            run.writer = None
        self.evicted += 1

    def stats(self) -> dict[str, Any]:
        with self._cond:
            queued = len(self._pending)
        return {"store": self.base.url, "queued": queued, "uploaded": self.uploaded,
                "failed_attempts": self.failed, "evicted": self.evicted}


def _evictable(run: RunCore) -> bool:
    """Finished, past its reopen window (late data is ignored now), not halted (a halted
    run reopens when its client comes back), and uploaded since it last changed."""
    from augur_sdk.stores.transfer import read_report

    run._load()
    if not run.finished or run.halted is not None or run.finished_epoch is None:
        return False
    if time.time() - run.finished_epoch < run.config.reopen_window_s:
        return False
    report = read_report(run.root)
    try:
        fresh = (run.root / layout.UPLOAD_REPORT).stat().st_mtime >= \
            (run.root / layout.MANIFEST).stat().st_mtime
    except OSError:
        return False
    return bool(report and report.get("complete")) and fresh

