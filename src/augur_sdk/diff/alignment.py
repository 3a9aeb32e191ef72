"""Align the steps of two runs by what the agent saw and did (pure, deterministic).

A step is reduced to a :class:`StepKey`: its action type, grounding target label, intent, a
perceptual hash of its pre screenshot (or, without one, the screenshot's exact digest) and
its click point. Two steps score an integer :func:`similarity`; :func:`align` returns the
order-preserving matching of maximum total score (a weighted longest common subsequence).
Retries, extra and skipped steps are steps left unmatched, so they never shift the matches
after them, and identical runs match step for step.

Ties are broken one fixed way: among equally good alignments, a step is matched as early as
possible (a run that retried a step has its *first* attempt paired with the other run's
step, and the later attempts listed as extra).

Speed: the plain dynamic program (:func:`align_full`) is O(n·m). :func:`align` first fills
only a band of diagonals around the main one, then keeps the band's answer only if a lower
bound proves that every alignment leaving the band is strictly worse: each step an
alignment leaves unmatched costs it at least what that step could score with any step of
the other run, and reaching a diagonal outside the band leaves at least that many steps
unmatched. Then the band's answer *is* the full program's (the same pairs, not just the
same score: see :func:`_band_is_exact`). Otherwise it widens the band once, to the width
the bound asks for, or runs the full program.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, islice
from operator import sub
from typing import TypeAlias

# ── weights (integers: the result never depends on float rounding) ─────────────────────────

BASE = 1
"""Every matched pair scores this: between equally similar alignments, more pairs win."""
ACTION, ACTION_MISMATCH = 3, 2
"""Same action type (``click``, ``type``, ...): +3; both recorded and different: -2."""
TARGET, TARGET_MISMATCH = 4, 3
"""Same grounding target label: +4; both recorded and different: -3."""
INTENT = 2
"""Same intent text (after case and whitespace folding): +2. Free text that retries often
reword, so a different intent costs nothing."""
SCREEN_SAME, SCREEN_CLOSE, SCREEN_FAR = 5, 2, -2
"""Pre screenshots: the same image or perceptual hashes at most ``SCREEN_SAME_BITS`` apart:
+5; at most ``SCREEN_CLOSE_BITS`` apart: +2; more than ``SCREEN_FAR_BITS`` apart: -2."""
CLICK = 1
"""Both clicked within ``CLICK_NEAR_PX`` of each other (recorded units): +1."""
CLICK_NEAR_PX = 20.0
MIN_MATCH = 4
"""Two steps can be paired when they score at least this: the same action with nothing
contradicting it, the same target, or the same screen with a compatible action. A step that
records too little to reach it (no action, target or screen; at most an intent and a click)
pairs only with a step that recorded exactly the same (see :func:`can_pair`), so that a run
aligned with itself always pairs every step with itself."""

SCREEN_HASH_BITS = 128
"""Width of the perceptual hashes :mod:`augur_sdk.diff.screens` makes (a 16 x 8 grid). On the
demo agent's real 960 x 600 screenshots the same page in two runs is 0-2 bits apart,
another page of the same shop 5-23, the page under a dimming dialog 13."""
SCREEN_SAME_BITS = 4
SCREEN_CLOSE_BITS = 12
SCREEN_FAR_BITS = 24

DEFAULT_BAND = 32
"""Half-width of the first band tried (diagonals either side of the ones the runs' length
difference needs)."""
FULL_RATIO = 0.5
"""A band that would cover this share of the full table is not worth it: run the full DP."""

_NEG = -(1 << 60)  # a cell outside the band, a pair not allowed
_TGT_HIT = TARGET + TARGET_MISMATCH
_SCREEN_TABLE = tuple(
    SCREEN_SAME if d <= SCREEN_SAME_BITS else SCREEN_CLOSE if d <= SCREEN_CLOSE_BITS
    else SCREEN_FAR if d > SCREEN_FAR_BITS else 0 for d in range(SCREEN_HASH_BITS + 1))


@dataclass(frozen=True, slots=True)
class StepKey:
    """What the alignment knows about one step. ``None`` = not recorded.

    ``action``, ``target`` and ``intent`` are compared after case and whitespace folding;
    ``screen_hash`` is a ``SCREEN_HASH_BITS``-bit perceptual hash of the pre screenshot,
    ``screen_digest`` its exact digest (used when either side has no perceptual hash);
    ``click`` is where the action was executed.
    """

    action: str | None = None
    target: str | None = None
    intent: str | None = None
    screen_hash: int | None = None
    screen_digest: str | None = None
    click: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Alignment:
    """The aligned rows, in order: ``(a, b)`` step positions, ``None`` on the side that has
    no counterpart. ``method`` is ``"band"`` or ``"full"``; ``cells`` counts the table cells
    filled (both for the benchmark)."""

    pairs: tuple[tuple[int | None, int | None], ...]
    weight: int
    method: str
    band: int | None
    cells: int

    def matched(self) -> dict[int, int]:
        """``{a position: b position}`` of the matched pairs."""
        return {a: b for a, b in self.pairs if a is not None and b is not None}


def fold(text: str | None) -> str | None:
    """Case- and whitespace-folded text, ``None`` for nothing recorded."""
    if text is None:
        return None
    folded = " ".join(text.split()).casefold()
    return folded or None


# ── the encoded runs ────────────────────────────────────────────────────────────────────────

class _Run:
    """A run as parallel lists of small ints (0 = not recorded), shared string ids."""

    __slots__ = ("_category_rows", "act", "any_click", "click_grid", "clicks", "digest",
                 "digest_index", "intent", "intent_index", "n", "phash", "phash_missing",
                 "phash_packed", "self_w", "tgt", "tgt_index", "weak_index")

    def __init__(self, keys: Sequence[StepKey], ids: dict[str, int]) -> None:
        def intern(text: str | None) -> int:
            folded = fold(text)
            if folded is None:
                return 0
            return ids.setdefault(folded, len(ids) + 1)

        self.n = len(keys)
        self.act = [intern(k.action) for k in keys]
        self.tgt = [intern(k.target) for k in keys]
        self.intent = [intern(k.intent) for k in keys]
        self.digest = [ids.setdefault("\0" + k.screen_digest, len(ids) + 1)
                       if k.screen_digest else 0 for k in keys]
        self.phash = [k.screen_hash if isinstance(k.screen_hash, int)
                      and 0 <= k.screen_hash < 1 << SCREEN_HASH_BITS else -1 for k in keys]
        self.clicks = [k.click if k.click is not None and all(map(math.isfinite, k.click))
                       else None for k in keys]
        self.self_w = [self._self(i) for i in range(self.n)]
        # For the row computation (_row_weights).
        self.tgt_index = _positions(self.tgt)
        self.intent_index = _positions(self.intent)
        self.digest_index = _positions(self.digest)
        self.phash_packed = b"".join(max(0, h).to_bytes(_LANE, "little") for h in self.phash)
        self.phash_missing = [j for j, h in enumerate(self.phash) if h < 0]
        self.any_click = any(c is not None for c in self.clicks)
        self.click_grid = _positions([_grid(c) if c is not None else None for c in self.clicks])
        # Steps below MIN_MATCH even with themselves, by what they did record.
        self.weak_index = _positions([self.weak_key(j) for j in range(self.n)])
        self._category_rows: dict[tuple[int, bool], bytes] = {}

    def category_row(self, act: int, has_target: bool) -> bytes:
        """Per step, (``BASE`` + the action score against action id ``act`` + the target
        mismatch score if A has a target + ``_CAT_OFF``) * 4: the code of a pair before
        equal targets and intents and the screen are added. Cached."""
        if (act, has_target) not in self._category_rows:
            row: list[int] = []
            for a, t in zip(self.act, self.tgt, strict=True):
                score = BASE + _CAT_OFF
                if act and a:
                    score += ACTION if a == act else -ACTION_MISMATCH
                if has_target and t:
                    score -= TARGET_MISMATCH
                row.append(score * 4)
            self._category_rows[(act, has_target)] = bytes(row)
        return self._category_rows[(act, has_target)]

    def clicks_near(self, click: tuple[float, float], jlo: int, hi: int) -> Iterator[int]:
        """The steps ``jlo <= j < hi`` that clicked within ``CLICK_NEAR_PX`` of ``click`` (only
        the steps in the 3 x 3 grid cells around it are measured), in order."""
        gx, gy = _grid(click)
        cx, cy = click
        limit = CLICK_NEAR_PX * CLICK_NEAR_PX
        found: list[int] = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                at = self.click_grid.get((gx + dx, gy + dy))
                if at:
                    found.extend(at[bisect_left(at, jlo):bisect_left(at, hi)])
        for j in sorted(found):
            q = self.clicks[j]
            if q is not None and (q[0] - cx) ** 2 + (q[1] - cy) ** 2 <= limit:
                yield j

    def weak_key(self, i: int) -> tuple[int, bool] | None:
        """``(intent id, clicked)`` of a step too poorly recorded to reach ``MIN_MATCH`` with
        any step, ``None`` for the others."""
        if self.self_w[i] >= MIN_MATCH:
            return None
        return self.intent[i], self.clicks[i] is not None

    def _self(self, i: int) -> int:
        return (BASE + (ACTION if self.act[i] else 0) + (TARGET if self.tgt[i] else 0)
                + (INTENT if self.intent[i] else 0)
                + (SCREEN_SAME if self.phash[i] >= 0 or self.digest[i] else 0)
                + (CLICK if self.clicks[i] is not None else 0))


def _positions(values: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    """``{value: [positions, ascending]}`` of the non-empty values."""
    index: dict[Hashable, list[int]] = {}
    for j, value in enumerate(values):
        if value:
            index.setdefault(value, []).append(j)
    return index


def _grid(click: tuple[float, float]) -> tuple[int, int]:
    return math.floor(click[0] / CLICK_NEAR_PX), math.floor(click[1] / CLICK_NEAR_PX)


def _encode(a: Sequence[StepKey], b: Sequence[StepKey]) -> tuple[_Run, _Run]:
    ids: dict[str, int] = {}
    return _Run(a, ids), _Run(b, ids)


def _weight(ra: _Run, i: int, rb: _Run, j: int) -> int:
    """The score of pairing A step ``i`` with B step ``j`` (may be below ``MIN_MATCH``)."""
    w = BASE
    x, y = ra.act[i], rb.act[j]
    if x and y:
        w += ACTION if x == y else -ACTION_MISMATCH
    x, y = ra.tgt[i], rb.tgt[j]
    if x and y:
        w += TARGET if x == y else -TARGET_MISMATCH
    x = ra.intent[i]
    if x and x == rb.intent[j]:
        w += INTENT
    x, y = ra.phash[i], rb.phash[j]
    if x >= 0 and y >= 0:
        w += _SCREEN_TABLE[(x ^ y).bit_count()]
    elif ra.digest[i] and ra.digest[i] == rb.digest[j]:
        w += SCREEN_SAME
    p, q = ra.clicks[i], rb.clicks[j]
    if p is not None and q is not None and \
            (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 <= CLICK_NEAR_PX * CLICK_NEAR_PX:
        w += CLICK
    return w


def _allowed(ra: _Run, i: int, rb: _Run, j: int, w: int) -> bool:
    """Whether a pair scoring ``w`` may be matched: ``MIN_MATCH`` or more, or a pair where
    each step matched everything the other recorded (only possible below ``MIN_MATCH`` for
    two steps that recorded the same little)."""
    return w >= MIN_MATCH or w == ra.self_w[i] == rb.self_w[j]


def can_pair(a: StepKey, b: StepKey) -> bool:
    """Whether the alignment may match step ``a`` with step ``b``."""
    ra, rb = _encode([a], [b])
    return _allowed(ra, 0, rb, 0, _weight(ra, 0, rb, 0))


def similarity(a: StepKey, b: StepKey) -> int:
    """The integer score of pairing step ``a`` with step ``b`` (pairs need ``MIN_MATCH``)."""
    ra, rb = _encode([a], [b])
    return _weight(ra, 0, rb, 0)


def self_weight(key: StepKey) -> int:
    """The best score ``key`` can get with any step (its score with itself)."""
    return _encode([key], [])[0].self_w[0]


# The row computation (_row_matches) gives every cell a one-byte code:
# (categorical score + _CAT_OFF) * 4 + screen class, where the screen class is one of
# _SCREEN_CLASSES (the screen score of the pair). Tables map a code to the pair's score,
# _NEG when the pair is not allowed, with or without CLICK.
_CAT_MIN = BASE - ACTION_MISMATCH - TARGET_MISMATCH
_CAT_MAX = BASE + ACTION + TARGET + INTENT
_CAT_OFF = -_CAT_MIN
_SCREEN_CLASSES = (SCREEN_SAME, SCREEN_CLOSE, 0, SCREEN_FAR)
_SAME, _CLOSE, _NONE, _FAR = range(4)
_CLASS_OF_DISTANCE = bytes(
    _SAME if d <= SCREEN_SAME_BITS else _CLOSE if d <= SCREEN_CLOSE_BITS
    else _FAR if d > SCREEN_FAR_BITS else _NONE for d in range(256))
_POPCOUNT = bytes(bin(b).count("1") for b in range(256))
_LANE = SCREEN_HASH_BITS // 8  # bytes per hash


def _masked(w: int) -> int:
    return w if w >= MIN_MATCH else _NEG


_CODE_TABLE = tuple(_masked(c // 4 - _CAT_OFF + _SCREEN_CLASSES[c % 4])
                    for c in range((_CAT_MAX + _CAT_OFF + 1) * 4))
_CODE_TABLE_CLICK = tuple(_masked(c // 4 - _CAT_OFF + _SCREEN_CLASSES[c % 4] + CLICK)
                          for c in range(len(_CODE_TABLE)))
_ALLOWED = bytes(score != _NEG for score in _CODE_TABLE) + bytes(256 - len(_CODE_TABLE))


def _distances(ph: int, packed: bytes) -> bytes:
    """Hamming distance between ``ph`` and each hash in ``packed`` (``_LANE`` bytes each,
    little-endian), one byte each: XOR of the whole row as one big integer, popcount of
    every byte by table, then the bytes of each lane summed by three shift-and-adds (the
    partial sums stay below 256, so no carry crosses a byte)."""
    count = len(packed) // _LANE
    mine = ph.to_bytes(_LANE, "little") * count
    xor = int.from_bytes(packed, "little") ^ int.from_bytes(mine, "little")
    y = int.from_bytes(xor.to_bytes(len(packed), "little").translate(_POPCOUNT), "little")
    shift = _LANE * 4
    while shift >= 8:
        y += y >> shift
        shift //= 2
    return y.to_bytes(len(packed), "little")[::_LANE]


def _row_matches(ra: _Run, i: int, rb: _Run, jlo: int, jhi: int) -> list[tuple[int, int]]:
    """``(j, score)`` for the B steps ``jlo <= j <= jhi`` that A step ``i`` may be paired with,
    in order: :func:`_weight` for a whole row, the hot loop of both programs (checked
    against :func:`_weight` by a property test).

    Every cell gets a one-byte code built at C speed: the action part from a row cached per
    action, equal targets and intents found by index (usually a few cells), the screen
    class from :func:`_distances`; the two byte strings are added as big integers (no byte
    overflows). Tables turn codes into scores.
    """
    hi = jhi + 1
    width = hi - jlo
    if width <= 0:
        return []
    weak = ra.weak_key(i)
    if weak is not None:
        return _weak_matches(ra, i, rb, weak, jlo, hi)
    tgt, intent, ph, dig = ra.tgt[i], ra.intent[i], ra.phash[i], ra.digest[i]
    cat = bytearray(rb.category_row(ra.act[i], bool(tgt))[jlo:hi])
    for value, index, bonus in ((tgt, rb.tgt_index, _TGT_HIT * 4), (intent, rb.intent_index,
                                                                     INTENT * 4)):
        if value:
            at = index.get(value)
            if at:
                for j in at[bisect_left(at, jlo):bisect_left(at, hi)]:
                    cat[j - jlo] += bonus
    if ph >= 0:
        screen = bytearray(_distances(ph, rb.phash_packed[jlo * _LANE:hi * _LANE])
                           .translate(_CLASS_OF_DISTANCE))
        missing = rb.phash_missing
        for j in missing[bisect_left(missing, jlo):bisect_left(missing, hi)]:
            screen[j - jlo] = _SAME if dig and rb.digest[j] == dig else _NONE
    else:
        screen = bytearray([_NONE]) * width
        at = rb.digest_index.get(dig) if dig else None
        if at:
            for j in at[bisect_left(at, jlo):bisect_left(at, hi)]:
                screen[j - jlo] = _SAME
    codes = (int.from_bytes(cat, "little") + int.from_bytes(screen, "little")).to_bytes(
        width, "little")
    table = _CODE_TABLE
    found = compress(range(jlo, hi), codes.translate(_ALLOWED))
    click = ra.clicks[i]
    near = set(rb.clicks_near(click, jlo, hi)) if click is not None and rb.any_click else None
    if not near:
        return [(j, table[codes[j - jlo]]) for j in found]
    plus = _CODE_TABLE_CLICK
    js = sorted({*found, *(j for j in near if plus[codes[j - jlo]] != _NEG)})
    return [(j, (plus if j in near else table)[codes[j - jlo]]) for j in js]


def _weak_matches(ra: _Run, i: int, rb: _Run, weak: tuple[int, bool], jlo: int,
                  hi: int) -> list[tuple[int, int]]:
    """The row of a step below ``MIN_MATCH`` with every step: only its twins (the same
    intent, or none; both clicked within ``CLICK_NEAR_PX``, or neither clicked) may pair."""
    at = rb.weak_index.get(weak)
    if not at:
        return []
    js = at[bisect_left(at, jlo):bisect_left(at, hi)]
    click = ra.clicks[i]
    if click is not None:
        near = set(rb.clicks_near(click, jlo, hi))
        js = [j for j in js if j in near]
    return [(j, ra.self_w[i]) for j in js]


# ── the dynamic program over a band of diagonals ────────────────────────────────────────────
#
# D[i][j] is the best total weight aligning A[:i] with B[:j]. Row i is kept for the cells
# j in [max(0, i + lo), min(m, i + hi)] (lo <= 0 <= hi; the full table is lo = -n, hi = m).
# D[i][j] = max(D[i-1][j], D[i][j-1], D[i-1][j-1] + w(i-1, j-1)): a row is the running
# maximum of the row above with the pairs' offers, so it never decreases, and each offer
# raises one run of cells (found by bisection, written by slice assignment at C speed).
# Rows are stored as their first value and the byte-sized steps between neighbours (at most
# the largest pair score), so the full 5,000 x 5,000 table takes 25 MB.

_Packed: TypeAlias = "tuple[int, bytes | array[int]]"  # first value, steps (or values)
_Row: TypeAlias = "tuple[int, list[int] | _Packed]"  # first column, the values or packed

LIST_ROWS_CELLS = 4_000_000
"""Tables up to this many cells keep their rows as lists (8 bytes a cell, no packing cost);
bigger ones pack them as byte steps (1 byte a cell)."""


def _pack(cur: list[int]) -> _Packed:
    try:
        return cur[0], bytes(map(sub, islice(cur, 1, None), cur))
    except ValueError:  # a step outside 0..255: keep the values themselves
        return cur[0], array("q", cur)


def _unpack(row: _Row) -> tuple[int, list[int]]:
    first_col, data = row
    if isinstance(data, list):
        return first_col, data
    first, packed = data
    if isinstance(packed, bytes):
        return first_col, list(accumulate(packed, initial=first))
    return first_col, list(packed)


def _fill(ra: _Run, rb: _Run, lo: int, hi: int) -> tuple[list[_Row], int, int]:
    """Fill the band ``lo <= j - i <= hi``; return the rows, D[n][m] and the cells filled."""
    n, m = ra.n, rb.n
    compact = _band_cells(n, m, lo, hi) > LIST_ROWS_CELLS
    prev_a, prev = 0, [0] * (min(m, hi) + 1)
    rows: list[_Row] = [(0, _pack(prev) if compact else prev)]
    cells = len(prev)
    for i in range(1, n + 1):
        a_i, b_i = max(0, i + lo), min(m, i + hi)
        # Start from D[i-1][j] (non-decreasing in j); the cell right of the previous row's
        # window has no cell above it and starts from its left neighbour.
        row = prev[a_i - prev_a:b_i - prev_a + 1]
        if b_i >= prev_a + len(prev):
            row.append(row[-1])
        # Pairing A[i-1] with B[j] offers D[i-1][j] + w to cell j + 1 and, the row being a
        # running maximum, to every cell after it that holds less: raise that run.
        jlo, jhi = max(a_i, 1) - 1, b_i - 1
        if jhi >= jlo:
            for j, w in _row_matches(ra, i - 1, rb, jlo, jhi):
                v = prev[j - prev_a] + w
                c = j + 1 - a_i
                if v > row[c]:
                    e = bisect_left(row, v, c)
                    row[c:e] = [v] * (e - c)
        prev, prev_a = row, a_i
        rows.append((a_i, _pack(row) if compact else row))
        cells += len(row)
    return rows, prev[-1], cells


def _traceback(ra: _Run, rb: _Run, rows: list[_Row]) -> tuple[tuple[int | None, int | None], ...]:
    """Walk back from (n, m). At each cell the first move that explains its value wins:
    leave B's step unmatched, else A's, else pair them; so pairs land as early as they can."""
    i, j = ra.n, rb.n
    cur_a, cur = _unpack(rows[i])
    prev_a, prev = _unpack(rows[i - 1]) if i > 0 else (0, [])
    out: list[tuple[int | None, int | None]] = []
    while i > 0 or j > 0:
        value = cur[j - cur_a]
        if j > cur_a and cur[j - 1 - cur_a] == value:
            out.append((None, j - 1))
            j -= 1
            continue
        if i > 0 and prev_a <= j < prev_a + len(prev) and prev[j - prev_a] == value:
            out.append((i - 1, None))
        else:
            w = _weight(ra, i - 1, rb, j - 1)
            if not (i > 0 and j > 0 and _allowed(ra, i - 1, rb, j - 1, w) and j - 1 >= prev_a
                    and prev[j - 1 - prev_a] + w == value):  # pragma: no cover - invariant
                raise AssertionError(f"alignment traceback lost its way at ({i}, {j})")
            out.append((i - 1, j - 1))
            j -= 1
        i -= 1
        cur_a, cur = prev_a, prev
        prev_a, prev = _unpack(rows[i - 1]) if i > 0 else (0, [])
    out.reverse()
    return tuple(out)


def _smallest_sums(weights: list[int]) -> list[int]:
    """``s[k]`` = the sum of the ``k`` smallest weights."""
    return list(accumulate(sorted(weights), initial=0))


def _out_of_band_bound(lo: int, hi: int, n: int, m: int, small_a: list[int],
                       small_b: list[int]) -> float:
    """A lower bound on the cost (see :func:`_band_is_exact`) of any alignment that visits a
    diagonal outside ``lo..hi``; infinity if no alignment can. ``small_a[k]`` is the sum of
    the ``k`` smallest per-step bounds of A.

    To reach diagonal ``t = j - i > max(0, m - n)`` an alignment leaves at least ``t`` of B's
    steps unmatched before it and ``t - (m - n)`` of A's after it; symmetrically below.
    """
    d = m - n
    bound = math.inf
    t = hi + 1
    if t <= m and t - d <= n:
        bound = min(bound, small_b[t] + small_a[t - d])
    t = 1 - lo  # = -(lo - 1)
    if t <= n and d + t <= m:
        bound = min(bound, small_a[t] + small_b[d + t])
    return bound


def _reachable(ra: _Run, rb: _Run) -> list[int]:
    """For each step of ``ra``, an upper bound of its score with any step of ``rb``: its own
    weight, less the features no step of ``rb`` can share (an action, target, intent or
    screenshot digest ``rb`` never has; a screen or click ``rb`` never records); 0 when even
    that is below ``MIN_MATCH`` (the step can pair with nothing), unless the step is one of
    the weak ones (:meth:`_Run.weak_key`) and ``rb`` has a possible twin of it."""
    acts, tgts, intents = set(rb.act), set(rb.tgt), set(rb.intent)
    digests = set(rb.digest)
    any_hash = len(rb.phash_missing) < rb.n
    out = []
    for i in range(ra.n):
        weak = ra.weak_key(i)
        if weak is not None:
            out.append(ra.self_w[i] if weak in rb.weak_index else 0)
            continue
        w = BASE
        if ra.act[i] and ra.act[i] in acts:
            w += ACTION
        if ra.tgt[i] and ra.tgt[i] in tgts:
            w += TARGET
        if ra.intent[i] and ra.intent[i] in intents:
            w += INTENT
        if (ra.phash[i] >= 0 and any_hash) or (ra.digest[i] and ra.digest[i] in digests):
            w += SCREEN_SAME
        if ra.clicks[i] is not None and rb.any_click:
            w += CLICK
        out.append(w if w >= MIN_MATCH else 0)
    return out


def _band_is_exact(weight: int, total_reach: int, bound: float) -> bool:
    """Whether the band's best alignment is the full program's.

    With ``u`` the bounds of :func:`_reachable` (``u[i] >= w(i, j)`` for every ``j``), the
    *cost* of an alignment is ``total_reach - 2 * weight``: every unmatched step costs its
    ``u``, every pair ``u[i] + u[j] - 2 w(i, j)``, never negative. If the band's cost is below
    ``bound``, every alignment that leaves the band is strictly worse than the band's best,
    so all the optimal alignments, and every optimal prefix of them, lie inside the band; the
    band's table then agrees with the full table on every cell the traceback compares, and
    both tracebacks make the same choices.
    """
    return total_reach - 2 * weight < bound


def _band_cells(n: int, m: int, lo: int, hi: int) -> int:
    return sum(min(m, i + hi) - max(0, i + lo) + 1 for i in range(n + 1))


def align_full(a: Sequence[StepKey], b: Sequence[StepKey]) -> Alignment:
    """The plain O(n·m) dynamic program (the reference :func:`align` is tested against)."""
    ra, rb = _encode(a, b)
    rows, weight, cells = _fill(ra, rb, -ra.n, rb.n)
    return Alignment(_traceback(ra, rb, rows), weight, "full", None, cells)


def align(a: Sequence[StepKey], b: Sequence[StepKey], *, band: int = DEFAULT_BAND) -> Alignment:
    """Align two runs; the same answer as :func:`align_full`, usually much faster."""
    ra, rb = _encode(a, b)
    n, m = ra.n, rb.n
    full_cells = (n + 1) * (m + 1)
    reach_a, reach_b = _reachable(ra, rb), _reachable(rb, ra)
    total_reach = sum(reach_a) + sum(reach_b)
    small_a, small_b = _smallest_sums(reach_a), _smallest_sums(reach_b)
    k = max(1, band)
    cells_done = 0
    for _ in range(2):
        lo, hi = min(0, m - n) - k, max(0, m - n) + k
        if (lo <= -n and hi >= m) or _band_cells(n, m, lo, hi) >= FULL_RATIO * full_cells:
            break
        rows, weight, cells = _fill(ra, rb, lo, hi)
        cells_done += cells
        cost = total_reach - 2 * weight
        if _band_is_exact(weight, total_reach, _out_of_band_bound(lo, hi, n, m, small_a,
                                                                   small_b)):
            return Alignment(_traceback(ra, rb, rows), weight, "band", k, cells_done)
        # The narrowest band whose bound beats this cost (a wider band only lowers the cost).
        while True:
            k += 1
            lo, hi = min(0, m - n) - k, max(0, m - n) + k
            if cost < _out_of_band_bound(lo, hi, n, m, small_a, small_b):
                break
    rows, weight, cells = _fill(ra, rb, -n, m)
    return Alignment(_traceback(ra, rb, rows), weight, "full", None, cells_done + cells)

