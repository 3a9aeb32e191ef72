"""The core of one run on the server: its state, its bundle writer and their lifecycle
(begin, adopt, reopen, finish, move aside, halt when idle); see ``runs.py`` for the whole
story and the requests."""


from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augur_schema import SCHEMA_VERSION

from augur_sdk._version import __version__
from augur_sdk.bundle import layout
from augur_sdk.bundle.files import atomic_write
from augur_sdk.records import ns_to_iso, utcnow_iso
from augur_sdk.server.bundle import ServerBundleWriter
from augur_sdk.server.checks import (
    CAPTURE_MODES,
    RunError,
    placeholder_session_id,
    read_json,
)
from augur_sdk.server.config import ServerConfig
from augur_sdk.server.decode import BodyError
from augur_sdk.server.idempotency import Binding, KeyTable
from augur_sdk.server.ordering import EventOrder
from augur_sdk.server.paths import (
    MAX_STEP_INDEX,
    BadName,
)

SOURCE_DSN = "dsn"
SOURCE_OTLP = "otlp"
FAILED_STATUSES = layout.FAILED_SESSION_STATUSES
REPLACED_DIR = "replaced"  # <tenant>/.augur-server/replaced/<when>/<run dir>: older bundles
MAX_FINGERPRINT = 512  # characters of a client's trajectory_fingerprint kept
MAX_MISSING_LISTED = 10_000  # steps a halted run's manifest lists as missing, at most

Body = dict[str, Any]
OK: Body = {"ok": True}
FINISHED_IGNORED: Body = {"ok": True, "ignored": "finished"}
_aside_counter = itertools.count()


class Ignored(Exception):
    """The request is answered ``body`` and changes nothing (data for a finished run)."""

    def __init__(self, body: Body) -> None:
        super().__init__(body.get("ignored"))
        self.body = body


class Idempotency:
    """A request's ``Idempotency-Key`` and what it is bound to."""

    def __init__(self, table: KeyTable, key: str, binding: Binding) -> None:
        self.table = table
        self.key = key
        self.binding = binding


