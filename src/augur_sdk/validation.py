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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from augur_schema import SCHEMA_VERSION, validator_for
from jsonschema.validators import validator_for as jsonschema_validator_for

from augur_sdk import fingerprints
from augur_sdk.bundle import layout
from augur_sdk.kinds.spec import FileFormat, RecordKind, RuleContext

# Issue codes. ``unreadable`` means the bundle could not be read at all (exit 2).
INVALID = "invalid"
UNFINISHED = "unfinished"
RUNNING = "running"
INCOMPLETE = "incomplete"
UNREADABLE = "unreadable"


ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class ValidationIssue:
    """One problem: the file (``where``), what is wrong, and the JSON path inside the file.

    ``severity`` is ``"error"`` (the bundle is invalid) or ``"warning"`` (it is valid, but
    breaks a convention, such as the seed page's step-id scheme, or carries a known quirk of
    the producer that wrote it).
    """

    where: str
    message: str
    path: str = ""
    code: str = INVALID
    severity: str = ERROR

    def render(self) -> str:
        at = f" (at {self.path})" if self.path else ""
        tag = "warning: " if self.severity == WARNING else ""
        return f"{self.where}: {tag}{self.message}{at}"


@cache
def _validator(name: str) -> Any:
    return validator_for(name)


def schema_issues(schema: str | Mapping[str, Any], instance: Any,
                   where: str) -> list[ValidationIssue]:
    validator = _validator(schema) if isinstance(schema, str) else \
        jsonschema_validator_for(schema)(schema)
    return [
        ValidationIssue(where, err.message, "/".join(str(p) for p in err.absolute_path))
        for err in validator.iter_errors(instance)
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
_ITERATION_FILE_RE = re.compile(r"^steps/(\d+)/[^/]+\.json$")


def _record_issues(kind: RecordKind, ctx: RuleContext, rel: str,
                   record: Any) -> list[ValidationIssue]:
    issues = [] if kind.schema is None else schema_issues(kind.schema, record, rel)
    if kind.rule is not None:
        issues += kind.rule(ctx, rel, record)
    return issues


def _check_jsonl(root: Path, rel: str, kind: RecordKind, ctx: RuleContext,
                 ) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    data = (root / rel).read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1].strip():
        issues.append(ValidationIssue(rel, "last line is cut off (no newline)"))
    for lineno, raw in enumerate(lines[:-1], start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            issues.append(ValidationIssue(rel, f"line {lineno}: not JSON ({exc})"))
            continue
        for issue in _record_issues(kind, ctx, rel, record):
            issues.append(ValidationIssue(rel, f"line {lineno}: {issue.message}", issue.path,
                                          issue.code, issue.severity))
    return issues


def _check_list(root: Path, rel: str, kind: RecordKind, ctx: RuleContext,
                issues: list[ValidationIssue]) -> list[Any]:
    """A file listing records (``{"<list_key>": [...]}``, or a bare list)."""
    data = _read_json(root, rel, issues)
    if data is None:
        return []
    key = kind.bundle.list_key
    items = data.get(key) if key is not None and isinstance(data, dict) else \
        data if key is None else None
    if not isinstance(items, list):
        shape = f'{{"{key}": [...]}}' if key is not None else "a JSON array"
        issues.append(ValidationIssue(rel, f"expected {shape}"))
        return []
    for n, record in enumerate(items):
        for issue in _record_issues(kind, ctx, rel, record):
            where = f"{key or ''}/{n}" + (f"/{issue.path}" if issue.path else "")
            issues.append(ValidationIssue(rel, issue.message, where.lstrip("/"), issue.code,
                                          issue.severity))
    return items


def _check_text(root: Path, rel: str) -> list[ValidationIssue]:
    try:
        (root / rel).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return [ValidationIssue(rel, f"not UTF-8 text ({exc})")]
    except OSError as exc:
        return [ValidationIssue(rel, f"not readable ({exc})")]
    return []


def _bundle_files(root: Path) -> list[str]:
    """Every file of the bundle but its schema copies and temporary files, sorted."""
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((layout.SCHEMA_DIR + "/", layout.SPARES_DIR + "/")) or \
                layout.is_temp_name(path.name) or not path.is_file():
            continue
        out.append(rel)
    return sorted(out)


def _check_kinds(root: Path, ctx: RuleContext, issues: list[ValidationIssue],
                 ) -> dict[str, list[tuple[str, Any]]]:
    """One rule per record kind: each file a kind's spec claims is checked against the
    kind's schema and rule. Returns the JSON records read, by kind."""
    from augur_sdk.kinds import registry

    kinds = [k for k in registry.all_kinds() if k.bundle.pattern is not None]
    read: dict[str, list[tuple[str, Any]]] = {}
    for rel in _bundle_files(root):
        kind = next((k for k in kinds if k.bundle.matches(rel)), None)
        if kind is None:
            continue
        fmt = kind.bundle.format
        if fmt is FileFormat.JSONL:
            issues += _check_jsonl(root, rel, kind, ctx)
        elif fmt is FileFormat.JSON_LIST:
            _check_list(root, rel, kind, ctx, issues)
        elif fmt is FileFormat.TEXT:
            issues += _check_text(root, rel)
        elif fmt is FileFormat.JSON:
            record = _read_json(root, rel, issues)
            if record is None:
                continue
            issues += _record_issues(kind, ctx, rel, record)
            read.setdefault(kind.name, []).append((rel, record))
    return read


def _inside(root: Path, ref: str) -> bool:
    try:
        return (root / ref).resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def validate_bundle(bundle_dir: str | os.PathLike[str], *,
                    include_warnings: bool = False) -> list[ValidationIssue]:
    """Return the errors found in the bundle at ``bundle_dir`` (empty list: valid); with
    ``include_warnings``, the warnings too (``ValidationIssue.severity``)."""
    issues = _validate(Path(bundle_dir))
    return issues if include_warnings else [i for i in issues if i.severity == ERROR]


def _validate(root: Path) -> list[ValidationIssue]:
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
    issues += schema_issues("manifest", manifest, layout.MANIFEST)
    declared = manifest.get("schema_version")
    if isinstance(declared, str) and declared.split(".")[:2] != SCHEMA_VERSION.split(".")[:2]:
        issues.append(ValidationIssue(
            layout.MANIFEST, f"schema_version {declared!r} is not {SCHEMA_VERSION!r}",
            "schema_version"))
    if state is not None:
        return issues  # the rest only makes sense for a finished bundle
    run_id = str(manifest.get("run_id", ""))
    if manifest.get("capture_mode") == "off":
        issues.append(ValidationIssue(
            layout.MANIFEST, "nothing was recorded: the run's capture mode was 'off' (none "
            "was given); pass capture_mode=CaptureMode.SCREENSHOTS (or another mode) to "
            "DebugSession, or set AUGUR_CAPTURE_MODE=screenshots", "capture_mode",
            severity=WARNING))

    records_read = _check_kinds(root, RuleContext(run_id=run_id), issues)
    step_files = [rel for rel, _ in records_read.get("step", [])]
    # Each step index's records on disk: its file steps/NNNN.json, or the canonical record
    # and its iterations in steps/NNNN/ (the iteration layout).
    steps_on_disk: dict[int, list[dict[str, Any]]] = {}
    for rel, step in records_read.get("step", []):
        m = _STEP_FILE_RE.match(rel) or _ITERATION_FILE_RE.match(rel)
        if m and isinstance(step, dict) and step.get("step_index") == int(m.group(1)):
            steps_on_disk.setdefault(step["step_index"], []).append(step)

    off = manifest.get("capture_mode") == "off" and not step_files
    if not (off and not (root / layout.TRACE).exists()):
        trace = _read_json(root, layout.TRACE, issues)
        if trace is not None:
            issues += schema_issues("trace", trace, layout.TRACE)
            trace_steps = trace.get("steps") if isinstance(trace, dict) else None
            if isinstance(trace_steps, list):
                if manifest.get("step_count") != len(trace_steps):
                    issues.append(ValidationIssue(
                        layout.MANIFEST, f"step_count is {manifest.get('step_count')!r} but "
                        f"trace.json has {len(trace_steps)} steps", "step_count"))
                if len(trace_steps) != len(steps_on_disk) or any(
                    not isinstance(s, dict) or s not in steps_on_disk.get(
                        s.get("step_index", -1), [])
                    for s in trace_steps
                ):
                    issues.append(ValidationIssue(
                        layout.TRACE, f"steps differ from steps/ ({len(trace_steps)} in "
                        f"trace.json, {len(steps_on_disk)} step files)", "steps"))
                issues += _fingerprint_issues(manifest, trace_steps)

    declared_missing = set(manifest.get("missing") or [])
    for index, step in ((i, s) for i, found in sorted(steps_on_disk.items()) for s in found):
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


def _fingerprint_issues(manifest: dict[str, Any], steps: list[Any]) -> list[ValidationIssue]:
    """A ``cua_v1`` fingerprint is recomputed from trace.json's steps: a manifest whose key
    does not describe its own steps would put the run in the wrong failure cluster. (A
    plug-in algorithm may not be installed here, so only the built-in one is checked.)"""
    given = manifest.get("trajectory_fingerprint")
    prefix = f"{fingerprints.DEFAULT_ALGORITHM}:"
    if not isinstance(given, str) or not given.startswith(prefix) or not steps or \
            not all(isinstance(step, dict) for step in steps):
        return []
    recomputed = fingerprints.cua_v1(steps)
    if recomputed == given:
        return []
    return [ValidationIssue(layout.MANIFEST, f"trajectory_fingerprint {given!r} does not "
                            f"match trace.json's steps ({recomputed!r})",
                            "trajectory_fingerprint")]


def exit_code(issues: list[ValidationIssue], *, strict: bool = False) -> int:
    """0 valid, 1 invalid (or unfinished/running/incomplete; with ``strict``, warnings too),
    2 unreadable."""
    if any(i.code == UNREADABLE for i in issues):
        return 2
    counted = issues if strict else [i for i in issues if i.severity == ERROR]
    return 1 if counted else 0
