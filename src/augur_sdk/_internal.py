"""The internal-error gate: telemetry failures are logged, never raised into the agent.

Programmer errors (bad input) are raised at the call by the facade *before* this gate is
entered. Everything past the gate is telemetry plumbing (disk, network, OTel processors): a
failure there is logged once per (place, exception type) on the ``augur_sdk`` logger and the
agent keeps running. Under our own test suite (``AUGUR_RAISE_INTERNAL_ERRORS=1``) the gate
re-raises so that bugs cannot hide behind it.
"""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType

from augur_sdk.redaction_rules import redact_text

logger = logging.getLogger("augur_sdk")


class _RedactLogLines(logging.Filter):
    """Our log lines pass the default redaction shapes, exception text included: an internal
    error's message can quote a record. (Values we log on purpose are redacted by the
    session's policy first.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            clean = redact_text(message)
            if clean != message:
                record.msg, record.args = clean, ()
            if record.exc_info and not record.exc_text:
                # Formatters print exc_text when it is set (the exception stays attached).
                record.exc_text = redact_text(logging.Formatter().formatException(
                    record.exc_info))
        except Exception:  # a log line is never worth an error in the agent
            pass
        return True


logger.addFilter(_RedactLogLines())

RAISE_ENV = "AUGUR_RAISE_INTERNAL_ERRORS"

_seen_lock = threading.Lock()
_seen: set[tuple[str, type[BaseException]]] = set()


def _after_fork_in_child() -> None:
    global _seen_lock
    _seen_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def raise_internal_errors() -> bool:
    return os.environ.get(RAISE_ENV, "") not in ("", "0", "false", "no")


def log_once(key: str, level: int, message: str, *args: object) -> None:
    """Log ``message`` the first time ``key`` is seen in this process."""
    marker = (key, Exception)
    with _seen_lock:
        if marker in _seen:
            return
        _seen.add(marker)
    logger.log(level, message, *args)


def reset_log_once() -> None:
    """Forget which messages were logged (for tests)."""
    with _seen_lock:
        _seen.clear()


class internal_errors:  # lower case: it reads as `with internal_errors("where"):`
    """Swallow and log exceptions raised inside; re-raise under test.

    A class, not a ``@contextmanager`` generator: it is entered several times per call on
    the hot path, and a generator-based manager costs several times more to enter."""

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc_type is None or exc is None or not issubclass(exc_type, Exception):
            return False  # no error, or KeyboardInterrupt / SystemExit: not ours to keep
        if raise_internal_errors():
            return False
        marker = (self.where, exc_type)
        with _seen_lock:
            first = marker not in _seen
            _seen.add(marker)
        if first:
            logger.warning(
                "augur_sdk: internal error in %s (%s: %s); your agent keeps running, "
                "this part of the telemetry was skipped",
                self.where,
                exc_type.__name__,
                exc,
                exc_info=(exc_type, exc, tb) if logger.isEnabledFor(logging.DEBUG) else None,
            )
        return True


def warn_user(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` pointing at the caller's own line (the first frame outside
    augur_sdk), however deep in the SDK the warning is raised."""
    import sys
    import warnings

    level, frame = 2, sys._getframe(1)  # stacklevel 2 is the caller of warn_user
    while frame is not None and frame.f_globals.get("__name__", "").startswith("augur_sdk"):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
