"""What a step record means to the viewer, as pure functions of untrusted values: the
step list's summary of a record, where a click landed and where its target was, links to
Jaeger, a PNG's size, and JSON that a browser can parse (NaN and Infinity become null).
Nothing here raises on bad content. Shared by the viewer, ``augur diff`` and the
diagnostics rules."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

FAR_PX = 20.0
"""A click further than this from its grounding target (in the recorded space) is flagged."""

MAX_SUMMARY_TEXT = 2000

HEX_ID_RE = re.compile(r"^[0-9a-f]{1,64}$")

DECODER = json.JSONDecoder(parse_constant=lambda _name: None)


def loads(text: str | bytes) -> Any:
    """``json.loads`` that turns NaN/Infinity into null (a browser's JSON.parse rejects them)."""
    return DECODER.decode(text.decode("utf-8") if isinstance(text, bytes) else text)


def record_problem(record: Any, rel: str, index: int) -> str | None:
    if not isinstance(record, dict):
        return f"{rel}: step {index} is not a JSON object"
    if record.get("step_index") not in (index, None):
        return f"{rel} says step_index {record.get('step_index')!r}; shown as step {index}"
    return None


def to_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_bytes(obj: Any) -> bytes:
    return to_json(obj).encode("utf-8")


def clip_text(value: Any, limit: int = MAX_SUMMARY_TEXT) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_point(value: Any) -> tuple[float, float] | None:
    """``{"x": .., "y": ..}`` or ``[x, y]`` as a pair of finite numbers."""
    if isinstance(value, dict):
        x, y = finite_number(value.get("x")), finite_number(value.get("y"))
    elif isinstance(value, list | tuple) and len(value) >= 2:
        x, y = finite_number(value[0]), finite_number(value[1])
    else:
        return None
    return (x, y) if x is not None and y is not None else None


def click_point(action: Any) -> tuple[float, float] | None:
    """Where the executed action landed, from ``action.params``.

    Accepts ``x``/``y``, ``coordinate``/``coordinates`` (pair or object) and ``position``,
    the shapes common CUA tool calls use.
    """
    params = as_dict(as_dict(action).get("params"))
    point = as_point(params)
    if point is not None:
        return point
    for key in ("coordinate", "coordinates", "position", "point"):
        point = as_point(params.get(key))
        if point is not None:
            return point
    return None


def target_point(grounding: Any) -> tuple[float, float] | None:
    """The grounding model's target, from ``grounding.coordinates``."""
    return as_point(as_dict(grounding).get("coordinates"))


def jaeger_url(base: str | None, trace_id: Any, span_id: Any = None) -> str | None:
    """``{base}/trace/{trace_id}?uiFind={span_id}``, only for well-formed hex ids."""
    if not base or not isinstance(trace_id, str) or not HEX_ID_RE.match(trace_id):
        return None
    url = f"{base}/trace/{quote(trace_id)}"
    if isinstance(span_id, str) and HEX_ID_RE.match(span_id):
        url += f"?uiFind={quote(span_id)}"
    return url


def normalize_jaeger_base(url: str | None) -> str | None:
    """A Jaeger UI base URL without its trailing slash; ``ValueError`` if not http(s)."""
    if not url:
        return None
    url = url.strip()
    if not re.match(r"^https?://[^\s/?#]+", url) or any(c in url for c in "\"'<> \t\r\n"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url.rstrip("/")


def png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG header, or None (other formats: the browser measures)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) == 24 and head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None


def summarize(index: int, step: Any) -> dict[str, Any]:
    """The small per-step record the step list, the filters and the search work on."""
    record = as_dict(step)
    action, grounding, verdict = (as_dict(record.get(k)) for k in ("action", "grounding",
                                                                  "verdict"))
    click, target = click_point(action), target_point(grounding)
    dist = None
    if click is not None and target is not None:
        dist = round(math.hypot(click[0] - target[0], click[1] - target[1]), 2)
    summary = {
        "i": index,
        "type": clip_text(record.get("step_type"), 100),
        "status": clip_text(record.get("status"), 50),
        "fc": clip_text(record.get("failure_class"), 200),
        "intent": clip_text(record.get("intent")),
        "action": clip_text(action.get("type"), 100),
        "label": clip_text(grounding.get("target_label"), 300),
        "conf": finite_number(grounding.get("confidence")),
        "verdict": clip_text(verdict.get("status"), 50),
        "vreason": clip_text(verdict.get("reason"), 500),
        "score": finite_number(verdict.get("score")),
        "judges": len(record["judge_decisions"]) if isinstance(
            record.get("judge_decisions"), list) else None,
        "iters": finite_number(record.get("step_iterations")),
        "usd": finite_number(as_dict(record.get("costs")).get("total_usd")),
        "tok": finite_number(as_dict(record.get("costs")).get("tokens_in")),
        "click": list(click) if click else None,
        "target": list(target) if target else None,
        "dist": dist,
        "far": dist is not None and dist > FAR_PX,
    }
    if summary["action"] == summary["type"]:
        summary["action"] = None
    # Absent = null/false: a 5,000-step index stays small (about 250 bytes a step).
    return {k: v for k, v in summary.items() if k == "i" or v not in (None, False, "")}
