"""The writer's per-step indexes, kept small: memory must stay flat however long a run is.

A run keeps, per step, the sha256 of its step file and of its two screenshots (for the
manifest's signatures) and which screenshots the step refers to (for ``manifest.missing``).
As plain dicts of path strings and hex digests that was ~1 KB per step (3,000 steps: +3 MB,
100,000 steps: +100 MB). Here a step costs one dict entry of raw digests and, when its
screenshot paths are the conventional ones, a small int: ~250 B.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from augur_sdk.bundle import layout

# Files that belong to one step, in the order of their digest slots.
_SLOTS = ("step", "pre", "post")
_DIGEST = 32
_PRESENT = 3 * _DIGEST  # the byte after the digests: which slots are filled (a bitmask)


def _rel(index: int, slot: int) -> str:
    return layout.step_path(index) if slot == 0 else layout.screenshot_path(index,
                                                                            _SLOTS[slot])


def step_slot(rel: str) -> tuple[int, int] | None:
    """(step index, slot) of a per-step file's bundle path, ``None`` for any other file.
    Only a path the writer itself would build for that index counts (``steps/0003.json``,
    ``screenshots/0003_pre.png``), so that the path rebuilt from the slot is the same one."""
    if rel.startswith("steps/") and rel.endswith(".json"):
        stem, slot = rel[6:-5], 0
    elif rel.startswith("screenshots/") and rel.endswith("_pre.png"):
        stem, slot = rel[12:-8], 1
    elif rel.startswith("screenshots/") and rel.endswith("_post.png"):
        stem, slot = rel[12:-9], 2
    else:
        return None
    if not (stem.isascii() and stem.isdigit()):
        return None
    index = int(stem)
    return (index, slot) if _rel(index, slot) == rel else None


class Signatures:
    """sha256 (lowercase hex) of bundle files by bundle path, like a ``dict[str, str]``.

    The digests of per-step files are held as raw bytes, one entry per step; any other file
    (and any digest that is not 64 hex characters) is held as given. Thread-safe: the agent's
    writes and the screenshot hashers set digests of the same step at the same time, and an
    update of a row is several steps (a plain dict's one assignment was atomic).
    """

    def __init__(self) -> None:
        self._other: dict[str, str] = {}
        self._steps: dict[int, bytearray] = {}
        self._lock = threading.Lock()

    def __setitem__(self, rel: str, digest: str) -> None:
        with self._lock:
            self._set(rel, digest)

    def _set(self, rel: str, digest: str) -> None:
        slot = step_slot(rel)
        raw = _raw(digest) if slot is not None else None
        if slot is None or raw is None:
            self._other[rel] = digest
            if slot is not None and slot[0] in self._steps:  # no stale digest in its row
                self._steps[slot[0]][_PRESENT] &= ~(1 << slot[1]) & 0xFF
            return
        self._other.pop(rel, None)
        index, n = slot
        row = self._steps.get(index)
        if row is None:
            row = self._steps[index] = bytearray(_PRESENT + 1)
        row[n * _DIGEST:(n + 1) * _DIGEST] = raw
        row[_PRESENT] |= 1 << n

    def pop(self, rel: str) -> None:
        """Forget the digest of ``rel`` (a file that was removed)."""
        with self._lock:
            self._other.pop(rel, None)
            slot = step_slot(rel)
            if slot is not None and slot[0] in self._steps:
                self._steps[slot[0]][_PRESENT] &= ~(1 << slot[1]) & 0xFF

    def get(self, rel: str) -> str | None:
        with self._lock:
            return self._get(rel)

    def _get(self, rel: str) -> str | None:
        if rel in self._other:
            return self._other[rel]
        slot = step_slot(rel)
        if slot is None:
            return None
        row = self._steps.get(slot[0])
        n = slot[1]
        if row is None or not row[_PRESENT] & (1 << n):
            return None
        return bytes(row[n * _DIGEST:(n + 1) * _DIGEST]).hex()

    def __getitem__(self, rel: str) -> str:
        digest = self.get(rel)
        if digest is None:
            raise KeyError(rel)
        return digest

    def __contains__(self, rel: object) -> bool:
        return isinstance(rel, str) and self.get(rel) is not None

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self.to_dict().items())

    def to_dict(self) -> dict[str, str]:
        """A snapshot, taken under the lock."""
        with self._lock:
            out = dict(self._other)
            for index, row in self._steps.items():
                for n in range(len(_SLOTS)):
                    if row[_PRESENT] & (1 << n):
                        out[_rel(index, n)] = bytes(row[n * _DIGEST:(n + 1) * _DIGEST]).hex()
            return out

    def __len__(self) -> int:
        with self._lock:
            return len(self._other) + sum(bin(row[_PRESENT]).count("1")
                                          for row in self._steps.values())


def _raw(digest: str) -> bytes | None:
    if len(digest) != 2 * _DIGEST:
        return None
    try:
        raw = bytes.fromhex(digest)
    except ValueError:
        return None
    return raw if raw.hex() == digest else None  # lowercase only: the same text comes back


class StepIndex:
    """The steps written so far and the screenshots each refers to (``observation_pre`` and
    ``observation_post``), like a ``dict[int, tuple[str | None, str | None]]``. A step whose
    references are the conventional paths for its index (or absent) is held as a bitmask."""

    def __init__(self) -> None:
        self._steps: dict[int, int | tuple[str | None, str | None]] = {}

    def add(self, index: int, pre: object, post: object) -> None:
        refs = (pre if isinstance(pre, str) else None, post if isinstance(post, str) else None)
        mask = 0
        for n, (ref, kind) in enumerate(zip(refs, ("pre", "post"), strict=True)):
            if ref is None:
                continue
            if ref != layout.screenshot_path(index, kind):
                self._steps[index] = refs  # unusual: kept as given
                return
            mask |= 1 << n
        self._steps[index] = mask

    def __contains__(self, index: object) -> bool:
        return index in self._steps

    def __iter__(self) -> Iterator[int]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def refs(self) -> Iterator[str]:
        """Every screenshot path a step refers to."""
        for index, entry in self._steps.items():
            if isinstance(entry, tuple):
                yield from (ref for ref in entry if ref is not None)
                continue
            if entry & 1:
                yield layout.screenshot_path(index, "pre")
            if entry & 2:
                yield layout.screenshot_path(index, "post")
