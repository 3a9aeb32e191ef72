"""Fingerprints of screenshots for the alignment: a perceptual hash and an exact digest.

The perceptual hash is a 128-bit difference hash: the image is reduced to 17 x 8 grey cells
by area averaging (Pillow), and each bit says whether a cell is brighter than its right
neighbour. Screens that differ by a blinking caret, a hover colour or a dimming backdrop
keep most bits; another page keeps few. Without Pillow (``pip install "augur-otel[images]"``)
only the exact sha256 digest is compared: screenshots then match only when byte-identical.

Screenshots are untrusted files: at most ``MAX_SCREENSHOT_BYTES`` are read, images larger
than ``MAX_PIXELS`` are not decoded, and any decoding error just means "no hash".
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

MAX_SCREENSHOT_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 40_000_000
HASH_WIDTH, HASH_HEIGHT = 16, 8  # 128 bits (augur_sdk.diff.alignment.SCREEN_HASH_BITS)
CACHE_SIZE = 50_000
THREADS = 4
"""Pillow releases the GIL while it inflates and resizes, so a few threads hash in parallel."""

try:  # Pillow is optional: the "images" extra
    from PIL import Image as _Image
except ImportError:  # pragma: no cover - exercised by the no-Pillow test through a flag
    _Image = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ScreenPrint:
    """``phash``: the perceptual hash (``None``: no Pillow, or not a decodable image);
    ``digest``: sha256 of the file (``None``: unreadable or too large)."""

    phash: int | None
    digest: str | None


def pillow_available() -> bool:
    return _Image is not None


def dhash(data: bytes) -> int | None:
    """The 64-bit difference hash of an image file's bytes, or ``None``."""
    if _Image is None:
        return None
    try:
        with _Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP")) as im:
            width, height = im.size
            if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                return None
            im.draft("L", (max(HASH_WIDTH + 1, width // 8), max(HASH_HEIGHT, height // 8)))
            grey = im.convert("L").resize((HASH_WIDTH + 1, HASH_HEIGHT),
                                          _Image.Resampling.BOX)
            cells = grey.tobytes()
    except Exception:  # a hostile or broken file is "no hash", whatever breaks in Pillow
        return None
    bits = 0
    stride = HASH_WIDTH + 1
    for y in range(HASH_HEIGHT):
        row = cells[y * stride:(y + 1) * stride]
        for x in range(HASH_WIDTH):
            bits = (bits << 1) | (row[x] > row[x + 1])
    return bits


def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SCREENSHOT_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_SCREENSHOT_BYTES else None


class ScreenHasher:
    """Fingerprints many screenshots, in a few threads, decoding each distinct content once:
    perceptual hashes are remembered by the file's sha256, so identical screenshots (in one
    run, in both runs, or again on a page reload) cost a read and a digest, not a decode."""

    def __init__(self, *, perceptual: bool = True, threads: int = THREADS) -> None:
        self.perceptual = perceptual and pillow_available()
        self.threads = max(1, threads)
        self.decoded = 0  # images decoded so far (the cache missed)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, int | None] = OrderedDict()

    @property
    def kind(self) -> str:
        """``"perceptual"`` or ``"exact"``: what the screens are compared by."""
        return "perceptual" if self.perceptual else "exact"

    def _one(self, path: Path) -> ScreenPrint:
        data = _read(path)
        if data is None:
            return ScreenPrint(None, None)
        digest = hashlib.sha256(data).hexdigest()
        if not self.perceptual:
            return ScreenPrint(None, digest)
        with self._lock:
            if digest in self._cache:
                self._cache.move_to_end(digest)
                return ScreenPrint(self._cache[digest], digest)
        phash = dhash(data)
        with self._lock:
            self.decoded += 1
            self._cache[digest] = phash
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return ScreenPrint(phash, digest)

    def hash_all(self, paths: Iterable[Path | None]) -> list[ScreenPrint | None]:
        """Fingerprints in the order given (``None`` for ``None``)."""
        items = list(paths)
        todo = [p for p in items if p is not None]
        if len(todo) < 8 or self.threads == 1:
            found = [self._one(p) for p in todo]
        else:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="augur-diff") as pool:
                found = list(pool.map(self._one, todo, chunksize=16))
        it = iter(found)
        return [next(it) if p is not None else None for p in items]
