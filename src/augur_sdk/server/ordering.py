"""Keeping an events file in recording order when spans arrive out of order (OTLP).

Each span event of ours carries ``augur.seq``, the session's recording order. The receiver
remembers the seqs of the lines it wrote to each events file; an event older than the
newest one there is inserted at its place (the file is rewritten atomically), a duplicate
(the same span exported twice) is dropped, and anything newer is left to a plain append.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from augur_sdk.bundle.files import atomic_write, complete_lines


def insert_in_order(path: Path, seqs: list[int], seq: int, line: str) -> bool:
    """Place ``line`` (with its ``seq``) in ``path``; False when the caller should append it.

    ``seqs`` are the seqs of the file's lines, ascending; it is updated in place.
    """
    pos = bisect.bisect_left(seqs, seq)
    if pos < len(seqs) and seqs[pos] == seq:
        return True  # already there
    if pos == len(seqs):
        seqs.append(seq)
        return False
    lines = complete_lines(path.read_bytes()) if path.exists() else []
    if len(lines) != len(seqs):  # the file changed behind our back: keep what is there
        seqs.append(max(seqs[-1], seq))
        return False
    lines.insert(pos, line.rstrip("\n").encode("utf-8"))
    atomic_write(path, b"".join(item + b"\n" for item in lines))
    seqs.insert(pos, seq)
    return True
