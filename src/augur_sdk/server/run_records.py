"""The other record kinds' requests of one run (plug-in kinds, model calls and their
images, side effects, reasoning, judge decisions, outcomes, eval candidates, logs) and the
run's OTLP spans; see ``runs.py``."""

from __future__ import annotations

import hashlib
from typing import Any

from augur_sdk import records
from augur_sdk.bundle import layout
from augur_sdk.kinds.spec import FileFormat, RecordKind
from augur_sdk.server.bundle import ServerBundleWriter
from augur_sdk.server.checks import RunError, as_object, check_session, check_step, read_json
from augur_sdk.server.ordering import EventOrder
from augur_sdk.server.paths import check_file_name, check_image_name, check_index
from augur_sdk.server.run_core import SOURCE_OTLP, Body, RunCore


class RecordRequests(RunCore):
    """Requests for the record kinds beyond the streaming protocol's, and OTLP spans."""

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
        rel = f"modelio/{name}"
        record = as_object(record, "modelio record")
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            writer.write_modelio(rel, record)  # counted in the run's model_calls totals
        return {"ok": True, "path": rel}

    def add_modelio_image(self, name: str, data: bytes) -> Body:
        """An image taken out of a model call, stored by its sha256 (checked: a client
        cannot put other bytes under a digest's name)."""
        name = check_image_name(name)
        sha = name.split(".", 1)[0]
        if hashlib.sha256(data).hexdigest() != sha:
            raise RunError(400, "image: its bytes do not have the sha256 its name says")
        rel = f"modelio/images/{name}"
        with self._writing() as writer:
            if writer is None:
                return self._ignored(self.source)
            writer.write_blob(rel, data, sha)
        return {"ok": True, "path": rel}

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
        """Append an event (a re-sent one, same ``augur.seq``, is dropped); each events file
        is put in recording order when the run finishes (``_sort_events``)."""
        index = event.get("step_index")
        if index is not None:
            check_index(index, "event.step_index")
        rel = layout.events_path(index)
        order = self.event_orders.setdefault(rel, EventOrder())
        if not order.is_new(seq):
            return
        if writer.append_event(event):
            order.appended(seq)

    def otlp_step(self, step: Any, seq: int, events: list[tuple[int, dict[str, Any]]],
                  ids: dict[str, str], *, write_step: bool = True) -> bool:
        """A step span (``write_step=False``: a newer span of the same step follows in this
        request; only its events are taken from this one)."""
        step = check_step(step)
        with self._writing(SOURCE_OTLP, ids.get("trace_id")) as writer:
            if writer is None:
                return False
            if self.trace_id is None and ids.get("trace_id"):
                self.trace_id = ids["trace_id"]
            index = int(step["step_index"])
            if write_step and seq >= self.step_seqs.get(index, -1):
                self.step_seqs[index] = seq
                writer.write_step(step, ids)
            for ev_seq, event in sorted(events, key=lambda item: item[0]):
                self._otlp_event(writer, ev_seq, event)
        return True

    def otlp_run(self, session: Any, policy_id: str | None,
                 events: list[tuple[int, dict[str, Any]]], ids: dict[str, str]) -> bool:
        session = check_session(session, self.run_id)
        writer = self._writer_for(SOURCE_OTLP, session, ids.get("trace_id"))
        if writer is None:
            return False
        if policy_id:
            self.policy_id = policy_id
        if ids.get("trace_id"):
            self.trace_id = ids["trace_id"]
        writer.write_run_span_ids(ids)
        for ev_seq, event in sorted(events, key=lambda item: item[0]):
            self._otlp_event(writer, ev_seq, event)
        self.session = session
        self.placeholder = False
        self._finish()
        return True
