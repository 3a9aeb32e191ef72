"""Idempotency keys: a retried request is answered with its first answer, not applied twice.

A key belongs to one run (``tenant/run_id``) and is bound to the request that first used it:
its method, path and a digest of its content. The same key with the same request is a
replay; with another request it is a client bug, answered 422 (never a silent drop of the
new data). Keys are at most :data:`MAX_KEY_BYTES` of visible ASCII.

Memory is bounded twice: at most ``per_run`` keys a run (the oldest go first) and
``max_bytes`` for all keys of all runs together (the least recently used go first). A run's
keys are written into its index when it finishes and read back after a restart, so a client
retrying its last requests across a server restart is still answered from them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_KEY_BYTES = 200
ENTRY_OVERHEAD = 200  # bytes an entry costs beyond its strings (objects, dict slots)

RunKey = tuple[str, str]  # (tenant, run_id)
Body = dict[str, Any]


class KeyReused(Exception):
    """A key reused for a different request (HTTP 422)."""


def check_key(value: str) -> str:
    """``value`` if it is a usable key; ``ValueError`` (HTTP 400) otherwise."""
    if not value or len(value) > MAX_KEY_BYTES or not all(
            "\x21" <= ch <= "\x7e" for ch in value):
        raise ValueError(f"Idempotency-Key: 1 to {MAX_KEY_BYTES} visible ASCII characters")
    return value


@dataclass(frozen=True)
class Binding:
    """What a key was first used for."""

    method: str
    path: str
    digest: str

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class _Entry:
    binding: Binding
    body: Body
    size: int


def _size(key: str, binding: Binding, body: Body) -> int:
    return (ENTRY_OVERHEAD + len(key) + len(binding.path) + len(binding.digest)
            + sum(len(str(k)) + len(str(v)) for k, v in body.items()))


class KeyTable:
    """Every run's keys, bounded as the module docstring says; thread-safe."""

    def __init__(self, max_bytes: int, per_run: int = 1024) -> None:
        self.max_bytes = max_bytes
        self.per_run = per_run
        self.size = 0
        self._lock = threading.Lock()
        self._runs: dict[RunKey, OrderedDict[str, _Entry]] = {}
        self._lru: OrderedDict[tuple[RunKey, str], None] = OrderedDict()

    def lookup(self, run: RunKey, key: str, binding: Binding) -> Body | None:
        """The first answer to ``key`` (a replay), ``None`` if the key is new; raises
        :class:`KeyReused` when the key was used for another request."""
        with self._lock:
            keys = self._runs.get(run)
            entry = keys.get(key) if keys is not None else None
            if entry is None:
                return None
            self._lru.move_to_end((run, key))
            if entry.binding != binding:
                raise KeyReused(
                    f"Idempotency-Key was first used for {entry.binding.describe()} with "
                    f"another body; a key names one request")
            return entry.body

    def remember(self, run: RunKey, key: str, binding: Binding, body: Body) -> None:
        with self._lock:
            keys = self._runs.setdefault(run, OrderedDict())
            old = keys.pop(key, None)
            if old is not None:
                self.size -= old.size
            entry = _Entry(binding, body, _size(key, binding, body))
            keys[key] = entry
            self.size += entry.size
            self._lru[(run, key)] = None
            self._lru.move_to_end((run, key))
            while len(keys) > self.per_run:
                self._drop(run, next(iter(keys)))
            while self.size > self.max_bytes and self._lru:
                self._drop(*next(iter(self._lru)))

    def _drop(self, run: RunKey, key: str) -> None:
        keys = self._runs.get(run)
        entry = keys.pop(key, None) if keys is not None else None
        self._lru.pop((run, key), None)
        if entry is not None:
            self.size -= entry.size
        if keys is not None and not keys:
            del self._runs[run]

    def forget(self, run: RunKey) -> None:
        """Drop a run's keys (a new session of that run id starts from none)."""
        with self._lock:
            for key in list(self._runs.get(run, OrderedDict())):
                self._drop(run, key)

    def export(self, run: RunKey) -> list[list[Any]]:
        """The run's keys, oldest first, as JSON: ``[key, method, path, digest, body]``."""
        with self._lock:
            return [[key, e.binding.method, e.binding.path, e.binding.digest, e.body]
                    for key, e in self._runs.get(run, OrderedDict()).items()]

    def load(self, run: RunKey, rows: Any) -> None:
        """Keys written by :meth:`export` (an index file: anything malformed is skipped);
        keys already known are kept as they are."""
        if not isinstance(rows, list):
            return
        for row in rows[-self.per_run:]:
            if not (isinstance(row, list) and len(row) == 5
                    and all(isinstance(x, str) for x in row[:4]) and isinstance(row[4], dict)):
                continue
            key, method, path, digest, body = row
            try:
                check_key(key)
            except ValueError:
                continue
            with self._lock:
                known = key in self._runs.get(run, OrderedDict())
            if not known:
                self.remember(run, key, Binding(method, path, digest), body)

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)
