"""The side-effect ledger half of ``DebugSession``'s public API (a mixin): declare an action
on the world before dispatching it, then commit or abort it. augur-sdk 0.6.1's names,
keywords, enums and messages; see :mod:`augur_sdk._session.ledger` for what is kept where."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from augur_sdk import records
from augur_sdk._session import ledger
from augur_sdk._session.recorder import Recorder


def _when(value: Any, field: str) -> str:
    if value is None:
        return records.utcnow_iso()
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected an ISO-8601 string, got {type(value).__name__}")
    records.iso_to_ns(value, field)
    return value


class SideEffectLedger:
    """Mixed into ``DebugSession``; uses its lock, its open-check and its recorder."""

    _lock: threading.RLock
    _run: Recorder
    _refuse_replayed_step: Callable[[int, str], None]  # Branching's

    def _require_open(self) -> None:  # pragma: no cover - DebugSession defines it
        raise NotImplementedError

    def declare_side_effect(self, step_index: int, resource: str, action: str, *,
                            idempotency_key: str | None = None,
                            reversibility: str = "irreversible",
                            compensation_handle: str | None = None,
                            provenance: str = "sdk_declared",
                            side_effect_id: str | None = None,
                            declared_at: str | None = None) -> str:
        """Declare an action on the world before dispatching it; return its id.

        The declaration (``intent_only``) is on disk when this returns: a run killed
        before :meth:`commit_side_effect` still shows what it was about to do.
        """
        index = records.require_index(step_index, "step_index")
        if reversibility not in ledger.REVERSIBILITY:
            raise ValueError(f"reversibility must be irreversible|reversible|compensated, "
                             f"got {reversibility!r}")
        if provenance not in ledger.PROVENANCE:
            raise ValueError(f"provenance must be sdk_declared|adapter_inferred|"
                             f"human_declared, got {provenance!r}")
        for name, value in (("resource", resource), ("action", action)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name}: must be a non-empty string")
        sid = ledger.check_side_effect_id(side_effect_id or f"se_{uuid.uuid4().hex[:16]}",
                                          "declare_side_effect")
        record: dict[str, Any] = {
            "side_effect_id": sid, "step_index": index, "resource": resource,
            "action": action, "reversibility": reversibility, "provenance": provenance,
            "status": "intent_only", "declared_at": _when(declared_at, "declared_at")}
        for key, given in (("idempotency_key", idempotency_key),
                           ("compensation_handle", compensation_handle)):
            if given is not None:
                if not isinstance(given, str):
                    raise TypeError(f"{key}: expected a string")
                record[key] = given
        records.schema_errors("side_effect", record, "side_effect")
        with self._lock:
            self._require_open()
            self._refuse_replayed_step(index, "declare_side_effect")
            self._run.declare(record)
        return sid

    def commit_side_effect(self, side_effect_id: str, observed_result: Any = None, *,
                           committed_at: str | None = None) -> None:
        """The action happened: ``committed``, with what the dispatcher returned (redacted)."""
        changes: dict[str, Any] = {"committed_at": _when(committed_at, "committed_at")}
        if observed_result is not None:
            changes["observed_result"] = records.clean_json(observed_result, "observed_result")
        with self._lock:
            self._require_open()
            self._run.settle("commit_side_effect", side_effect_id, "committed", changes)

    def mark_side_effect_aborted(self, side_effect_id: str, reason: str, *,
                                 aborted_at: str | None = None) -> None:
        """The action did not happen (or was compensated): ``aborted`` with the reason."""
        if not isinstance(reason, str):
            raise TypeError("reason: expected a string")
        changes = {"aborted_at": _when(aborted_at, "aborted_at"), "abort_reason": reason}
        with self._lock:
            self._require_open()
            self._run.settle("mark_side_effect_aborted", side_effect_id, "aborted", changes)

    def abort_pending_side_effects(self, reason: str) -> list[str]:
        """Abort every side effect still pending (a kill arrived); return their ids."""
        with self._lock:
            self._require_open()
            pending = sorted(self._run.ledger.pending)
            for sid in pending:
                self.mark_side_effect_aborted(sid, reason)
        return pending
