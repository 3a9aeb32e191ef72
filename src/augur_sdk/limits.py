"""Limits and names shared by the SDK, ``augur serve`` and the viewer (pure).

One rule per limit, so that what the SDK accepts the server accepts and the viewer reads:
run ids (and the directory name a run id is stored under), the step-index range, capture
modes and observation kinds.
"""

from __future__ import annotations

import re
import urllib.parse

from augur_sdk.capture import CaptureMode

MAX_STEP_INDEX = 9_999_999
"""Step indexes run from 0 to this (seven digits: file names, URLs and the viewer agree)."""
STEP_INDEX_DIGITS = len(str(MAX_STEP_INDEX))

MAX_RUN_ID_BYTES = 128
"""A run id is at most this many bytes of UTF-8."""
MAX_DIR_NAME_BYTES = 200
"""A run's directory name is at most this many bytes: file systems take 255 (ext4, APFS,
XFS), and ``augur serve`` names its index file ``<dir name>.json`` and writes it through a
temporary ``.<name>.<pid>.<thread>.tmp`` (up to 40 bytes more)."""
MAX_PNG_SIDE = 65_535
"""A screenshot is at most this many pixels wide and high."""
MAX_PNG_PIXELS = 100_000_000
"""...and at most this many pixels in all (a 1280 px wide page 78,000 px long)."""

CAPTURE_MODES: tuple[str, ...] = tuple(m.value for m in CaptureMode)
OBSERVATION_KINDS: tuple[str, ...] = ("pre", "post")

# Bidirectional-text controls: a run id shown in a terminal or the viewer could read as
# another (the "Trojan Source" trick).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")
INDEX_PATTERN = re.compile(rf"[0-9]{{1,{STEP_INDEX_DIGITS}}}")


def run_id_problem(value: object) -> str | None:
    """Why ``value`` is not a run id (``None``: it is one). Every run id this accepts is
    stored by ``augur serve`` under :func:`run_dir_name`."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value.strip():
        return "must not be empty"
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        return "must not contain NUL or control characters"
    if any(ch in _BIDI_CONTROLS for ch in value):
        return "must not contain bidirectional-text control characters"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    if size > MAX_RUN_ID_BYTES:
        return f"{size} bytes of UTF-8; at most {MAX_RUN_ID_BYTES}"
    if len(run_dir_name(value).encode("utf-8")) > MAX_DIR_NAME_BYTES:
        return (f"too long once '/', '\\', '%' are escaped for a directory name "
                f"(at most {MAX_DIR_NAME_BYTES} bytes)")
    return None


def png_size_problem(width: int, height: int) -> str | None:
    """Why a PNG header declaring ``width`` x ``height`` is not a screenshot (``None``: it
    may be one). A PNG states its size in 8 bytes; what reads it may allocate
    ``width * height`` pixels, so absurd sizes are refused before anything is stored."""
    if width < 1 or height < 1:
        return f"declares {width} x {height} pixels; a PNG has at least 1 x 1"
    if width > MAX_PNG_SIDE or height > MAX_PNG_SIDE or width * height > MAX_PNG_PIXELS:
        return (f"declares {width} x {height} pixels; at most {MAX_PNG_SIDE} a side and "
                f"{MAX_PNG_PIXELS:,} in all")
    return None


def run_dir_name(run_id: str) -> str:
    """The directory name a run is stored under: the run id, with ``%``, ``/``, ``\\``, a
    leading ``.`` and whitespace at either end percent-encoded (reversible, never ``.``,
    ``..`` or a path)."""
    out = []
    last = len(run_id) - 1
    for i, ch in enumerate(run_id):
        if ch in "%/\\" or (i == 0 and ch == ".") or (ch.isspace() and i in (0, last)):
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def run_id_from_dir(name: str) -> str | None:
    """The run id stored under directory ``name`` (``None``: not a run's directory)."""
    run_id = urllib.parse.unquote(name, errors="strict") if "%" in name else name
    if run_dir_name(run_id) != name or run_id_problem(run_id) is not None:
        return None
    return run_id
