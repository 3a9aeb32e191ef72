"""Bundles for the viewer tests and benchmark: wireframe screenshots with known geometry.

``wireframe_png`` paints a fake web page (top bar, fields, a button) without any imaging
library, so a test knows exactly where things are. ``RICH_STEPS`` is a 12-step run with every
case the viewer must render: failures, low confidence, a far click, a recorded viewport at
device scale 2, a skipped step, a missing screenshot, hostile text.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from augur_sdk import CaptureMode, DebugSession

Rect = tuple[int, int, int, int, tuple[int, int, int]]  # x, y, w, h, rgb

XSS_INTENT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">Pay now'
XSS_LABEL = "<svg onload=\"window.__pwned = 3\">Pay</svg>"
XSS_EVENT = '<b onmouseover="window.__pwned = 4">hover</b><iframe src="javascript:window.__pwned=5">'


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def paint_png(width: int, height: int, rects: Iterable[Rect],
              background: tuple[int, int, int] = (246, 247, 249)) -> bytes:
    """An RGB PNG of ``width`` x ``height`` with solid rectangles painted in order."""
    rows = [bytearray(bytes(background) * width) for _ in range(height)]
    for x, y, w, h, rgb in rects:
        x0, x1 = max(0, x), min(width, x + w)
        if x1 <= x0:
            continue
        span = bytes(rgb) * (x1 - x0)
        for yy in range(max(0, y), min(height, y + h)):
            rows[yy][3 * x0:3 * x1] = span
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b""))


def wireframe_png(width: int = 800, height: int = 500, *, variant: int = 0,
                  extra: Sequence[Rect] = ()) -> bytes:
    """A fake login page whose layout shifts a little with ``variant``."""
    s = width / 800
    dy = int((variant % 5) * 6 * s)
    accent = [(37, 99, 235), (22, 163, 74), (217, 119, 6), (147, 51, 234), (220, 38, 38)][variant % 5]
    rects: list[Rect] = [
        (0, 0, width, int(48 * s), (31, 41, 55)),                                # top bar
        (int(24 * s), int(14 * s), int(90 * s), int(20 * s), (96, 165, 250)),   # logo
        (int(220 * s), int(90 * s) + dy, int(360 * s), int(300 * s), (255, 255, 255)),  # card
        (int(250 * s), int(130 * s) + dy, int(300 * s), int(36 * s), (229, 231, 235)),  # username
        (int(250 * s), int(190 * s) + dy, int(300 * s), int(36 * s), (229, 231, 235)),  # password
        (int(250 * s), int(260 * s) + dy, int(140 * s), int(40 * s), accent),           # button
        (int(410 * s), int(260 * s) + dy, int(140 * s), int(40 * s), (209, 213, 219)),  # cancel
    ]
    return paint_png(width, height, [*rects, *extra])


@dataclass
class StepSpec:
    """One step of a test run; ``None`` means: leave the field out."""

    intent: str = "Click the button"
    status: str = "succeeded"
    failure_class: str | None = None
    step_type: str = "click"
    click: tuple[float, float] | None = (320.0, 280.0)
    target: tuple[float, float] | None = (320.0, 280.0)
    label: str = "Sign in"
    confidence: float | None = 0.92
    coordinate_space: str = "viewport_css_px"
    viewport: dict[str, Any] | None = None
    shots: bool = True
    shot_size: tuple[int, int] = (800, 500)
    events: list[tuple[str, str, str]] = field(default_factory=lambda: [
        ("planner", "decision", "chose the button"), ("verifier", "observation", "page changed")])
    verdict: str | None = None
    verdict_reason: str = "target reached"


# The rich run. Failures: 2, 5, 9. Low confidence (< 0.5): 5, 7. Far click: 7.
# Viewport at device scale 2: step 3. Skipped: 10. Missing pre screenshot: 11. Hostile text: 6.
RICH_STEPS: list[StepSpec] = [
    StepSpec(intent="Click the username field", click=(400.0, 148.0), target=(400.0, 148.0),
             label="Username"),
    StepSpec(intent="Type the username", step_type="type", click=None, target=(400.0, 148.0),
             label="Username"),
    StepSpec(intent="Press Sign in", status="failed", failure_class="no_state_change",
             click=(320.0, 280.0), target=(322.0, 281.0), confidence=0.81,
             verdict_reason="page did not change after click",
             events=[("planner", "decision", "press Sign in"),
                     ("verifier", "error", "no state change"),
                     ("verifier", "observation", "diff 0 px")]),
    StepSpec(intent="Click the password field (viewport 400x250 at device scale 2)",
             click=(200.0, 105.0), target=(200.0, 105.0), label="Password",
             viewport={"width": 400, "height": 250, "device_scale_factor": 2}),
    StepSpec(intent="Press Sign in again", click=(330.0, 285.0), target=(330.0, 285.0),
             coordinate_space="screenshot_px"),
    StepSpec(intent="Open the search box", status="failed", failure_class="click_outside_viewport",
             click=(790.0, 20.0), target=(760.0, 24.0), label="Search", confidence=0.31,
             verdict_reason="nothing there"),
    StepSpec(intent=XSS_INTENT, label=XSS_LABEL, click=(320.0, 280.0), target=(320.0, 280.0),
             events=[("planner", "decision", XSS_EVENT)]),
    StepSpec(intent="Add to cart", click=(400.0, 300.0), target=(300.0, 260.0), label="Add to cart",
             confidence=0.3),
    StepSpec(intent="Go to checkout", click=(480.0, 280.0), target=(480.0, 280.0), label="Checkout"),
    StepSpec(intent="Confirm the order", status="failed", failure_class="no_state_change",
             click=(320.0, 280.0), target=(318.0, 279.0), label="Confirm", confidence=0.66,
             verdict_reason="order page still shows the cart"),
    StepSpec(intent="Wait for the receipt", status="skipped", step_type="wait", click=None,
             target=None, confidence=None, shots=False, events=[]),
    StepSpec(intent="Read the receipt", step_type="verify", click=(400.0, 200.0),
             target=(400.0, 200.0), label="Receipt"),
]
RICH_FAILURES = [2, 5, 9]
RICH_LOW_CONFIDENCE = [5, 7]
RICH_FAR = [5, 7]
RICH_SKIPPED = 10
RICH_MISSING_PRE = 11
RICH_XSS = 6
RICH_DSF2 = 3


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def step_payload(run_id: str, i: int, spec: StepSpec, start: datetime, pre: str | None,
                 post: str | None) -> dict[str, Any]:
    end = start + timedelta(milliseconds=420 + 37 * (i % 7))
    action: dict[str, Any] = {"type": spec.step_type, "params": {},
                              "coordinate_space": spec.coordinate_space,
                              "dispatch_backend": "playwright"}
    if spec.click is not None:
        action["params"] = {"x": spec.click[0], "y": spec.click[1]}
    if spec.step_type == "type":
        action["params"]["text"] = "alice"
    if spec.viewport is not None:
        action["params"]["viewport"] = spec.viewport
    record: dict[str, Any] = {
        "step_id": f"{run_id}/step/{i:04d}",
        "step_index": i,
        "step_type": spec.step_type,
        "intent": spec.intent,
        "status": spec.status,
        "started_at": _iso(start),
        "ended_at": _iso(end),
        "duration_ms": int((end - start).total_seconds() * 1000),
        "observation_pre": pre,
        "observation_post": post,
        "action": action,
    }
    if spec.failure_class:
        record["failure_class"] = spec.failure_class
    if spec.target is not None:
        grounding: dict[str, Any] = {"provider": "fake-vlm", "target_label": spec.label,
                                     "coordinates": {"x": spec.target[0], "y": spec.target[1]},
                                     "evidence": f"button text '{spec.label}'",
                                     "provenance": "screenshot"}
        if spec.confidence is not None:
            grounding["confidence"] = spec.confidence
        record["grounding"] = grounding
    if spec.status != "skipped":
        verdict = spec.verdict or ("failed" if spec.status == "failed" else "passed")
        record["verdict"] = {"status": verdict, "reason": spec.verdict_reason}
    return record


def record_steps(session: DebugSession, run_id: str, specs: Sequence[StepSpec], *,
                 first_index: int = 0, start: datetime | None = None,
                 pngs: Sequence[bytes] | None = None) -> None:
    """Record ``specs`` as steps ``first_index...`` of an open session, seed-page style."""
    t = start or datetime(2026, 5, 19, 9, 30, tzinfo=UTC) + timedelta(seconds=first_index)
    for k, spec in enumerate(specs):
        i = first_index + k
        pre = post = None
        if spec.shots:
            w, h = spec.shot_size
            pre_png = pngs[(2 * i) % len(pngs)] if pngs else wireframe_png(w, h, variant=i)
            post_png = pngs[(2 * i + 1) % len(pngs)] if pngs else wireframe_png(
                w, h, variant=i + 1)
            pre = session.attach_observation(step_index=i, kind="pre", png_bytes=pre_png)
            post = session.attach_observation(step_index=i, kind="post", png_bytes=post_png)
        session.record_step(step_payload(run_id, i, spec, t, pre, post))
        for n, (layer, kind, summary) in enumerate(spec.events):
            session.record_event({
                "ts": _iso(t + timedelta(milliseconds=15 + 40 * n)), "step_index": i,
                "layer": layer, "kind": kind, "summary": summary,
                "detail": {"n": n, "layer": layer},
            })
        t += timedelta(seconds=1)


def write_bundle(out_dir: Path, specs: Sequence[StepSpec] = RICH_STEPS, *,
                 run_id: str = "run_viewer_test", tags: dict[str, str] | None = None,
                 pngs: Sequence[bytes] | None = None) -> Path:
    """A finished bundle of ``specs``; for the rich run, step 11's pre PNG is then deleted."""
    with DebugSession(run_id=run_id, client_name="testagent", client_version="1.2.3",
                      client_git_sha="0123456789abcdef0123", capture_mode=CaptureMode.SCREENSHOTS,
                      out_dir=out_dir, tags=tags or {"env": "test", "task_id": "checkout"}) as s:
        record_steps(s, run_id, specs, pngs=pngs)
        s.record_event({"ts": "2026-05-19T09:30:00.000001Z", "layer": "runner",
                        "kind": "info", "summary": "run started", "detail": {}})
    if specs is RICH_STEPS:
        (out_dir / f"screenshots/{RICH_MISSING_PRE:04d}_pre.png").unlink()
    return out_dir


def hand_bundle(root: Path, steps: dict[int, str]) -> Path:
    """A bundle written by hand (bundle content is untrusted: anything can be in it)."""
    (root / "steps").mkdir(parents=True)
    (root / "screenshots").mkdir()
    (root / "manifest.json").write_text(json.dumps({"run_id": "run_hand", "step_count": 0}))
    for i, text in steps.items():
        (root / f"steps/{i:04d}.json").write_text(text)
    return root


def hand_step(i: int, status: str = "succeeded") -> str:
    """A small step record without screenshots, as JSON text (for big hand-written bundles)."""
    return json.dumps({"step_index": i, "step_id": f"run_hand/step/{i:04d}", "step_type": "click",
                       "status": status, "intent": f"click item {i}",
                       "action": {"type": "click", "params": {"x": 10 + i % 50, "y": 20}}})
