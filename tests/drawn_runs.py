"""Runs to compare, recorded with the real SDK, their screenshots drawn with Pillow.

``shop_run(...)`` is a small "buy a mug" task of a fake shop (sign in, search, open the
result, add to cart, place the order) whose pre screenshots are drawn pages: a login form,
a search page, a product page, a checkout, optionally under a dimming "Shipping terms"
dialog. Variants: ``dialog`` (the order click hits the dialog's backdrop, a recovery step
dismisses it, the order is placed on a retry), ``retry`` (the sign-in click misses once and
is retried), ``skip`` (a step left out), and per-step overrides for anything else.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from augur_sdk import CaptureMode, DebugSession

WIDTH, HEIGHT = 640, 400


@dataclass(frozen=True)
class Page:
    """What the pre screenshot shows."""

    name: str  # login | search | results | product | checkout | order
    focus: str | None = None
    typed: tuple[str, ...] = ()
    dialog: bool = False


@dataclass(frozen=True)
class Spec:
    intent: str
    action: str
    target: str | None
    page: Page
    click: tuple[float, float] | None = None
    status: str = "succeeded"
    failure_class: str | None = None
    verdict: str = "passed"
    duration_ms: int = 400
    params: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None


# Where the drawn pages put things (x, y, w, h); clicks go to the centres.
BOXES = {
    "Username": (170, 110, 300, 34), "Password": (170, 170, 300, 34),
    "Sign in": (170, 230, 120, 38), "Search products": (60, 90, 420, 36),
    "Blue mug": (60, 170, 200, 26), "Add to cart": (380, 250, 160, 40),
    "Place order": (240, 300, 160, 44), "Got it": (290, 292, 90, 32),
}


def centre(label: str) -> tuple[float, float]:
    x, y, w, h = BOXES[label]
    return (x + w / 2, y + h / 2)


def draw_page(page: Page, stamp: str = "") -> bytes:
    """A PNG of ``page``: layouts differ per page, a focused field is outlined, typed text
    shows, a dialog dims everything under a white box; ``stamp`` is written in the top bar
    (a clock, say: it makes every screenshot's bytes unique)."""
    im = Image.new("RGB", (WIDTH, HEIGHT), (244, 245, 247))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, WIDTH, 44), fill=(29, 35, 48))
    d.text((20, 14), "DEMO SHOP", fill=(255, 255, 255))
    if stamp:
        d.text((WIDTH - 120, 14), stamp, fill=(200, 200, 200))

    def box(label: str, fill: tuple[int, int, int], text: str | None = None) -> None:
        x, y, w, h = BOXES[label]
        outline = (47, 107, 255) if page.focus == label else (197, 202, 211)
        d.rectangle((x, y, x + w, y + h), fill=fill, outline=outline,
                    width=3 if page.focus == label else 1)
        d.text((x + 8, y + h // 2 - 6), text if text is not None else label,
               fill=(20, 20, 20) if fill[0] > 128 else (255, 255, 255))

    if page.name == "login":
        d.rectangle((140, 70, 500, 300), fill=(255, 255, 255))
        box("Username", (255, 255, 255), "alice" if "Username" in page.typed else "")
        box("Password", (255, 255, 255), "*" * 16 if "Password" in page.typed else "")
        box("Sign in", (47, 107, 255))
    elif page.name in ("search", "results"):
        d.rectangle((40, 70, 600, 380), fill=(255, 255, 255))
        box("Search products", (255, 255, 255), "blue mug" if page.typed else "")
        if page.name == "results":
            for k, name in enumerate(("Blue mug", "Blue mug lid")):
                d.rectangle((60, 170 + 40 * k, 560, 196 + 40 * k), fill=(235, 240, 255))
                d.text((68, 176 + 40 * k), name, fill=(47, 107, 255))
    elif page.name == "product":
        d.rectangle((40, 70, 600, 380), fill=(255, 255, 255))
        d.rectangle((70, 100, 330, 340), fill=(96, 165, 250))
        box("Add to cart", (30, 142, 62))
    elif page.name == "checkout":
        d.rectangle((40, 70, 600, 380), fill=(255, 255, 255))
        for k in range(3):
            d.line((70, 130 + 40 * k, 570, 130 + 40 * k), fill=(200, 200, 200), width=2)
        d.text((80, 140), "Blue mug        $12.00", fill=(20, 20, 20))
        box("Place order", (30, 142, 62))
    elif page.name == "order":
        d.rectangle((40, 70, 600, 380), fill=(255, 255, 255))
        d.text((80, 120), "Order #1001 confirmed", fill=(30, 142, 62))
    if page.dialog:
        shade = Image.new("RGB", im.size, (20, 24, 34))
        im = Image.blend(im, shade, 0.55)
        d = ImageDraw.Draw(im)
        d.rectangle((110, 230, 530, 340), fill=(255, 255, 255))
        d.text((130, 246), "Shipping terms updated", fill=(20, 20, 20))
        x, y, w, h = BOXES["Got it"]
        d.rectangle((x, y, x + w, y + h), fill=(47, 107, 255))
        d.text((x + 20, y + 10), "Got it", fill=(255, 255, 255))
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def base_task() -> list[Spec]:
    """The passing run: 11 steps, no dialog."""
    login = Page("login")
    return [
        Spec("Focus the username field", "click", "Username", login, centre("Username")),
        Spec("Type the username 'alice'", "type", "Username", Page("login", "Username"),
             params={"text": "alice"}),
        Spec("Focus the password field", "click", "Password",
             Page("login", None, ("Username",)), centre("Password")),
        Spec("Type the password", "type", "Password",
             Page("login", "Password", ("Username",)), params={"chars": 16}),
        Spec("Sign in", "click", "Sign in", Page("login", None, ("Username", "Password")),
             centre("Sign in")),
        Spec("Focus the search box", "click", "Search products", Page("search"),
             centre("Search products")),
        Spec("Type the query 'blue mug'", "type", "Search products",
             Page("search", "Search products"), params={"text": "blue mug"}),
        Spec("Submit the search", "key", "Search products",
             Page("search", "Search products", ("q",)), params={"key": "Enter"}),
        Spec("Open the result that matches the task", "click", "Blue mug",
             Page("results", None, ("q",)), centre("Blue mug")),
        Spec("Add the mug to the cart", "click", "Add to cart", Page("product"),
             centre("Add to cart")),
        Spec("Place the order", "click", "Place order", Page("checkout"), centre("Place order")),
    ]


def dialog_task() -> list[Spec]:
    """The run the dialog broke: the order click hits the backdrop (failed), a recovery
    step dismisses the dialog, the retry places the order. 13 steps."""
    steps = base_task()
    place = steps[10]
    failed = replace(place, page=Page("checkout", dialog=True), status="failed",
                     failure_class="no_state_change", verdict="failed", duration_ms=1900)
    dismiss = Spec("Recovery: dismiss the 'Shipping terms updated' dialog", "click", "Got it",
                   Page("checkout", dialog=True), centre("Got it"))
    retry = replace(place, intent="Place the order (retry)")
    return [*steps[:10], failed, dismiss, retry]


def retry_task() -> list[Spec]:
    """The sign-in click misses (60 px low) and is retried: 12 steps."""
    steps = base_task()
    sign_in = steps[4]
    x, y = centre("Sign in")
    missed = replace(sign_in, click=(x, y + 60), status="failed",
                     failure_class="no_state_change", verdict="failed", duration_ms=1700)
    retry = replace(sign_in, intent="Sign in (retry)")
    return [*steps[:4], missed, retry, *steps[5:]]


_SHOTS: dict[Page, bytes] = {}


def record(out: Path, specs: list[Spec], *, run_id: str | None = None,
           status: str | None = None, capture_mode: CaptureMode = CaptureMode.SCREENSHOTS,
           start: datetime | None = None, stamp: bool = False) -> Path:
    """Record ``specs`` as a run into ``out`` with the SDK; return the bundle path.
    ``stamp``: a clock in every screenshot (unique bytes, as in most real runs)."""
    run_id = run_id or out.name
    t = start or datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with DebugSession(run_id=run_id, client_name="diff-test-agent", client_version="1.0",
                      capture_mode=capture_mode, out_dir=str(out),
                      tags={"task_id": "buy-blue-mug"}) as session:
        for i, spec in enumerate(specs):
            if stamp:
                png = draw_page(spec.page, f"{run_id[-12:]} {i:06d}")
            else:
                png = _SHOTS.get(spec.page)
                if png is None:
                    png = _SHOTS[spec.page] = draw_page(spec.page)
            pre = session.attach_observation(step_index=i, kind="pre", png_bytes=png)
            started, ended = t, t + timedelta(milliseconds=spec.duration_ms)
            t = ended + timedelta(milliseconds=50)
            record: dict[str, Any] = {
                "step_id": f"{run_id}/step/{i:04d}",
                "step_index": i,
                "step_type": spec.action,
                "intent": spec.intent,
                "status": spec.status,
                "started_at": started.isoformat().replace("+00:00", "Z"),
                "ended_at": ended.isoformat().replace("+00:00", "Z"),
                "duration_ms": spec.duration_ms,
                "observation_pre": pre,
                "action": {"type": spec.action, "params": dict(spec.params),
                           "coordinate_space": "viewport_css_px"},
                "verdict": {"status": spec.verdict, "reason": "checked by the test"},
            }
            if spec.click is not None:
                record["action"]["params"].update(x=spec.click[0], y=spec.click[1])
            if spec.target is not None:
                gx, gy = centre(spec.target) if spec.target in BOXES else (0.0, 0.0)
                record["grounding"] = {"provider": "test", "target_label": spec.target,
                                       "coordinates": {"x": gx, "y": gy}, "confidence": 0.9,
                                       "provenance": "screenshot"}
            if spec.failure_class:
                record["failure_class"] = spec.failure_class
            if spec.cost_usd is not None:
                record["costs"] = {"total_usd": spec.cost_usd}
            session.record_step(record)
        if status:
            session.set_status(status)
    return out
