"""Read a bundle for a comparison: its session and its step records, as untrusted input.

Like the viewer's reader (:mod:`augur_sdk.viewer.reader`), nothing here trusts the bundle:
files are read up to a size limit, JSON is parsed with NaN/Infinity as ``null`` and deep
nesting caught, a record that is not an object is reported instead of used, and a screenshot
path is used only if it resolves to a file inside the bundle (no ``..``, absolute paths,
drive letters or symlinks out). :class:`BundleError` means the bundle cannot be compared at
all (``augur diff`` exits 2); anything smaller is a ``problem`` of the run or of a step.

A finished bundle is read from ``trace.json`` (one file); one still being written, or one
whose ``trace.json`` is missing or unreadable, from ``steps/NNNN.json``.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.bundle.layout import trace_session_head
from augur_sdk.validation import RUNNING, UNFINISHED, pid_alive

MAX_TRACE_BYTES = 512 * 1024 * 1024
MAX_STEP_FILE_BYTES = 16 * 1024 * 1024
MAX_SMALL_FILE_BYTES = 16 * 1024 * 1024  # manifest.json, live.json
MAX_STEPS = 200_000
FINISHED = "finished"

_STEP_FILE_RE = re.compile(r"^(\d{1,9})\.json$")
_DECODER = json.JSONDecoder(parse_constant=lambda _name: None)


class BundleError(Exception):
    """The directory cannot be read as a bundle at all."""


@dataclass
class StepRecord:
    """One step as read: ``record`` is the parsed object (``{}`` if unusable, see
    ``error``); ``pre``/``post`` are the screenshots' files inside the bundle, if any."""

    index: int
    record: dict[str, Any]
    error: str | None = None
    pre: Path | None = None
    post: Path | None = None
    pre_ref: str | None = None
    post_ref: str | None = None


@dataclass
class LoadedRun:
    root: Path
    state: str  # running / unfinished / finished
    session: dict[str, Any]
    manifest: dict[str, Any]
    steps: list[StepRecord]
    problems: list[str] = field(default_factory=list)
    source: str = layout.TRACE  # where the steps came from: trace.json or steps/

    @property
    def run_id(self) -> str | None:
        value = self.session.get("run_id") or self.manifest.get("run_id")
        return value if isinstance(value, str) else None

    @property
    def status(self) -> str | None:
        """The session status; ``running``/``unfinished`` while its producer has not closed."""
        if self.state != FINISHED:
            return self.state
        value = self.session.get("status")
        return value if isinstance(value, str) else None

    @property
    def client(self) -> dict[str, Any]:
        for source in (self.session, self.manifest):
            value = source.get("client")
            if isinstance(value, dict):
                return value
        return {}


def _loads(data: bytes) -> Any:
    return _DECODER.decode(data.decode("utf-8"))


def _read_limited(path: Path, limit: int) -> bytes:
    """The file's bytes; ``OSError`` if unreadable, ``ValueError`` if over ``limit``."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path.name} is larger than {limit // (1024 * 1024)} MiB")
    return data


def _read_json(path: Path, limit: int) -> tuple[Any, str | None]:
    try:
        return _loads(_read_limited(path, limit)), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"{path.name} could not be read: {exc}"


def resolve_inside(root: Path, rel: Any) -> Path | None:
    """``rel`` as a file inside ``root`` (already resolved), or ``None``."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or rel.startswith(("/", "\\")) \
            or ":" in rel:
        return None
    try:
        path = (root / rel).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _observation_ref(record: dict[str, Any], kind: str) -> str | None:
    ref = record.get(f"observation_{kind}")
    if isinstance(ref, dict):  # an observation object instead of a path
        ref = ref.get("artifact")
    return ref if isinstance(ref, str) and ref else None


