"""Request bodies -> values a bundle can store (pure): the one decoder every route uses.

A value is refused (HTTP 400) unless every file of the bundle can hold it and every reader
can read it back:

* JSON must be strict UTF-8 JSON: no ``NaN``/``Infinity``, and no number that overflows a
  float (``1e400`` parses as infinity, which JSON cannot write back);
* no string (value or key) may hold a lone UTF-16 surrogate (``"\\ud800"``): it cannot be
  encoded as UTF-8, so writing it would fail half-way, and the JSON API would fail on it
  later;
* PNG screenshots must declare sane dimensions (:func:`augur_sdk.limits.png_size_problem`).

Values decoded by other means (OTLP attributes, whose ``*_json`` members are JSON again) are
checked by :func:`check_values`. :func:`decoded_cost` estimates the memory decoding a JSON
body takes, so that admission (``server/admission.py``) can charge it before parsing.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from augur_sdk import limits
from augur_sdk.records import png_dimensions


class BodyError(ValueError):
    """A body the server refuses; ``status`` is the HTTP status (400 unless said)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# A JSON escape that yields a surrogate code point. Pairs (an emoji as "\ud83d\ude00") are
# joined by the parser; only when such an escape occurs can a lone one be in the result.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def strict_json(data: bytes) -> Any:
    """Parse a body as strict JSON (see the module docstring); :class:`BodyError` if not."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"malformed JSON: not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise BodyError("malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise BodyError(f"malformed JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        check_values(value)
    return value


def json_object(data: bytes) -> dict[str, Any]:
    value = strict_json(data)
    if not isinstance(value, dict):
        raise BodyError("the body must be a JSON object")
    return value


def check_values(value: Any, what: str = "body") -> None:
    """:class:`BodyError` if ``value`` holds a number that is not finite or a string with a
    lone surrogate (anywhere: values and keys, at any depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if _SURROGATE.search(item):
                raise BodyError(f"{what}: a string holds a lone UTF-16 surrogate "
                                f"(not valid Unicode)")
        elif kind is float:
            if not math.isfinite(item):
                raise BodyError(f"{what}: a number is not finite ({item!r})")
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, str | float):  # a subclass: check it as its base type
            stack.append(str(item) if isinstance(item, str) else float(item))


_FOUR_BYTE_LEAD = re.compile(rb"[\xf0-\xf4]")  # a character past U+FFFF
_WIDE_LEAD = re.compile(rb"[\xc4-\xef]")  # a character past U+00FF


def char_width(data: bytes) -> int:
    """Bytes per character of the ``str`` that ``data`` (UTF-8) decodes to: Python stores a
    string with the width of its widest character (1, 2 or 4)."""
    if data.isascii():
        return 1
    if _FOUR_BYTE_LEAD.search(data):
        return 4
    return 2 if _WIDE_LEAD.search(data) else 1


def decoded_cost(data: bytes) -> int:
    """An upper estimate of the memory that holding ``data`` and its decoded JSON takes.

    The body itself, its text and the strings parsed out of it (each as wide as the widest
    character of the body: one emoji makes ASCII text four bytes a character), and per JSON
    token the Python object it becomes (a dict ~240 bytes, a list ~72, a string or number
    ~32 beyond its text). Cheap: a few byte scans, no parsing. A body that is one long
    ASCII string costs three times its size.
    """
    size = len(data)
    text = char_width(data) * size
    return (size + 2 * text + 240 * data.count(b"{") + 72 * data.count(b"[")
            + 32 * (data.count(b",") + data.count(b":") + data.count(b'"')))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG whose header declares sane dimensions; else BodyError."""
    try:
        width, height = png_dimensions(data)
    except ValueError:
        raise BodyError("image: not a PNG") from None
    problem = limits.png_size_problem(width, height)
    if problem is not None:
        raise BodyError(f"image: {problem}")
    return width, height


def digest(data: bytes) -> str:
    """What identifies a body for Idempotency-Key checks (sha256, hex)."""
    return hashlib.sha256(data).hexdigest()
