"""The constructor's arguments, checked (raising ``TypeError``/``ValueError`` naming the
argument) and resolved into one :class:`SessionOptions` (pure, but for the environment
lookups of the capture mode)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augur_schema import SCHEMA_VERSION
from opentelemetry.sdk.trace import SpanProcessor

from augur_sdk import _internal, fingerprints, records
from augur_sdk.capture import CaptureMode, capture_mode_is_explicit, resolve_capture_mode
from augur_sdk.redaction import DefaultRedactionPolicy, RedactionPolicy, path_matches


@dataclass
class SessionOptions:
    """Everything a session was asked for, checked."""

    run_id: str
    out_dir: Path
    capture_mode: CaptureMode
    mode_explicit: bool
    debug_session_id: str
    policy: RedactionPolicy
    session: dict[str, Any]  # the debug_session record (unredacted, private copy)
    tags: dict[str, str]
    group_id: str | None = None
    fingerprint_algorithm: str = fingerprints.DEFAULT_ALGORITHM
    capture_logprobs: bool = False
    dsn: str | None = None
    span_processors: list[SpanProcessor] = field(default_factory=list)
    close_timeout_s: float | None = None
    fsync: bool = False
    modelio_budget_bytes: int | None = 50_000_000


def new_debug_session_id() -> str:
    return f"dbg_{uuid.uuid4().hex[:16]}"


def refuse_required_fields(paths: Iterable[str]) -> None:
    """A never-record path may not match a field every step, event or session record must
    have: the record could not be written (or would not validate) without it."""
    for path in paths:
        if not isinstance(path, str):
            continue  # the policy reports the type
        for record, fields in records.required_fields().items():
            hit = next((f for f in fields if path_matches(path, f)), None)
            if hit is not None:
                raise ValueError(
                    f"never_record: {path!r} matches {record}.{hit}, which every {record} "
                    "record must have; name the sensitive field inside it instead")


def _policy(redaction_policy: RedactionPolicy | None,
            never_record: Iterable[str]) -> RedactionPolicy:
    policy = redaction_policy or DefaultRedactionPolicy()
    if not isinstance(policy, RedactionPolicy):
        raise TypeError("redaction_policy: expected a RedactionPolicy")
    if isinstance(never_record, str):
        raise TypeError("never_record: expected a list of paths, got a string")
    never = list(never_record)
    resolved = policy.with_never_record(never) if never else policy
    refuse_required_fields(sorted(resolved.never_record))
    return resolved


def _out_dir(out_dir: Any) -> Path:
    if not isinstance(out_dir, str | os.PathLike):
        raise TypeError(f"out_dir: expected a path, got {type(out_dir).__name__}")
    if "\x00" in os.fspath(out_dir):
        raise ValueError("out_dir: must not contain NUL bytes")
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out_dir: {os.fspath(out_dir)!r} is a file; the bundle is a "
                         "directory (pass a path that is a directory or does not exist)")
    return path


def _mode(capture_mode: CaptureMode | str | None) -> tuple[CaptureMode, bool]:
    """The capture mode and whether one was asked for. A bad ``capture_mode=`` argument is a
    programming error and raises; a typo in ``$AUGUR_CAPTURE_MODE`` must not stop a running
    agent: it is logged once and taken as unset."""
    if capture_mode is not None:
        return resolve_capture_mode(capture_mode), True
    try:
        return resolve_capture_mode(None), capture_mode_is_explicit(None)
    except ValueError as exc:
        _internal.log_once("bad-capture-mode-env", 30,
                           "augur_sdk: %s; it is ignored (as if unset: mode 'off')", exc)
        return CaptureMode.OFF, False


BRANCH_AXES = ("model", "prompt", "action", "grounder", "tool_description")
BRANCH_REQUIRED = ("parent_run_id", "branch_point_step_index", "mutated_axis")


def check_branch_context(value: Any) -> dict[str, Any]:
    """A replay branch's ``branch_context``, checked at the constructor (the messages of
    augur-sdk 0.6.1, which callers may match)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"branch_context: expected a dict, got {type(value).__name__}")
    for key in BRANCH_REQUIRED:
        if key not in value:
            raise ValueError(f"branch_context: missing required field {key!r}")
    if value["mutated_axis"] not in BRANCH_AXES:
        raise ValueError(f"branch_context.mutated_axis must be one of {sorted(BRANCH_AXES)}, "
                         f"got {value['mutated_axis']!r}")
    return dict(records.clean_json(dict(value), "branch_context"))


