"""What a run directory on disk is (pure, but for reading its small files): its session
record, status, client, times and step count. One description for ``augur serve``'s run API
and ``augur view DIR``'s run list, so they cannot drift (time zone, JSON shape, which file
wins).

Where the session comes from, in order: the server's index file (a run ``augur serve``
wrote), ``live.json`` (a producer is writing it), the head of ``trace.json`` (finished),
then ``manifest.json`` for the client and start time. Every value read is untrusted: only
strings are shown, the client only as name and version.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.records import ns_to_iso

SERVER_INDEX_DIR = ".augur-server"  # <tenant>/.augur-server/<run dir>.json, by augur serve
MAX_TEXT = 300


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"),
                          parse_constant=lambda _name: None)
    except (OSError, ValueError, RecursionError):
        return None


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string field shown in a run list (cut at ``limit``), or ``None``."""
    return value[:limit] if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def count_step_files(root: Path) -> int:
    try:
        with os.scandir(root / "steps") as entries:
            return sum(1 for e in entries if e.name.endswith(".json") and e.is_file())
    except OSError:
        return 0


@dataclass
class RunFacts:
    """What a run directory says about its run."""

    run_id: str | None
    status: str  # running / finished / failed (layout.run_status)
    finished: bool
    live: bool  # live.json is there: a producer writes it, or died writing it
    session: dict[str, Any]  # the session record as found (untrusted)
    index: dict[str, Any]  # augur serve's index file ({} for other bundles)
    client: dict[str, str]
    capture_mode: str | None
    started_at: str | None
    ended_at: str | None
    step_count: int
    last_activity: float  # epoch seconds of the newest change seen
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def last_activity_at(self) -> str | None:
        """UTC, ISO-8601 with ``Z`` (as every timestamp the SDK writes)."""
        return ns_to_iso(int(self.last_activity * 1e9)) if self.last_activity else None

    def summary(self) -> dict[str, Any]:
        """The members both run lists show, in one JSON shape."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "session_status": text(self.session.get("status"), 50),
            "debug_session_id": text(self.session.get("debug_session_id"), 100),
            "client": self.client,
            "capture_mode": self.capture_mode,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "step_count": self.step_count,
            "tags": {k: v for k, v in _dict(self.session.get("tags")).items()
                     if isinstance(k, str) and isinstance(v, str)},
            "last_activity_at": self.last_activity_at,
        }


def describe(root: Path, index_path: Path | None = None, *,
             step_count: int | None = None) -> RunFacts | None:
    """Describe the run in ``root`` (``None``: nothing there looks like a run).
    ``step_count``: the caller's own count of step files (it may cache it)."""
    index = read_json(index_path) if index_path is not None else None
    has_live = (root / layout.LIVE).exists()
    manifest_file = root / layout.MANIFEST
    if not isinstance(index, dict) and not has_live and not manifest_file.is_file():
        return None
    live_session = _dict(_dict(read_json(root / layout.LIVE)).get("session")) if has_live \
        else {}
    if isinstance(index, dict):  # written by augur serve
        session = _dict(index.get("session"))
        finished = bool(index.get("finished")) and not has_live
    else:
        session = live_session
        finished = not has_live
        index = {}
    if not session and not has_live:
        session = _dict(layout.trace_session_head(root))
    client = _dict(session.get("client"))
    started = session.get("started_at")
    manifest: dict[str, Any] = {}
    if not client or not isinstance(started, str):
        manifest = _dict(read_json(manifest_file))
        client = client or _dict(manifest.get("client"))
        started = started if isinstance(started, str) else manifest.get("created_at")
    steps = step_count if step_count is not None else count_step_files(root)
    if finished and isinstance(index.get("step_count"), int) and \
            not isinstance(index.get("step_count"), bool):
        steps = index["step_count"]
    last = max(mtime(index_path) if index_path is not None else 0.0, mtime(root),
               mtime(root / "steps"), mtime(root / "events"), mtime(root / "screenshots"))
    return RunFacts(
        run_id=text(session.get("run_id") or manifest.get("run_id")),
        status=layout.run_status(finished, session),
        finished=finished,
        live=has_live,
        session=session,
        index=index,
        client={k: v for k in ("name", "version")
                if (v := text(client.get(k), 200)) is not None},
        capture_mode=text(session.get("capture_mode") or manifest.get("capture_mode"), 50),
        started_at=text(started, 60),
        ended_at=text(session.get("ended_at"), 60),
        step_count=steps,
        last_activity=last,
    )
