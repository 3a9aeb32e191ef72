"""What the server accepts as names that end up in file paths (pure).

Every run id, tenant, step index and file name that reaches the data directory is checked
here first; anything that could climb out of ``<data>/<tenant>/<run_id>/`` (``..``, ``/``,
``\\``, NUL, control characters, a leading dot, over-long names, non-decimal indexes) is
refused with :class:`BadName`, which the app turns into HTTP 400.
"""

from __future__ import annotations

import re
from pathlib import Path

from augur_sdk import limits

MAX_STEP_INDEX = limits.MAX_STEP_INDEX

_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_INDEX_RE = limits.INDEX_PATTERN
OBSERVATION_KINDS = limits.OBSERVATION_KINDS


class BadName(ValueError):
    """A run id, tenant, index or file name the server refuses (HTTP 400)."""


def check_run_id(value: object, what: str = "run id") -> str:
    """A run id by the SDK's own rule (:func:`augur_sdk.limits.run_id_problem`): every run
    id the SDK accepts is accepted here, and stored under :func:`run_dir`."""
    problem = limits.run_id_problem(value)
    if problem is not None:
        raise BadName(f"{what}: {problem}")
    assert isinstance(value, str)
    return value


def run_dir(run_id: str) -> str:
    """The directory name of a run (``/``, ``\\``, ``%``, a leading ``.`` escaped)."""
    return limits.run_dir_name(check_run_id(run_id))


def check_tenant(value: object) -> str:
    if not isinstance(value, str) or not _TENANT_RE.fullmatch(value):
        raise BadName("tenant: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter "
                      "or digit")
    return value


def parse_index(value: str, what: str = "step index") -> int:
    """A step index from a URL segment: decimal digits only (no sign, no spaces, no 1.0)."""
    if not _INDEX_RE.fullmatch(value):
        raise BadName(f"{what}: expected a non-negative integer, got {value[:40]!r}")
    return int(value)


def check_index(value: object, what: str = "step_index") -> int:
    """A step index from a JSON body: a non-negative int (not a bool), at most 9,999,999."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadName(f"{what}: expected a non-negative integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_STEP_INDEX:
        raise BadName(f"{what}: {value} is out of range 0..{MAX_STEP_INDEX}")
    return value


def check_file_name(value: object, what: str = "name") -> str:
    """A single file name (modelio records, log names, side-effect ids)."""
    if not isinstance(value, str) or not _FILE_RE.fullmatch(value) or ".." in value:
        raise BadName(f"{what}: 1-128 characters of A-Z a-z 0-9 _ . -, not starting with "
                      f"'.' and without '..'")
    return value


_IMAGE_NAME_RE = re.compile(r"([0-9a-f]{64})\.(png|jpg|gif|webp|bin)")


def check_image_name(value: object) -> str:
    """A model-call image's name: ``<sha256 hex>.<ext>`` (content-addressed)."""
    if not isinstance(value, str) or not _IMAGE_NAME_RE.fullmatch(value):
        raise BadName("image name: <64 lowercase hex digits of its sha256>."
                      "png|jpg|gif|webp|bin")
    return value


def check_kind(value: str) -> str:
    if value not in OBSERVATION_KINDS:
        raise BadName(f"kind: must be 'pre' or 'post', got {value[:20]!r}")
    return value


def check_relative_ref(value: object, what: str) -> None:
    """A bundle-relative reference inside a record (``observation_pre``...): no escape."""
    if value is None:
        return
    if not isinstance(value, str):
        raise BadName(f"{what}: expected a bundle-relative path or null")
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or ".." in parts or "\x00" in value or ":" in parts[0]:
        raise BadName(f"{what}: {value[:80]!r} is not a path inside the bundle")


def contained(root: Path, *parts: str) -> Path:
    """``root/parts...``, after checking that it resolves inside ``root`` (defence in depth)."""
    base = root.resolve()
    target = base.joinpath(*parts).resolve()
    if target == base or base not in target.parents:
        raise BadName("path escapes the data directory")
    return target
