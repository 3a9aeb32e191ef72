"""The manifest's ``trajectory_fingerprint``, computed at close from the step files on disk
(the steps as they are in the bundle: redacted and gated), one step in memory at a time."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from augur_sdk import _internal, fingerprints


class StepFiles(Sequence[Mapping[str, Any]]):
    """The run's steps for a plug-in algorithm: a read-only sequence that reads each step
    file when it is asked for (an unreadable file reads as ``{}``)."""

    def __init__(self, root: Path, rels: list[str]) -> None:
        self._root = root
        self._rels = list(rels)

    def __len__(self) -> int:
        return len(self._rels)

    def _read(self, rel: str) -> Mapping[str, Any]:
        try:
            value = json.loads((self._root / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._read(rel) for rel in self._rels[index]]
        return self._read(self._rels[index])


class Fingerprinter:
    """Feeds on the steps as ``trace.json`` is streamed (``cua_v1``), or runs a plug-in
    algorithm over the step files afterwards. ``algorithm=None``: no fingerprint."""

    def __init__(self, algorithm: str | None) -> None:
        self.algorithm = algorithm
        self._streaming = fingerprints.CuaV1() \
            if algorithm == fingerprints.DEFAULT_ALGORITHM else None

    @property
    def on_step(self) -> Callable[[Mapping[str, Any]], None] | None:
        return None if self._streaming is None else self._streaming.add

    def value(self, root: Path, rels: list[str], count: int) -> str | None:
        """The fingerprint (``None`` for a run without steps, or when a plug-in failed:
        that is logged, the bundle is written without it)."""
        if not count or self.algorithm is None:
            return None
        if self._streaming is not None:
            return self._streaming.hexdigest()
        with _internal.internal_errors(f"trajectory_fingerprint {self.algorithm}"):
            return fingerprints.compute_trajectory_fingerprint(StepFiles(root, rels),
                                                               algorithm=self.algorithm)
        return None
