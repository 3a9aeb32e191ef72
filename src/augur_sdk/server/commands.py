"""Intervention commands of ``augur serve``: issued by control tokens, kept on disk until the
run's client takes them (or they expire), handed out by the long poll in issue order.

Each run with commands has one small JSON file beside its index,
``<data>/<tenant>/.augur-server/<run dir>.cmds.json``: ``{"next_seq": n, "commands":
[...]}``, written atomically, so pending commands survive a server restart. A command is
*sent* when a poll first returns it and *acknowledged* (then dropped from the file) when a
later poll's ``cursor`` reaches its ``seq``: delivery is at least once, and the SDK drops
repeats by ``command_id``. ``next_seq`` stays in the file, so sequence numbers never go back
and a client's cursor never skips a newer command.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from augur_sdk.bundle.files import atomic_write
from augur_sdk.records import ns_to_iso

COMMAND_TYPES = ("pause", "resume", "kill", "inject_hint", "override_action")
SUFFIX = ".cmds.json"
MAX_HINT_CHARS = 4000
MAX_REASON_CHARS = 500
MAX_TTL_S = 7 * 86400.0
MAX_PENDING = 256  # commands waiting for one run; past it a new one is refused (429)


class CommandError(ValueError):
    """A command request the server refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError(400, f"{field}: expected a finite number")
    return float(value)


def check_command(body: Any) -> tuple[str, dict[str, Any], float | None]:
    """``(type, payload, ttl_s)`` of a ``POST /runs/{run}/commands`` body, or CommandError
    naming the field."""
    if not isinstance(body, dict):
        raise CommandError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - {"type", "payload", "ttl_s"})
    if unknown:
        raise CommandError(400, f"{unknown[0]}: unknown field (type, payload, ttl_s)")
    kind = body.get("type")
    if kind not in COMMAND_TYPES:
        raise CommandError(400, f"type: must be one of {', '.join(COMMAND_TYPES)}")
    payload = body.get("payload") or {}
    if not isinstance(payload, dict):
        raise CommandError(400, "payload: expected an object")
    clean: dict[str, Any] = {}
    reason = payload.get("reason")
    if reason is not None:
        if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            raise CommandError(400, f"payload.reason: a string of at most {MAX_REASON_CHARS}"
                                    " characters")
        clean["reason"] = reason
    allowed = {"reason"}
    if kind == "inject_hint":
        allowed.add("text")
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_HINT_CHARS:
            raise CommandError(400, f"payload.text: inject_hint needs a non-empty string of at "
                                    f"most {MAX_HINT_CHARS} characters")
        clean["text"] = text
    elif kind == "override_action":
        allowed.add("coordinates")
        coords = payload.get("coordinates")
        if not isinstance(coords, dict) or set(coords) != {"x", "y"}:
            raise CommandError(400, "payload.coordinates: override_action needs {\"x\": ..., "
                                    "\"y\": ...}")
        clean["coordinates"] = {axis: _number(coords[axis], f"payload.coordinates.{axis}")
                                for axis in ("x", "y")}
    extra = sorted(set(payload) - allowed)
    if extra:
        raise CommandError(400, f"payload.{extra[0]}: not a field of a {kind} command")
    ttl = body.get("ttl_s")
    if ttl is not None:
        ttl = _number(ttl, "ttl_s")
        if not 0 < ttl <= MAX_TTL_S:
            raise CommandError(400, f"ttl_s: must be between 0 and {MAX_TTL_S:g} seconds")
    return str(kind), clean, ttl


def parse_cursor(raw: str | None) -> int:
    """The sequence number a poll's ``cursor`` acknowledges (0: none; anything that is not
    one of ours counts as none, and the client drops repeats by ``command_id``)."""
    if raw is None or not raw.isdigit() or len(raw) > 18:
        return 0
    return int(raw)


class CommandBox:
    """The pending commands of every run, on disk. Commands are rare and small: one lock
    for all runs, the file read on every use (a restart loses nothing)."""

    def __init__(self, data_dir: Path, default_ttl_s: float, fsync: bool = False) -> None:
        self.data_dir = data_dir
        self.default_ttl_s = default_ttl_s
        self.fsync = fsync
        self._lock = threading.Lock()

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"next_seq": 1, "commands": []}
        if not isinstance(data, dict) or not isinstance(data.get("commands"), list):
            raise ValueError(f"{path}: not a command file")
        return data

    def _save(self, path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        atomic_write(path, body.encode("utf-8"), fsync=self.fsync)

    def issue(self, path: Path, kind: str, payload: dict[str, Any], *, operator_id: str,
              ttl_s: float | None = None, now: float | None = None) -> dict[str, Any]:
        """Add a command for the run whose file is ``path``; return it."""
        now = time.time() if now is None else now
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        with self._lock:
            data = self._load(path)
            live = [c for c in data["commands"] if c.get("expires_epoch", 0) > now]
            if len(live) >= MAX_PENDING:
                raise CommandError(429, f"{MAX_PENDING} commands already wait for this run")
            seq = int(data.get("next_seq") or 1)
            command = {
                "command_id": f"cmd_{uuid.uuid4().hex[:16]}", "seq": seq, "type": kind,
                "payload": payload, "operator_id": operator_id,
                "issued_at": ns_to_iso(int(now * 1e9)),
                "expires_at": ns_to_iso(int((now + ttl) * 1e9)), "expires_epoch": now + ttl,
            }
            data["next_seq"] = seq + 1
            data["commands"] = [*live, command]
            self._save(path, data)
        return _public(command)

    def take(self, path: Path, cursor: int, *, now: float | None = None,
             ) -> tuple[list[dict[str, Any]], int]:
        """Acknowledge commands up to ``cursor``, drop expired ones, and return the rest in
        issue order with the cursor that acknowledges them all."""
        now = time.time() if now is None else now
        with self._lock:
            try:
                data = self._load(path)
            except ValueError:
                return [], cursor
            before = data["commands"]
            pending = [c for c in before
                       if int(c.get("seq", 0)) > cursor and c.get("expires_epoch", 0) > now]
            pending.sort(key=lambda c: int(c["seq"]))
            changed = len(pending) != len(before)
            for command in pending:
                if "sent_at" not in command:
                    command["sent_at"] = ns_to_iso(int(now * 1e9))
                    changed = True
            if changed:
                data["commands"] = pending
                self._save(path, data)
        last = int(pending[-1]["seq"]) if pending else cursor
        return [_public(c) for c in pending], last

    def pending(self, path: Path, *, now: float | None = None) -> list[dict[str, Any]]:
        """Commands not acknowledged yet and not expired (read only)."""
        now = time.time() if now is None else now
        with self._lock:
            try:
                data = self._load(path)
            except ValueError:
                return []
        return [_public(c) for c in data["commands"] if c.get("expires_epoch", 0) > now]


def _public(command: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in command.items() if k != "expires_epoch"}
