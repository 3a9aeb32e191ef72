"""What the cua integration reads out of cua's items: pure functions, no cua, no session.

Kept apart from :mod:`augur_sdk.integrations.cua` (the callback and the wrapped run) so that
module stays about when things happen, and these about what cua's data means.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

__all__ = ["SCREEN_NAMES", "failure_of", "screenshot_bytes", "usage_tokens"]

_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
_ERROR_CLASS = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\(")

SCREEN_NAMES = frozenset({"screenshot", "screenshot_before", "screenshot_after"})
"""The ``on_screenshot`` names of the screen as it is; loops also report annotated images
(set-of-marks, grounding overlays), which are not a state of the screen."""


def screenshot_bytes(screenshot: Any) -> bytes | None:
    """The image bytes of a screenshot as cua passes it (base64, a data URL, or bytes): a
    PNG, or a JPEG or WebP the step recorder converts; anything else is no screenshot."""
    if isinstance(screenshot, str):
        text = screenshot.split(",", 1)[1] if screenshot.startswith("data:") else screenshot
        try:
            screenshot = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    if not isinstance(screenshot, bytes | bytearray):
        return None
    data = bytes(screenshot)
    if data.startswith(_IMAGE_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return data
    return None


def failure_of(output: Any) -> tuple[str, str]:
    """(failure class, error text) of a failed call's ``function_call_output``: cua writes
    ``{"error": "<repr of the exception>"}``, so the class is the repr's leading name."""
    text = str(output)
    try:
        text = str(json.loads(text).get("error", text))
    except (ValueError, AttributeError):
        pass
    found = _ERROR_CLASS.match(text)
    return f"cua.{found.group(1) if found else 'ToolError'}", text


def usage_tokens(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens of an ``on_usage`` dict (chat or Responses names)."""
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return (prompt if isinstance(prompt, int) else None,
            completion if isinstance(completion, int) else None)
