"""Plain helpers for the server tests: wire bodies and bundle comparisons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from augur_schema import SCHEMA_VERSION

TENANTS = {"acme": ["tok-acme-1", "tok-acme-2"], "globex": ["tok-globex"]}
ACME = "tok-acme-1"  # a token of tenant "acme"
GLOBEX = "tok-globex"  # the token of tenant "globex"


def session_record(run_id: str, *, status: str = "succeeded", dsid: str = "dbg_test0001",
                   name: str = "testagent", mode: str = "screenshots",
                   **extra: Any) -> dict[str, Any]:
    """A debug_session record as a client sends it in the trace (or PUT /session)."""
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "debug_session_id": dsid, "run_id": run_id,
        "client": {"name": name, "version": "1.0"}, "capture_mode": mode,
        "started_at": "2026-05-19T00:00:00Z", "status": status, "tags": {"env": "test"},
    }
    if status != "running":
        record["ended_at"] = "2026-05-19T00:01:00Z"
    record.update(extra)
    return record


def manifest_body(run_id: str, *, dsid: str = "dbg_test0001", steps: int = 0) -> dict[str, Any]:
    """The part of a client's final manifest the server reads (POST /runs)."""
    return {"schema_version": SCHEMA_VERSION, "bundle_format": "augur-bundle", "run_id": run_id,
            "debug_session_id": dsid, "client": {"name": "testagent", "version": "1.0"},
            "capture_mode": "screenshots", "created_at": "2026-05-19T00:01:00Z",
            "redaction": {"policy_id": "default-pii-v1", "applied": True},
            "trace": "trace.json", "step_count": steps, "paths": {}}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def step_files(root: Path) -> dict[str, Any]:
    return {p.name: read_json(p) for p in sorted((root / "steps").glob("*.json"))}


def event_files(root: Path) -> dict[str, list[Any]]:
    return {p.name: read_jsonl(p) for p in sorted((root / "events").glob("*.jsonl"))}


def screenshot_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "screenshots").glob("*.png"))}


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()
