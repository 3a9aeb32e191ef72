"""A read-only view of one bundle for the rules: files read lazily, once, and never written.

The bundle is untrusted input: files that cannot be read are "absent", records that are not
objects are skipped, and no path a record names may leave the bundle. The view knows the
iteration layout: a step with iterations has no ``steps/NNNN.json``; its canonical record and
each iteration live in ``steps/NNNN/<sha8(step_id)>.json``, and evidence must point there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.capture import CaptureMode

MAX_JSON_BYTES = 256 * 1024 * 1024
MAX_ITERATIONS = 1000


def _load(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return None
        return json.loads(path.read_bytes(), parse_constant=lambda _name: None)
    except (OSError, ValueError, RecursionError):
        return None


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line, parse_constant=lambda _name: None)
                except (ValueError, RecursionError):
                    continue
                if isinstance(record, dict):
                    yield record
    except OSError:
        return


def _index(record: Any) -> int | None:
    value = record.get("step_index") if isinstance(record, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


class BundleContext:
    """What the rules read: ``manifest``, ``trace``, ``session``, ``steps`` (canonical step
    records by index), ``iterations(i)``, ``events_for_step(i)``, screenshots and their
    fingerprints, logs. Every attribute is computed on first use and kept."""

    def __init__(self, bundle_dir: Path | str) -> None:
        self.bundle_dir = Path(bundle_dir)
        self._refs: dict[int, str] = {}  # id(record) -> its file, for evidence

    # ── envelope ────────────────────────────────────────────────────────────

    @cached_property
    def manifest(self) -> dict[str, Any]:
        data = _load(self.bundle_dir / layout.MANIFEST)
        return data if isinstance(data, dict) else {}

    @cached_property
    def trace(self) -> dict[str, Any]:
        data = _load(self.bundle_dir / layout.TRACE)
        return data if isinstance(data, dict) else {}

    @cached_property
    def session(self) -> dict[str, Any]:
        session = self.trace.get("session")
        return session if isinstance(session, dict) else {}

    @cached_property
    def capture_mode(self) -> CaptureMode | None:
        """The run's capture mode, or ``None`` when the manifest does not say (then every
        rule is evaluated on what is there)."""
        try:
            return CaptureMode(str(self.manifest.get("capture_mode")))
        except ValueError:
            return None

    @cached_property
    def declared_missing(self) -> set[str]:
        missing = self.manifest.get("missing")
        return {m for m in missing if isinstance(m, str)} if isinstance(missing, list) else set()

    # ── steps ───────────────────────────────────────────────────────────────

    @cached_property
    def steps(self) -> list[dict[str, Any]]:
        """Canonical step records sorted by index: the step files on disk (a halted bundle
        has no trace.json yet), else the steps of trace.json."""
        found: dict[int, dict[str, Any]] = {}
        folder = self.bundle_dir / "steps"
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for name in names:
            stem = name[:-5] if name.endswith(".json") else name
            if not (stem.isdigit() and len(stem) >= 4):
                continue
            rel = f"steps/{name}"
            if name.endswith(".json"):
                record = _load(folder / name)
            else:
                canonical = self._canonical_in_folder(int(stem))
                if canonical is None:
                    continue
                rel, record = canonical
            if _index(record) == int(stem):
                found[int(stem)] = record
                self._refs[id(record)] = rel
        if not found:
            for record in self.trace.get("steps") or []:
                index = _index(record)
                if index is not None and index not in found:
                    found[index] = record
                    self._refs[id(record)] = layout.step_path(index)
        return [found[i] for i in sorted(found)]

    def _folder_records(self, index: int) -> list[tuple[str, dict[str, Any]]]:
        folder = self.bundle_dir / "steps" / f"{index:04d}"
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        except OSError:
            return []
        out = []
        for name in names[:MAX_ITERATIONS]:
            record = _load(folder / name)
            if _index(record) == index:
                out.append((f"steps/{index:04d}/{name}", record))
        return out

    def _canonical_in_folder(self, index: int) -> tuple[str, dict[str, Any]] | None:
        records = self._folder_records(index)
        for rel, record in records:  # the file named after its own step_id and counting
            if isinstance(record.get("step_iterations"), int) and \
                    rel == layout.iteration_path(index, str(record.get("step_id"))):
                return rel, record
        return records[0] if records else None

    def iterations(self, step_index: int) -> list[dict[str, Any]]:
        """The iterations of a step (not its canonical record), oldest first."""
        canonical = next((s for s in self.steps if s.get("step_index") == step_index), None)
        canonical_rel = self._refs.get(id(canonical)) if canonical is not None else None
        out = [(rel, r) for rel, r in self._folder_records(step_index) if rel != canonical_rel]
        out.sort(key=lambda item: (str(item[1].get("started_at") or ""), item[0]))
        for rel, record in out:
            self._refs[id(record)] = rel
        return [record for _, record in out]

    def step_ref(self, step: dict[str, Any]) -> str:
        """The bundle-relative file of a step record (or of an iteration)."""
        known = self._refs.get(id(step))
        if known is not None:
            return known
        index = _index(step) or 0
        return layout.step_path(index)

    # ── events and logs ─────────────────────────────────────────────────────

    def events_for_step(self, step_index: int) -> list[dict[str, Any]]:
        return list(_jsonl(self.bundle_dir / layout.events_path(step_index)))

    def all_events(self) -> Iterator[dict[str, Any]]:
        folder = self.bundle_dir / "events"
        try:
            paths = sorted(folder.glob("*.jsonl"))
        except OSError:
            return iter(())
        return (event for path in paths for event in _jsonl(path))

    @cached_property
    def has_events(self) -> bool:
        folder = self.bundle_dir / "events"
        try:
            return any(folder.glob("*.jsonl"))
        except OSError:
            return False

    def log_text(self, name: str = "runner.log") -> str | None:
        path = self.bundle_dir / "logs" / name
        if os.sep in name or "/" in name or not path.is_file():
            return None
        return path.read_text(encoding="utf-8", errors="replace")

    def log_paths(self) -> list[str]:
        try:
            return sorted(f"logs/{p.name}" for p in (self.bundle_dir / "logs").iterdir()
                          if p.is_file())
        except OSError:
            return []

    # ── screenshots ─────────────────────────────────────────────────────────

    def screenshot_ref(self, step: dict[str, Any], kind: str = "pre") -> str | None:
        """The step's screenshot (``pre``/``post``) if it is a file inside the bundle."""
        ref = step.get(f"observation_{kind}")
        if not isinstance(ref, str):
            return None
        try:
            layout.checked_rel(ref)
        except ValueError:
            return None
        path = self.bundle_dir / ref
        return ref if path.is_file() and not path.is_symlink() else None

    @cached_property
    def screens(self) -> Any:
        """Fingerprints of every step's pre and post screenshots (one :class:`ScreenHasher`
        pass): ``{ref: ScreenPrint}``."""
        from augur_sdk.diagnostics.screens import fingerprint_refs

        refs = [ref for step in self.steps for kind in ("pre", "post")
                if (ref := self.screenshot_ref(step, kind)) is not None]
        return fingerprint_refs(self.bundle_dir, refs)
