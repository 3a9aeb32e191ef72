"""Step-span bookkeeping of one run: which step span is open, which wait for their
screenshots' sha256, and the spans ``step_scope`` opened.

A step span stays open after ``record_step`` returns, so that the seed page's events (which
come after their step) become events of that span; it ends at the next step or at close,
with the end time of its record. Screenshot digests are computed on helper threads; a span
is ended once they are on it, by a later call on the agent's thread (so span processors
never run on a hasher), or at close.
"""

from __future__ import annotations

import time
from concurrent import futures
from typing import Any

from opentelemetry.sdk.trace import Span

from augur_sdk import _internal

Hashes = list[tuple[str, Any]]  # (observation kind, Future of its sha256)


class StepSpans:
    """Not thread-safe by itself: the session calls it under its lock."""

    def __init__(self) -> None:
        self.open_step: tuple[Span, int, int] | None = None  # span, step index, end (ns)
        # Screenshots written for a step not yet recorded: index -> kind -> facts.
        self.pending_obs: dict[int, dict[str, dict[str, Any]]] = {}
        self.scopes: dict[int, Span] = {}
        self.call_scopes: set[int] = set()  # scopes a model call opened (no block ends them)
        self._span_hashes: dict[int, Hashes] = {}
        # Step spans done but for their screenshots' sha256: (span, hashes, end time).
        self._hashing: list[tuple[Span, Hashes, int]] = []

    def open(self, span: Span, index: int, end_ns: int, hashes: Hashes) -> None:
        """``span`` is now the open step span (ending at ``end_ns`` unless a scope ends it)."""
        self._span_hashes[id(span)] = hashes
        self.open_step = (span, index, end_ns)

    def span_for_index(self, index: object) -> Span | None:
        """The open step span if it is step ``index``'s."""
        if self.open_step is not None and index == self.open_step[1]:
            return self.open_step[0]
        return None

    def live_span(self, index: object) -> Span | None:
        """Step ``index``'s span while it is open: the open step span, or one opened before
        its record (``step_scope``, a model call of the step). What a record of that step
        (an event, a model call, a log line, a side effect) goes under."""
        span = self.span_for_index(index)
        if span is None and isinstance(index, int):
            span = self.scopes.get(index)
        return span

    def end_open_step(self) -> None:
        if self.open_step is not None:
            span, _index, end_ns = self.open_step
            self.open_step = None
            self.end_when_hashed(span, end_ns)

    def end_when_hashed(self, span: Span, end_ns: int | None) -> None:
        """End a step span once its screenshots' sha256 are on it (see the module doc)."""
        if span.end_time is not None or any(s is span for s, _, _ in self._hashing):
            return  # already ended, or already waiting (a step_scope block that ends later)
        hashes = self._span_hashes.pop(id(span), [])
        self._hashing.append((span, hashes, time.time_ns() if end_ns is None else end_ns))
        self.end_hashed_spans()

    def end_hashed_spans(self, wait_s: float | None = None) -> None:
        """End the waiting spans whose hashes are done; with ``wait_s``, wait (bounded) for
        the rest, and end every span then, with the hashes that made it."""
        if wait_s is not None and self._hashing:
            futures.wait([d for _, hashes, _ in self._hashing for _, d in hashes],
                         timeout=max(wait_s, 0.0))
        waiting = []
        for span, hashes, end_ns in self._hashing:
            if wait_s is None and not all(digest.done() for _, digest in hashes):
                waiting.append((span, hashes, end_ns))
                continue
            for kind, digest in hashes:
                with _internal.internal_errors("screenshot hash"):
                    if digest.done():
                        span.set_attribute(f"augur.observation.{kind}.sha256", digest.result())
            with _internal.internal_errors("end step span"):
                span.end(end_time=end_ns)
        self._hashing = waiting

    def filled(self, index: int) -> None:
        """``record_step`` filled step ``index``'s scope span: one a model call opened is
        from now on an ordinary step span (it ends at the next step or at close)."""
        if index in self.call_scopes:
            self.call_scopes.discard(index)
            self.scopes.pop(index, None)

    def end_unfilled_call_scopes(self) -> list[int]:
        """At close: end the step spans model calls opened for steps never recorded,
        marked ``augur.step.unfilled``; return their indexes."""
        unfilled = sorted(self.call_scopes)
        for index in unfilled:
            span = self.scopes.pop(index, None)
            if span is not None:
                with _internal.internal_errors("end unfilled step span"):
                    span.set_attribute("augur.step.unfilled", True)
                    span.end()
        self.call_scopes.clear()
        return unfilled

    def close_scope(self, index: int, span: Span) -> None:
        """A ``step_scope`` block ended: its span ends (once hashed)."""
        self.scopes.pop(index, None)
        if self.open_step is not None and self.open_step[0] is span:
            self.open_step = None
        with _internal.internal_errors("step_scope"):
            self.end_when_hashed(span, None)
