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

from collections import deque
from dataclasses import dataclass

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


def _largest_component(mask: list[bool], w: int, h: int) -> tuple[int, int, int, int, int]:
    """(size, x0, y0, x1, y1) of the largest 4-connected set of True cells."""
    seen = bytearray(len(mask))
    best = (0, 0, 0, 0, 0)
    for start in range(len(mask)):
        if not mask[start] or seen[start]:
            continue
        seen[start] = 1
        queue = deque([start])
        size, x0, y0, x1, y1 = 0, w, h, -1, -1
        while queue:
            i = queue.popleft()
            y, x = divmod(i, w)
            size += 1
            x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
            for j in (i - 1 if x > 0 else -1, i + 1 if x < w - 1 else -1,
                      i - w if y > 0 else -1, i + w if y < h - 1 else -1):
                if j >= 0 and mask[j] and not seen[j]:
                    seen[j] = 1
                    queue.append(j)
        if size > best[0]:
            best = (size, x0, y0, x1, y1)
    return best


def _outside(g: Grid, cells: tuple[int, int, int, int]) -> list[int]:
    x0, y0, x1, y1 = cells
    m = SHADOW_CELLS
    return [y * g.width + x for y in range(g.height) for x in range(g.width)
            if not (x0 - m <= x <= x1 + m and y0 - m <= y <= y1 + m)]


def find_modal(g: Grid) -> Modal | None:
    """The dialog of a modal over a dimmed page, or ``None``."""
    top = max(g.cells)
    if top < MIN_TOP:
        return None
    mask = [c >= top - BRIGHT_BAND for c in g.cells]
    size, x0, y0, x1, y1 = _largest_component(mask, g.width, g.height)
    if size == 0:
        return None
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    total = g.width * g.height
    if not (MIN_AREA <= area / total <= MAX_AREA) or size / area < MIN_FILL:
        return None
    outside = _outside(g, (x0, y0, x1, y1))
    if len(outside) < 0.3 * total:
        return None
    limit = top - OUTSIDE_MARGIN
    if sum(1 for i in outside if g.cells[i] > limit) > 0.002 * len(outside):
        return None  # something outside is as bright as the dialog: no backdrop
    s = g.scale
    box = Box(round(x0 * s, 1), round(y0 * s, 1), round((x1 - x0 + 1) * s, 1),
              round((y1 - y0 + 1) * s, 1))
    return Modal(box, (x0, y0, x1, y1))


def confirm(g: Grid, modal: Modal, reference: Grid) -> tuple[float, float] | None:
    """(grey levels the backdrop takes away, correlation of the page outside the dialog) if
    ``reference`` shows the same page without it (same size, outside brighter, same
    pattern); else ``None``."""
    if (reference.width, reference.height) != (g.width, g.height):
        return None
    outside = _outside(g, modal.cells)
    a = [g.cells[i] for i in outside]
    b = [reference.cells[i] for i in outside]
    n = len(a)
    mean_a, mean_b = sum(a) / n, sum(b) / n
    if mean_b - mean_a < MIN_DIMMING:
        return None
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    if var_a <= 0 or var_b <= 0:
        return None
    corr = cov / (var_a * var_b) ** 0.5
    return None if corr < MIN_CORRELATION else (round(mean_b - mean_a, 1), corr)
