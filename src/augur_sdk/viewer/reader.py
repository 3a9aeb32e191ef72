"""Read an Augur bundle for the viewer: an incremental step index, step details, screenshots.

Everything in a bundle is untrusted input: records may be malformed, paths may point outside
the bundle, JSON may hold NaN. Nothing here raises on bad content; it is reported instead.

The index is incremental so that a bundle still being written can be tailed cheaply: each
scan lists ``steps/``, ``screenshots/`` and ``events/`` (one ``scandir`` each), re-reads only
the step files whose size or mtime changed, and stamps every changed summary with a new
generation number. A client asks for ``since=<generation>`` and gets only what changed.
"""

from __future__ import annotations

import base64
import math
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augur_sdk import limits
from augur_sdk.bundle import layout
from augur_sdk.bundle.layout import trace_session_head
from augur_sdk.validation import RUNNING, UNFINISHED, live_state
from augur_sdk.viewer import sections
from augur_sdk.viewer.summary import (
    DECODER,
    FAR_PX,
    HEX_ID_RE,
    as_dict,
    clip_text,
    finite_number,
    jaeger_url,
    json_bytes,
    loads,
    normalize_jaeger_base,
    png_size,
    record_problem,
    summarize,
    to_json,
)

MAX_FINDINGS_BYTES = 16 * 1024 * 1024
_SEVERITY_ORDER = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

SCAN_INTERVAL_S = 0.2
"""Scans closer together than this reuse the previous one (many clients, one disk walk)."""

RACY_MTIME_NS = 2_000_000_000
"""A folder changed less than this long ago is listed again even if its mtime looks known."""

RECENT_EVENT_FILES = 32
"""While a run is written, the event files of this many latest steps are checked each scan."""

MAX_EVENTS_PER_STEP = 5000

FINISHED = "finished"
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".webp": "image/webp"}
OBSERVATION_KINDS = limits.OBSERVATION_KINDS

_STEP_FILE_RE = re.compile(rf"^(\d{{1,{limits.STEP_INDEX_DIGITS}}})\.json$")
_EVENTS_FILE_RE = re.compile(rf"^(\d{{1,{limits.STEP_INDEX_DIGITS}}})\.jsonl$")
_INDEX_DIR_RE = re.compile(rf"^\d{{1,{limits.STEP_INDEX_DIGITS}}}$")
MAX_ITERATIONS = 200  # iterations of one step shown side by side

# Statuses of a shot in a summary/detail: recorded and on disk, not recorded, recorded but gone.
SHOT_OK, SHOT_NONE, SHOT_MISSING = "ok", "none", "missing"



@dataclass
class _Entry:
    index: int
    rel: str  # "steps/NNNN.json", or "trace.json" for bundles without steps/
    file_token: Any  # inode of the step file, or (trace.json token, position)
    token: tuple[Any, ...] = ()
    record: Any = None
    error: str | None = None
    observations: dict[str, str | None] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    gen: int = 0
    timing: tuple[Any, Any, float | None] = (None, None, None)  # started, ended, duration_ms


