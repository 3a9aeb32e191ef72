"""Screenshot redaction: opaque rectangles painted over a PNG before it is written.

Needs Pillow (``pip install pillow``, or the ``images`` extra); without it a masking request
raises at the call instead of writing the unmasked image.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

FILL = (0, 0, 0)
# What installs Pillow wherever augur-otel came from (it is on no package index yet, so
# `pip install 'augur-otel[images]'` would find nothing); tests keep it in step with the
# `images` extra of pyproject.toml.
PILLOW_INSTALL = ("pip install 'pillow>=10' (or, in a checkout of augur-otel, "
                  "pip install -e '.[images]')")


def normalize_regions(regions: Iterable[Any], width: int, height: int,
                      field: str = "mask_regions") -> list[dict[str, Any]]:
    """Check regions and clamp them to the image: ``[{x1, y1, x2, y2[, label]}]``."""
    if isinstance(regions, str | bytes | dict) or not isinstance(regions, Iterable):
        raise TypeError(f"{field}: expected a list of regions, got {type(regions).__name__}")
    out: list[dict[str, Any]] = []
    for n, region in enumerate(regions):
        where = f"{field}[{n}]"
        label = None
        if isinstance(region, dict):
            try:
                coords = [region["x1"], region["y1"], region["x2"], region["y2"]]
            except KeyError as exc:
                raise ValueError(f"{where}: missing {exc.args[0]!r}") from None
            label = region.get("label")
            if label is not None and not isinstance(label, str):
                raise TypeError(f"{where}.label: expected a string")
        elif isinstance(region, list | tuple) and len(region) == 4:
            coords = list(region)
        else:
            raise TypeError(f"{where}: expected (x1, y1, x2, y2) or a dict with x1/y1/x2/y2")
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in coords):
            raise TypeError(f"{where}: coordinates must be ints (image pixels)")
        x1, y1, x2, y2 = coords
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"{where}: needs x1 < x2 and y1 < y2, got {coords}")
        box: dict[str, Any] = {"x1": max(0, x1), "y1": max(0, y1),
                               "x2": min(width, x2), "y2": min(height, y2)}
        if box["x2"] <= box["x1"] or box["y2"] <= box["y1"]:
            continue  # entirely outside the image: nothing to mask
        if label is not None:
            box["label"] = label
        out.append(box)
    return out


def require_pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError(
            f"mask_regions needs Pillow: {PILLOW_INSTALL} "
            "(the screenshot was not written unmasked)") from None
    return Image


def mask_png(data: bytes, regions: list[dict[str, Any]]) -> bytes:
    """The PNG with each region filled opaque black; every other pixel unchanged."""
    image_mod = require_pillow()
    try:
        return _mask(image_mod, data, regions)
    except (OSError, ValueError, SyntaxError, AttributeError, image_mod.DecompressionBombError) \
            as exc:
        raise ValueError(f"png_bytes: cannot be decoded to mask it ({exc})") from None


def _mask(image_mod: Any, data: bytes, regions: list[dict[str, Any]]) -> bytes:
    with image_mod.open(io.BytesIO(data)) as img:
        img.load()
        mode = img.mode
        if mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA")
            mode = "RGBA"
        fill: Any = {"RGB": FILL, "RGBA": (*FILL, 255), "L": 0, "LA": (0, 255)}[mode]
        for box in regions:
            img.paste(fill, (box["x1"], box["y1"], box["x2"], box["y2"]))
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()
