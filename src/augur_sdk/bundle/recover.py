"""``augur recover``: finish the bundle a killed producer left behind.

Everything a returned call wrote is already on disk as whole files (atomic writes) or whole
lines (appends); recovery drops leftover ``.tmp`` files and torn final lines, streams
``trace.json`` from the step files, signs every file and writes the manifest with the run
marked ``halted``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.bundle.rundir import clear_owned_entries
from augur_sdk.bundle.writer import BundleWriter
from augur_sdk.records import ns_to_iso
from augur_sdk.validation import RUNNING, live_state


class RecoveryError(Exception):
    """The folder cannot be recovered (it says why)."""


def recover_bundle(bundle_dir: str | Path, *, force: bool = False) -> dict[str, Any]:
    """Turn an unfinished bundle into one that validates; return its manifest."""
    root = Path(bundle_dir)
    if not root.is_dir():
        raise RecoveryError(f"{root}: not a directory")
    state = live_state(root)
    if state is None:
        manifest_path = root / layout.MANIFEST
        if manifest_path.is_file() and (root / layout.TRACE).is_file():
            manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
            return manifest  # already finished: nothing to do
        raise RecoveryError(f"{root}: no live.json; this is not an unfinished Augur bundle")
    kind, live = state
    if kind == RUNNING and not force:
        raise RecoveryError(
            f"{root}: still being written by process {live.get('pid')}; "
            "use --force only if that process is not the producer")
    session = live.get("session")
    if not isinstance(session, dict):
        raise RecoveryError(f"{root}: live.json has no session record")
    session = dict(session)
    session["status"] = "halted"
    session["ended_at"] = _last_write_time(root)
    if live.get("state") == "preparing":
        # Killed while an older run's files were being removed: finish removing them.
        clear_owned_entries(root, keep=frozenset({layout.LIVE}))
    writer = BundleWriter(root, policy_id=str(live.get("redaction_policy", "unknown")))
    writer.adopt_existing(session)
    writer.extra_producer_facts["recovered"] = True
    unsettled = unsettled_side_effects(root)
    if unsettled:
        writer.extra_producer_facts["unsettled_side_effects"] = unsettled
    return writer.finish(session)


def unsettled_side_effects(root: Path) -> list[str]:
    """Side effects declared but never committed or aborted (still ``intent_only``): the
    actions a killed agent may or may not have done. Never marked by recovery."""
    out = []
    for path in sorted((root / "side_effects").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("status") == "intent_only":
            out.append(str(record.get("side_effect_id")))
    return out


def _last_write_time(root: Path) -> str:
    newest = max((p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()), default=0)
    return ns_to_iso(newest)