class BundleReader:
    """Thread-safe reader of one bundle directory (live or finished)."""

    def __init__(self, root: str | os.PathLike[str], *, jaeger: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.jaeger = normalize_jaeger_base(jaeger)
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._gen = 0
        self._epoch = 1
        self._last_scan = -math.inf
        self._shot_names: set[str] = set()
        self._event_sizes: dict[int, int] = {}
        self._trace_token: tuple[int, int] | None = None
        self._trace_steps: list[Any] = []
        self._trace_session: Any = None
        self._spans_pos = 0
        self._spans_inode: tuple[int, int] | None = None
        self._step_spans: dict[int, dict[str, str]] = {}
        self._run_span: dict[str, str] | None = None
        self._full_json: tuple[tuple[int, int], str] = ((-1, -1), "[]")
        self._listings: dict[str, tuple[tuple[int, int], list[os.DirEntry[str]]]] = {}
        self._shot_listing: list[os.DirEntry[str]] = []
        self._finished_token: tuple[int, int, int] | None = None
        self._json_files: dict[str, tuple[tuple[int, int, int], Any]] = {}

    # ── the incremental index ───────────────────────────────────────────────

    def scan(self, *, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_scan < SCAN_INTERVAL_S:
                return
            self._last_scan = now
            # No gc.disable() here: it is process-wide, and a library must not switch off
            # the host's collector (other threads would run without it meanwhile).
            self._scan_locked()

    def _listdir(self, rel: str) -> list[os.DirEntry[str]]:
        """The entries of a bundle folder, listed again only when the folder changed.

        Every file the SDK writes lands by rename or creation, which changes the folder's
        mtime; a folder modified in the last two seconds is always listed again, so a
        coarse mtime cannot hide a change (appends to events/ do not touch it: see
        :meth:`_scan_event_sizes_locked`).
        """
        try:
            st = os.stat(self.root / rel)
        except OSError:
            self._listings.pop(rel, None)
            return []
        token = (st.st_ino, st.st_mtime_ns)
        cached = self._listings.get(rel)
        if cached is not None and cached[0] == token and \
                time.time_ns() - st.st_mtime_ns > RACY_MTIME_NS:
            return cached[1]
        try:
            with os.scandir(self.root / rel) as it:
                listing = list(it)
        except OSError:
            return []
        self._listings[rel] = (token, listing)
        return listing

    def _scan_locked(self) -> None:
        live = (self.root / layout.LIVE).exists()
        if not live and self._entries and self._finished_token == self._trace_stat():
            return  # finished and unchanged since the last scan: nothing can have moved
        files: dict[int, tuple[str, Any]] = {}  # step index -> (file, change token)
        records: dict[int, Any] = {}
        # A finished bundle is read from trace.json (one file instead of thousands), unless
        # its steps were already indexed from steps/ while it was being written.
        from_trace = not live and all(e.rel == layout.TRACE for e in self._entries.values())
        if from_trace:
            files, records = self._trace_files_locked()
        if not files:
            for dirent in self._listdir("steps"):
                m = _STEP_FILE_RE.match(dirent.name)
                if m is not None:
                    # Step files are only ever replaced by rename: a new inode = a new version.
                    files[int(m.group(1))] = (f"steps/{dirent.name}", dirent.inode())
                elif _INDEX_DIR_RE.match(dirent.name) and dirent.is_dir(follow_symlinks=False):
                    found = self._canonical_iteration(dirent.name)
                    if found is not None:
                        files[int(dirent.name)] = found
        if not files and not from_trace:
            files, records = self._trace_files_locked()

        shot_listing = self._listdir("screenshots")
        shots_changed = shot_listing is not self._shot_listing
        if shots_changed:
            self._shot_listing = shot_listing
            shot_names = {e.name for e in shot_listing}
            shots_changed = shot_names != self._shot_names
            self._shot_names = shot_names
        events_changed = self._scan_event_sizes_locked() if live else set()

        if any(i not in files for i in self._entries):
            # The directory was reused by a new run (or files vanished): start over.
            self._entries.clear()
            self._epoch += 1
        for index, (rel, file_token) in files.items():
            entry = self._entries.get(index)
            if entry is None or entry.file_token != file_token or entry.rel != rel:
                entry = _Entry(index, rel, file_token)
                if index in records:
                    entry.record = records[index]
                    entry.error = record_problem(entry.record, rel, index)
                else:
                    entry.record, entry.error = self._read_record(rel, index)
                entry.observations = {
                    kind: self._observation_ref(entry.record, kind) for kind in OBSERVATION_KINDS
                }
                entry.summary = summarize(index, entry.record)
                rec = as_dict(entry.record)
                entry.timing = (clip_text(rec.get("started_at"), 60),
                                clip_text(rec.get("ended_at"), 60),
                                finite_number(rec.get("duration_ms")))
                if entry.error:
                    entry.summary["err"] = entry.error
                if rel != layout.TRACE:
                    entry.record = None  # re-read on demand: memory stays flat in step count
                self._entries[index] = entry
            elif not shots_changed and index not in events_changed:
                continue
            token = (file_token, *(self._shot_status(entry.observations[k])
                                   for k in OBSERVATION_KINDS), self._event_sizes.get(index, 0))
            if token != entry.token:
                self._gen += 1
                entry.token, entry.gen = token, self._gen
                summary = dict(entry.summary)
                summary["g"] = entry.gen
                if token[1] == SHOT_MISSING or token[2] == SHOT_MISSING:
                    summary["missing"] = [k for k, st in zip(OBSERVATION_KINDS, token[1:3],
                                                             strict=True) if st == SHOT_MISSING]
                else:
                    summary.pop("missing", None)
                entry.summary = summary
        self._read_spans_locked()
        self._finished_token = None if live else self._trace_stat()

    def _iteration_files(self, index: int) -> list[tuple[str, Any]]:
        """(file, record) of each record in ``steps/NNNN/`` (a step with iterations),
        oldest first."""
        folder = self.root / "steps" / f"{index:04d}"
        out = []
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.stat().st_mtime_ns)
        except OSError:
            return []
        for entry in entries[:MAX_ITERATIONS]:
            if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                rel = f"steps/{index:04d}/{entry.name}"
                record, _error = self._read_record(rel, index)
                out.append((rel, record))
        return out

    def _canonical_iteration(self, name: str) -> tuple[str, Any] | None:
        """The canonical record of a step with iterations: the one counting them."""
        found = self._iteration_files(int(name))
        if not found:
            return None
        rel, _ = max(found, key=lambda f: finite_number(as_dict(f[1]).get("step_iterations")) or 0)
        token: tuple[Any, ...]
        try:
            token = tuple(os.stat(self.root / r).st_ino for r, _ in found)
        except OSError:
            token = (rel,)
        return rel, token

    def _trace_stat(self) -> tuple[int, int, int] | None:
        try:
            st = (self.root / layout.TRACE).stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _trace_files_locked(self) -> tuple[dict[int, tuple[str, Any]], dict[int, Any]]:
        self._load_trace_locked()
        files: dict[int, tuple[str, Any]] = {}
        records: dict[int, Any] = {}
        for position, step in enumerate(self._trace_steps):
            index = as_dict(step).get("step_index")
            key = index if isinstance(index, int) and not isinstance(index, bool) \
                and index >= 0 else position
            files[key] = (layout.TRACE, (self._trace_token, position))
            records[key] = step
        return files, records

    def _scan_event_sizes_locked(self) -> set[int]:
        """Sizes of events/NNNN.jsonl (appended in place, so the listing alone says nothing):
        stat only new files and those of the most recent steps; return the changed indexes."""
        found: dict[int, os.DirEntry[str]] = {}
        for entry in self._listdir("events"):
            m = _EVENTS_FILE_RE.match(entry.name)
            if m is not None:
                found[int(m.group(1))] = entry
        recent = set(sorted(found)[-RECENT_EVENT_FILES:])
        changed: set[int] = set()
        for index, entry in found.items():
            if index in recent or index not in self._event_sizes:
                try:
                    size = entry.stat().st_size
                except OSError:
                    continue
                if size != self._event_sizes.get(index):
                    self._event_sizes[index] = size
                    changed.add(index)
        return changed

    def _read_record(self, rel: str, index: int) -> tuple[Any, str | None]:
        try:
            record = DECODER.decode((self.root / rel).read_bytes().decode("utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            return None, f"{rel} could not be read: {exc}"
        return record, record_problem(record, rel, index)

    @staticmethod
    def _observation_ref(record: Any, kind: str) -> str | None:
        ref = as_dict(record).get(f"observation_{kind}")
        if isinstance(ref, dict):  # an Observation object instead of a path
            ref = ref.get("artifact")
        return ref if isinstance(ref, str) and ref else None

    def resolve(self, rel: str | None) -> Path | None:
        """A bundle-relative path as a file inside the bundle, or None (outside, absent)."""
        if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or ":" in rel:
            return None
        try:
            path = (self.root / rel).resolve()
        except (OSError, RuntimeError):
            return None
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def _shot_status(self, rel: str | None) -> str:
        if rel is None:
            return SHOT_NONE
        head, _, name = rel.partition("/")
        if head == "screenshots" and "/" not in name and name not in ("", ".", ".."):
            # The common case, answered from one scandir (serving still goes through resolve).
            return SHOT_OK if name in self._shot_names else SHOT_MISSING
        return SHOT_OK if self.resolve(rel) else SHOT_MISSING

    def _load_trace_locked(self) -> None:
        try:
            st = (self.root / layout.TRACE).stat()
        except OSError:
            self._trace_token, self._trace_steps, self._trace_session = None, [], None
            return
        token = (st.st_mtime_ns, st.st_size)
        if token == self._trace_token:
            return
        self._trace_token = token
        try:
            trace = as_dict(loads((self.root / layout.TRACE).read_bytes()))
        except (OSError, ValueError, RecursionError):
            trace = {}
        steps = trace.get("steps")
        self._trace_steps = steps if isinstance(steps, list) else []
        self._trace_session = trace.get("session")

    def _read_spans_locked(self) -> None:
        """Read what was appended to ``otel/spans.jsonl`` since the last scan."""
        path = self.root / layout.SPANS_SIDECAR
        try:
            st = path.stat()
        except OSError:
            return
        inode = (st.st_ino, st.st_dev)
        if inode != self._spans_inode or st.st_size < self._spans_pos:
            self._spans_inode, self._spans_pos = inode, 0
            self._step_spans, self._run_span = {}, None
        if st.st_size == self._spans_pos:
            return
        try:
            with open(path, "rb") as fh:
                fh.seek(self._spans_pos)
                data = fh.read(st.st_size - self._spans_pos)
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a line without its newline is not written yet
        self._spans_pos += len(complete)
        for raw in complete.splitlines():
            try:
                rec = as_dict(loads(raw))
            except ValueError:
                continue
            ids = {k: rec[k] for k in ("trace_id", "span_id")
                   if isinstance(rec.get(k), str) and HEX_ID_RE.match(rec[k])}
            if rec.get("kind") == "run":
                self._run_span = ids
            elif rec.get("kind") == "step" and isinstance(rec.get("step_index"), int):
                self._step_spans[rec["step_index"]] = ids

    # ── what the API returns ────────────────────────────────────────────────

    def index(self, since: int = 0) -> dict[str, Any]:
        """Summaries changed after generation ``since`` (all of them for 0), plus run meta."""
        result: dict[str, Any] = DECODER.decode(self.index_json(since))
        return result

    def index_json(self, since: int = 0) -> str:
        """:meth:`index` as JSON text; the full index is serialized once per generation."""
        self.scan()
        with self._lock:
            key = (self._gen, self._epoch)
            if since <= 0 and self._full_json[0] == key:
                steps = self._full_json[1]
            else:
                steps = to_json([e.summary for e in sorted(self._entries.values(),
                                                         key=lambda e: e.index)
                               if e.gen > since])
                if since <= 0:
                    self._full_json = (key, steps)
            head = to_json({"gen": self._gen, "epoch": self._epoch, "count": len(self._entries),
                          "meta": self._meta_locked()})
        return head[:-1] + ',"steps":' + steps + "}"

    def default_step(self) -> int | None:
        """Where the page opens without a deep link: the latest step of a running bundle,
        else the first failure, else the first step."""
        with self._lock:
            if not self._entries:
                return None
            order = sorted(self._entries)
        if self.state()[0] == RUNNING:
            return order[-1]
        for i in order:
            summary = self._entries[i].summary
            if summary.get("status") == "failed" or summary.get("verdict") == "failed":
                return i
        return order[0]

    def _read_json_file(self, rel: str) -> Any:
        """A small JSON file of the bundle, parsed again only when it changed (the manifest
        of a big run holds thousands of signatures)."""
        path = self.root / rel
        try:
            st = path.stat()
            token = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._json_files.get(rel)
            if cached is not None and cached[0] == token:
                return cached[1]
            value = loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        self._json_files[rel] = (token, value)
        return value

    def _trace_session_head(self) -> Any:
        """The session record at the top of ``trace.json`` without parsing the steps."""
        if self._trace_token is not None and self._trace_session is not None:
            return self._trace_session
        return trace_session_head(self.root)

    def state(self) -> tuple[str, dict[str, Any]]:
        """``running`` (a live producer is writing), ``unfinished`` (it died) or ``finished``."""
        return bundle_state(self.root)

    def _meta_locked(self) -> dict[str, Any]:
        state, live = self.state()
        manifest = as_dict(self._read_json_file(layout.MANIFEST))
        session = live.get("session") if state != FINISHED else None
        if not isinstance(session, dict):
            session = self._trace_session_head()
        producer = self._read_json_file(layout.PRODUCER)
        run_span = self._run_span or {}
        return {
            "bundle": self.root.name,
            "path": str(self.root),
            "state": state,
            "live": {k: live.get(k) for k in ("pid", "host", "updated_at", "producer")}
            if live else None,
            "session": session if isinstance(session, dict) else None,
            "manifest": {k: manifest.get(k) for k in (
                "run_id", "client", "capture_mode", "created_at", "schema_version",
                "step_count", "missing", "redaction", "costs", "bundle_format")
                if k in manifest},
            "producer": producer if isinstance(producer, dict) else None,
            "model_calls": _model_calls(producer, live),
            "run_span": run_span or None,
            "jaeger": self.jaeger,
            "jaeger_run": jaeger_url(self.jaeger, run_span.get("trace_id")),
            "recover_cmd": f"augur recover {self.root}",
            "steps_ms": sum(e.timing[2] or 0 for e in self._entries.values()),
            "last_step": dict(zip(("started_at", "ended_at", "duration_ms"),
                                  self._entries[max(self._entries)].timing, strict=True))
            if self._entries else None,
            "far_px": FAR_PX,
            "findings": self._findings_by_step(),
        }

    def _findings_by_step(self) -> dict[str, dict[str, Any]]:
        """``{step index: {"n", "rule", "severity"}}`` of ``diagnostics/findings.json``
        (`augur diagnose`): how many findings a step has and its most severe one."""
        path = self.root / "diagnostics" / "findings.json"
        try:
            if path.stat().st_size > MAX_FINDINGS_BYTES:
                return {}
        except OSError:
            return {}
        records = self._read_json_file("diagnostics/findings.json")
        out: dict[str, dict[str, Any]] = {}
        for f in records if isinstance(records, list) else []:
            index = as_dict(f).get("step_index")
            if not isinstance(index, int) or isinstance(index, bool):
                continue
            rank = _SEVERITY_ORDER.get(str(f.get("severity")), 0)
            have = out.get(str(index))
            if have is None or rank > _SEVERITY_ORDER.get(have["severity"], 0):
                out[str(index)] = {"n": (have or {}).get("n", 0) + 1,
                                   "rule": clip_text(f.get("rule_id"), 200),
                                   "severity": clip_text(f.get("severity"), 20)}
            else:
                have["n"] += 1
        return out

    def meta(self) -> dict[str, Any]:
        self.scan()
        with self._lock:
            return self._meta_locked()

    def _read_events(self, rel: str) -> tuple[list[Any], int]:
        """Complete, parseable lines of a JSONL events file; and how many lines were bad."""
        try:
            data = (self.root / rel).read_bytes()
        except OSError:
            return [], 0
        events: list[Any] = []
        bad = 0
        for raw in data[: data.rfind(b"\n") + 1].splitlines():
            if not raw.strip():
                continue
            if len(events) >= MAX_EVENTS_PER_STEP:
                bad += 1
                continue
            try:
                events.append(loads(raw))
            except (ValueError, RecursionError):
                bad += 1
        return events, bad

    def shot_url(self, index: int, kind: str, path: Path) -> str:
        try:
            st = path.stat()
            version = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        except OSError:
            version = "0"
        return f"api/shot/{index}/{kind}?v={version}"

    def _entry(self, index: int) -> _Entry | None:
        """A step's index entry; scans (throttled) only when the step is not known yet."""
        with self._lock:
            entry = self._entries.get(index)
        if entry is None:
            self.scan()
            with self._lock:
                entry = self._entries.get(index)
        return entry

    def step_detail(self, index: int, *, inline_images: bool = False) -> dict[str, Any] | None:
        """Everything about one step: the record, its events, span ids, its screenshots."""
        entry = self._entry(index)
        if entry is None:
            return None
        with self._lock:
            record, error = entry.record, entry.error
            observations = dict(entry.observations)
            span = dict(self._step_spans.get(index, {}))
        if record is None and entry.rel != layout.TRACE:
            record, error = self._read_record(entry.rel, index)
        events, bad = self._read_events(layout.events_path(index))
        shots: dict[str, Any] = {}
        for kind in OBSERVATION_KINDS:
            rel = observations[kind]
            path = self.resolve(rel)
            shot: dict[str, Any] = {"path": rel, "status": SHOT_NONE if rel is None else
                                    SHOT_OK if path else SHOT_MISSING}
            if path is not None:
                media = IMAGE_TYPES.get(path.suffix.lower())
                if media is None:
                    shot["status"] = SHOT_MISSING
                    shot["reason"] = "not an image type the viewer shows (png, jpeg, webp)"
                else:
                    size = png_size(path)
                    if size:
                        shot["width"], shot["height"] = size
                    shot["url"] = (_data_uri(path, media) if inline_images
                                   else self.shot_url(index, kind, path))
            shots[kind] = shot
        return {
            "i": index,
            "rel": entry.rel,
            "step": record,
            "error": error,
            "events": events,
            "bad_events": bad,
            "span": span or None,
            "jaeger": jaeger_url(self.jaeger, span.get("trace_id"), span.get("span_id")),
            "shots": shots,
            "iterations": [{"rel": r, "step": rec} for r, rec in self._iteration_files(index)
                           if r != entry.rel and as_dict(rec).get("step_id") !=
                           as_dict(record).get("step_id")],
            "records": sections.collect(self.root, index),
        }

    def screenshot(self, index: int, kind: str) -> tuple[Path, str] | None:
        """The file and media type of a step's screenshot, only if it is inside the bundle."""
        if kind not in OBSERVATION_KINDS:
            return None
        entry = self._entry(index)
        rel = entry.observations.get(kind) if entry else None
        path = self.resolve(rel)
        if path is None:
            return None
        media = IMAGE_TYPES.get(path.suffix.lower())
        return (path, media) if media else None

    def modelio_image(self, name: str) -> tuple[Path, str] | None:
        """A model call's image by its content name (``<sha256>.<ext>``), only if it is a
        file inside the bundle with an image media type."""
        if not re.fullmatch(r"[0-9a-f]{64}\.(png|jpg|gif|webp)", name):
            return None
        path = self.resolve(f"modelio/images/{name}")
        if path is None:
            return None
        media = IMAGE_TYPES.get(path.suffix.lower())
        return (path, media) if media else None

    def run_events(self) -> dict[str, Any]:
        events, bad = self._read_events(layout.events_path(None))
        return {"events": events, "bad_events": bad, "records": sections.collect(self.root)}

    def step_indexes(self) -> list[int]:
        self.scan()
        with self._lock:
            return sorted(self._entries)


def _model_calls(producer: Any, live: dict[str, Any]) -> dict[str, int] | None:
    """The run's model-call totals (producer.json at close, live.json while it runs), only
    their integer members."""
    for source in (producer, live):
        totals = source.get("model_calls") if isinstance(source, dict) else None
        if isinstance(totals, dict):
            return {str(k): v for k, v in totals.items()
                    if isinstance(v, int) and not isinstance(v, bool)}
    return None


def bundle_state(root: Path) -> tuple[str, dict[str, Any]]:
    """``running`` (a live producer is writing), ``unfinished`` (it died) or ``finished``,
    and the contents of ``live.json``."""
    found = live_state(root)
    if found is None:
        return FINISHED, {}
    state, live = found
    if state == UNFINISHED and live.get("pid") == os.getpid() and \
            live.get("host") == socket.gethostname():
        state = RUNNING  # the producer is this very process (viewer started in-process)
    return state, live


def _data_uri(path: Path, media: str) -> str:
    return f"data:{media};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def looks_like_bundle(path: Path) -> bool:
    return any((path / name).exists() for name in (layout.MANIFEST, layout.TRACE, "steps",
                                                    layout.LIVE))


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON for the API (the reader already mapped NaN/Infinity to null)."""
    return json_bytes(obj)


def script_json(obj: Any) -> str:  # a str is taken as JSON text already
    """JSON to embed in ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can
    end the element early or open a comment (they are written as ``\\u003c`` etc.)."""
    text = obj if isinstance(obj, str) else to_json(obj)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
