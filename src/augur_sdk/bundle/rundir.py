"""The run directory beyond single files: clearing what an older run left, keeping a
previous run's bundle aside instead of replacing it, and streaming ``trace.json`` from the
step files (one step in memory at a time). Used by the bundle writer and by recovery."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.bundle.files import unlink_quietly
from augur_sdk.validation import live_state


def clear_owned_entries(root: Path, keep: frozenset[str] = frozenset()) -> None:
    """Remove what an earlier run left in ``root`` (only entries a producer owns)."""
    if not root.exists():
        return
    for name in layout.OWNED_ENTRIES:
        if name in keep:
            continue
        target = root / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    for entry in root.iterdir():
        if entry.name == layout.SPARES_DIR and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)  # the spare files of a producer that died
        elif layout.is_temp_name(entry.name) and entry.is_file():
            entry.unlink()


def keep_previous_bundle(root: Path, debug_session_id: str) -> Path | None:
    """A bundle of another session in ``root`` (finished, or left by a producer that died)
    is moved aside, whole, to ``<root>.prev-<its debug_session_id>`` instead of being
    replaced: two runs that share an out_dir (a run id with one-second resolution...) must
    not cost the first its bundle. Returns where it went (``None``: nothing to keep)."""
    try:
        manifest = json.loads((root / layout.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    old = manifest.get("debug_session_id") if isinstance(manifest, dict) else None
    if not isinstance(old, str) or old == debug_session_id:
        return None
    state = live_state(root)
    if state is not None and state[0] == "running":
        return None  # another process is writing it: not ours to move
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in old)[:80]
    target = Path(f"{root}.prev-{safe}")
    n = 1
    while target.exists():
        n += 1
        target = Path(f"{root}.prev-{safe}-{n}")
    target.mkdir(parents=True)
    for name in layout.OWNED_ENTRIES:
        if (root / name).exists() or (root / name).is_symlink():
            os.replace(root / name, target / name)
    return target


def stream_trace(
    root: Path, session: dict[str, Any], step_files: list[str], dest: Path,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[str, int]:
    """Write ``trace.json`` from step files on disk; return (sha256, steps written).
    ``on_step`` sees each step written, in order.

    The output is byte-identical to ``layout.dumps({"session": ..., "steps": [...]})`` while
    holding one step in memory at a time.
    """
    digest = hashlib.sha256()
    written_box = [0]
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        _stream_trace_into(tmp, root, session, step_files, digest, written_box, on_step)
        os.replace(tmp, dest)
    except BaseException:
        unlink_quietly(tmp)
        raise
    return digest.hexdigest(), written_box[0]


def _stream_trace_into(tmp: Path, root: Path, session: dict[str, Any], step_files: list[str],
                       digest: Any, written_box: list[int],
                       on_step: Callable[[dict[str, Any]], None] | None) -> None:
    written = 0
    with open(tmp, "wb") as fh:

        def emit(text: str) -> None:
            data = text.encode("utf-8")
            fh.write(data)
            digest.update(data)

        session_text = layout.dumps(session).rstrip("\n").replace("\n", "\n  ")
        emit('{\n  "session": ' + session_text + ',\n  "steps": ')
        first = True
        for rel in step_files:
            try:
                text = (root / rel).read_text(encoding="utf-8").rstrip("\n")
                step = json.loads(text)
            except (OSError, ValueError):
                continue
            if on_step is not None and isinstance(step, dict):
                on_step(step)
            emit("[\n" if first else ",\n")
            first = False
            emit("    " + text.replace("\n", "\n    "))
            written += 1
        emit("[]\n}\n" if first else "\n  ]\n}\n")
    written_box[0] = written
