"""Fingerprints of screenshots for the alignment: a perceptual hash and an exact digest.

The perceptual hash is a 128-bit difference hash: the image is reduced to 17 x 8 grey cells
by area averaging (Pillow), and each bit says whether a cell is brighter than its right
neighbour. Screens that differ by a blinking caret, a hover colour or a dimming backdrop
keep most bits; another page keeps few. Without Pillow (``pip install pillow``)
only the exact sha256 digest is compared: screenshots then match only when byte-identical.

Screenshots are untrusted files: at most ``MAX_SCREENSHOT_BYTES`` are read, images larger
than ``MAX_PIXELS`` are not decoded, and any decoding error just means "no hash".
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import sys
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
"""Threads that read and digest the files."""
PROCESSES_FROM = 64
"""Images left to decode from which worker processes decode them."""
MAX_PROCESSES = 8

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


_HASH_BYTES = HASH_WIDTH * HASH_HEIGHT // 8
_WORKER = ("import importlib.util, sys; "
           "spec = importlib.util.spec_from_file_location('_augur_screens', sys.argv[1]); "
           "module = sys.modules['_augur_screens'] = importlib.util.module_from_spec(spec); "
           "spec.loader.exec_module(module); module.serve_stdio()")


def serve_stdio() -> None:
    """A decoding worker: length-prefixed images on stdin, one flag byte and the hash per
    image on stdout. Started by :meth:`ScreenHasher._decode_in_workers` with this file
    loaded on its own (no package import, and never the caller's ``__main__``)."""
    data = sys.stdin.buffer.read()
    out = bytearray()
    pos = 0
    while pos + 8 <= len(data):
        (size,) = struct.unpack_from("<Q", data, pos)
        phash = dhash(data[pos + 8:pos + 8 + size])
        pos += 8 + size
        out += b"\0" + bytes(_HASH_BYTES) if phash is None else \
            b"\1" + phash.to_bytes(_HASH_BYTES, "little")
    sys.stdout.buffer.write(out)


def _exchange(proc: subprocess.Popen[bytes], payload: bytes, timeout: float) -> bytes:
    try:
        out, _ = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return out


class ScreenHasher:
    """Fingerprints many screenshots, decoding each distinct content once: perceptual hashes
    are remembered by the file's sha256, so identical screenshots (in one run, in both runs,
    or again on a page reload) cost a read and a digest, not a decode.

    Files are read and digested by a few threads; the images left to decode are decoded in
    this process, or, from ``PROCESSES_FROM`` of them on a machine with several CPUs, by
    worker processes (Pillow holds the GIL while it inflates a PNG, so threads would not
    decode in parallel). The workers get the bytes already read, never a path; if they
    cannot run, the images are decoded here."""

    def __init__(self, *, perceptual: bool = True, threads: int = THREADS,
                 processes: int | None = None) -> None:
        self.perceptual = perceptual and pillow_available()
        self.threads = max(1, threads)
        self.processes = max(1, processes if processes is not None else
                             min(MAX_PROCESSES, os.cpu_count() or 1))
        self.decoded = 0  # images decoded so far (the cache missed)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, int | None] = OrderedDict()

    @property
    def kind(self) -> str:
        """``"perceptual"`` or ``"exact"``: what the screens are compared by."""
        return "perceptual" if self.perceptual else "exact"

    def _read_one(self, path: Path) -> tuple[str | None, bytes | None, int | None]:
        """The digest; the bytes if they still need decoding, else the hash known for them."""
        data = _read(path)
        if data is None:
            return None, None, None
        digest = hashlib.sha256(data).hexdigest()
        if not self.perceptual:
            return digest, None, None
        with self._lock:
            if digest in self._cache:
                self._cache.move_to_end(digest)
                return digest, None, self._cache[digest]
        return digest, data, None

    def _decode(self, todo: dict[str, bytes]) -> dict[str, int | None]:
        digests, blobs = list(todo), list(todo.values())
        if len(blobs) >= PROCESSES_FROM and self.processes > 1:
            try:
                return dict(zip(digests, self._decode_in_workers(blobs), strict=True))
            except (OSError, RuntimeError, ValueError, subprocess.SubprocessError):
                pass  # no worker processes here (a sandbox, a broken interpreter): do it here
        return dict(zip(digests, (dhash(blob) for blob in blobs), strict=True))

    def _decode_in_workers(self, blobs: list[bytes]) -> list[int | None]:
        size = -(-len(blobs) // self.processes)
        chunks = [blobs[k:k + size] for k in range(0, len(blobs), size)]
        payloads = [b"".join(struct.pack("<Q", len(blob)) + blob for blob in chunk)
                    for chunk in chunks]
        procs = [subprocess.Popen([sys.executable, "-c", _WORKER, __file__],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL) for _ in chunks]
        timeout = 60 + 0.5 * size
        with ThreadPoolExecutor(len(procs), thread_name_prefix="augur-diff-io") as pool:
            outs = list(pool.map(_exchange, procs, payloads, [timeout] * len(procs)))
        hashes: list[int | None] = []
        record = 1 + _HASH_BYTES
        for proc, chunk, out in zip(procs, chunks, outs, strict=True):
            if proc.returncode != 0 or len(out) != record * len(chunk):
                raise RuntimeError(f"a decoding worker failed (exit {proc.returncode})")
            for k in range(len(chunk)):
                item = out[k * record:(k + 1) * record]
                hashes.append(int.from_bytes(item[1:], "little") if item[0] else None)
        return hashes

    def hash_all(self, paths: Iterable[Path | None]) -> list[ScreenPrint | None]:
        """Fingerprints in the order given (``None`` for ``None``)."""
        items = list(paths)
        todo = [p for p in items if p is not None]
        if len(todo) < 8 or self.threads == 1:
            read = [self._read_one(p) for p in todo]
        else:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="augur-diff") as pool:
                read = list(pool.map(self._read_one, todo, chunksize=16))
        pending = {digest: data for digest, data, _ in read if digest is not None and
                   data is not None}
        if pending:
            decoded = self._decode(pending)
            with self._lock:
                self.decoded += len(decoded)
                self._cache.update(decoded)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        else:
            decoded = {}
        prints = [ScreenPrint(decoded[digest] if data is not None else known, digest)
                  if digest is not None else ScreenPrint(None, None)
                  for digest, data, known in read]
        it = iter(prints)
        return [next(it) if p is not None else None for p in items]
