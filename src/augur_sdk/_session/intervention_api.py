"""The live-intervention half of ``DebugSession``'s public API (a mixin): bind an adapter to
the run's command channel on ``augur serve``; ``close()`` stops the channel first. See
:mod:`augur_sdk.intervention` and ``docs/intervention.md``."""

from __future__ import annotations

import math
import threading
from typing import Any

from augur_sdk.intervention import InterventionChannel, missing_hooks
from augur_sdk.stream.dsn import resolve_dsn

MAX_POLL_TIMEOUT_S = 300.0


class Intervention:
    """Mixed into ``DebugSession``; uses its lock, its open-check and its recorder."""

    _lock: threading.RLock
    _run: Any
    _intervention: InterventionChannel | None = None

    def _require_open(self) -> None:  # pragma: no cover - DebugSession defines it
        raise NotImplementedError

    def bind_intervention(self, adapter: Any, *,
                          poll_timeout: float = 25.0) -> InterventionChannel | None:
        """Let an operator pause, resume, kill, hint or override this run through the
        Augur server of the session's DSN; return the started channel, or ``None`` without
        a DSN.

        ``adapter`` must have the five hooks ``on_pause()``, ``on_resume()``, ``on_kill()``,
        ``on_inject_hint(text)`` and ``on_action_override(coordinates, *, provenance)``
        (a hook may raise ``NotImplementedError``: that command is then audited as
        ``unsupported``); an adapter without one is refused here. Hooks run on the channel's
        thread, one at a time, in issue order. A kill first aborts the pending side effects.
        """
        missing = missing_hooks(adapter)
        if missing:
            raise TypeError(f"adapter: {type(adapter).__name__} has no {', '.join(missing)} "
                            f"(give every hook; one may raise NotImplementedError)")
        if isinstance(poll_timeout, bool) or not isinstance(poll_timeout, int | float) or \
                not math.isfinite(poll_timeout) or not 0 < poll_timeout <= MAX_POLL_TIMEOUT_S:
            raise ValueError(f"poll_timeout: expected seconds in (0, {MAX_POLL_TIMEOUT_S:g}], "
                             f"got {poll_timeout!r}")
        with self._lock:
            self._require_open()
            if self._intervention is not None:
                raise RuntimeError("bind_intervention: this session already has a channel")
            dsn = resolve_dsn(self._run.opts.dsn)
            if dsn is None:
                return None
            channel = InterventionChannel(
                session=self, adapter=adapter, base_url=dsn.base_url,  # type: ignore[arg-type]
                token=dsn.token, tenant=dsn.tenant, run_id=self._run.public_run_id,
                poll_timeout=float(poll_timeout))
            self._intervention = channel
        channel.start()
        return channel

    @property
    def intervention(self) -> InterventionChannel | None:
        """The channel :meth:`bind_intervention` started (``None`` before, or without one)."""
        return self._intervention

    def _stop_intervention(self, budget_s: float) -> None:
        """Stop the channel (``close()`` calls this before anything else): no hook starts
        after it returns."""
        channel = self._intervention
        if channel is not None:
            channel.stop(budget_s)
