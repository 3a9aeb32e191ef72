"""Checks of request bodies the run store relies on (pure): each raises :class:`RunError`
with the HTTP status for the client."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from augur_sdk import limits
from augur_sdk.server.paths import check_index, check_relative_ref

CAPTURE_MODES = limits.CAPTURE_MODES
COST_INTS = ("tokens_in", "tokens_out", "cache_hit_tokens")
COST_NUMBERS = ("total_usd", "model_usd", "gpu_usd", "proxy_usd")


class RunError(Exception):
    """A request the run cannot take; ``status`` is the HTTP status for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def placeholder_session_id(tenant: str, run_id: str) -> str:
    return "dbg_srv_" + hashlib.sha256(f"{tenant}/{run_id}".encode()).hexdigest()[:16]


def as_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RunError(400, f"{what}: expected a JSON object")
    return value


def check_step(value: Any, index: int | None = None) -> dict[str, Any]:
    step = as_object(value, "step")
    got = check_index(step.get("step_index"), "step.step_index")
    if index is not None and got != index:
        raise RunError(400, f"step.step_index {got} does not match the URL's index {index}")
    if not isinstance(step.get("step_id"), str) or not step["step_id"]:
        raise RunError(400, "step.step_id: required string")
    for key in ("observation_pre", "observation_post"):
        check_relative_ref(step.get(key), f"step.{key}")
    return step


def check_session(value: Any, run_id: str) -> dict[str, Any]:
    session = as_object(value, "session")
    if session.get("run_id") != run_id:
        raise RunError(400, f"session.run_id {str(session.get('run_id'))[:80]!r} is not the "
                            f"run of the URL")
    dsid = session.get("debug_session_id")
    if not isinstance(dsid, str) or not dsid.startswith("dbg_"):
        raise RunError(400, "session.debug_session_id: required, 'dbg_...'")
    if not isinstance(session.get("client"), dict) or not isinstance(
            session.get("capture_mode"), str):
        raise RunError(400, "session: client (object) and capture_mode are required")
    return session


def check_costs(value: Any) -> dict[str, Any]:
    costs = as_object(value, "costs")
    for key, value in costs.items():
        if key in COST_INTS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        elif key in COST_NUMBERS:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        else:
            raise RunError(400, f"costs.{key[:40]}: unknown field")
        if not ok:
            raise RunError(400, f"costs.{key}: expected a non-negative number")
    return costs
