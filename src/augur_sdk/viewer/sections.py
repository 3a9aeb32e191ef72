"""The viewer's sections for record kinds beyond steps, events and screenshots.

Each registered kind with a ``viewer_section`` (and JSON or JSONL files) gets its section in
a step's detail (its records with that ``step_index``) and in the run's records (all of
them), from its spec alone. The bundle is untrusted: files are size-capped, records
count-capped, unparseable lines counted, and NaN read as null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from augur_sdk.kinds import registry
from augur_sdk.kinds.spec import FileFormat, RecordKind

# Sections the step debugger renders with views of their own.
OWN_VIEWS = frozenset({"session", "steps", "events", "screenshots"})
# Folders that hold only the kinds with views of their own (or no records at all).
_SKIP_DIRS = frozenset({"steps", "screenshots", "schema", "otel", ".spares.tmp"})
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_RECORDS = 5000

_DECODER = json.JSONDecoder(parse_constant=lambda _name: None)


def section_kinds() -> list[RecordKind]:
    return [k for k in registry.all_kinds()
            if k.viewer_section and k.viewer_section not in OWN_VIEWS
            and k.bundle.pattern is not None
            and k.bundle.format is not FileFormat.PNG]


def _files(root: Path) -> list[str]:
    out: list[str] = []
    try:
        top = sorted(root.iterdir())
    except OSError:
        return out
    for entry in top:
        if entry.name in _SKIP_DIRS or entry.is_symlink():
            continue
        if entry.is_file():
            out.append(entry.name)
        elif entry.is_dir():
            for sub in sorted(entry.rglob("*")):
                if sub.is_file() and not sub.is_symlink() and len(out) < 100_000:
                    out.append(sub.relative_to(root).as_posix())
    return out


def _records(path: Path, kind: RecordKind) -> tuple[list[Any], int]:
    """The records of one file and how many parts of it could not be read."""
    fmt = kind.bundle.format
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], 1
        data = path.read_bytes()
    except OSError:
        return [], 1
    if fmt is FileFormat.TEXT:
        return [{"text": data.decode("utf-8", errors="replace")}], 0
    if fmt in (FileFormat.JSON, FileFormat.JSON_LIST):
        try:
            doc = _DECODER.decode(data.decode("utf-8"))
        except (ValueError, RecursionError):
            return [], 1
        if fmt is FileFormat.JSON:
            return [doc], 0
        key = kind.bundle.list_key
        items = doc.get(key) if key is not None and isinstance(doc, dict) else doc
        return (items, 0) if isinstance(items, list) else ([], 1)
    out, bad = [], 0
    for raw in data[: data.rfind(b"\n") + 1].splitlines():
        if raw.strip():
            try:
                out.append(_DECODER.decode(raw.decode("utf-8")))
            except (ValueError, RecursionError):
                bad += 1
    return out, bad


def _of_step(kind: RecordKind, rel: str, record: Any, step_index: int) -> bool:
    if kind.bundle.format is FileFormat.TEXT:  # a text file is a step's by its name
        try:
            return kind.bundle.path({"step_index": step_index}) == rel
        except (KeyError, TypeError, ValueError):
            return False
    return isinstance(record, dict) and record.get("step_index") == step_index


def collect(root: Path, step_index: int | None = None) -> dict[str, dict[str, Any]]:
    """``{section: {"kind", "records": [{"rel", "record"}], "bad"}}`` for every kind with
    a section of its own; with ``step_index``, only that step's records."""
    kinds = section_kinds()
    if not kinds:
        return {}
    sections: dict[str, dict[str, Any]] = {}
    for rel in _files(root):
        kind = next((k for k in kinds if k.bundle.matches(rel)), None)
        if kind is None:
            continue
        assert kind.viewer_section is not None
        section = sections.setdefault(kind.viewer_section,
                                      {"kind": kind.name, "records": [], "bad": 0})
        found, bad = _records(root / rel, kind)
        section["bad"] += bad
        for record in found:
            if step_index is not None and not _of_step(kind, rel, record, step_index):
                continue
            if len(section["records"]) >= MAX_RECORDS:
                section["bad"] += 1
                continue
            section["records"].append({"rel": rel, "record": record})
    return {name: s for name, s in sections.items() if s["records"] or s["bad"]}
