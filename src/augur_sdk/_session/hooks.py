"""Process hooks: finish open sessions at interpreter exit and on SIGTERM, detach in a forked
child. One ``atexit`` hook and one fork hook for the whole process."""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from typing import Protocol

from augur_sdk import _internal

SIGTERM_ENV = "AUGUR_HANDLE_SIGTERM"


class Closable(Protocol):
    def close(self, status: str | None = None) -> object: ...
    def detach_after_fork(self) -> None: ...


_open: weakref.WeakSet[Closable] = weakref.WeakSet()
_installed = False
_lock = threading.Lock()


def track(session: Closable) -> None:
    """``session`` is open: close it (``halted``) if the interpreter exits first."""
    _install()
    _open.add(session)


def untrack(session: Closable) -> None:
    _open.discard(session)


def close_open_sessions() -> None:
    """At interpreter exit, finish every session still open (status ``halted``)."""
    for session in list(_open):
        with _internal.internal_errors("atexit"):
            session.close(status="halted")


def _on_sigterm(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C does: `with DebugSession` blocks see an exception and end the run
    # `halted` with a complete bundle; the exit status is still "terminated by SIGTERM".
    raise SystemExit(128 + signum)


def _install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        atexit.register(close_open_sessions)
        if os.environ.get(SIGTERM_ENV, "1") in ("0", "false", "no"):
            return
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # never replace the app's
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass


def _after_fork_in_child() -> None:
    for session in list(_open):
        session.detach_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
