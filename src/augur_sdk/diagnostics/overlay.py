"""Finding a modal dialog over a dimmed page in a screenshot, from the pixels alone.

A modal's backdrop is a translucent layer over the page: everything outside the dialog
loses its brightest tones, while the dialog itself keeps them. So the brightest cells of
the screenshot form one compact, mostly filled rectangle (the dialog), and nothing outside
it comes near that brightness. When another screenshot of the run shows the same page
without the layer (the outside brighter, its pattern the same), that confirms it.

Limits: a light dialog over a dark backdrop (the common case); a dark-themed dialog, or a
dark page with one light card, can be missed or mistaken without a confirming screenshot.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cache

from augur_sdk.diagnostics.screens import Grid

MIN_TOP = 170  # the dialog's brightest grey level at least
BRIGHT_BAND = 14  # cells this close to the brightest belong to the dialog
OUTSIDE_MARGIN = 40  # nothing outside the dialog within this many levels of the brightest
MIN_AREA, MAX_AREA = 0.01, 0.6  # the dialog's share of the screen
MIN_FILL = 0.55  # share of the dialog's box that is bright
SHADOW_CELLS = 3  # a drop shadow around the dialog is neither inside nor outside
MIN_DIMMING = 12.0  # mean grey levels the backdrop takes away (confirmation)
MIN_CORRELATION = 0.8  # the page under the backdrop is the same page (confirmation)


@dataclass(frozen=True)
class Box:
    """A rectangle in image pixels."""

    x: float
    y: float
    w: float
    h: float

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px <= self.x + self.w and self.y <= py <= self.y + self.h

    def fragment(self) -> str:
        return f"#xywh={_num(self.x)},{_num(self.y)},{_num(self.w)},{_num(self.h)}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def point_fragment(x: float, y: float) -> str:
    """A point as a zero-size media fragment: ``#xywh=x,y,0,0``."""
    return Box(x, y, 0, 0).fragment()


@dataclass(frozen=True)
class Modal:
    box: Box  # the dialog, in image pixels
    cells: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive) in grid cells
    dimming: float | None = None  # set when a reference screenshot confirmed the backdrop


@cache
def _threshold_table(limit: int) -> bytes:
    """A ``bytes.translate`` table: grey levels above ``limit`` become 1, the others 0."""
    return bytes(1 if v > limit else 0 for v in range(256))


def _rows(g: Grid) -> list[bytes]:
    return [g.cells[y * g.width:(y + 1) * g.width] for y in range(g.height)]


def _outside_count(rows: list[bytes], cells: tuple[int, int, int, int]) -> tuple[int, int]:
    """(cells equal to 1 outside the box widened by the shadow margin, cells outside)."""
    x0, y0, x1, y1 = cells
    m = SHADOW_CELLS
    left, right = max(0, x0 - m), x1 + m + 1
    hits = total = 0
    for y, row in enumerate(rows):
        if y0 - m <= y <= y1 + m:
            hits += row[:left].count(1) + row[right:].count(1)
            total += left + max(0, len(row) - right)
        else:
            hits += row.count(1)
            total += len(row)
    return hits, total


def find_modal(g: Grid) -> Modal | None:
    """The dialog of a modal over a dimmed page, or ``None``.

    Works on whole rows of the grid with ``bytes`` operations: the brightest cells' bounding
    box must be mostly bright (a filled dialog, not scattered highlights), and no cell
    outside it may come near their brightness."""
    top = max(g.cells)
    if top < MIN_TOP:
        return None
    bright = [row.translate(_threshold_table(top - BRIGHT_BAND - 1)) for row in _rows(g)]
    total = g.width * g.height
    count = sum(row.count(1) for row in bright)
    if count > MAX_AREA * total:
        return None  # a light page: the brightest tone is everywhere
    ys = [y for y, row in enumerate(bright) if 1 in row]
    if not ys:
        return None
    x0 = min(row.find(1) for row in bright if 1 in row)
    x1 = max(row.rfind(1) for row in bright if 1 in row)
    y0, y1 = ys[0], ys[-1]
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    if not (MIN_AREA <= area / total <= MAX_AREA) or count / area < MIN_FILL:
        return None
    cells = (x0, y0, x1, y1)
    near = [row.translate(_threshold_table(top - OUTSIDE_MARGIN)) for row in _rows(g)]
    hits, outside = _outside_count(near, cells)
    if outside < 0.3 * total or hits > 0.002 * outside:
        return None  # something outside is as bright as the dialog: no backdrop
    s = g.scale
    box = Box(round(x0 * s, 1), round(y0 * s, 1), round((x1 - x0 + 1) * s, 1),
              round((y1 - y0 + 1) * s, 1))
    return Modal(box, cells)


def _outside_cells(g: Grid, cells: tuple[int, int, int, int]) -> bytes:
    x0, y0, x1, y1 = cells
    m = SHADOW_CELLS
    left, right = max(0, x0 - m), x1 + m + 1
    return b"".join(row if not (y0 - m <= y <= y1 + m) else row[:left] + row[right:]
                    for y, row in enumerate(_rows(g)))


def confirm(g: Grid, modal: Modal, reference: Grid) -> tuple[float, float] | None:
    """(grey levels the backdrop takes away, correlation of the page outside the dialog) if
    ``reference`` shows the same page without it (same size, outside brighter, same
    pattern); else ``None``."""
    if (reference.width, reference.height) != (g.width, g.height):
        return None
    a = _outside_cells(g, modal.cells)
    b = _outside_cells(reference, modal.cells)
    n = len(a)
    if n == 0:
        return None
    sum_a, sum_b = sum(a), sum(b)
    mean_a, mean_b = sum_a / n, sum_b / n
    if mean_b - mean_a < MIN_DIMMING:
        return None
    cov = sum(map(operator.mul, a, b)) - sum_a * sum_b / n
    var_a = sum(map(operator.mul, a, a)) - sum_a * sum_a / n
    var_b = sum(map(operator.mul, b, b)) - sum_b * sum_b / n
    if var_a <= 0 or var_b <= 0:
        return None
    corr = cov / (var_a * var_b) ** 0.5
    return None if corr < MIN_CORRELATION else (round(mean_b - mean_a, 1), corr)
