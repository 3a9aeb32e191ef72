"""Capture modes: nine ordered, cumulative levels of what a run records.

Resolution order: explicit argument > ``AUGUR_CAPTURE_MODE`` > ``off``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

ENV_VAR = "AUGUR_CAPTURE_MODE"


class CaptureMode(StrEnum):
    """What a run records; each level includes everything below it."""

    OFF = "off"
    METADATA = "metadata"
    TRACE = "trace"
    SCREENSHOTS = "screenshots"
    VIDEO = "video"
    MODEL_IO = "model_io"
    DISPATCH = "dispatch"
    REPLAY = "replay"
    FULL = "full"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, CaptureMode):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, CaptureMode):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, CaptureMode):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CaptureMode):
            return NotImplemented
        return self.rank < other.rank


_RANK: dict[CaptureMode, int] = {mode: i for i, mode in enumerate(CaptureMode)}


def coerce_capture_mode(value: CaptureMode | str, *, field: str = "capture_mode") -> CaptureMode:
    """Turn a mode name (any case) into a :class:`CaptureMode`, or raise naming ``field``."""
    if isinstance(value, CaptureMode):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a CaptureMode or a string, got {type(value).__name__}")
    try:
        return CaptureMode(value.strip().lower())
    except ValueError:
        valid = ", ".join(m.value for m in CaptureMode)
        raise ValueError(f"{field}: unknown capture mode {value!r}; valid: {valid}") from None


def resolve_capture_mode(
    explicit: CaptureMode | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> CaptureMode:
    """Return the effective mode: ``explicit``, else ``$AUGUR_CAPTURE_MODE``, else ``off``."""
    if explicit is not None:
        return coerce_capture_mode(explicit)
    environ = os.environ if env is None else env
    value = environ.get(ENV_VAR)
    if value:
        return coerce_capture_mode(value, field=ENV_VAR)
    return CaptureMode.OFF


def capture_mode_is_explicit(
    explicit: CaptureMode | str | None, env: Mapping[str, str] | None = None
) -> bool:
    environ = os.environ if env is None else env
    return explicit is not None or bool(environ.get(ENV_VAR))
