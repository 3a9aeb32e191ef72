"""Test helpers for code that uses augur_sdk (and for our own tests).

* :func:`make_png` builds a real PNG of a given size without an imaging library.
* :func:`capture_spans` routes every span of ours into an ``InMemorySpanExporter``.
* :class:`SequentialIds` makes trace and span ids deterministic (1, 2, 3, ...), for snapshot
  tests of your own integration: ``capture_spans(ids=SequentialIds())``.
"""

from __future__ import annotations

import itertools
import random
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from augur_sdk.otel import provider


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def make_png(width: int = 64, height: int = 48, *, seed: int = 0, noise: bool = False,
             color: tuple[int, int, int] | None = None) -> bytes:
    """A valid RGB PNG. ``noise=True`` makes it incompressible (size ~ 3 * width * height)."""
    rng = random.Random(seed)
    if color is None:
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    if noise:
        rows = b"".join(b"\x00" + rng.randbytes(3 * width) for _ in range(height))
    else:
        row = b"\x00" + bytes(color) * width
        rows = row * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(rows, 1 if noise else 6)) + _chunk(b"IEND", b""))


class SequentialIds(IdGenerator):
    """Trace ids and span ids counting up from 1 (deterministic across runs)."""

    def __init__(self) -> None:
        self._trace = itertools.count(1)
        self._span = itertools.count(1)

    def generate_trace_id(self) -> int:
        return next(self._trace)

    def generate_span_id(self) -> int:
        return next(self._span)


@contextmanager
def capture_spans(ids: IdGenerator | None = None) -> Iterator[InMemorySpanExporter]:
    """Collect every span augur_sdk creates inside the block (rebuilds the pipeline)."""
    exporter = InMemorySpanExporter()
    provider.reset(timeout_s=1.0)
    provider.configure(span_processors=[SimpleSpanProcessor(exporter)], id_generator=ids)
    try:
        yield exporter
    finally:
        provider.reset(timeout_s=1.0)