def _fingerprint_algorithm(name: str | None) -> str:
    """The argument (a bad one raises), else ``$AUGUR_FINGERPRINT_ALGORITHM`` (a bad one is
    logged once and ``cua_v1`` used: a typo in the environment must not stop an agent)."""
    if name is not None:
        try:
            fingerprints.resolve_algorithm(name)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"fingerprint_algorithm: {exc}") from None
        return name
    env = os.environ.get(fingerprints.ALGORITHM_ENV, "").strip()
    if not env:
        return fingerprints.DEFAULT_ALGORITHM
    try:
        fingerprints.resolve_algorithm(env)
    except Exception as exc:  # a plug-in that fails to load must not stop the agent
        _internal.log_once("bad-fingerprint-env", 30,
                           "augur_sdk: $%s: %s; cua_v1 is used", fingerprints.ALGORITHM_ENV,
                           exc)
        return fingerprints.DEFAULT_ALGORITHM
    return env


def _client(name: Any, version: Any, git_sha: Any) -> dict[str, str]:
    if not isinstance(name, str) or not name:
        raise ValueError("client_name: must be a non-empty string")
    client: dict[str, str] = {"name": name}
    for key, value in (("version", version), ("git_sha", git_sha)):
        if value is not None:
            if not isinstance(value, str):
                raise TypeError(f"client_{key}: expected a string, got {type(value).__name__}")
            client[key] = value
    return client


def _started_at(started_at: Any) -> str:
    if started_at is None:
        started_at = records.utcnow_iso()
    elif started_at == "":
        box = {"started_at": started_at}
        records.fill_empty_time(box, "started_at", "started_at")
        started_at = box["started_at"]
    elif not isinstance(started_at, str):
        started_at = str(records.clean_json(started_at, "started_at"))
    records.iso_to_ns(started_at, "started_at")
    return str(started_at)


def resolve_options(
    *,
    run_id: Any,
    client_name: Any,
    out_dir: Any,
    client_version: Any = None,
    client_git_sha: Any = None,
    capture_mode: CaptureMode | str | None = None,
    debug_session_id: str | None = None,
    redaction_policy: RedactionPolicy | None = None,
    tags: Mapping[str, str] | None = None,
    started_at: Any = None,
    dsn: str | None = None,
    task_spec: Mapping[str, Any] | None = None,
    task_spec_id: str | None = None,
    branch_context: Mapping[str, Any] | None = None,
    group_id: str | None = None,
    capture_logprobs: bool = False,
    never_record: Iterable[str] = (),
    span_processors: Iterable[SpanProcessor] = (),
    close_timeout_s: float | None = None,
    fsync: bool = False,
    modelio_budget_bytes: int | None = 50_000_000,
    fingerprint_algorithm: str | None = None,
) -> SessionOptions:
    """Check every argument of ``DebugSession(...)`` and build the session record."""
    checked_run_id = records.check_run_id(run_id)
    client = _client(client_name, client_version, client_git_sha)
    path = _out_dir(out_dir)
    mode, explicit = _mode(capture_mode)
    dbg_id = debug_session_id or new_debug_session_id()
    policy = _policy(redaction_policy, never_record)
    checked_tags = records.check_tags(tags)
    session: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "debug_session_id": dbg_id,
        "run_id": checked_run_id,
        "client": client,
        "capture_mode": mode.value,
        "started_at": _started_at(started_at),
        "status": "running",
        "tags": dict(checked_tags),
    }
    branch = None if branch_context is None else check_branch_context(branch_context)
    extras: tuple[tuple[str, object], ...] = (
        ("task_spec", task_spec), ("task_spec_id", task_spec_id), ("branch_context", branch))
    for key, extra in extras:
        if extra is not None:
            session[key] = records.clean_json(extra, key)
    records.clean_json(session, "session")
    records.schema_errors("debug_session", session, "session")
    if modelio_budget_bytes is not None and (
            isinstance(modelio_budget_bytes, bool) or not isinstance(modelio_budget_bytes, int)
            or modelio_budget_bytes < 0):
        raise ValueError("modelio_budget_bytes: expected a non-negative int of bytes or None "
                         f"(no budget), got {modelio_budget_bytes!r}")
    return SessionOptions(
        run_id=checked_run_id, out_dir=path, capture_mode=mode, mode_explicit=explicit,
        debug_session_id=dbg_id, policy=policy, session=session, tags=checked_tags,
        group_id=group_id,
        fingerprint_algorithm=_fingerprint_algorithm(fingerprint_algorithm),
        capture_logprobs=bool(capture_logprobs), dsn=dsn,
        span_processors=list(span_processors), close_timeout_s=close_timeout_s, fsync=fsync,
        modelio_budget_bytes=modelio_budget_bytes,
    )
