"""What a kind of record is, declared once (pure data, no I/O).

A :class:`RecordKind` says everything the SDK, the server, the validator and the viewer need
to know about one kind of record: how the user's input is checked, which capture mode keeps
which field, where the record goes on the run's spans, where it lives in the bundle, how it
travels on the stream, how ``augur serve`` stores it, how ``augur validate`` checks it and
which viewer section shows it. One recorder (:mod:`augur_sdk._session.recorder`) runs
check -> redact -> gate -> emit -> sinks for every kind; adding a kind is adding a spec (see
``docs/adding-a-record-kind.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from augur_sdk.capture import CaptureMode

if TYPE_CHECKING:
    from augur_sdk.validation import ValidationIssue

Record = dict[str, Any]


class Placement(StrEnum):
    """Where a record goes on the run's OpenTelemetry spans."""

    RUN_SPAN = "run_span"      # attributes of the ``invoke_agent`` run span (the session)
    STEP_SPAN = "step_span"    # the attributes of an ``execute_tool`` step span (a step)
    SPAN_EVENT = "span_event"  # an event on the step span of its step, else on the run span
    CHILD_SPAN = "child_span"  # a span of its own, child of its step span (else the run span)
    NONE = "none"              # only span attributes that reference it (screenshots)


class FileFormat(StrEnum):
    JSON = "json"            # one whole file per record, written atomically
    JSONL = "jsonl"          # one line per record, appended whole
    JSON_LIST = "json_list"  # one file listing every record ({list_key: [...]} or [...])
    TEXT = "text"            # UTF-8 text appended as is (logs)
    PNG = "png"              # binary image (screenshots)


@dataclass(frozen=True)
class BundleTarget:
    """Where a kind's records live in the bundle.

    ``path`` maps a (redacted, gated) record to its bundle-relative file; ``pattern`` is a
    regular expression matching every file of the kind (the validator and the viewer find the
    files with it). Both must agree: a property the round-trip test checks for every kind.
    """

    path: Callable[[Mapping[str, Any]], str]
    pattern: str | None  # None: checked as part of another file (the session, in trace.json)
    format: FileFormat = FileFormat.JSONL
    list_key: str | None = None  # JSON_LIST: the member holding the list (None: a bare list)
    unique_by: str | None = None  # JSON_LIST: a later record with this field's value replaces
    embedded: bool = False  # its records live in another kind's files (written by that path)

    def matches(self, rel: str) -> bool:
        return self.pattern is not None and re.fullmatch(self.pattern, rel) is not None


@dataclass(frozen=True)
class WireRoute:
    """How a record travels on the Augur stream (relative to ``/runs/{run}``) and the route
    ``augur serve`` answers for it. ``path`` may hold ``{field}`` placeholders filled from
    the record (an integer field, such as ``{step_index}``)."""

    method: str
    path: str
    body: Callable[[Mapping[str, Any]], Any] | None = None  # default: the record itself

    def render(self, record: Mapping[str, Any]) -> str:
        return self.path.format_map({k: record.get(k) for k in self.placeholders()})

    def placeholders(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    def shape(self) -> tuple[str, ...]:
        """The route's segments with each placeholder as ``*`` (how the server matches)."""
        return tuple("*" if seg.startswith("{") else seg
                     for seg in self.path.strip("/").split("/"))


@dataclass(frozen=True)
class RuleContext:
    """What a validator rule may know besides the record: the bundle's run id."""

    run_id: str


Gate = Callable[[Record, CaptureMode], "Record | None"]
Rule = Callable[[RuleContext, str, Any], "list[ValidationIssue]"]


@dataclass(frozen=True)
class RecordKind:
    """One kind of record, declared once.

    Args:
        name: the kind's name (``step``, ``event``, ...); also the span attribute prefix
            ``augur.<name>.`` / ``augur.<name>_json.`` its records are encoded under.
        schema: the ``augur-schema`` schema name (or a JSON Schema dict for a plug-in kind).
        check: turns the user's input into a clean private copy, raising
            ``TypeError``/``ValueError`` naming the field (default: a JSON-clean copy checked
            against ``schema``).
        min_mode: below this capture mode nothing of the kind is recorded.
        field_modes: the lowest mode that keeps each top-level field; others need
            ``default_field_mode``.
        gate: a custom gate (record, mode) -> record or None; default: by ``field_modes``.
        placement: where it goes on the spans (:class:`Placement`).
        timestamp_field: the field holding the record's time (a span event's timestamp).
        bundle: where it lives in the bundle.
        wire: how it travels on the stream and the server's route (``None``: not streamed).
        rule: extra validator checks of one record, beyond its schema: (context, file,
            record) -> issues.
        viewer_section: the section of the viewer's run payload that lists its records.
        span_name: the span event's (or child span's) name; default ``augur.<name>``.
        span_attributes: extra attributes of its span event (semantic-convention names).
        redact: how the run's redaction policy applies to it, (policy, record) -> record;
            default ``policy.apply``.
        builtin: one of the SDK's own kinds (their sinks have hand-tuned paths).
    """

    name: str
    schema: str | Mapping[str, Any] | None
    bundle: BundleTarget
    placement: Placement = Placement.SPAN_EVENT
    min_mode: CaptureMode = CaptureMode.TRACE
    field_modes: Mapping[str, CaptureMode] = field(default_factory=dict)
    default_field_mode: CaptureMode = CaptureMode.TRACE
    check: Callable[[Any], Record] | None = None
    gate: Gate | None = None
    timestamp_field: str | None = None
    wire: WireRoute | None = None
    rule: Rule | None = None
    viewer_section: str | None = None
    span_name: str | None = None
    span_attributes: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    redact: Callable[[Any, Record], Any] | None = None
    builtin: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", self.name):
            raise ValueError(f"RecordKind.name: {self.name!r} must be lower_snake_case, "
                             "at most 40 characters")

    @property
    def span_event_name(self) -> str:
        return self.span_name or f"augur.{self.name}"

    def gate_record(self, record: Record, mode: CaptureMode) -> Record | None:
        """The part of ``record`` that ``mode`` keeps (``None``: nothing)."""
        if mode < self.min_mode:
            return None
        if self.gate is not None:
            return self.gate(record, mode)
        if not self.field_modes and mode >= self.default_field_mode:
            return record
        modes, default = self.field_modes, self.default_field_mode
        return {k: v for k, v in record.items() if mode >= modes.get(k, default)}

    def mode_of(self, field_name: str) -> CaptureMode:
        """The lowest capture mode that records ``field_name`` of this kind."""
        return max(self.min_mode, self.field_modes.get(field_name, self.default_field_mode))
