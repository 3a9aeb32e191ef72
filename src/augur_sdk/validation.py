"""Bundle validation: ``augur validate BUNDLE`` and :func:`validate_bundle`.

Checks every file against its ``augur-schema`` schema, the ``step_id`` convention, that
referenced screenshots exist (or are listed in ``manifest.missing``), that signatures match,
that ``step_count``, ``trace.json`` and ``steps/`` agree, and tells an unfinished bundle (its
producer died: run ``augur recover``) or one still being written apart from a broken one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from augur_schema import SCHEMA_VERSION, validator_for

from augur_sdk.bundle import layout

# Issue codes. ``unreadable`` means the bundle could not be read at all (exit 2).
INVALID = "invalid"
UNFINISHED = "unfinished"
RUNNING = "running"
INCOMPLETE = "incomplete"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class ValidationIssue:
    """One problem: the file (``where``), what is wrong, and the JSON path inside the file."""

    where: str
    message: str
    path: str = ""
    code: str = INVALID

    def render(self) -> str:
        at = f" (at {self.path})" if self.path else ""
        return f"{self.where}: {self.message}{at}"


@cache
def _validator(name: str) -> Any:
    return validator_for(name)


def _schema_issues(name: str, instance: Any, where: str) -> list[ValidationIssue]:
    return [
        ValidationIssue(where, err.message, "/".join(str(p) for p in err.absolute_path))
        for err in _validator(name).iter_errors(instance)
    ]


def _read_json(root: Path, rel: str, issues: list[ValidationIssue]) -> Any:
    try:
        return json.loads((root / rel).read_text(encoding="utf-8"))
    except FileNotFoundError:
        issues.append(ValidationIssue(rel, "missing"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        issues.append(ValidationIssue(rel, f"not readable as JSON: {exc}"))
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_state(root: Path) -> tuple[str, dict[str, Any]] | None:
    """``("running", live)`` or ``("unfinished", live)`` if ``live.json`` exists, else None."""
    try:
        live = json.loads((root / layout.LIVE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return UNFINISHED, {}
    pid = live.get("pid")
    same_host = live.get("host") == socket.gethostname()
    if isinstance(pid, int) and same_host and pid != os.getpid() and pid_alive(pid):
        return RUNNING, live
    return UNFINISHED, live


_STEP_FILE_RE = re.compile(r"^steps/(\d+)\.json$")


def _check_step_id(step: dict[str, Any], run_id: str, rel: str) -> list[ValidationIssue]:
    index, step_id = step.get("step_index"), step.get("step_id")
    if not isinstance(index, int) or not isinstance(step_id, str):
        return []
    prefix = f"{run_id}/step/"
    suffix = step_id[len(prefix):] if step_id.startswith(prefix) else None
    if suffix is None or not suffix.isdigit() or int(suffix) != index or len(suffix) < 4:
        return [ValidationIssue(
            rel,
            f"step_id {step_id!r} breaks the convention '<run_id>/step/<zero-padded index>'; "
            f"expected {prefix}{index:04d}",
            "step_id",
        )]
    return []


# JSONL files under events/ that hold other records than decision events (augur-sdk 0.6.1
# writes reasoning traces to events/reasoning.jsonl).
_EVENTS_FILE_SCHEMAS = {"reasoning.jsonl": "reasoning_trace"}


def _check_events(root: Path, rel: str, finished: bool,
                  schema: str = "decision_event") -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    data = (root / rel).read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1].strip() and finished:
            issues.append(ValidationIssue(rel, "last line is cut off (no newline)"))
    m = re.match(r"^events/(\d+)\.jsonl$", rel)
    expected_index = int(m.group(1)) if m else None
    for lineno, raw in enumerate(lines[:-1], start=1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except ValueError as exc:
            issues.append(ValidationIssue(rel, f"line {lineno}: not JSON ({exc})"))
            continue
        for issue in _schema_issues(schema, event, rel):
            issues.append(ValidationIssue(rel, f"line {lineno}: {issue.message}", issue.path))
        if schema == "decision_event" and expected_index is not None and \
                isinstance(event, dict) and \
                event.get("step_index") != expected_index:
            issues.append(ValidationIssue(
                rel, f"line {lineno}: step_index {event.get('step_index')!r} in the file of "
                     f"step {expected_index}", "step_index"))
    return issues


def _inside(root: Path, ref: str) -> bool:
    try:
        return (root / ref).resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def validate_bundle(bundle_dir: str | os.PathLike[str]) -> list[ValidationIssue]:
    """Return every problem found in the bundle at ``bundle_dir`` (empty list: valid)."""
    root = Path(bundle_dir)
    if not root.is_dir():
        return [ValidationIssue(str(root), "not a directory", code=UNREADABLE)]
    issues: list[ValidationIssue] = []
    state = live_state(root)
    if state is not None:
        kind, live = state
        if kind == RUNNING:
            return [ValidationIssue(
                str(root), f"still being written by process {live.get('pid')}; "
                "validate it after the run ends", code=RUNNING)]
        issues.append(ValidationIssue(
            str(root), "unfinished: its producer stopped before close() (crash or kill); "
            f"repair it with: augur recover {root}", code=UNFINISHED))
    if state is not None and not (root / layout.MANIFEST).exists():
        return issues  # killed before its first manifest: unfinished, nothing more to say
    manifest = _read_json(root, layout.MANIFEST, issues)
    if not isinstance(manifest, dict):
        if state is None:
            return [ValidationIssue(i.where, i.message, i.path, UNREADABLE) for i in issues]
        return issues
    issues += _schema_issues("manifest", manifest, layout.MANIFEST)
    declared = manifest.get("schema_version")
    if isinstance(declared, str) and declared.split(".")[:2] != SCHEMA_VERSION.split(".")[:2]:
        issues.append(ValidationIssue(
            layout.MANIFEST, f"schema_version {declared!r} is not {SCHEMA_VERSION!r}",
            "schema_version"))
    if state is not None:
        return issues  # the rest only makes sense for a finished bundle
    run_id = str(manifest.get("run_id", ""))

    step_files = sorted(
        p.relative_to(root).as_posix() for p in (root / "steps").rglob("*.json")
        if not layout.is_temp_name(p.name)
    ) if (root / "steps").is_dir() else []
    steps_on_disk: dict[int, dict[str, Any]] = {}
    for rel in step_files:
        step = _read_json(root, rel, issues)
        if step is None:
            continue
        issues += _schema_issues("step_trace", step, rel)
        if isinstance(step, dict):
            issues += _check_step_id(step, run_id, rel)
            m = _STEP_FILE_RE.match(rel)
            if m and step.get("step_index") != int(m.group(1)):
                issues.append(ValidationIssue(
                    rel, f"step_index {step.get('step_index')!r} does not match the file name",
                    "step_index"))
            if m and isinstance(step.get("step_index"), int):
                steps_on_disk[step["step_index"]] = step

    off = manifest.get("capture_mode") == "off" and not step_files
    if not (off and not (root / layout.TRACE).exists()):
        trace = _read_json(root, layout.TRACE, issues)
        if trace is not None:
            issues += _schema_issues("trace", trace, layout.TRACE)
            trace_steps = trace.get("steps") if isinstance(trace, dict) else None
            if isinstance(trace_steps, list):
                if manifest.get("step_count") != len(trace_steps):
                    issues.append(ValidationIssue(
                        layout.MANIFEST, f"step_count is {manifest.get('step_count')!r} but "
                        f"trace.json has {len(trace_steps)} steps", "step_count"))
                if len(trace_steps) != len(steps_on_disk) or any(
                    not isinstance(s, dict) or steps_on_disk.get(s.get("step_index", -1)) != s
                    for s in trace_steps
                ):
                    issues.append(ValidationIssue(
                        layout.TRACE, f"steps differ from steps/ ({len(trace_steps)} in "
                        f"trace.json, {len(steps_on_disk)} step files)", "steps"))

    declared_missing = set(manifest.get("missing") or [])
    for index, step in sorted(steps_on_disk.items()):
        for key in ("observation_pre", "observation_post"):
            ref = step.get(key)
            if isinstance(ref, str) and not _inside(root, ref):
                issues.append(ValidationIssue(
                    layout.step_path(index), f"{ref!r} points outside the bundle", key))
                continue
            if isinstance(ref, str) and not (root / ref).is_file() and \
                    ref not in declared_missing:
                issues.append(ValidationIssue(
                    layout.step_path(index),
                    f"references {ref}, which is neither on disk nor in manifest.missing", key))

    if (root / "screenshots").is_dir():
        for path in sorted((root / "screenshots").glob("*.json")):
            rel = path.relative_to(root).as_posix()
            record = _read_json(root, rel, issues)
            if record is not None:
                issues += _schema_issues("observation", record, rel)

    if (root / "events").is_dir():
        for path in sorted((root / "events").glob("*.jsonl")):
            rel = path.relative_to(root).as_posix()
            schema = _EVENTS_FILE_SCHEMAS.get(path.name, "decision_event")
            issues += _check_events(root, rel, finished=True, schema=schema)

    signatures = manifest.get("signatures") or {}
    for rel, expected in sorted(signatures.items()):
        target = root / rel
        if not target.is_file():
            if rel not in declared_missing:
                issues.append(ValidationIssue(layout.MANIFEST, f"signed file {rel} is missing",
                                              "signatures"))
            continue
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        if digest != expected:
            issues.append(ValidationIssue(rel, "sha256 does not match manifest.signatures",
                                          f"signatures/{rel}"))

    producer = root / layout.PRODUCER
    if producer.is_file():
        facts = _read_json(root, layout.PRODUCER, issues)
        if isinstance(facts, dict) and facts.get("complete") is False:
            issues.append(ValidationIssue(
                layout.PRODUCER, f"incomplete: writes were lost while recording "
                f"({facts.get('lost')})", "lost", INCOMPLETE))
    return issues


def exit_code(issues: list[ValidationIssue]) -> int:
    """0 valid, 1 invalid (or unfinished/running/incomplete), 2 unreadable."""
    if any(i.code == UNREADABLE for i in issues):
        return 2
    return 1 if issues else 0
