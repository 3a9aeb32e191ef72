"""The streaming protocol's requests of one run (heartbeat, session, steps, events,
screenshots, manifest, trace, costs); see ``runs.py``."""

from __future__ import annotations

import time
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.server.checks import (
    CAPTURE_MODES,
    RunError,
    as_object,
    check_costs,
    check_session,
    check_step,
)
from augur_sdk.server.decode import png_size
from augur_sdk.server.paths import check_index
from augur_sdk.server.run_core import MAX_FINGERPRINT, OK, SOURCE_DSN, Body, RunCore


class StreamRequests(RunCore):
    """The requests of augur-sdk's streaming protocol."""

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
        if self.finished and self.halted is None and not self._expired() and \
                self.session is not None and \
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
        width, height = png_size(data)
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
        fingerprint = manifest.get("trajectory_fingerprint")
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            if isinstance(fingerprint, str) and 0 < len(fingerprint) <= MAX_FINGERPRINT:
                # The client's algorithm may be a plug-in this server does not have.
                writer.given_fingerprint = fingerprint
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
        if self.finished and self.halted is None and not self._expired():
            # A costs update racing the trace must not replace the trace's final costs.
            return {"ok": True, "ignored": "the run is finished; its trace is authoritative"}
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            session = dict(self.session or self._placeholder_session())
            session["costs"] = dict(costs)
            self._set_running_session(session)
        return OK