class RunCore:
    """A run's state and its bundle writer (what the requests share); ``Run`` adds the
    requests (``run_stream``, ``run_records``)."""

    def __init__(self, tenant: str, run_id: str, root: Path, index_path: Path,
                 config: ServerConfig, keys: KeyTable | None = None) -> None:
        self.tenant = tenant
        self.run_id = run_id
        self.root = root
        self.index_path = index_path
        self.config = config
        self.keys = keys if keys is not None else KeyTable(config.max_idempotency_bytes)
        self.lock = threading.RLock()
        self.users = 0  # managed by the store: a run in use is never evicted
        self.writer: ServerBundleWriter | None = None
        self.session: dict[str, Any] | None = None
        self.placeholder = True
        self.exists = False
        self.finished = False
        self.finished_epoch: float | None = None
        self.source: str | None = None
        self.policy_id = "unknown"
        self.client_step_count: int | None = None
        self.contact: dict[str, str] = {}
        self.event_orders: dict[str, EventOrder] = {}
        self.step_seqs: dict[int, int] = {}
        self.late_ignored = 0  # requests for the finished run, after the reopen window
        self.halted: dict[str, Any] | None = None  # set while finished by the server (idle)
        self.trace_id: str | None = None  # the OTLP trace of this session's spans
        self._loaded = False
        self._index_written = 0.0
        self.on_finish: Callable[[RunCore], None] | None = None  # --store (server/offload.py)

    # ── state on disk ───────────────────────────────────────────────────────

    def _load(self) -> None:
        """Pick up what an earlier server process left for this run (once)."""
        if self._loaded:
            return
        self._loaded = True
        index = read_json(self.index_path)
        live = read_json(self.root / layout.LIVE)
        has_live = (self.root / layout.LIVE).exists()
        has_manifest = (self.root / layout.MANIFEST).is_file()
        if isinstance(index, dict) and isinstance(index.get("session"), dict):
            self.session = index["session"]
            self.placeholder = bool(index.get("placeholder"))
            self.finished = bool(index.get("finished")) and not has_live
            epoch = index.get("finished_epoch")
            self.finished_epoch = float(epoch) if isinstance(epoch, int | float) else None
            self.source = index.get("source") if isinstance(index.get("source"), str) else None
            self.policy_id = str(index.get("policy_id") or "unknown")
            count = index.get("client_step_count")
            self.client_step_count = count if isinstance(count, int) else None
            late = index.get("late_ignored")
            self.late_ignored = late if isinstance(late, int) and late > 0 else 0
            halted = index.get("halted")
            self.halted = halted if isinstance(halted, dict) and self.finished else None
            trace_id = index.get("trace_id")
            self.trace_id = trace_id if isinstance(trace_id, str) else None
            if self.finished:
                self.keys.load((self.tenant, self.run_id), read_json(self._keys_path()))
            self.exists = True
        elif isinstance(live, dict) and isinstance(live.get("session"), dict):
            self.session = live["session"]
            self.placeholder = False
            self.policy_id = str(live.get("redaction_policy") or "unknown")
            self.exists = True
        elif has_manifest:  # a finished bundle the server has no index for
            trace = read_json(self.root / layout.TRACE)
            session = trace.get("session") if isinstance(trace, dict) else None
            self.session = session if isinstance(session, dict) else None
            self.placeholder = self.session is None
            self.finished = not has_live
            self.exists = True
        if self.finished and self.finished_epoch is None:
            try:
                self.finished_epoch = (self.root / layout.MANIFEST).stat().st_mtime
            except OSError:
                self.finished_epoch = time.time()

    def _write_index(self, *, step_count: int | None = None) -> None:
        record: dict[str, Any] = {
            "tenant": self.tenant, "run_id": self.run_id, "source": self.source,
            "placeholder": self.placeholder, "finished": self.finished,
            "finished_epoch": self.finished_epoch, "policy_id": self.policy_id,
            "client_step_count": self.client_step_count, "updated_at": utcnow_iso(),
            "session": self.session, "late_ignored": self.late_ignored,
            "halted": self.halted, "trace_id": self.trace_id,
        }
        if step_count is not None:
            record["step_count"] = step_count
        elif isinstance(prev := read_json(self.index_path), dict) and self.finished:
            record["step_count"] = prev.get("step_count")
        try:
            atomic_write(self.index_path, layout.dumps(record).encode("utf-8"))
        except OSError as exc:
            raise RunError(507, f"could not write to the data directory ({exc.strerror})") \
                from None
        self._index_written = time.monotonic()

    def _expired(self) -> bool:
        """Finished (by its client) longer ago than the reopen window."""
        return (self.finished and self.halted is None and self.finished_epoch is not None
                and time.time() - self.finished_epoch > self.config.reopen_window_s)

    def _ignore_late(self) -> Ignored:
        """Late data for a finished run: counted, never written."""
        self.late_ignored += 1
        self._write_index()
        return Ignored(FINISHED_IGNORED)

    def _keys_path(self) -> Path:
        return self.index_path.with_name(self.index_path.name[:-len(".json")] + ".keys.json")

    def _write_keys(self) -> None:
        """The Idempotency-Keys of a finished run, so that a client retrying its last
        requests across a server restart is still answered from them."""
        rows = self.keys.export((self.tenant, self.run_id))
        path = self._keys_path()
        try:
            if rows:
                atomic_write(path, layout.dumps(rows).encode("utf-8"))
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise RunError(507, f"could not write to the data directory ({exc.strerror})") \
                from None

    # ── sessions ────────────────────────────────────────────────────────────

    def _placeholder_session(self) -> dict[str, Any]:
        client: dict[str, str] = {"name": self.contact.get("client_name") or "unknown"}
        if self.contact.get("client_version"):
            client["version"] = self.contact["client_version"]
        mode = self.contact.get("capture_mode")
        return {
            "schema_version": SCHEMA_VERSION,
            "debug_session_id": placeholder_session_id(self.tenant, self.run_id),
            "run_id": self.run_id,
            "client": client,
            "capture_mode": mode if mode in CAPTURE_MODES else "metadata",
            "started_at": utcnow_iso(),
            "status": "running",
        }

    def _set_running_session(self, session: dict[str, Any]) -> None:
        """A new session record for a run still being written: live.json and the manifest."""
        self.session = session
        if self.writer is not None and not self.finished:
            self.writer.update_session(session)
            manifest = layout.build_manifest(session, step_count=0, created_at=utcnow_iso(),
                                             policy_id=self.policy_id)
            try:
                atomic_write(self.root / layout.MANIFEST, layout.dumps(manifest).encode())
            except OSError as exc:
                raise RunError(507, f"could not write the manifest ({exc.strerror})") \
                    from None
        self._write_index()

    # ── writer lifecycle ────────────────────────────────────────────────────

    def _begin(self, session: dict[str, Any], source: str | None) -> ServerBundleWriter:
        """Start a new bundle; an older run with this id is moved aside first."""
        if self.exists:
            self._move_aside()
        self.policy_id = "unknown"
        self.writer = ServerBundleWriter(self.root, policy_id=self.policy_id,
                                         fsync=self.config.fsync)
        self.session = session
        self.exists = True
        self.finished = False
        self.finished_epoch = None
        self.source = source
        self.client_step_count = None
        self.late_ignored = 0
        self.halted = None
        self.trace_id = None
        self.event_orders.clear()
        self.step_seqs.clear()
        self.keys.forget((self.tenant, self.run_id))
        self._write_keys()
        self.writer.begin(session)
        self._write_index()
        return self.writer

    def _move_aside(self) -> None:
        """Keep the older bundle of this run id (and its index) under
        ``<tenant>/.augur-server/replaced/<when>/``: a new session never deletes a run."""
        if not self.root.exists():
            return
        when = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}-" \
               f"{next(_aside_counter)}"
        target = self.index_path.parent / REPLACED_DIR / when / self.root.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.root, target)
            if self.index_path.exists():
                os.replace(self.index_path, target.parent / "index.json")
            if self._keys_path().exists():
                os.replace(self._keys_path(), target.parent / "keys.json")
        except OSError as exc:
            raise RunError(507, f"could not move the older bundle of this run aside "
                                f"({exc.strerror})") from None
        self.writer = None

    def _adopt(self) -> ServerBundleWriter:
        """Resume a bundle an earlier server process (or an evicted state) left on disk."""
        session = self.session or self._placeholder_session()
        self.session = session
        writer = ServerBundleWriter(self.root, policy_id=self.policy_id, fsync=self.config.fsync)
        writer.adopt_existing(session)
        writer.finished = self.finished
        if not self.finished:
            writer.update_session(session)  # live.json now names this process
        self.writer = writer
        return writer

    def _reopen(self) -> ServerBundleWriter:
        """Data of a session the server finished for idleness: it is running after all."""
        assert self.halted is not None
        before = self.halted.get("session_before")
        self.session = before if isinstance(before, dict) else self.session
        self.halted = None
        self.finished = False
        self.finished_epoch = None
        writer = self._adopt()
        self._write_index()
        return writer

    def _writer_for(self, source: str, session: dict[str, Any] | None = None,
                    trace_id: str | None = None) -> ServerBundleWriter | None:
        """The writer for new data from ``source``; None when another source feeds the run.
        Raises :class:`Ignored` for late data of a finished run."""
        self._load()
        new_session = self.exists and (
            (session is not None and not self.placeholder and self.session is not None
             and session.get("debug_session_id") != self.session.get("debug_session_id"))
            or (trace_id is not None and self.finished and self.trace_id is not None
                and trace_id != self.trace_id))
        if not self.exists or new_session:
            return self._begin(session or self._placeholder_session(), source)
        if self._expired():
            raise self._ignore_late()
        if self.source is None:
            self.source = source
        if self.source != source:
            return None
        if self.halted is not None:
            return self._reopen()
        return self.writer if self.writer is not None else self._adopt()

    def _finish(self) -> None:
        assert self.writer is not None and self.session is not None
        self.writer.policy_id = self.policy_id
        self.writer.extra_producer_facts["server"] = {
            "received_by": f"augur serve (augur-otel {__version__})",
            "tenant": self.tenant, "source": self.source,
            "placeholder_session": self.placeholder,
        }
        self._sort_events()
        manifest = self.writer.finish(dict(self.session))
        self.finished = True
        self.finished_epoch = time.time()
        self._write_index(step_count=int(manifest.get("step_count", 0)))
        self._write_keys()
        if self.on_finish is not None:
            self.on_finish(self)

    def _sort_events(self) -> None:
        """Put every events file that got OTLP events out of order in ``augur.seq`` order:
        once per finish, O(n log n) in its lines."""
        for rel, order in self.event_orders.items():
            try:
                order.sort_file(self.root / rel)
            except OSError as exc:
                raise RunError(507, f"could not write {rel} ({exc.strerror})") from None

    @contextmanager
    def _writing(self, source: str = SOURCE_DSN, trace_id: str | None = None,
                 ) -> Iterator[ServerBundleWriter | None]:
        """Write new data; a run finished already is finished again afterwards."""
        writer = self._writer_for(source, trace_id=trace_id)
        if writer is None:
            yield None
            return
        lost = writer.lost_total()
        yield writer
        if self.finished:
            self._finish()
        if writer.lost_total() > lost:
            raise RunError(507, "the server could not write to its data directory")

    def call(self, idempotency: Idempotency | None, op: Callable[[], Body]) -> Body:
        """Run ``op`` under the run's lock. A repeated ``Idempotency-Key`` with the same
        request replays its first answer; with another request it is refused (422). When
        the first request of a run fails, nothing of it is left on disk."""
        run_key = (self.tenant, self.run_id)
        with self.lock:
            if idempotency is not None:
                self._load()  # a finished run's keys come back with its index
                first = idempotency.table.lookup(run_key, idempotency.key,
                                                 idempotency.binding)
                if first is not None:
                    return {**first, "replayed": True}
            created = not self.root.exists()
            try:
                body = op()
            except Ignored as ignored:
                return ignored.body
            except BadName as exc:
                self._discard_if(created)
                raise RunError(400, str(exc)) from None
            except BodyError as exc:
                self._discard_if(created)
                raise RunError(exc.status, exc.message) from None
            except BaseException:
                self._discard_if(created)
                raise
            if idempotency is not None:
                idempotency.table.remember(run_key, idempotency.key, idempotency.binding,
                                           body)
                if self.finished:
                    self._write_keys()
            return body

    @staticmethod
    def _ignored(source: str | None) -> Body:
        return {"ok": True, "ignored": f"this run is fed by {source}"}

    def _discard_if(self, created: bool) -> None:
        """Remove what a failed first request of this run left (a directory, its index)."""
        if not created or not (self.root.exists() or self.index_path.exists()):
            return
        shutil.rmtree(self.root, ignore_errors=True)
        for path in (self.index_path, self._keys_path()):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        self.writer = None
        self.session = None
        self.placeholder = True
        self.exists = self.finished = False
        self.finished_epoch = None
        self.source = None
        self.policy_id = "unknown"
        self.client_step_count = None
        self.halted = None
        self.trace_id = None
        self.event_orders.clear()
        self.step_seqs.clear()

    # ── finishing runs whose client went away ──────────────────────────────

    def halt_idle(self, idle_s: float, last_request: float) -> bool:
        """Finish a run no request reached for ``idle_s`` seconds (since ``last_request``,
        epoch seconds): status ``halted``, what never arrived listed in ``manifest.missing``.
        False when the run is finished already or not on disk."""
        self._load()
        if not self.exists or self.finished or self.session is None:
            return False
        writer = self.writer if self.writer is not None else self._adopt()
        before = dict(self.session)
        session = dict(before)
        session["status"] = "halted"
        session["ended_at"] = ns_to_iso(int(last_request * 1e9))
        writer.extra_missing = self._missing_steps()
        reason = (f"no request for {idle_s:g} s: the client went away before it finished "
                  f"the run (augur serve --finish-idle-after)")
        self.halted = {"at": utcnow_iso(), "reason": reason,
                       "last_request_at": session["ended_at"], "session_before": before}
        writer.extra_producer_facts["halted_by_server"] = {
            "reason": reason, "last_request_at": session["ended_at"],
            "missing_steps": len(writer.extra_missing)}
        self.session = session
        self._finish()
        return True

    def _missing_steps(self) -> list[str]:
        """Step files below the highest index received (or the count the client's manifest
        announced) that never arrived."""
        present = set()
        steps_dir = self.root / "steps"
        if steps_dir.is_dir():
            present = {int(p.stem) for p in steps_dir.glob("*.json") if p.stem.isdigit()}
        top = max(present, default=-1) + 1
        if self.client_step_count is not None:
            top = max(top, min(self.client_step_count, MAX_STEP_INDEX + 1))
        missing = (layout.step_path(i) for i in range(top) if i not in present)
        return list(itertools.islice(missing, MAX_MISSING_LISTED))
