"""Where things live in an Augur bundle, and how JSON is formatted (pure, but for the one
read of :func:`trace_session_head`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from augur_schema import SCHEMA_VERSION

MANIFEST = "manifest.json"
TRACE = "trace.json"
AGENT_MD = "AGENT.md"
LIVE = "live.json"  # present only while a producer is writing; its absence = finished
PRODUCER = "producer.json"  # what the SDK knows about the run that the schemas have no field for
SPANS_SIDECAR = "otel/spans.jsonl"  # trace_id/span_id per step (step_trace forbids extra keys)
STREAM_REPORT = "stream.json"  # what reached the Augur server (only when streaming)
UPLOAD_REPORT = "upload.json"  # what reached the object store (only with a store that uploads)
SCHEMA_DIR = "schema"
SPARES_DIR = ".spares.tmp"  # empty files made ahead of time while a producer runs

PATHS: dict[str, str] = {
    "steps": "steps/",
    "screenshots": "screenshots/",
    "crops": "crops/",
    "diffs": "diffs/",
    "events": "events/",
    "logs": "logs/",
    "replay": "replay/",
    "diagnostics": "diagnostics/",
    "modelio": "modelio/",
    "preferences": "preferences/",
    "side_effects": "side_effects/",
    "schema": "schema/",
    "agent": "AGENT.md",
}

# Entries a producer owns in an out_dir: removed when a new run reuses the directory so no
# stale step of an older run can end up in the new bundle. Anything else is left alone.
OWNED_ENTRIES = (
    MANIFEST, TRACE, AGENT_MD, LIVE, PRODUCER, STREAM_REPORT, "steps", "events", "screenshots",
    "otel", UPLOAD_REPORT,
    SCHEMA_DIR, "crops", "diffs", "logs", "replay", "diagnostics", "modelio", "preferences",
    "side_effects", "outcomes.json", "eval_candidates.json",
)

BUNDLE_FORMAT = "augur-bundle"


def step_path(step_index: int) -> str:
    return f"steps/{step_index:04d}.json"


def iteration_path(step_index: int, step_id: str) -> str:
    """``steps/NNNN/<sha256(step_id)[:8]>.json``: a step with iterations keeps its canonical
    record and each iteration there (augur-sdk 0.6.1's layout)."""
    short = hashlib.sha256(step_id.encode("utf-8")).hexdigest()[:8]
    return f"steps/{step_index:04d}/{short}.json"


def events_path(step_index: int | None) -> str:
    return "events/run.jsonl" if step_index is None else f"events/{step_index:04d}.jsonl"


def screenshot_path(step_index: int, kind: str) -> str:
    return f"screenshots/{step_index:04d}_{kind}.png"


def modelio_path(record: Mapping[str, Any]) -> str:
    """``modelio/NNNN-<layer>-<digest>.json`` (``run-`` without a step): the digest of the
    record's content makes the name stable for identical content and distinct otherwise."""
    index = record.get("step_index")
    prefix = f"{int(index):04d}" if isinstance(index, int) else "run"
    digest = hashlib.sha256(dumps(dict(record)).encode("utf-8")).hexdigest()[:12]
    return f"modelio/{prefix}-{record.get('layer', 'model')}-{digest}.json"


def log_path(record: Mapping[str, Any]) -> str:
    """``logs/step-N.log`` for a step's log (augur-sdk 0.6.1's name), else ``logs/<name>.log``."""
    index = record.get("step_index")
    if isinstance(index, int):
        return f"logs/step-{index}.log"
    return f"logs/{record.get('name', 'run')}.log"


def checked_rel(rel: str) -> str:
    """``rel`` if it is a plain bundle-relative path (a record kind's file), else ValueError:
    a record's fields choose file names, and none may leave the bundle."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel or any(
            p in ("", ".", "..") for p in parts) or len(rel.encode("utf-8")) > 1024:
        raise ValueError(f"bundle path {rel!r} is not a plain relative path inside the bundle")
    return rel


def dumps(obj: Any) -> str:
    """The bundle's JSON file format: sorted keys, 2-space indent, UTF-8, final newline.

    Byte for byte ``json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"``.
    With ``indent`` the standard library uses its pure-Python encoder; records are plain,
    shallow JSON, so :func:`_indented` builds the same text with the C string encoder
    (about twice as fast); anything unusual goes to ``json.dumps`` itself.
    """
    try:
        return _indented(obj, "\n") + "\n"
    except (_Unusual, RecursionError, TypeError):
        return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


class _Unusual(Exception):
    """Not plain JSON (a subclass, a tuple, a non-string key...): ``json.dumps`` decides."""


_encode_str: Any = json.encoder.encode_basestring  # the C one when available, as json uses
_INF = float("inf")


def _indented(value: Any, pad: str) -> str:
    """``value`` as ``json.dumps(indent=2, sort_keys=True)`` writes it at the indentation
    ``pad`` (a newline and the spaces of the current level)."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)  # type: ignore[no-any-return]
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if value != value:
            return "NaN"
        if value == _INF:
            return "Infinity"
        if value == -_INF:
            return "-Infinity"
        return float.__repr__(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is dict:
        if not value:
            return "{}"
        inner = pad + "  "
        parts = []
        for key, item in sorted(value.items()):  # mixed key types: TypeError, json decides
            if type(key) is not str:
                raise _Unusual
            parts.append(_encode_str(key) + ": " + _indented(item, inner))
        return "{" + inner + ("," + inner).join(parts) + pad + "}"
    if kind is list:
        if not value:
            return "[]"
        inner = pad + "  "
        return "[" + inner + ("," + inner).join([_indented(item, inner) for item in value]) \
            + pad + "]"
    raise _Unusual


_line = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode  # built once


def jsonl_line(obj: Any) -> str:
    return _line(obj) + "\n"


def is_temp_name(name: str) -> bool:
    return name.endswith(".tmp")


def build_manifest(
    session: dict[str, Any],
    *,
    step_count: int,
    created_at: str,
    policy_id: str,
    signatures: dict[str, str] | None = None,
    missing: list[str] | None = None,
    trajectory_fingerprint: str | None = None,
) -> dict[str, Any]:
    """The manifest envelope (valid against ``manifest.schema.json``)."""
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "bundle_format": BUNDLE_FORMAT,
        "run_id": session["run_id"],
        "debug_session_id": session["debug_session_id"],
        "client": dict(session.get("client") or {}),
        "capture_mode": session["capture_mode"],
        "created_at": created_at,
        "redaction": {"policy_id": policy_id, "applied": True},
        "trace": TRACE,
        "step_count": step_count,
        "paths": dict(PATHS),
    }
    if session.get("costs"):
        manifest["costs"] = dict(session["costs"])
    if missing:
        manifest["missing"] = sorted(set(missing))
    if trajectory_fingerprint:
        manifest["trajectory_fingerprint"] = trajectory_fingerprint
    if signatures is not None:
        manifest["signatures"] = dict(sorted(signatures.items()))
    return manifest


def render_agent_md(session: dict[str, Any], step_count: int, first_failed: int | None) -> str:
    """A short index for coding agents that open the bundle."""
    client = session.get("client") or {}
    lines = [
        f"# Augur bundle: {session.get('run_id', '?')}",
        "",
        f"- client: `{client.get('name', '?')}` {client.get('version', '')}".rstrip(),
        f"- capture mode: `{session.get('capture_mode')}`; status: `{session.get('status')}`",
        f"- steps: {step_count}; schema version: `{SCHEMA_VERSION}`",
    ]
    if first_failed is not None:
        lines.append(f"- first failed step: `{step_path(first_failed)}`, "
                     f"its decisions in `{events_path(first_failed)}`")
    lines += [
        "",
        "## Read",
        "",
        "1. `manifest.json`: envelope, `missing[]`, sha256 `signatures`.",
        "2. `trace.json`: the session record and every step in order.",
        "3. `steps/NNNN.json`: one step; `events/NNNN.jsonl`: its decision events "
        "(`events/run.jsonl`: run-level).",
        "4. `screenshots/NNNN_pre.png`, `NNNN_post.png`: what the agent saw.",
        "5. `otel/spans.jsonl`: the OpenTelemetry trace_id/span_id of every step.",
        "6. `schema/`: the JSON Schemas every record validates against.",
        "",
    ]
    return "\n".join(lines)


# A run's status in run lists (augur serve's runs API, `augur view DIR`).
RUN_RUNNING, RUN_FINISHED, RUN_FAILED = "running", "finished", "failed"
FAILED_SESSION_STATUSES = ("failed", "halted")


def run_status(finished: bool, session: dict[str, Any] | None) -> str:
    """``running`` until the run is finished, then ``failed`` (session status failed or
    halted) or ``finished``."""
    if not finished:
        return RUN_RUNNING
    if isinstance(session, dict) and session.get("status") in FAILED_SESSION_STATUSES:
        return RUN_FAILED
    return RUN_FINISHED


# NaN / Infinity in a hand-made trace.json become null: a strict JSON API must not choke on them.
_HEAD_DECODER = json.JSONDecoder(parse_constant=lambda _: None)
_TRACE_HEAD = re.compile(r'\s*\{\s*"session"\s*:\s*')


def trace_session_head(root: Path) -> Any:
    """The session record at the top of ``root/trace.json``, without parsing the steps (the
    SDK writes it first); None when absent or unreadable."""
    try:
        with open(root / TRACE, "rb") as fh:
            head = fh.read(1 << 20).decode("utf-8", errors="replace")
    except OSError:
        return None
    m = _TRACE_HEAD.match(head)
    if m is None:
        return None
    try:
        session, _ = _HEAD_DECODER.raw_decode(head, m.end())
    except (ValueError, RecursionError):
        return None
    return session
