"""``augur view DIR``: the runs held by a folder of bundles, for the run list page.

DIR is either a folder of local runs (``./augur-runs/<run_id>/``, one bundle per child) or the
data directory of ``augur serve`` (``DATA/<tenant>/<run_id>/``, with the server's small
per-run index files in ``DATA/<tenant>/.augur-server/<run_id>.json``). Children whose name
starts with a dot are never runs. A bundle is found one or two levels down, never deeper, and
only if it resolves inside DIR (a symlink out of DIR is not listed, so it cannot be served).

**Status** follows ``augur serve``'s runs API (``GET /api/runs``): ``running`` while the run is
not finished (its ``live.json`` exists, or the server's index says so), then ``failed`` when
the session status is ``failed`` or ``halted``, else ``finished``. The session record is the
server's index entry, else ``live.json``'s, else the one at the top of ``trace.json``. Both
use one rule, :func:`augur_sdk.bundle.layout.run_status` (the viewer must not import the
server package, which needs Starlette), and a test checks they agree on one data directory.

Everything read from DIR is untrusted: nothing here raises on bad content.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from augur_sdk.bundle import layout, rundesc
from augur_sdk.viewer import tree
from augur_sdk.viewer.groups import GroupsFile
from augur_sdk.viewer.reader import BundleReader, bundle_state, looks_like_bundle
from augur_sdk.viewer.summary import DECODER, as_dict, clip_text

RUNNING, FINISHED, FAILED = layout.RUN_RUNNING, layout.RUN_FINISHED, layout.RUN_FAILED
SERVER_INDEX_DIR = ".augur-server"  # as augur_sdk.server.store.INDEX_DIR
STALE_AFTER_S = 120.0  # augur serve's default stale_after_s
DISCOVER_INTERVAL_S = 1.0
LIST_INTERVAL_S = 0.5
MAX_RUNS = 5000
MAX_READERS = 16
PREFIX = "/runs/"

run_status = layout.run_status  # the rule of augur serve's runs API


def step_failed(record: Any) -> bool:
    """What the step list marks as a failure: status ``failed`` or verdict ``failed``."""
    rec = as_dict(record)
    return rec.get("status") == "failed" or as_dict(rec.get("verdict")).get("status") == "failed"


def safe_segment(name: str) -> bool:
    """A directory name usable as one URL segment of a run key: no separators, no ``..``,
    no leading dot, no control characters."""
    return bool(name) and not name.startswith(".") and ".." not in name and \
        not any(c in name for c in "/\\") and not any(ord(c) < 32 or ord(c) == 127 for c in name)


def _read_json(path: Path) -> Any:
    try:
        return DECODER.decode(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _epoch(iso: Any) -> float | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return t if math.isfinite(t) else None


def _iso(epoch: float) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunRef:
    """One bundle of DIR: ``key`` is ``run`` or ``tenant/run`` (directory names)."""

    key: str
    tenant: str | None
    name: str
    path: Path

    @property
    def href(self) -> str:
        return PREFIX + "/".join(quote(part, safe="") for part in self.key.split("/")) + "/"


@dataclass
class _Cached:
    token: tuple[Any, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    step_files: dict[str, tuple[tuple[int, int, int], bool]] = field(default_factory=dict)
    trace: tuple[tuple[int, int, int] | None, int, int] = (None, 0, 0)  # token, steps, failed


class RunDirectory:
    """Thread-safe view of the runs under ``root``: discovery, per-run summaries (cached:
    a finished run is read again only when its files change), and step readers."""

    def __init__(self, root: str | os.PathLike[str], *, jaeger: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.jaeger = jaeger
        self._lock = threading.Lock()
        self._list_lock = threading.Lock()
        self._refs: dict[str, RunRef] = {}
        self._discovered = -math.inf
        self._truncated = False
        self._cache: dict[str, _Cached] = {}
        self._readers: OrderedDict[str, BundleReader] = OrderedDict()
        self._listing: tuple[float, dict[str, Any]] | None = None
        self._groups = GroupsFile(self.root)

    # ── discovery ───────────────────────────────────────────────────────────

    def _inside(self, path: Path) -> Path | None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return None
        if resolved == self.root or not resolved.is_relative_to(self.root):
            return None
        return resolved

    def _subdirs(self, path: Path) -> list[Path]:
        try:
            with os.scandir(path) as it:
                names = sorted(e.name for e in it if safe_segment(e.name) and e.is_dir())
        except OSError:
            return []
        return [path / name for name in names]

    def _discover_locked(self) -> None:
        refs: dict[str, RunRef] = {}
        self._truncated = False
        for child in self._subdirs(self.root):
            if len(refs) >= MAX_RUNS:
                self._truncated = True
                break
            inside = self._inside(child)
            if inside is None:
                continue
            if looks_like_bundle(child):
                refs[child.name] = RunRef(child.name, None, child.name, inside)
                continue
            for grandchild in self._subdirs(child):  # DATA/<tenant>/<run_id>
                if len(refs) >= MAX_RUNS:
                    self._truncated = True
                    break
                inside2 = self._inside(grandchild)
                if inside2 is not None and looks_like_bundle(grandchild):
                    key = f"{child.name}/{grandchild.name}"
                    refs[key] = RunRef(key, child.name, grandchild.name, inside2)
        self._refs = refs
        self._discovered = time.monotonic()
        for key in [k for k in self._cache if k not in refs]:
            del self._cache[key]
        for key in [k for k in self._readers if k not in refs]:
            del self._readers[key]

    def discover(self, *, force: bool = False) -> dict[str, RunRef]:
        with self._lock:
            if force or time.monotonic() - self._discovered >= DISCOVER_INTERVAL_S:
                self._discover_locked()
            return dict(self._refs)

    def find(self, key: str) -> RunRef | None:
        """The run named ``key`` (discovering again once if it is not known yet)."""
        parts = key.split("/")
        if not 1 <= len(parts) <= 2 or not all(safe_segment(p) for p in parts):
            return None
        ref = self.discover().get(key)
        if ref is None:
            with self._lock:
                if time.monotonic() - self._discovered > 0.2:
                    self._discover_locked()
                ref = self._refs.get(key)
        return ref

    def route(self, raw_path: str) -> tuple[RunRef, str] | None:
        """``/runs/<key>/<rest>`` (raw, percent-encoded) as the run and ``/<rest>``; ``rest``
        is ``""`` when the trailing slash is missing (the caller redirects)."""
        if not raw_path.startswith(PREFIX):
            return None
        segments = raw_path[len(PREFIX):].split("/")
        for width in (2, 1):
            if len(segments) < width:
                continue
            try:
                names = [unquote(s, errors="strict") for s in segments[:width]]
            except UnicodeDecodeError:
                return None
            if not all(safe_segment(n) for n in names):
                continue
            ref = self.find("/".join(names))
            if ref is not None:
                rest = segments[width:]
                return ref, ("/" + "/".join(rest)) if rest else ""
        return None

    def reader(self, ref: RunRef) -> BundleReader:
        with self._lock:
            reader = self._readers.get(ref.key)
            if reader is not None:
                self._readers.move_to_end(ref.key)
                return reader
        reader = BundleReader(ref.path, jaeger=self.jaeger)
        with self._lock:
            reader = self._readers.setdefault(ref.key, reader)
            self._readers.move_to_end(ref.key)
            while len(self._readers) > MAX_READERS:
                self._readers.popitem(last=False)
        return reader

    # ── the run list ────────────────────────────────────────────────────────

    def listing(self) -> dict[str, Any]:
        """Every run, newest first, for ``/api/runs`` (computed at most every 0.5 s); a
        worker run comes right after its orchestrator (``parent_key``, ``depth``,
        ``children``: :mod:`augur_sdk.viewer.tree`)."""
        with self._list_lock:  # one computation at a time; the others reuse its result
            listing = self._listing
            if listing is not None and time.monotonic() - listing[0] < LIST_INTERVAL_S:
                return listing[1]
            refs = self.discover()
            runs = []
            for ref in refs.values():
                try:
                    runs.append(self._describe(ref))
                except (OSError, ValueError, RecursionError):  # pragma: no cover - defensive
                    continue
            runs.sort(key=lambda r: (r["_sort"], r["key"]), reverse=True)
            runs = tree.arrange(runs)  # an orchestrator's workers right under it
            groups, by_run = self._groups.load()
            for run in runs:
                run.pop("_sort")
                run["groups"] = by_run.get(run["key"], [])
            result = {"root": str(self.root), "count": len(runs), "groups": groups,
                      "truncated": self._truncated,
                      "running": sum(1 for r in runs if r["status"] == RUNNING), "runs": runs}
            self._listing = (time.monotonic(), result)
            return result

    def _token(self, ref: RunRef, index_path: Path) -> tuple[Any, ...]:
        root = ref.path
        return (_stat(root / layout.LIVE), _stat(root / layout.TRACE),
                _stat(root / layout.MANIFEST), _stat(index_path), _stat(root / "steps"))

    def _count_steps(self, ref: RunRef, cached: _Cached) -> tuple[int, int]:
        """Steps and failed steps, from ``steps/`` (re-reading only changed files) or, for
        a bundle without it, from ``trace.json``."""
        steps_dir = ref.path / "steps"
        try:
            with os.scandir(steps_dir) as it:
                entries = [e for e in it if e.name.endswith(".json") and e.name[:-5].isdigit()]
        except OSError:
            entries = None
        if entries is None or not entries:
            token = _stat(ref.path / layout.TRACE)
            if token is not None and cached.trace[0] != token:
                steps = as_dict(_read_json(ref.path / layout.TRACE)).get("steps")
                steps = steps if isinstance(steps, list) else []
                cached.trace = (token, len(steps), sum(1 for s in steps if step_failed(s)))
            if token is not None:
                return cached.trace[1], cached.trace[2]
            return 0, 0
        files: dict[str, tuple[tuple[int, int, int], bool]] = {}
        for entry in entries:
            try:
                st = entry.stat()
            except OSError:
                continue
            token = (st.st_ino, st.st_mtime_ns, st.st_size)
            known = cached.step_files.get(entry.name)
            if known is not None and known[0] == token:
                files[entry.name] = known
            else:
                files[entry.name] = (token, step_failed(_read_json(steps_dir / entry.name)))
        cached.step_files = files
        return len(files), sum(1 for _, failed in files.values() if failed)

    def _describe(self, ref: RunRef) -> dict[str, Any]:
        root = ref.path
        index_path = root.parent / SERVER_INDEX_DIR / f"{ref.name}.json"
        with self._lock:
            cached = self._cache.setdefault(ref.key, _Cached())
        token = self._token(ref, index_path)
        has_live = token[0] is not None or (root / layout.LIVE).exists()
        if cached.info and cached.token == token and not has_live:
            return dict(cached.info)  # finished and unchanged

        steps, failed = self._count_steps(ref, cached)
        facts = rundesc.describe(root, index_path, step_count=steps)
        if facts is None:  # a folder with steps but no manifest or live marker yet
            facts = rundesc.RunFacts(
                run_id=None, status=RUNNING, finished=False, live=False, session={}, index={},
                client={}, capture_mode=None, started_at=None, ended_at=None,
                step_count=steps, last_activity=_mtime(root))
        state, _ = bundle_state(root) if facts.live else (FINISHED, {})
        last = facts.last_activity
        started = facts.started_at
        info: dict[str, Any] = {
            "key": ref.key,
            "href": ref.href,
            "tenant": ref.tenant,
            **facts.summary(),
            "run_id": facts.run_id or clip_text(ref.name, 300),
            "dir": ref.name,
            "live": state,  # running / unfinished (its producer is gone) / finished
            "stale": facts.status == RUNNING and bool(last)
            and time.time() - last > STALE_AFTER_S,
            "failed_steps": failed,
            "path": str(root),
        }
        info["_sort"] = _epoch(started) or last or 0.0  # newest first; removed by listing()
        info["orchestrator"] = tree.is_orchestrator(info.get("tags"))
        info["_parent_tag"], info["_parent_branch"] = tree.parent_names(facts.session)
        cached.token = token
        cached.info = info
        return dict(info)
