"""Trajectory fingerprints: one short, deterministic key for the shape of a run.

The bundle's manifest carries ``trajectory_fingerprint``, computed at close over the steps
as they are in the bundle (redacted and gated by the capture mode). Two runs whose steps did
the same actions, on the same targets, with the same outcomes, in the same order, get the
same key; failure-mode clustering uses it as a cheap first discriminator.

``cua_v1`` (the default) reads three things of each step: ``action.type``, the outcome
(``failure_class``, else ``verdict.status``) and ``grounding.target_label`` lowered to its
letters and digits (``"Login button"`` and ``"login-button"`` are one target). It returns
``"cua_v1:"`` and 64 hex digits: 32 of a SHA-256 over the ordered step tokens, then 32 of a
SHA-256 over the sorted set of adjacent token pairs (a local change moves only the pairs it
touches). The same steps give the key augur-sdk 0.6.1 gives.

Other algorithms are plug-ins: an entry point in the ``augur_sdk.fingerprints`` group whose
value is a callable taking the run's steps (a sequence of step records, read from the bundle
one at a time) and returning a string. Choose one with ``DebugSession(...,
fingerprint_algorithm="name")`` or ``$AUGUR_FINGERPRINT_ALGORITHM``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

DEFAULT_ALGORITHM = "cua_v1"
ENTRY_POINT_GROUP = "augur_sdk.fingerprints"
ALGORITHM_ENV = "AUGUR_FINGERPRINT_ALGORITHM"

Algorithm = Callable[[Sequence[Mapping[str, Any]]], str]

_NOT_LETTER_OR_DIGIT = re.compile(r"[^a-z0-9]")


def _member(record: Mapping[str, Any], key: str, member: str) -> Any:
    value = record.get(key)
    return value.get(member) if isinstance(value, Mapping) else None


def step_token(step: Mapping[str, Any]) -> str:
    """``action:outcome:target`` of one step, as ``cua_v1`` sees it."""
    action = _member(step, "action", "type") or ""
    outcome = step.get("failure_class") or _member(step, "verdict", "status") or ""
    label = _member(step, "grounding", "target_label") or ""
    target = _NOT_LETTER_OR_DIGIT.sub("", str(label).lower())
    return f"{action}:{outcome}:{target}"


class CuaV1:
    """``cua_v1`` fed one step at a time (the bundle writer streams steps from disk): what
    it keeps is one running hash and the set of distinct adjacent token pairs."""

    def __init__(self) -> None:
        self._ordered = hashlib.sha256()
        self._pairs: set[str] = set()
        self._last: str | None = None
        self.count = 0

    def add(self, step: Mapping[str, Any]) -> None:
        token = step_token(step)
        if self.count:
            self._ordered.update(b"\n")
            self._pairs.add(f"{self._last}|{token}")
        self._ordered.update(token.encode("utf-8"))
        self._last = token
        self.count += 1

    def hexdigest(self) -> str:
        # A one-step run has no pair: its only token stands in for the set.
        pairs = sorted(self._pairs) if self.count > 1 else [self._last or ""][:self.count]
        local = hashlib.sha256("\n".join(pairs).encode("utf-8")).hexdigest()
        return f"{DEFAULT_ALGORITHM}:{self._ordered.hexdigest()[:32]}{local[:32]}"


def cua_v1(steps: Sequence[Mapping[str, Any]]) -> str:
    """The default fingerprint of ``steps`` (step records, in step order)."""
    acc = CuaV1()
    for step in steps:
        acc.add(step)
    return acc.hexdigest()


def _plugins() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_algorithms() -> list[str]:
    """The built-in algorithm and every installed plug-in's name."""
    return sorted({DEFAULT_ALGORITHM, *_plugins()})


def resolve_algorithm(name: str | None = None) -> Algorithm:
    """The function of algorithm ``name`` (``None``: ``cua_v1``); an unknown name raises
    ``ValueError`` (a typo must not quietly give another algorithm's keys)."""
    if name is None or name == DEFAULT_ALGORITHM:
        return cua_v1
    if not isinstance(name, str):
        raise TypeError(f"fingerprint algorithm: expected a name, got {type(name).__name__}")
    plugin = _plugins().get(name)
    if plugin is None:
        raise ValueError(f"unknown trajectory_fingerprint algorithm: {name!r} (available: "
                         f"{', '.join(available_algorithms())}; plug-ins are entry points "
                         f"of the {ENTRY_POINT_GROUP!r} group)")
    function = plugin.load()
    if not callable(function):
        raise ValueError(f"{ENTRY_POINT_GROUP} entry point {name!r} is not callable")
    return function  # type: ignore[no-any-return]


def compute_trajectory_fingerprint(steps: Sequence[Mapping[str, Any]], *,
                                   algorithm: str | None = None) -> str:
    """The fingerprint of ``steps`` by ``algorithm`` (default ``cua_v1``)."""
    value = resolve_algorithm(algorithm)(steps)
    if not isinstance(value, str) or not value:
        raise ValueError(f"trajectory_fingerprint algorithm {algorithm!r} returned "
                         f"{type(value).__name__}, not a non-empty string")
    return value


__all__ = [
    "ALGORITHM_ENV",
    "DEFAULT_ALGORITHM",
    "ENTRY_POINT_GROUP",
    "Algorithm",
    "CuaV1",
    "available_algorithms",
    "compute_trajectory_fingerprint",
    "cua_v1",
    "resolve_algorithm",
    "step_token",
]
