"""Keeping an events file in recording order when spans arrive out of order (OTLP).

Each span event of ours carries ``augur.seq``, the session's recording order. The receiver
appends every event as it arrives (a duplicate, the same span exported twice, is dropped)
and remembers the seq of each line; when the run finishes, a file whose lines arrived out of
order is sorted once and rewritten atomically. Receiving n events thus costs O(n log n) in
all, whatever their order (rewriting the file for each late event was O(n^2)). While the
run goes on, a file holds its events in arrival order.
"""

from __future__ import annotations

from pathlib import Path

from augur_sdk.bundle.files import atomic_write, complete_lines


class EventOrder:
    """The seqs of one events file's lines, in file order."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self._seen: set[int] = set()
        self.in_order = True

    def is_new(self, seq: int) -> bool:
        return seq not in self._seen

    def appended(self, seq: int) -> None:
        if self.seqs and seq < self.seqs[-1]:
            self.in_order = False
        self.seqs.append(seq)
        self._seen.add(seq)

    def sort_file(self, path: Path) -> bool:
        """Rewrite ``path`` in seq order if its lines arrived out of order; False when it
        was in order already, or when the file is not the one these seqs describe (another
        writer changed it: it is kept as it is)."""
        if self.in_order:
            return False
        lines = complete_lines(path.read_bytes()) if path.exists() else []
        if len(lines) != len(self.seqs):
            self.in_order = True  # not ours to reorder; stop trying
            return False
        order = sorted(range(len(lines)), key=self.seqs.__getitem__)
        atomic_write(path, b"".join(lines[i] + b"\n" for i in order))
        self.seqs = [self.seqs[i] for i in order]
        self.in_order = True
        return True
