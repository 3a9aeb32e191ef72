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
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("augur_sdk")

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


@contextmanager
def internal_errors(where: str) -> Iterator[None]:
    """Swallow and log exceptions raised inside; re-raise under test."""
    try:
        yield
    except Exception as exc:
        if raise_internal_errors():
            raise
        marker = (where, type(exc))
        with _seen_lock:
            first = marker not in _seen
            _seen.add(marker)
        if first:
            logger.warning(
                "augur_sdk: internal error in %s (%s: %s); your agent keeps running, "
                "this part of the telemetry was skipped",
                where,
                type(exc).__name__,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
