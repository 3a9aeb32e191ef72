"""Shared by the reliability suites: the kill-trial workload, its oracle, and bundle checks.

The kill child (``kill_child.py``) and the tests import the same :func:`kill_ops`, so the
test knows exactly which calls the child made, in which order, with which bytes: after a kill
the bundle must hold the effect of the first ``k`` calls (every call that printed its ack)
or of the first ``k + 1`` (the call in flight may have landed whole), nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from augur_sdk.testing import make_png

from support import event_record, step_record

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
KILL_CHILD = HERE / "kill_child.py"
KILL_ZYGOTE = HERE / "kill_zygote.py"
KILL_RUN_ID = "run_kill"

Op = tuple[Any, ...]


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python: our test helpers importable, no OTLP/stream/env leaks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUGUR_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(TESTS)])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``augur`` CLI in a fresh interpreter (as a user would)."""
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=child_env())


# ── the kill workload ────────────────────────────────────────────────────────


def kill_ops(steps: int) -> list[Op]:
    """The calls a kill child makes, in order (one ack line per call)."""
    ops: list[Op] = []
    for i in range(steps):
        ops += [("shot", i, "pre"), ("shot", i, "post"), ("step", i),
                ("event", i, 0), ("event", i, 1)]
        if i % 5 == 4:
            ops.append(("runevent", i))
    return ops


def shot_png(i: int, kind: str) -> bytes:
    """Deterministic, incompressible (~7 KB) screenshot for step ``i``."""
    return make_png(48, 48, seed=2 * i + (kind == "post"), noise=True)


def kill_step(i: int) -> dict[str, Any]:
    return step_record(KILL_RUN_ID, i, pre=f"screenshots/{i:04d}_pre.png",
                       post=f"screenshots/{i:04d}_post.png",
                       status="failed" if i % 7 == 3 else "succeeded")


def kill_event(op: Op) -> dict[str, Any]:
    if op[0] == "runevent":
        return event_record(None, op[1], layer="runner")
    return event_record(op[1], op[2])


def json_bytes(obj: Any) -> bytes:
    """The bundle's JSON file format, written out independently of the SDK (DESIGN.md)."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def jsonl_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n").encode()


def expected_files(ops: list[Op]) -> dict[str, bytes]:
    """Bundle path -> exact bytes of every step, event file and screenshot ``ops`` produce."""
    files: dict[str, bytes] = {}
    for op in ops:
        if op[0] == "shot":
            files[f"screenshots/{op[1]:04d}_{op[2]}.png"] = shot_png(op[1], op[2])
        elif op[0] == "step":
            files[f"steps/{op[1]:04d}.json"] = json_bytes(kill_step(op[1]))
        else:
            rel = "events/run.jsonl" if op[0] == "runevent" else f"events/{op[1]:04d}.jsonl"
            files[rel] = files.get(rel, b"") + jsonl_bytes(kill_event(op))
    return files


def data_files(root: Path) -> dict[str, bytes]:
    """Bundle path -> bytes of every step, event and screenshot file in ``root``.

    An empty ``.jsonl`` is left out: an append that failed (disk full) or was interrupted
    (a signal right after ``os.open(O_CREAT)``) can leave one, and it holds zero events.
    """
    out: dict[str, bytes] = {}
    for sub in ("steps", "events", "screenshots"):
        base = root / sub
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.name.endswith(".tmp"):
                    data = path.read_bytes()
                    if data or not path.name.endswith(".jsonl"):
                        out[path.relative_to(root).as_posix()] = data
    return out


def diff_files(actual: dict[str, bytes], expected: dict[str, bytes]) -> str:
    """A short human description of how two file maps differ ('' if equal)."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(k for k in set(actual) & set(expected) if actual[k] != expected[k])
    parts = []
    if missing:
        parts.append(f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
    if extra:
        sizes = [f"{rel} ({len(actual[rel])} bytes)" for rel in extra[:5]]
        parts.append(f"extra {sizes}{'...' if len(extra) > 5 else ''}")
    for rel in changed[:3]:
        parts.append(f"{rel} differs ({len(actual[rel])} bytes on disk, "
                     f"{len(expected[rel])} expected)")
    return "; ".join(parts)


# ── generic bundle checks ────────────────────────────────────────────────────


def temp_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tmp"))


def torn_or_bad_jsonl(root: Path) -> list[str]:
    """Every JSONL line in ``root`` that is not a JSON object, or a last line without newline."""
    bad = []
    for path in sorted(root.rglob("*.jsonl")):
        data = path.read_bytes()
        rel = path.relative_to(root).as_posix()
        if data and not data.endswith(b"\n"):
            bad.append(f"{rel}: last line has no newline")
        for n, line in enumerate(data.split(b"\n")[:-1], start=1):
            try:
                if not isinstance(json.loads(line), dict):
                    raise ValueError("not an object")
            except ValueError:
                bad.append(f"{rel}:{n}: {line[:80]!r}")
    return bad


def unreadable_json(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            bad.append(path.relative_to(root).as_posix())
    return bad


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (files and directories), relative, for before/after diffs."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# ── the disk-fault workload ──────────────────────────────────────────────────

DISK_RUN_ID = "run_disk"


def disk_png(i: int, kind: str) -> bytes:
    return make_png(40, 40, seed=10_000 + 2 * i + (kind == "post"), noise=True)


def disk_step(i: int) -> dict[str, Any]:
    return step_record(DISK_RUN_ID, i, pre=f"screenshots/{i:04d}_pre.png",
                       post=f"screenshots/{i:04d}_post.png", intent=f"step {i} " + "x" * 300)


def disk_event(i: int | None, n: int) -> dict[str, Any]:
    event = event_record(i, n, layer="planner" if i is not None else "runner")
    event["detail"]["pad"] = "y" * 60
    return event


def disk_step_events(i: int) -> list[dict[str, Any]]:
    return [disk_event(i, n) for n in range(3)]


def disk_expected(steps: int) -> dict[str, bytes]:
    """Path -> bytes of every data file a complete disk-suite run writes."""
    files: dict[str, bytes] = {}
    for i in range(steps):
        for kind in ("pre", "post"):
            files[f"screenshots/{i:04d}_{kind}.png"] = disk_png(i, kind)
        files[f"steps/{i:04d}.json"] = json_bytes(disk_step(i))
        files[f"events/{i:04d}.jsonl"] = b"".join(jsonl_bytes(e) for e in disk_step_events(i))
    files["events/run.jsonl"] = b"".join(jsonl_bytes(disk_event(None, i)) for i in range(steps))
    return files


def expected_lines(files: dict[str, bytes]) -> dict[str, set[bytes]]:
    """JSONL path -> the set of whole lines it may hold."""
    return {rel: set(data.splitlines(keepends=True)) for rel, data in files.items()
            if rel.endswith(".jsonl")}
