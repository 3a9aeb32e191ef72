"""``StreamSpanProcessor``: sends a run's records to an Augur server as its spans happen.

It sees exactly what the bundle processor sees (the same records, already redacted and
gated, that the span attributes were encoded from), so the stream carries what the bundle
holds.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from augur_sdk import codec
from augur_sdk.bundle import layout
from augur_sdk.kinds.builtin import events_body
from augur_sdk.kinds.spec import RecordKind
from augur_sdk.otel.processors import MODELIO_PATH_ATTR, BundleSpanProcessor
from augur_sdk.stream.client import Request, StreamClient, quote

# What ``{"events":[...],"step_index":N}`` adds to the event's own JSON.
EVENTS_BODY_EXTRA = 48


class StreamSpanProcessor(SpanProcessor):
    def __init__(self, client: StreamClient, bundle: BundleSpanProcessor, run_id: str,
                 capture_mode: str) -> None:
        self.client = client
        self.bundle = bundle
        self.run_id = run_id
        self.capture_mode = capture_mode
        self._run_path = f"/runs/{quote(run_id)}"

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attrs = span.attributes or {}
        kind = codec.record_kind(attrs)
        if kind == codec.SESSION:  # steps come through on_step (RunSink decodes them once)
            self.client.begin_run(self.run_id, self.capture_mode)
            self._put_session(codec.decode_session(attrs))

    def on_record(self, kind: RecordKind, record: dict[str, Any], span: ReadableSpan | None,
                  run_span_seq: int | None = None) -> None:
        """Send a recorded ``record`` of ``kind`` on its spec's wire route."""
        wire = kind.wire
        if wire is None:
            return
        name = kind.name
        if name == "step":
            self.client.send_json(self.run_id, "PUT",
                                  f"{self._run_path}/steps/{int(record['step_index'])}",
                                  record, size_hint=self.bundle.size_of(record))
        elif name == "event":
            line = self.bundle.size_of(record)
            self.client.send_json(self.run_id, "POST", f"{self._run_path}/events",
                                  events_body(record),
                                  size_hint=None if line is None else line + EVENTS_BODY_EXTRA)
        elif name == "session":
            self._put_session(record)
        elif name == "modelio":  # POST /runs/{run}/modelio/<file name>, 0.6.1's route
            assert span is not None and span.attributes is not None
            file_name = str(span.attributes[MODELIO_PATH_ATTR]).rsplit("/", 1)[-1]
            self.client.send_json(self.run_id, "POST", f"{self._run_path}/modelio/{file_name}",
                                  record, size_hint=self.bundle.size_of(record))
        else:
            body = record if wire.body is None else wire.body(record)
            size = self.bundle.size_of(record)
            self.client.send_json(self.run_id, wire.method,
                                  self._run_path + wire.render(record), body,
                                  size_hint=None if size is None or body is not record
                                  else size)

    def _put_session(self, session: dict[str, Any]) -> None:
        self.client.send_json(self.run_id, "PUT", f"{self._run_path}/session", session)

    def send_blob(self, rel: str, data: bytes) -> None:
        """An image of a model call (``modelio/images/<sha256>.<ext>``)."""
        self.client.submit(Request(self.run_id, "PUT",
                                   f"{self._run_path}/modelio-images/{rel.rsplit('/', 1)[-1]}",
                                   data, content_type="application/octet-stream",
                                   size_hint=len(data)))

    def send_screenshot(self, step_index: int, kind: str, png: bytes) -> None:
        self.client.send_screenshot(self.run_id, step_index, kind, png, self._run_path)

    def on_end(self, span: ReadableSpan) -> None:
        if codec.record_kind(span.attributes) != codec.SESSION:
            return
        try:
            if self.bundle.manifest is not None:
                # Encoded here, not by the worker: close() hands this dict to the caller.
                manifest = json.dumps(self.bundle.manifest, ensure_ascii=False,
                                      separators=(",", ":")).encode("utf-8")
                self.client.send_raw_json(self.run_id, "POST", "/runs", manifest)
            trace = (self.bundle.writer.root / layout.TRACE).read_bytes()
            self.client.send_raw_json(self.run_id, "PUT", f"{self._run_path}/trace", trace)
        finally:
            self.client.end_run(self.run_id)