def _step(root: Path, index: int, record: Any, where: str) -> StepRecord:
    if not isinstance(record, dict):
        return StepRecord(index, {}, f"{where}: step {index} is not a JSON object")
    error = None
    if record.get("step_index") not in (index, None):
        error = f"{where} says step_index {record.get('step_index')!r}; compared as step {index}"
    step = StepRecord(index, record, error)
    step.pre_ref, step.post_ref = _observation_ref(record, "pre"), _observation_ref(record,
                                                                                    "post")
    step.pre, step.post = resolve_inside(root, step.pre_ref), resolve_inside(root, step.post_ref)
    return step


def _steps_from_trace(root: Path, trace: Any) -> list[StepRecord] | None:
    steps = trace.get("steps") if isinstance(trace, dict) else None
    if not isinstance(steps, list):
        return None
    found: dict[int, StepRecord] = {}
    for position, record in enumerate(steps[:MAX_STEPS]):
        index = record.get("step_index") if isinstance(record, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            index = position
        found[index] = _step(root, index, record, layout.TRACE)
    return [found[i] for i in sorted(found)]


def _steps_from_files(root: Path, problems: list[str]) -> list[StepRecord] | None:
    try:
        with os.scandir(root / "steps") as it:
            names = [(int(m.group(1)), e.name) for e in it
                     if (m := _STEP_FILE_RE.match(e.name)) is not None]
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(f"steps/ could not be listed: {exc}")
        return None
    names.sort()
    if len(names) > MAX_STEPS:
        problems.append(f"only the first {MAX_STEPS} of {len(names)} steps are compared")
        names = names[:MAX_STEPS]
    steps = []
    for index, name in names:
        record, error = _read_json(root / "steps" / name, MAX_STEP_FILE_BYTES)
        step = _step(root, index, record if error is None else {}, f"steps/{name}")
        if error is not None:
            step.error = error
        steps.append(step)
    return steps


def _live_state(root: Path) -> tuple[str, dict[str, Any]]:
    """``finished`` (no live.json), ``running`` (its producer is alive on this host) or
    ``unfinished``, with live.json's content."""
    live, error = _read_json(root / layout.LIVE, MAX_SMALL_FILE_BYTES)
    if live is None and error is None:
        return FINISHED, {}
    if not isinstance(live, dict):
        return UNFINISHED, {}
    pid = live.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and \
            live.get("host") == socket.gethostname() and (pid == os.getpid() or pid_alive(pid)):
        return RUNNING, live
    return UNFINISHED, live


def load_run(path: str | os.PathLike[str]) -> LoadedRun:
    """Read the bundle at ``path``; :class:`BundleError` if it is not one."""
    raw = Path(path)
    if not raw.is_dir():
        raise BundleError(f"{raw}: no such directory")
    root = raw.resolve()
    names = (layout.MANIFEST, layout.TRACE, "steps", layout.LIVE)
    if not any((root / name).exists() for name in names):
        raise BundleError(f"{raw}: not an Augur bundle (no manifest.json, trace.json or steps/)")
    problems: list[str] = []
    state, live = _live_state(root)
    manifest, error = _read_json(root / layout.MANIFEST, MAX_SMALL_FILE_BYTES)
    if error:
        problems.append(error)
    manifest = manifest if isinstance(manifest, dict) else {}

    session: Any = None
    steps: list[StepRecord] | None = None
    source = layout.TRACE
    if state == FINISHED and (root / layout.TRACE).exists():
        trace, error = _read_json(root / layout.TRACE, MAX_TRACE_BYTES)
        if error:
            problems.append(error)
        elif isinstance(trace, dict):
            session = trace.get("session")
            steps = _steps_from_trace(root, trace)
        if steps is None and not error:
            problems.append("trace.json holds no list of steps")
    if steps is None:
        source = "steps/"
        steps = _steps_from_files(root, problems)
    if steps is None:
        if not manifest and not live:
            raise BundleError(f"{raw}: no readable steps ({'; '.join(problems) or 'empty'})")
        steps = []
    if not isinstance(session, dict):
        session = live.get("session")
    if not isinstance(session, dict):
        session = trace_session_head(root)  # its head only: trace.json may be too big
    return LoadedRun(root, state, session if isinstance(session, dict) else {}, manifest,
                     steps, problems, source)
