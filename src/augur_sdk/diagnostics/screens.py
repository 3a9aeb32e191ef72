"""Screenshots for the rules: fingerprints (the perceptual hash of :mod:`augur_sdk.diff.screens`,
one implementation for run comparison and diagnostics) and small grey grids to look at.

One :class:`ScreenHasher` serves the process, so ``augur diagnose DIR`` decodes each distinct
screenshot content once across all runs. Without Pillow there are only exact digests and no
grids: the rules that need pixels answer "not evaluable".
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from augur_sdk.diff.screens import (
    MAX_PIXELS,
    MAX_SCREENSHOT_BYTES,
    ScreenHasher,
    ScreenPrint,
    pillow_available,
)

SAME_SCREEN_BITS = 4
"""Perceptual hashes (128 bits) at most this many bits apart show the same screen."""
GRID_WIDTH = 240

_HASHER: ScreenHasher | None = None


def hasher() -> ScreenHasher:
    global _HASHER
    if _HASHER is None:
        _HASHER = ScreenHasher()
    return _HASHER


def fingerprint_refs(root: Path, refs: list[str]) -> dict[str, ScreenPrint]:
    prints = hasher().hash_all([root / ref for ref in refs])
    return {ref: p for ref, p in zip(refs, prints, strict=True) if p is not None}


def prefetch(root_refs: list[tuple[Path, str]]) -> None:
    """Decode the screenshots of many runs in one pass (worker processes from
    ``PROCESSES_FROM`` images on): each run's own pass then finds their hashes cached."""
    hasher().hash_all([root / ref for root, ref in root_refs])


def same_screen(a: ScreenPrint | None, b: ScreenPrint | None) -> bool:
    """Same screen: equal digests, or perceptual hashes a few bits apart."""
    if a is None or b is None:
        return False
    if a.digest is not None and a.digest == b.digest:
        return True
    if a.phash is None or b.phash is None:
        return False
    return (a.phash ^ b.phash).bit_count() <= SAME_SCREEN_BITS


@dataclass(frozen=True)
class Grid:
    """A screenshot reduced to ``width x height`` grey cells (box-averaged); one cell covers
    ``scale`` x ``scale`` pixels of the image (``image_size``)."""

    cells: bytes
    width: int
    height: int
    scale: float
    image_size: tuple[int, int]

    def at(self, x: int, y: int) -> int:
        return self.cells[y * self.width + x]


def grid(path: Path, width: int = GRID_WIDTH) -> Grid | None:
    """The grey grid of an image file, or ``None`` (no Pillow, unreadable, too large)."""
    if not pillow_available():
        return None
    from PIL import Image

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SCREENSHOT_BYTES + 1)
        if len(data) > MAX_SCREENSHOT_BYTES:
            return None
        with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP")) as im:
            w, h = im.size
            if w <= 0 or h <= 0 or w * h > MAX_PIXELS:
                return None
            gw = min(width, w)
            gh = max(1, round(h * gw / w))
            cells = im.convert("L").resize((gw, gh), Image.Resampling.BOX).tobytes()
    except Exception:  # a hostile or broken file is "no grid", whatever breaks in Pillow
        return None
    return Grid(cells, gw, gh, w / gw, (w, h))


__all__ = ["SAME_SCREEN_BITS", "Grid", "ScreenPrint", "fingerprint_refs", "grid", "hasher",
           "pillow_available", "prefetch", "same_screen"]
