"""One run on the server: its bundle writer and what the server knows about it.

A run's bundle is created on first contact (heartbeat, session, step, ...) with a
*placeholder* session record (run id, client and capture mode from the latest heartbeat,
status ``running``); ``PUT /runs/{run}/session`` replaces the placeholder; the trace (or, over
OTLP, the run span) carries the authoritative session record and finishes the bundle. Data
that arrives after the finish (the 0.6.1 client sends its last requests from racing threads)
is merged and the bundle finished again, within ``reopen_window_s``; after that window, new
data for the same run id starts a new bundle, as a reused ``out_dir`` does in the SDK.

Every method runs on a worker thread with the run's lock held; ``RunError`` carries the HTTP
status for the client.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augur_schema import SCHEMA_VERSION

from augur_sdk import records
from augur_sdk._version import __version__
from augur_sdk.bundle import layout
from augur_sdk.bundle.files import atomic_write
from augur_sdk.kinds.spec import FileFormat, RecordKind
from augur_sdk.records import png_dimensions, utcnow_iso
from augur_sdk.server.bundle import ServerBundleWriter
from augur_sdk.server.checks import (
    CAPTURE_MODES,
    RunError,
    as_object,
    check_costs,
    check_session,
    check_step,
    placeholder_session_id,
    read_json,
)
from augur_sdk.server.config import ServerConfig
from augur_sdk.server.ordering import insert_in_order
from augur_sdk.server.paths import BadName, check_file_name, check_index

SOURCE_DSN = "dsn"
SOURCE_OTLP = "otlp"
FAILED_STATUSES = layout.FAILED_SESSION_STATUSES
MAX_IDEMPOTENCY_KEYS = 1024

Body = dict[str, Any]
OK: Body = {"ok": True}


class Run:
    """The server side of one ``<tenant>/<run_id>``; see the module docstring."""

    def __init__(self, tenant: str, run_id: str, root: Path, index_path: Path,
                 config: ServerConfig) -> None:
        self.tenant = tenant
        self.run_id = run_id
        self.root = root
        self.index_path = index_path
        self.config = config
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
        self.event_seqs: dict[str, list[int]] = {}
        self.step_seqs: dict[int, int] = {}
        self._idempotency: OrderedDict[str, Body] = OrderedDict()
        self._loaded = False
        self._index_written = 0.0

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
            "session": self.session,
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
        return (self.finished and self.finished_epoch is not None
                and time.time() - self.finished_epoch > self.config.reopen_window_s)

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
        """Start a new bundle (an older run with this id is replaced)."""
        self.policy_id = "unknown"
        self.writer = ServerBundleWriter(self.root, policy_id=self.policy_id,
                                         fsync=self.config.fsync)
        self.session = session
        self.exists = True
        self.finished = False
        self.finished_epoch = None
        self.source = source
        self.client_step_count = None
        self.event_seqs.clear()
        self.step_seqs.clear()
        self._idempotency.clear()
        self.writer.begin(session)
        self._write_index()
        return self.writer

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

    def _writer_for(self, source: str, session: dict[str, Any] | None = None,
                    ) -> ServerBundleWriter | None:
        """The writer for new data from ``source``; None when another source feeds the run."""
        self._load()
        fresh = not self.exists or self._expired() or (
            session is not None and not self.placeholder and self.session is not None
            and session.get("debug_session_id") != self.session.get("debug_session_id"))
        if fresh:
            return self._begin(session or self._placeholder_session(), source)
        if self.source is None:
            self.source = source
        if self.source != source:
            return None
        return self.writer if self.writer is not None else self._adopt()

    def _finish(self) -> None:
        assert self.writer is not None and self.session is not None
        self.writer.policy_id = self.policy_id
        self.writer.extra_producer_facts["server"] = {
            "received_by": f"augur serve (augur-otel {__version__})",
            "tenant": self.tenant, "source": self.source,
            "placeholder_session": self.placeholder,
        }
        manifest = self.writer.finish(dict(self.session))
        self.finished = True
        self.finished_epoch = time.time()
        self._write_index(step_count=int(manifest.get("step_count", 0)))

    @contextmanager
    def _writing(self, source: str = SOURCE_DSN) -> Iterator[ServerBundleWriter | None]:
        """Write new data; a run finished already is finished again afterwards."""
        writer = self._writer_for(source)
        if writer is None:
            yield None
            return
        lost = writer.lost_total()
        yield writer
        if self.finished:
            self._finish()
        if writer.lost_total() > lost:
            raise RunError(507, "the server could not write to its data directory")

    def call(self, key: str | None, op: Callable[[], Body]) -> Body:
        """Run ``op`` under the run's lock; a repeated ``Idempotency-Key`` replays its answer."""
        with self.lock:
            if key is not None and key in self._idempotency:
                return {**self._idempotency[key], "replayed": True}
            try:
                body = op()
            except BadName as exc:
                raise RunError(400, str(exc)) from None
            if key is not None:
                self._idempotency[key] = body
                while len(self._idempotency) > MAX_IDEMPOTENCY_KEYS:
                    self._idempotency.popitem(last=False)
            return body

    @staticmethod
    def _ignored(source: str | None) -> Body:
        return {"ok": True, "ignored": f"this run is fed by {source}"}

    # ── the streaming protocol ──────────────────────────────────────────────

    def heartbeat(self, contact: dict[str, str]) -> Body:
        self.contact.update({k: v for k, v in contact.items() if v})
        self._load()
        if not self.exists:
            self._begin(self._placeholder_session(), SOURCE_DSN)
        elif self.placeholder and not self.finished and self.session is not None:
            updated = self._placeholder_session()
            updated["started_at"] = self.session.get("started_at", updated["started_at"])
            updated["debug_session_id"] = self.session.get("debug_session_id",
                                                           updated["debug_session_id"])
            if updated != self.session:
                if self.writer is None and self.source in (None, SOURCE_DSN):
                    self._adopt()
                self._set_running_session(updated)
        if not self.finished and time.monotonic() - self._index_written > 5.0:
            self._write_index()  # last contact, for the run list's "stale"
        return OK

    def put_session(self, session: Any) -> Body:
        session = check_session(session, self.run_id)
        self._load()
        if self.finished and not self._expired() and self.session is not None and \
                session.get("debug_session_id") == self.session.get("debug_session_id"):
            return {"ok": True, "ignored": "the run is finished; its trace is authoritative"}
        writer = self._writer_for(SOURCE_DSN, session)
        if writer is None:
            return self._ignored(self.source)
        self.placeholder = False
        self._set_running_session(session)
        return OK

    def put_step(self, index: int, step: Any) -> Body:
        step = check_step(step, index)
        self._load()
        if self.finished and not self._expired() and (self.root / layout.step_path(index)).exists():
            return {"ok": True, "ignored": "the run is finished; its trace is authoritative"}
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            step_id = str(step["step_id"])
            same = writer.step_file(index, step_id)
            files = writer.iterated().get(index)
            if same is not None and (not files or same == files[0]):
                writer.write_step(step)  # the step (or its canonical record) again
            elif same is not None:
                writer.rewrite_step(same, step)  # an iteration again
            elif writer.step_file(index) is not None:
                # Another step_id at a known index: an iteration (augur-sdk 0.6.1 sends it,
                # then the canonical step again with its new step_iterations).
                writer.write_iteration(step)
                return {"ok": True, "iteration": True}
            else:
                writer.write_step(step)
        return OK

    def add_events(self, events: Any, step_index: Any) -> Body:
        if not isinstance(events, list) or not events:
            raise RunError(400, "events: expected a non-empty list")
        if step_index is not None:
            check_index(step_index, "step_index")
        checked = []
        for n, event in enumerate(events):
            event = dict(as_object(event, f"events[{n}]"))
            if event.get("step_index") is None:
                event.pop("step_index", None)
                if step_index is not None:
                    event["step_index"] = step_index
            else:
                check_index(event["step_index"], f"events[{n}].step_index")
            checked.append(event)
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            for event in checked:
                writer.append_event(event)
        return {"ok": True, "events": len(checked)}

    def put_screenshot(self, index: int, kind: str, data: bytes) -> Body:
        try:
            width, height = png_dimensions(data)
        except ValueError:
            raise RunError(400, "image: not a PNG") from None
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            facts = writer.write_screenshot(index, kind, data)
        return {"ok": facts is not None, "path": layout.screenshot_path(index, kind),
                "width": width, "height": height}

    def post_manifest(self, manifest: dict[str, Any]) -> Body:
        self._load()
        redaction = manifest.get("redaction")
        policy = redaction.get("policy_id") if isinstance(redaction, dict) else None
        count = manifest.get("step_count")
        if isinstance(count, int) and not isinstance(count, bool):
            self.client_step_count = count
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            if isinstance(policy, str) and policy and policy != self.policy_id:
                self.policy_id = policy
                writer.policy_id = policy
            if self.placeholder and not self.finished and self.session is not None:
                session = dict(self.session)
                dsid = manifest.get("debug_session_id")
                if isinstance(dsid, str) and dsid.startswith("dbg_"):
                    session["debug_session_id"] = dsid
                if isinstance(manifest.get("client"), dict) and manifest["client"].get("name"):
                    session["client"] = dict(manifest["client"])
                if manifest.get("capture_mode") in CAPTURE_MODES:
                    session["capture_mode"] = manifest["capture_mode"]
                self._set_running_session(session)
            else:
                self._write_index()
        return OK

    def put_trace(self, trace: Any) -> Body:
        trace = as_object(trace, "trace")
        session = check_session(trace.get("session"), self.run_id)
        steps = trace.get("steps")
        if not isinstance(steps, list):
            raise RunError(400, "trace.steps: expected a list")
        checked = [check_step(step) for step in steps]
        writer = self._writer_for(SOURCE_DSN, session)
        if writer is None:
            return self._ignored(self.source)
        lost = writer.lost_total()
        for step in checked:
            data = layout.dumps(step).encode("utf-8")
            path = self.root / layout.step_path(int(step["step_index"]))
            try:
                same = path.read_bytes() == data
            except OSError:
                same = False
            if not same:
                writer.write_step(step)
        self.session = session
        self.placeholder = False
        self._finish()
        if writer.lost_total() > lost:
            raise RunError(507, "the server could not write to its data directory")
        return {"ok": True, "steps": len(checked)}

    def put_costs(self, costs: Any) -> Body:
        costs = check_costs(costs)
        if not costs:
            return {"ok": True, "ignored": "empty costs"}
        self._load()
        if self.finished and not self._expired():
            # A costs update racing the trace must not replace the trace's final costs.
            return {"ok": True, "ignored": "the run is finished; its trace is authoritative"}
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            session = dict(self.session or self._placeholder_session())
            session["costs"] = dict(costs)
            self._set_running_session(session)
        return OK

    # ── the other record kinds ──────────────────────────────────────────────

    def _whole_file(self, rel: str, record: Any) -> Body:
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            writer.write_file(rel, layout.dumps(record).encode("utf-8"))
        return {"ok": True, "path": rel}

    def _append(self, rel: str, record: dict[str, Any]) -> Body:
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            writer.append_bytes(rel, layout.jsonl_line(record).encode("utf-8"))
        return {"ok": True, "path": rel}

    def _list_file(self, rel: str, key: str, record: dict[str, Any],
                   unique_by: str | None = None) -> Body:
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            current = read_json(self.root / rel)
            items = current.get(key) if isinstance(current, dict) else None
            items = list(items) if isinstance(items, list) else []
            if unique_by is not None:  # a later record for the same key replaces it
                items = [i for i in items if not isinstance(i, dict) or
                         i.get(unique_by) != record.get(unique_by)]
            if record not in items:  # a retried POST does not add it twice
                items.append(record)
                writer.write_file(rel, layout.dumps({key: items}).encode("utf-8"))
        return {"ok": True, "path": rel}

    def add_record(self, kind: RecordKind, record: Any, from_path: dict[str, int]) -> Body:
        """A record of a plug-in kind, stored where its spec says after the same check the
        SDK makes (``from_path``: the integer fields the route's placeholders carried)."""
        record = dict(as_object(record, kind.name))
        for key, value in from_path.items():
            if record.setdefault(key, value) != value:
                raise RunError(400, f"{kind.name}.{key}: {record[key]!r} disagrees with the "
                                    f"path ({value})")
        try:
            record = records.check_record(kind.name, kind.schema, record, kind.timestamp_field)
            rel = layout.checked_rel(kind.bundle.path(record))
        except (TypeError, ValueError, KeyError) as exc:
            raise RunError(400, str(exc)) from None
        if kind.bundle.format is FileFormat.JSON:
            return self._whole_file(rel, record)
        return self._append(rel, record)

    def add_modelio(self, name: str, record: Any) -> Body:
        name = check_file_name(name, "modelio record name")
        return self._whole_file(f"modelio/{name}", as_object(record, "modelio record"))

    def add_side_effect(self, record: Any) -> Body:
        record = as_object(record, "side effect")
        sid = check_file_name(record.get("side_effect_id"), "side_effect_id")
        index = check_index(record.get("step_index", 0), "step_index")
        return self._whole_file(f"side_effects/{index:04d}-{sid}.json", record)

    def add_reasoning(self, record: Any) -> Body:
        # Not events/reasoning.jsonl (augur-sdk 0.6.1's place): every events/*.jsonl must
        # hold decision events, so a reasoning file there makes the bundle invalid.
        return self._append("diagnostics/reasoning.jsonl", as_object(record, "reasoning record"))

    def add_judge_decision(self, index: int, record: Any) -> Body:
        """A judge decision goes where the SDK keeps it: the step's ``judge_decisions``
        (its latest iteration's), once (a retried POST, or the step PUT that augur-sdk
        0.6.1 sends next carrying it, does not add it twice)."""
        decision = dict(as_object(record, "judge decision"))
        decision.pop("step_index", None)
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            rel = writer.step_file(index)
            step = writer.read_step(rel) if rel is not None else None
            if rel is None or step is None:
                return {"ok": True, "ignored": f"no step {index} yet; its PUT carries it"}
            judges = step.get("judge_decisions")
            judges = list(judges) if isinstance(judges, list) else []
            if decision not in judges:
                step["judge_decisions"] = [*judges, decision]
                writer.rewrite_step(rel, step)
        return {"ok": True, "path": rel}

    def add_outcome(self, record: Any) -> Body:
        return self._list_file("outcomes.json", "outcomes", as_object(record, "outcome"))

    def add_eval_candidate(self, record: Any) -> Body:
        return self._list_file("eval_candidates.json", "candidates",
                               as_object(record, "eval candidate"), unique_by="step_index")

    def add_log(self, body: Any) -> Body:
        body = as_object(body, "log")
        text = body.get("text")
        if not isinstance(text, str):
            raise RunError(400, "text: expected a string")
        step_index = body.get("step_index")
        if step_index is not None:
            rel = f"logs/step-{check_index(step_index)}.log"  # as augur-sdk 0.6.1 documents
        else:
            rel = f"logs/{check_file_name(body.get('name', 'run'), 'name')}.log"
        data = text.encode("utf-8")
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            room = max(self.config.max_log_bytes - writer.file_size(rel), 0)
            kept = data[:room]
            if kept:
                writer.append_bytes(rel, kept)
        return {"ok": True, "path": rel, "truncated": len(data) - len(kept)}

    # ── OTLP: spans of ours ─────────────────────────────────────────────────

    def _otlp_event(self, writer: ServerBundleWriter, seq: int, event: dict[str, Any]) -> None:
        """Write an event so that each events file stays in recording (``augur.seq``) order."""
        index = event.get("step_index")
        if index is not None:
            check_index(index, "event.step_index")
        rel = layout.events_path(index)
        seqs = self.event_seqs.setdefault(rel, [])
        try:
            if insert_in_order(self.root / rel, seqs, seq, layout.jsonl_line(event)):
                return
        except OSError as exc:
            raise RunError(507, f"could not write {rel} ({exc.strerror})") from None
        writer.append_event(event)  # the newest so far: a plain append, indexed by the writer

    def otlp_step(self, step: Any, seq: int, events: list[tuple[int, dict[str, Any]]],
                  ids: dict[str, str]) -> bool:
        step = check_step(step)
        with self._writing(SOURCE_OTLP) as writer:
            if writer is None:
                return False
            index = int(step["step_index"])
            if seq >= self.step_seqs.get(index, -1):
                self.step_seqs[index] = seq
                writer.write_step(step, ids)
            for ev_seq, event in sorted(events, key=lambda item: item[0]):
                self._otlp_event(writer, ev_seq, event)
        return True

    def otlp_run(self, session: Any, policy_id: str | None,
                 events: list[tuple[int, dict[str, Any]]], ids: dict[str, str]) -> bool:
        session = check_session(session, self.run_id)
        writer = self._writer_for(SOURCE_OTLP, session)
        if writer is None:
            return False
        if policy_id:
            self.policy_id = policy_id
        writer.write_run_span_ids(ids)
        for ev_seq, event in sorted(events, key=lambda item: item[0]):
            self._otlp_event(writer, ev_seq, event)
        self.session = session
        self.placeholder = False
        self._finish()
        return True
