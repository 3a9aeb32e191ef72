"""The bundle writer: a live, crash-safe Augur bundle on disk.

* Each call's file is on disk when the call returns (steps, events, screenshots).
* Every file is written atomically (``.tmp`` + ``os.replace``) or appended a whole line at a
  time; readers never see half a record.
* Memory is flat: per step it keeps only a sha256 and the two observation paths;
  ``trace.json`` is streamed from the step files at :meth:`finish`.
* ``live.json`` marks a bundle as being written; ``augur recover`` finishes a bundle whose
  producer died (see :mod:`augur_sdk.bundle.recover`).

Disk failures (ENOSPC, EIO, ...) never raise: they are logged once, counted, and the bundle
says it is incomplete in ``producer.json``.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from augur_schema import list_schemas, schemas_dir

from augur_sdk import _internal
from augur_sdk._version import __version__
from augur_sdk.bundle import layout
from augur_sdk.bundle.files import (
    AnyPath,
    OpenAppends,
    SpareFiles,
    append_line,
    atomic_write,
    unlink_quietly,
)
from augur_sdk.bundle.index import Signatures, StepIndex
from augur_sdk.bundle.rundir import clear_owned_entries, keep_previous_bundle, stream_trace
from augur_sdk.bundle.trajectory import Fingerprinter
from augur_sdk.fingerprints import DEFAULT_ALGORITHM
from augur_sdk.kinds.spec import FileFormat, RecordKind
from augur_sdk.records import png_dimensions, utcnow_iso

RUN_EVENT = "run_event"  # sidecar line: an event that went on the run span
MODELIO_SPAN = "modelio"  # sidecar line: a model call's chat span
MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024  # per log file; the excess is counted as lost


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def schema_files() -> Iterator[tuple[str, bytes]]:
    """(bundle path, bytes) of every canonical schema, copied verbatim from augur-schema."""
    src = Path(str(schemas_dir()))
    for name in list_schemas():
        path = src / f"{name}.schema.json"
        if path.exists():
            yield f"{layout.SCHEMA_DIR}/{name}.schema.json", path.read_bytes()


class BundleWriter:
    """Writes one run's bundle into ``root``; thread-safe.

    ``spare_files``: create the files of steps, events and screenshots ahead of time on a
    helper thread (:class:`~augur_sdk.bundle.files.SpareFiles`), so a call only writes and
    links. The SDK's session turns it on; the server's many writers do not.
    """

    def __init__(self, root: str | Path, *, policy_id: str, fsync: bool = False,
                 spare_files: bool = False, keep_open: bool = False,
                 keep_previous: bool = True) -> None:
        self.root = Path(root)
        self._root = str(self.root)  # for the hot paths (see files.AnyPath)
        self.policy_id = policy_id
        self.fsync = fsync
        self._want_spares = spare_files
        self._spares: SpareFiles | None = None
        # JSONL files appended to again and again stay open until finish() (a session's
        # writer; a server with many runs open opens each file per line).
        self._appends = OpenAppends() if keep_open else None
        self._lock = threading.RLock()
        self._signatures = Signatures()
        self._steps = StepIndex()
        self._jsonl_lines: Counter[str] = Counter()  # JSONL file -> lines appended
        self._lists: dict[str, list[dict[str, Any]]] = {}  # list files (a few records each)
        # Steps with iterations (rare): index -> their files, the canonical record's first.
        self._iterations: dict[int, list[str]] = {}
        self._text_files: set[str] = set()  # text files appended to (logs)
        self._text_sizes: dict[str, int] = {}
        self._first_failed: int | None = None
        self.lost: Counter[str] = Counter()
        self._session: dict[str, Any] | None = None
        self._started = False
        self.finished = False
        self.extra_producer_facts: dict[str, Any] = {}
        # Model calls written: count, tokens and latency summed (live.json, producer.json).
        self.model_calls: dict[str, int] = {}
        self._live_written = 0.0
        self.masked: dict[str, list[dict[str, Any]]] = {}
        self._pending_hashes: dict[str, Future[str]] = {}
        self._hash_lock = threading.Lock()  # _pending_hashes, and the digests they yield
        self._hash_slots = threading.BoundedSemaphore(4)
        self._hasher: ThreadPoolExecutor | None = None
        self._run_span_ids: dict[str, str] = {}
        self._keep_previous = keep_previous
        # The manifest's trajectory_fingerprint: computed by this algorithm at finish(), or
        # the producer's own value (augur serve keeps the one a client's manifest carried).
        self.fingerprint_algorithm: str | None = DEFAULT_ALGORITHM
        self.given_fingerprint: str | None = None

    # ── low-level, failure-counting I/O ─────────────────────────────────────

    def _fail(self, what: str, exc: OSError) -> None:
        self.lost[what] += 1
        reason = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        _internal.log_once(
            f"disk:{self.root}:{reason}",
            40,  # ERROR
            "augur_sdk: could not write to the bundle at %s (%s: %s); the agent keeps "
            "running, what could not be written is counted in producer.json and the "
            "bundle is marked incomplete",
            self.root, reason, exc,
        )

    def _atomic_write(self, path: AnyPath, data: bytes) -> None:
        spares = self._spares
        if spares is None or not spares.write(path, data, fsync=self.fsync):
            atomic_write(Path(path), data, fsync=self.fsync)

    def _write(self, rel: str, data: bytes, what: str, *, sign: bool = True) -> bool:
        try:
            self._atomic_write(os.path.join(self._root, rel), data)
        except OSError as exc:
            self._fail(what, exc)
            return False
        if sign:
            self._signatures[rel] = sha256_hex(data)
        return True

    # ── lifecycle ───────────────────────────────────────────────────────────

    def begin(self, session: dict[str, Any]) -> None:
        """Prepare ``root``: drop an older run's files, write the envelope and the live marker."""
        with self._lock:
            self._session = dict(session)
            self._started = True
            # The live marker goes first, saying "preparing": a kill while an older run's files
            # are being removed leaves a folder that `augur recover` knows to finish clearing,
            # so no stale step of the older run can be taken for this run's.
            self._move_previous(str(session.get("debug_session_id")))
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self._fail("setup", exc)
            self._write_live(state="preparing")
            try:
                clear_owned_entries(self.root, keep=frozenset({layout.LIVE}))
            except OSError as exc:
                self._fail("setup", exc)
            self._write_live()
            for rel, data in schema_files():
                self._write(rel, data, "schema")
            manifest = layout.build_manifest(
                self._session, step_count=0, created_at=utcnow_iso(), policy_id=self.policy_id
            )
            self._write(layout.MANIFEST, layout.dumps(manifest).encode(), "manifest", sign=False)
            if self._want_spares:
                self._spares = SpareFiles(self.root / layout.SPARES_DIR)
                self._spares.start()

    def _move_previous(self, debug_session_id: str) -> None:
        if not self._keep_previous:
            return
        try:
            moved = keep_previous_bundle(self.root, debug_session_id)
        except OSError as exc:
            self._fail("setup", exc)
            return
        if moved is not None:
            _internal.logger.warning(
                "augur_sdk: %s held the bundle of another run; it was moved to %s (not "
                "replaced). Give each run its own out_dir (a unique run id) to avoid this",
                self.root, moved)

    def _stop_spares(self) -> None:
        if self._spares is not None:
            self._spares.close()
            self._spares = None
        if self._appends is not None:
            self._appends.close()  # reopened if a line still comes (they are all flushed)

    def _write_live(self, state: str = "recording") -> None:
        live = {
            "state": state,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "producer": f"augur-otel {__version__}",
            "redaction_policy": self.policy_id,
            "session": self._session,
            "updated_at": utcnow_iso(),
        }
        if self.model_calls:
            live["model_calls"] = dict(self.model_calls)
        self._write(layout.LIVE, layout.dumps(live).encode(), "live", sign=False)
        self._live_written = time.monotonic()

    def update_session(self, session: dict[str, Any]) -> None:
        with self._lock:
            self._session = dict(session)
            if self._started and not self.finished:
                self._write_live()

    def write_screenshot(self, step_index: int, kind: str, data: bytes) -> dict[str, Any] | None:
        """Write a PNG now; return its facts (path, sha256, bytes, width, height) or None."""
        rel = layout.screenshot_path(step_index, kind)
        width, height = png_dimensions(data)
        with self._lock:
            if not self._write(rel, data, "screenshots", sign=False):
                return None
            digest = self._hash_later(data)
            with self._hash_lock:
                self._pending_hashes[rel] = digest
        # Keep only the hex digest once it is known: a Future per screenshot would make
        # memory grow with the run.
        digest.add_done_callback(functools.partial(self._hashed, rel))
        return {"path": rel, "sha256": digest, "bytes": len(data), "width": width,
                "height": height}

    def _hash_later(self, data: bytes) -> Future[str]:
        """sha256 of a screenshot on helper threads (hashlib releases the GIL, so it runs
        on another core while the agent goes on). At most 4 wait at once (memory stays
        flat); past that the hash is taken inline."""
        if self._hash_slots.acquire(blocking=False):
            if self._hasher is None:
                self._hasher = ThreadPoolExecutor(max_workers=2,
                                                  thread_name_prefix="augur-hash")

            def work() -> str:
                try:
                    return sha256_hex(data)
                finally:
                    self._hash_slots.release()

            try:
                return self._hasher.submit(work)
            except RuntimeError:  # interpreter shutting down
                self._hash_slots.release()
        done: Future[str] = Future()
        done.set_result(sha256_hex(data))
        return done

    def _hashed(self, rel: str, done: Future[str]) -> None:
        # On the hasher's thread: a lock of its own, so that the agent's writes never wait
        # behind it.
        with self._hash_lock:
            if self._pending_hashes.get(rel) is done:
                del self._pending_hashes[rel]
                self._signatures[rel] = done.result()

    def _resolve_hashes(self) -> None:
        with self._hash_lock:
            pending = list(self._pending_hashes.items())
        for rel, digest in pending:
            result = digest.result()
            with self._hash_lock:
                if self._pending_hashes.pop(rel, None) is digest:
                    self._signatures[rel] = result

    def write_observation_record(self, rel_png: str, record: dict[str, Any]) -> None:
        """``screenshots/NNNN_kind.json`` (observation schema) next to a masked PNG."""
        rel = rel_png[: -len(".png")] + ".json"
        with self._lock:
            self._write(rel, layout.dumps(record).encode(), "screenshots")
            self.masked[rel_png] = record.get("redaction", {}).get("regions", [])

    def write_step(self, step: dict[str, Any], span_ids: dict[str, str] | None = None) -> int:
        """Write ``steps/NNNN.json``; return its size in bytes (also when the write failed):
        an upper bound of the record's compact JSON."""
        index = int(step["step_index"])
        data = layout.dumps(step).encode("utf-8")
        with self._lock:
            files = self._iterations.get(index)
            rel = files[0] if files else layout.step_path(index)
            if not self._write(rel, data, "steps"):
                return len(data)
            self._steps.add(index, step.get("observation_pre"), step.get("observation_post"))
            if step.get("status") == "failed" and (
                self._first_failed is None or index < self._first_failed
            ):
                self._first_failed = index
            if span_ids is not None:
                line = {"kind": "step", "step_index": index, "step_id": step["step_id"],
                        **span_ids}
                self._append(layout.SPANS_SIDECAR, line, "span_ids")
        return len(data)

    def step_file(self, index: int, step_id: str | None = None) -> str | None:
        """The file of step ``index``'s record: the one of ``step_id`` among its iterations,
        else its latest iteration, else ``steps/NNNN.json``; ``None`` if there is none."""
        with self._lock:
            files = self._iterations.get(index)
            if files:
                if step_id is None:
                    return files[-1]
                rel = layout.iteration_path(index, step_id)
                return rel if rel in files else None
            if index not in self._steps:
                return None
            flat = layout.step_path(index)
            if step_id is None:
                return flat
            stored = self.read_step(flat)
            return flat if stored is not None and stored.get("step_id") == step_id else None

    def iterated(self) -> dict[int, list[str]]:
        """The steps with iterations: index -> files (the canonical record's first)."""
        with self._lock:
            return {i: list(files) for i, files in self._iterations.items()}

    def step_indexes(self) -> list[int]:
        with self._lock:
            return list(self._steps)

    def write_iteration(self, iteration: dict[str, Any], span_ids: dict[str, str] | None = None,
                        ) -> int:
        """An iteration of a step already written: the first one moves the canonical record
        from ``steps/NNNN.json`` to ``steps/NNNN/<sha8>.json`` (written before the flat file
        goes: a reader sees the step before or after, never neither)."""
        index = int(iteration["step_index"])
        data = layout.dumps(iteration).encode("utf-8")
        with self._lock:
            files = self._iterations.get(index)
            if not files:
                flat = layout.step_path(index)
                canonical = self.read_step(flat)
                if canonical is None:
                    return 0
                files = [layout.iteration_path(index, str(canonical.get("step_id")))]
                self._write(files[0], layout.dumps(canonical).encode("utf-8"), "steps")
                self._iterations[index] = files
                unlink_quietly(self.root / flat)
                self._signatures.pop(flat)
            target = layout.iteration_path(index, str(iteration["step_id"]))
            if not self._write(target, data, "steps"):
                return len(data)
            if target not in files:
                files.append(target)
            if span_ids is not None:
                line = {"kind": "step", "step_index": index, "step_id": iteration["step_id"],
                        **span_ids}
                self._append(layout.SPANS_SIDECAR, line, "span_ids")
        return len(data)

    def read_step(self, rel: str) -> dict[str, Any] | None:
        """A step record written earlier (a patch reads it back: nothing per step is kept
        in memory). ``None`` if it cannot be read."""
        try:
            record = json.loads((self.root / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a write that failed was counted when it failed
        return record if isinstance(record, dict) else None

    def rewrite_step(self, rel: str, step: dict[str, Any]) -> int:
        """Write a patched step record over its file (atomically, re-signed)."""
        data = layout.dumps(step).encode("utf-8")
        with self._lock:
            self._write(rel, data, "steps")
        return len(data)

    def write_run_span_ids(self, span_ids: dict[str, str]) -> None:
        with self._lock:
            self._run_span_ids = {k: v for k, v in span_ids.items()
                                  if k in ("trace_id", "span_id")}
            self._append(layout.SPANS_SIDECAR, {"kind": "run", **span_ids}, "span_ids")

    def _append(self, rel: str, record: dict[str, Any], what: str, *,
                new_file: bool = False) -> int:
        """Append one JSONL line; return its length (0: it could not be written).
        ``new_file``: this run has not written ``rel`` yet (any file there is an empty
        leftover), so the first line may arrive by an atomic write of a spare file instead of
        a create-and-append."""
        path = os.path.join(self._root, rel)
        line = layout.jsonl_line(record).encode("utf-8")
        spares = self._spares if new_file else None
        try:
            if spares is None or not spares.write(path, line, fsync=self.fsync):
                if self._appends is not None:
                    self._appends.append(path, line, fsync=self.fsync)
                else:
                    append_line(Path(path), line, fsync=self.fsync)
        except OSError as exc:
            self._fail(what, exc)
            return 0
        return len(line)

    def append_event(self, event: dict[str, Any], *, run_span_seq: int | None = None) -> int:
        """Append a decision event to its events file.

        ``run_span_seq``: the event went on the run span, as the ``augur.seq``-th record (a
        run-level event, or a step's event recorded while that step's span was not open).
        The sidecar says so, so that ``augur export-otlp`` puts it where the live run did.
        Returns the length of the line written (0: it could not be written).
        """
        index = event.get("step_index")
        rel = layout.events_path(index)
        with self._lock:
            line = self._jsonl_lines[rel]
            size = self._append(rel, event, "events", new_file=line == 0)
            if not size:
                return 0
            self._jsonl_lines[rel] = line + 1
            if run_span_seq is not None:
                entry: dict[str, Any] = {"kind": RUN_EVENT, "line": line, "seq": run_span_seq,
                                         **self._run_span_ids}  # the span the event is on
                if isinstance(index, int):
                    entry["step_index"] = index
                self._append(layout.SPANS_SIDECAR, entry, "span_ids")
            return size

    def write_modelio(self, rel: str, record: dict[str, Any],
                      span_facts: dict[str, Any] | None = None) -> int:
        """A model call's file, at the path the session reserved (``modelio/…json``).
        ``span_facts`` (its ``chat`` span's ids and what the span has beyond the record)
        go into the span sidecar, for ``augur export-otlp``."""
        rel = layout.checked_rel(rel)
        data = layout.dumps(record).encode("utf-8")
        with self._lock:
            first = rel not in self._signatures
            if not self._write(rel, data, "modelio"):
                return 0
            if first:  # a file written again (a client's retry) is one call, counted once
                self._count_call(record)
                if span_facts is not None:
                    self._append(layout.SPANS_SIDECAR,
                                 {"kind": MODELIO_SPAN, "path": rel, **span_facts}, "span_ids")
            if self._started and not self.finished and time.monotonic() - self._live_written > 1:
                self._write_live()  # the viewer's run header shows the totals as they grow
            return len(data)

    def _count_call(self, record: dict[str, Any]) -> None:
        totals = self.model_calls
        totals["count"] = totals.get("count", 0) + 1
        response = record.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        for ours, key in (("tokens_in", "prompt_tokens"), ("tokens_out", "completion_tokens"),
                          ("cache_hit_tokens", "cache_hit_tokens")):
            value = usage.get(key) if isinstance(usage, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                totals[ours] = totals.get(ours, 0) + value
        duration = record.get("duration_ms")
        if isinstance(duration, int) and not isinstance(duration, bool):
            totals["duration_ms"] = totals.get("duration_ms", 0) + duration

    def write_blob(self, rel: str, data: bytes, sha256: str) -> bool:
        """A content-addressed file (an image taken out of a model call), signed with the
        digest its name already carries; written once (a second write is a no-op)."""
        rel = layout.checked_rel(rel)
        with self._lock:
            if rel in self._signatures:
                return True
            if not self._write(rel, data, "modelio_images", sign=False):
                return False
            self._signatures[rel] = sha256
            return True

    def write_record(self, kind: RecordKind, record: dict[str, Any]) -> int:
        """Write a record of any other kind where its spec says: a whole JSON file, or a
        line of a JSONL file. Returns the bytes written (0: it could not be written)."""
        rel = layout.checked_rel(kind.bundle.path(record))
        fmt = kind.bundle.format
        if fmt is FileFormat.JSON:
            data = layout.dumps(record).encode("utf-8")
            with self._lock:
                return len(data) if self._write(rel, data, kind.name) else 0
        if fmt is FileFormat.JSON_LIST:
            with self._lock:
                return self._add_to_list(rel, kind.bundle.list_key, record, kind.name,
                                         kind.bundle.unique_by)
        if fmt is FileFormat.TEXT:
            data = str(record.get("text", "")).encode("utf-8")
            with self._lock:
                room = max(MAX_TEXT_FILE_BYTES - self._text_sizes.get(rel, 0), 0)
                if len(data) > room:  # a runaway log must not fill the disk
                    self.lost[f"{kind.name}_bytes_over_cap"] += len(data) - room
                    data = data[:room]
                if not data:
                    return 0
                self._text_sizes[rel] = self._text_sizes.get(rel, 0) + len(data)
                try:
                    append_line(Path(os.path.join(self._root, rel)), data, fsync=self.fsync)
                except OSError as exc:
                    self._fail(kind.name, exc)
                    return 0
                self._text_files.add(rel)
                return len(data)
        if fmt is not FileFormat.JSONL:
            raise ValueError(f"kind {kind.name!r}: records of format {kind.bundle.format} "
                             "are written by their own call")
        with self._lock:
            line = self._jsonl_lines[rel]
            size = self._append(rel, record, kind.name, new_file=line == 0)
            if size:
                self._jsonl_lines[rel] = line + 1
            return size

    def _add_to_list(self, rel: str, key: str | None, record: dict[str, Any],
                     what: str, unique_by: str | None = None) -> int:
        """Rewrite a list file (``{key: [...]}`` or a bare list) with ``record`` added, as
        a whole (atomically): a reader sees the list before or after, never half of it.
        Such files hold a few records per run (outcomes, eval candidates, findings)."""
        items = self._lists.get(rel)
        if items is None:
            items = []
            self._lists[rel] = items
        if unique_by is not None:  # last write wins for the same key
            items[:] = [i for i in items if i.get(unique_by) != record.get(unique_by)]
        items.append(record)
        data = layout.dumps(items if key is None else {key: items}).encode("utf-8")
        return len(data) if self._write(rel, data, what) else 0

    # ── finishing ───────────────────────────────────────────────────────────

    def finish(self, session: dict[str, Any]) -> dict[str, Any]:
        """Write ``trace.json``, ``AGENT.md``, ``producer.json`` and the final manifest."""
        with self._lock:
            self._session = dict(session)
            self._stop_spares()
            self._resolve_hashes()
            if self._hasher is not None:
                self._hasher.shutdown(wait=False)
            self._index_steps_on_disk()
            signatures = self._signatures.to_dict()
            step_files = [self._iterations[i][0] if i in self._iterations
                          else layout.step_path(i) for i in sorted(self._steps)]
            fingerprinter = Fingerprinter(self.fingerprint_algorithm
                                          if self.given_fingerprint is None else None)
            try:
                sha, count = stream_trace(self.root, self._session, step_files,
                                          self.root / layout.TRACE, fingerprinter.on_step)
                signatures[layout.TRACE] = sha
                if count < len(step_files):
                    self.lost["steps"] += len(step_files) - count
            except OSError as exc:
                self._fail("trace", exc)
                count = len(step_files)
            for rel in [*sorted(self._jsonl_lines), *sorted(self._text_files),
                        layout.SPANS_SIDECAR]:
                try:
                    signatures[rel] = sha256_hex((self.root / rel).read_bytes())
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self._fail("signatures", exc)
            missing = self._missing(signatures)
            agent = layout.render_agent_md(self._session, count, self._first_failed)
            if self._write(layout.AGENT_MD, agent.encode(), "agent_md"):
                signatures[layout.AGENT_MD] = self._signatures[layout.AGENT_MD]
            producer = self.producer_facts()
            if self._write(layout.PRODUCER, layout.dumps(producer).encode(), "producer"):
                signatures[layout.PRODUCER] = self._signatures[layout.PRODUCER]
            manifest = layout.build_manifest(
                self._session, step_count=count, created_at=utcnow_iso(),
                policy_id=self.policy_id, signatures=signatures, missing=missing,
                trajectory_fingerprint=self.given_fingerprint
                or fingerprinter.value(self.root, step_files, count),
            )
            if self._write(layout.MANIFEST, layout.dumps(manifest).encode(), "manifest",
                           sign=False):
                # Finished: lost writes, if any, are recorded in producer.json (validate
                # reports the bundle "incomplete"), so the "being written" marker goes.
                try:
                    (self.root / layout.LIVE).unlink(missing_ok=True)
                except OSError as exc:
                    self._fail("live", exc)
            self.finished = True
            return manifest

    def write_stream_report(self, facts: dict[str, Any]) -> None:
        """``stream.json``: what reached the Augur server. Written after the manifest (the
        stream's last requests are the manifest and trace), so it is not signed."""
        self._write(layout.STREAM_REPORT, layout.dumps(facts).encode(), "stream", sign=False)

    def lost_total(self) -> int:
        return sum(self.lost.values())

    def _index_steps_on_disk(self) -> None:
        """Add step files that landed but were not indexed (a signal between the rename and
        the index update): trace.json must list every step file on disk."""
        steps_dir = self.root / "steps"
        if not steps_dir.is_dir():
            return
        for path in steps_dir.glob("*.json"):
            stem = path.stem
            if not stem.isdigit() or int(stem) in self._steps:
                continue
            try:
                data = path.read_bytes()
                step = json.loads(data)
            except (OSError, ValueError):
                continue
            rel = path.relative_to(self.root).as_posix()
            self._signatures[rel] = sha256_hex(data)
            self._steps.add(int(stem), step.get("observation_pre"), step.get("observation_post"))

    def producer_facts(self) -> dict[str, Any]:
        return {
            "producer": f"augur-otel {__version__}",
            "complete": not self.lost_total(),
            "lost": {k: v for k, v in sorted(self.lost.items()) if v},
            "redaction_policy": self.policy_id,
            **({"masked_screenshots": dict(sorted(self.masked.items()))} if self.masked else {}),
            **self.extra_producer_facts,
            **({"model_calls": dict(self.model_calls)} if self.model_calls else {}),
        }

    def _missing(self, signatures: dict[str, str]) -> list[str]:
        return [ref for ref in self._steps.refs()
                if ref not in signatures and not (self.root / ref).exists()]

    def write_envelope_only(self, session: dict[str, Any]) -> dict[str, Any]:
        """``off`` mode: the manifest envelope and nothing else."""
        with self._lock:
            self._move_previous(str(session.get("debug_session_id")))
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                clear_owned_entries(self.root)
            except OSError as exc:
                self._fail("setup", exc)
            manifest = layout.build_manifest(
                session, step_count=0, created_at=utcnow_iso(), policy_id=self.policy_id
            )
            self._write(layout.MANIFEST, layout.dumps(manifest).encode(), "manifest", sign=False)
            self.finished = True
            return manifest

    # ── resuming from disk (used by recovery) ───────────────────────────────

    def adopt_existing(self, session: dict[str, Any]) -> None:
        """Rebuild the small indexes from what a dead producer left on disk."""
        with self._lock:
            self._session = dict(session)
            self._started = True
            shutil.rmtree(self.root / layout.SPARES_DIR, ignore_errors=True)
            for path in sorted(self.root.rglob("*")):
                if path.is_file() and layout.is_temp_name(path.name):
                    path.unlink()
            for rel in (p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                        if p.is_file()):
                if rel.startswith(("screenshots/", "side_effects/", layout.SCHEMA_DIR + "/")):
                    self._signatures[rel] = sha256_hex((self.root / rel).read_bytes())
                elif rel.startswith("steps/") and rel.endswith(".json") and rel.count("/") == 2:
                    self._adopt_iteration(rel)
                elif rel.startswith("steps/") and rel.endswith(".json") and rel.count("/") == 1:
                    try:
                        step = json.loads((self.root / rel).read_text(encoding="utf-8"))
                        index = int(step["step_index"])
                    except (OSError, ValueError, KeyError, TypeError):
                        self.lost["steps"] += 1
                        continue
                    self._signatures[rel] = sha256_hex((self.root / rel).read_bytes())
                    self._steps.add(index, step.get("observation_pre"),
                                    step.get("observation_post"))
                    if step.get("status") == "failed" and (
                            self._first_failed is None or index < self._first_failed):
                        self._first_failed = index
                elif rel.endswith(".jsonl") and not rel.startswith(layout.SCHEMA_DIR + "/"):
                    lines = self._trim_torn_line(rel)
                    if rel != layout.SPANS_SIDECAR:
                        self._jsonl_lines[rel] = lines

    def _adopt_iteration(self, rel: str) -> None:
        """A file of the iteration layout left on disk: the canonical record (the one that
        counts ``step_iterations``) goes first in its step's list."""
        step = self.read_step(rel)
        index = step.get("step_index") if step is not None else None
        if step is None or not isinstance(index, int) or \
                rel != layout.iteration_path(index, str(step.get("step_id"))):
            self.lost["steps"] += 1
            return
        self._signatures[rel] = sha256_hex((self.root / rel).read_bytes())
        files = self._iterations.setdefault(index, [])
        if isinstance(step.get("step_iterations"), int) and step["step_iterations"] > 1:
            files.insert(0, rel)
            self._steps.add(index, step.get("observation_pre"), step.get("observation_post"))
        else:
            files.append(rel)
            if index not in self._steps:
                self._steps.add(index, step.get("observation_pre"),
                                step.get("observation_post"))

    def _trim_torn_line(self, rel: str) -> int:
        """Drop a torn final line; return how many whole lines the file holds."""
        path = self.root / rel
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
            atomic_write(path, data)
        return data.count(b"\n")
