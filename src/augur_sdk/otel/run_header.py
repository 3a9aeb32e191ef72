"""OTLP/HTTP export with the run id in a header, so a router can keep a run on one server.

An OTLP request's trace ids are inside its (protobuf) body, where nginx cannot see them. Our
HTTP exporter therefore sends ``X-Augur-Run-Id: <run id>`` (percent-encoded as in the Augur
protocol's ``/runs/<run id>/...`` paths, so both hash alike). The rule, since one batch of the
process's BatchSpanProcessor may hold spans of several runs: the batch is split by the spans'
``augur.run_id`` attribute and each run's spans go in their own request with that run's
header; spans without the attribute go in one request without the header. One exporter per
run (each with its own connection pool) is kept for the most recent runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from augur_sdk.stream.client import RUN_ID_HEADER, quote

RUN_ATTRIBUTE = "augur.run_id"
MAX_EXPORTERS = 8  # runs whose exporter (and connections) are kept


def split_by_run(spans: Sequence[ReadableSpan]) -> dict[str | None, list[ReadableSpan]]:
    """Spans grouped by ``augur.run_id`` (None: spans without one), in first-seen order."""
    groups: dict[str | None, list[ReadableSpan]] = {}
    for span in spans:
        value = (span.attributes or {}).get(RUN_ATTRIBUTE)
        groups.setdefault(str(value) if value is not None else None, []).append(span)
    return groups


class RunHeaderExporter(SpanExporter):
    """Exports each run's spans with ``X-Augur-Run-Id`` (see the module docstring).

    ``make(headers)`` builds one OTLP/HTTP exporter with those extra headers (the
    ``OTEL_EXPORTER_OTLP_*HEADERS`` variables still apply)."""

    def __init__(self, make: Callable[[dict[str, str]], SpanExporter],
                 max_exporters: int = MAX_EXPORTERS) -> None:
        self._make = make
        self._max = max_exporters
        self._lock = threading.Lock()
        self._exporters: OrderedDict[str | None, SpanExporter] = OrderedDict()
        self._shutdown = False

    def _exporter(self, run_id: str | None) -> SpanExporter:
        retired: list[SpanExporter] = []
        with self._lock:
            exporter = self._exporters.get(run_id)
            if exporter is None:
                headers = {} if run_id is None else {RUN_ID_HEADER.lower(): quote(run_id)}
                exporter = self._exporters[run_id] = self._make(headers)
            self._exporters.move_to_end(run_id)
            while len(self._exporters) > self._max:
                retired.append(self._exporters.popitem(last=False)[1])
        for old in retired:  # only the export thread calls export(): none is in use
            old.shutdown()
        return exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        result = SpanExportResult.SUCCESS
        for run_id, group in split_by_run(spans).items():
            if self._exporter(run_id).export(group) is not SpanExportResult.SUCCESS:
                result = SpanExportResult.FAILURE
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with self._lock:
            exporters = list(self._exporters.values())
        return all(e.force_flush(timeout_millis) for e in exporters)

    def shutdown(self) -> None:
        self._shutdown = True
        with self._lock:
            exporters = list(self._exporters.values())
            self._exporters.clear()
        for exporter in exporters:
            exporter.shutdown()
