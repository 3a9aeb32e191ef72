"""``BundleSpanExporter``: turns finished spans of ours back into an Augur bundle.

The live path writes the bundle as spans start (see :class:`BundleSpanProcessor`); this
exporter is the offline twin: give it the spans of a run (from an in-memory exporter, from
OTLP received by a server, ...) and it writes the same step and event files. Screenshots are
never on spans, so a rebuilt bundle lists them in ``manifest.missing``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from augur_sdk import _internal, codec
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.kinds import registry
from augur_sdk.kinds.spec import RecordKind
from augur_sdk.otel.processors import span_ids


def _seq(attributes: Any) -> int:
    value = (attributes or {}).get(codec.SEQ_ATTR, 0)
    return value if isinstance(value, int) else 0


AMENDMENT = "augur.step_amendment"


def _is_iteration(span: ReadableSpan) -> bool:
    return any((link.attributes or {}).get("augur.link") == "iteration_of"
               for link in span.links)


def _kind_record(event: Any) -> tuple[RecordKind, dict[str, Any]] | None:
    """A span event carrying a record of another registered kind (reasoning, plug-ins)."""
    name = (event.attributes or {}).get(codec.RECORD_KIND_ATTR)
    if not isinstance(name, str):
        return None
    try:
        kind = registry.get(name)
    except ValueError:
        return None  # a kind this process does not know
    if event.name != kind.span_event_name or kind.bundle.embedded:
        return None
    return kind, codec.decode_record(name, event.attributes or {})


def run_items(run: ReadableSpan, children: Iterable[ReadableSpan]) -> list[tuple[int, str, Any]]:
    """The run's records in recording order: (seq, kind, payload), kind "step",
    "iteration", "event" (on its step's span), "run_event" (on the run span), "amend" (a
    patch to a step whose span had ended) or "record" (another kind's record)."""
    items: list[tuple[int, str, Any]] = []
    for event in run.events:
        if event.name == codec.EVENT_NAME:
            items.append((_seq(event.attributes), "run_event",
                          codec.decode_event(event.attributes or {})))
        elif event.name == AMENDMENT:
            items.append((_seq(event.attributes), "amend", event.attributes or {}))
        elif (found := _kind_record(event)) is not None:
            items.append((_seq(event.attributes), "record", found))
    for span in children:
        if codec.record_kind(span.attributes) != codec.STEP:
            continue
        items.append((_seq(span.attributes), "iteration" if _is_iteration(span) else "step",
                      span))
        for event in span.events:
            if event.name == codec.EVENT_NAME:
                items.append((_seq(event.attributes), "event",
                              codec.decode_event(event.attributes or {})))
            elif (found := _kind_record(event)) is not None:
                items.append((_seq(event.attributes), "record", found))
    items.sort(key=lambda item: item[0])
    return items


def _amend(writer: BundleWriter, attributes: Any) -> None:
    index, step_id = attributes.get("augur.step_index"), attributes.get("augur.step_id")
    if not isinstance(index, int):
        return
    rel = writer.step_file(index, step_id if isinstance(step_id, str) else None)
    stored = writer.read_step(rel) if rel is not None else None
    if rel is not None and stored is not None:
        writer.rewrite_step(rel, {**stored, **codec.decode_step(attributes)})


def write_bundle_from_spans(
    run: ReadableSpan, children: Iterable[ReadableSpan], out_dir: str | Path
) -> dict[str, Any]:
    """Write the bundle of one run from its spans; return the manifest."""
    attrs = run.attributes or {}
    session = codec.decode_session(attrs)
    writer = BundleWriter(out_dir, policy_id=str(attrs.get("augur.redaction.policy_id",
                                                            "unknown")))
    writer.begin(session)
    writer.write_run_span_ids(span_ids(run))
    for seq, kind, payload in run_items(run, children):
        if kind == "step":
            writer.write_step(codec.decode_step(payload.attributes or {}), span_ids(payload))
        elif kind == "iteration":
            writer.write_iteration(codec.decode_step(payload.attributes or {}),
                                   span_ids(payload))
        elif kind == "amend":
            _amend(writer, payload)
        elif kind == "record":
            writer.write_record(*payload)
        else:
            writer.append_event(payload, run_span_seq=seq if kind == "run_event" else None)
    return writer.finish(session)


class BundleSpanExporter(SpanExporter):
    """Collects spans per run and writes a bundle when the run span arrives.

    ``out_dir_for(session_record)`` picks the directory of each run (default:
    ``<root>/<debug_session_id>``). Step spans are held until their run span is exported;
    a run's spans all come from one process, so they arrive before or with the run span.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        out_dir_for: Callable[[dict[str, Any]], Path] | None = None,
    ) -> None:
        if out_dir_for is None:
            if root is None:
                raise TypeError("BundleSpanExporter: pass root or out_dir_for")
            base = Path(root)

            def default_out_dir(session: dict[str, Any]) -> Path:
                return base / str(session["debug_session_id"])

            out_dir_for = default_out_dir
        self._out_dir_for = out_dir_for
        self._lock = threading.Lock()
        self._children: dict[int, list[ReadableSpan]] = {}
        self._shutdown = False
        self.manifests: list[dict[str, Any]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        runs: list[ReadableSpan] = []
        with self._lock:
            for span in spans:
                kind = codec.record_kind(span.attributes)
                if kind == codec.SESSION:
                    runs.append(span)
                elif kind == codec.STEP and span.parent is not None:
                    self._children.setdefault(span.parent.span_id, []).append(span)
            ready = [(run, self._children.pop(run.context.span_id, [])) for run in runs]
        ok = True
        for run, children in ready:
            try:
                session = codec.decode_session(run.attributes or {})
                manifest = write_bundle_from_spans(run, children, self._out_dir_for(session))
                self.manifests.append(manifest)
            except Exception:
                if _internal.raise_internal_errors():
                    raise
                _internal.logger.exception("augur_sdk: could not write a bundle from spans")
                ok = False
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
