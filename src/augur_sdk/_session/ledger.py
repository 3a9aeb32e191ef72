"""The side-effect ledger of one run: what the agent was about to do to the world.

A declaration is on disk (``side_effects/NNNN-<id>.json``, written atomically) before
``declare_side_effect`` returns, so a SIGKILL between declare and commit leaves the intent in
the bundle; each state change rewrites that file. Each side effect is a span from declare to
commit or abort (ERROR with the abort reason). Only pending side effects are held in memory
(plus the ids of settled ones, to refuse a second commit); a side effect still pending at
close stays ``intent_only`` and is listed as unsettled in ``producer.json``.
Not thread-safe by itself: the session calls it under its lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import SpanKind, StatusCode

from augur_sdk import codec
from augur_sdk.records import iso_to_ns

REVERSIBILITY = ("irreversible", "reversible", "compensated")
PROVENANCE = ("sdk_declared", "adapter_inferred", "human_declared")
SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_side_effect_id(value: Any, method: str) -> str:
    """An id becomes a file name: letters, digits, ``_ . -``, not starting with a dot."""
    if not isinstance(value, str) or not SAFE_ID.fullmatch(value) or ".." in value:
        raise ValueError(f"{method}: side_effect_id {value!r} must be 1-128 characters of "
                         "A-Z a-z 0-9 _ . - (a file name), not starting with '.'")
    return value


@dataclass
class Pending:
    record: dict[str, Any]  # as declared (unredacted: redacted whenever it is written)
    span: Span | None


@dataclass
class Ledger:
    pending: dict[str, Pending] = field(default_factory=dict)
    settled: dict[str, str] = field(default_factory=dict)  # id -> committed / aborted

    def state(self, sid: str) -> str | None:
        if sid in self.pending:
            return "intent_only"
        return self.settled.get(sid)


def start_span(tracer: trace.Tracer, parent: Span, record: dict[str, Any]) -> Span:
    """The side effect's span, from its declaration (named by its action and resource)."""
    attrs = {"gen_ai.operation.name": "execute_tool", codec.RECORD_KIND_ATTR: "side_effect",
             "augur.step_index": int(record["step_index"]),
             **codec.encode_record("side_effect", record)}
    span: Span = tracer.start_span(  # type: ignore[assignment]
        f"side_effect {record.get('action', '')}", context=trace.set_span_in_context(parent),
        kind=SpanKind.INTERNAL, attributes=attrs,
        start_time=iso_to_ns(record["declared_at"], "declared_at"))
    return span


def end_span(span: Span, record: dict[str, Any]) -> None:
    span.set_attributes(codec.encode_record("side_effect", record))
    if record.get("status") == "aborted":
        span.set_status(StatusCode.ERROR, str(record.get("abort_reason") or "aborted"))
    stamp = record.get("committed_at") or record.get("aborted_at")
    span.end(end_time=iso_to_ns(stamp, "settled_at") if isinstance(stamp, str) else None)
