"""Make the viewer screenshots in docs/img/ (not a test; run by hand).

    python tests/viewer/make_docs_images.py            # writes docs/img/viewer-*.png, demo-run.png

Renders a small fake web shop in Debian's Chromium, records a 14-step checkout run with our
SDK (screenshots of those pages, clicks at the real element centres, one click that misses
its target, one that fails silently), then opens it with `augur view` and takes screenshots
of the viewer. `demo-run.png` (the README's picture) is the real demo of
examples/playwright_agent, recorded as `./scripts/demo.sh` records it, on its failed step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from viewer_support import run_viewer  # noqa: E402

from augur_sdk import CaptureMode, DebugSession  # noqa: E402

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

STYLE = """
body { margin: 0; font: 15px system-ui, 'DejaVu Sans', sans-serif; background: #f3f4f6; color: #111827; }
header { background: #111827; color: #fff; padding: 14px 28px; display: flex; gap: 24px; align-items: center; }
header b { font-size: 19px; color: #93c5fd; } header input { flex: 1; padding: 8px 10px; border-radius: 6px; border: 0; }
header .cart { background: #374151; padding: 6px 12px; border-radius: 6px; }
main { padding: 28px; } .card { background: #fff; border-radius: 10px; padding: 24px; box-shadow: 0 1px 3px #0002; }
.login { width: 360px; margin: 40px auto; } .login input { display: block; width: 100%; box-sizing: border-box; margin: 6px 0 16px; padding: 10px; border: 1px solid #d1d5db; border-radius: 6px; }
button { font: inherit; padding: 10px 18px; border-radius: 6px; border: 0; background: #2563eb; color: #fff; }
button.alt { background: #e5e7eb; color: #111827; }
.grid { display: grid; grid-template-columns: repeat(4, 1fr); gap: 18px; }
.item .img { height: 120px; border-radius: 8px; margin-bottom: 10px; }
.product { display: flex; gap: 32px; } .product .img { width: 380px; height: 300px; border-radius: 10px; background: #60a5fa; }
.row { display: flex; gap: 12px; margin-top: 18px; } .price { font-size: 26px; font-weight: 700; margin: 10px 0; }
.toast { position: fixed; right: 24px; bottom: 24px; background: #16a34a; color: #fff; padding: 12px 18px; border-radius: 8px; }
"""
COLORS = ["#60a5fa", "#f59e0b", "#34d399", "#f472b6", "#a78bfa", "#f87171", "#2dd4bf", "#facc15"]


def page_html(kind: str, query: str = "", cart: int = 0, toast: str = "") -> str:
    header = (f"<header><b>mugshop</b><input id=search placeholder='Search mugs' "
              f"value='{query}'><span class=cart id=cart>Cart ({cart})</span></header>")
    if kind == "login":
        body = ("<div class='card login'><h2>Sign in</h2><label>Email<input id=email></label>"
                "<label>Password<input id=password type=password></label>"
                "<button id=signin>Sign in</button> <button class=alt>Cancel</button></div>")
    elif kind == "results":
        items = "".join(
            f"<div class='card item' id=item{i}><div class=img style='background:{c}'></div>"
            f"{name}<div class=price>${9 + i}.00</div></div>"
            for i, (c, name) in enumerate(zip(COLORS, ["Blue mug", "Amber mug", "Mint mug",
                                                       "Pink mug", "Lilac mug", "Red mug",
                                                       "Teal mug", "Sun mug"], strict=True)))
        title = f"Results for “{query}”" if query else "Popular mugs"
        body = f"<h2>{title}</h2><div class=grid>{items}</div>"
    elif kind == "product":
        body = ("<div class='card product'><div class=img></div><div><h1>Blue mug</h1>"
                "<div class=price>$9.00</div><p>Stoneware, 350 ml, dishwasher safe.</p>"
                "<div class=row><button class=alt id=wishlist>Add to wishlist</button>"
                "<button id=addcart>Add to cart</button></div></div></div>")
    else:  # cart
        body = ("<div class=card><h2>Your cart</h2><p>1 x Blue mug — $9.00</p>"
                "<div class=row><button class=alt>Continue shopping</button>"
                "<button id=checkout>Checkout</button><button id=placeorder>Place order"
                "</button></div></div>")
    toast_html = f"<div class=toast>{toast}</div>" if toast else ""
    return f"<!doctype html><style>{STYLE}</style>{header}<main>{body}</main>{toast_html}"


def shoot(page: Any, html: str, target: str | None) -> tuple[bytes, tuple[float, float] | None]:
    page.set_content(html)
    point = None
    if target:
        box = page.locator(target).bounding_box()
        point = (round(box["x"] + box["width"] / 2, 1), round(box["y"] + box["height"] / 2, 1))
    return page.screenshot(type="png"), point


# (intent, action, pre page, target selector, post page, outcome, extra)
PLAN: list[dict[str, Any]] = [
    dict(intent="Click the email field", pre=("login",), target="#email", label="Email"),
    dict(intent="Type the email address", action="type", pre=("login",), target="#email",
         label="Email", text="ada@example.com"),
    dict(intent="Click the password field", pre=("login",), target="#password",
         label="Password"),
    dict(intent="Type the password", action="type", pre=("login",), target="#password",
         label="Password", text="***"),
    dict(intent="Press Sign in", pre=("login",), target="#signin", label="Sign in",
         post=("results", "", 0)),
    dict(intent="Click the search box", pre=("results", ""), target="#search", label="Search"),
    dict(intent="Search for 'blue mug'", action="type", pre=("results", ""), target="#search",
         label="Search", text="blue mug", post=("results", "blue mug")),
    dict(intent="Open the first result", pre=("results", "blue mug"), target="#item0",
         label="Blue mug", post=("product", "blue mug")),
    dict(intent="Add the mug to the cart", pre=("product", "blue mug"), target="#addcart",
         click="#wishlist", label="Add to cart", confidence=0.42, status="failed",
         failure_class="no_state_change", verdict_reason="cart count still 0 after the click",
         post=("product", "blue mug", 0, "Added to wishlist")),
    dict(intent="Add the mug to the cart (retry)", pre=("product", "blue mug"),
         target="#addcart", label="Add to cart", confidence=0.88,
         post=("product", "blue mug", 1, "Added to cart")),
    dict(intent="Open the cart", pre=("product", "blue mug", 1), target="#cart", label="Cart (1)",
         post=("cart", "", 1)),
    dict(intent="Press Checkout", pre=("cart", "", 1), target="#checkout", label="Checkout",
         confidence=0.9, post=("cart", "", 1)),
    dict(intent="Press Place order", pre=("cart", "", 1), target="#placeorder",
         label="Place order", confidence=0.61, status="failed", failure_class="verifier_disagrees",
         verdict_reason="no order confirmation after 5 s", post=("cart", "", 1)),
    dict(intent="Wait for the confirmation page", action="wait", skipped=True),
]


def record_demo(out: Path, page: Any, *, close: bool = True) -> DebugSession:
    run_id = "run_demo_checkout"
    session = DebugSession(run_id=run_id, client_name="shopagent", client_version="0.9.2",
                           client_git_sha="4f2c9e1a7b3d", capture_mode=CaptureMode.SCREENSHOTS,
                           out_dir=out, tags={"env": "staging", "task": "buy-blue-mug",
                                               "model": "cua-large", "viewport": "1280x800",
                                               "device_scale_factor": "1"})
    session.start()
    t = datetime.now(UTC)
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    for i, step in enumerate(PLAN):
        start, end = t, t + timedelta(milliseconds=600 + 130 * (i % 5))
        t = end + timedelta(milliseconds=300)
        record: dict[str, Any] = {
            "step_id": f"{run_id}/step/{i:04d}", "step_index": i,
            "step_type": step.get("action", "click"), "intent": step["intent"],
            "started_at": iso(start), "ended_at": iso(end),
            "duration_ms": int((end - start).total_seconds() * 1000),
        }
        if step.get("skipped"):
            record.update(status="skipped", observation_pre=None, observation_post=None)
            session.record_step(record)
            continue
        pre_png, target = shoot(page, page_html(*step["pre"]), step["target"])
        click = target
        if step.get("click"):
            _, click = shoot(page, page_html(*step["pre"]), step["click"])
        post_args = step.get("post", step["pre"])
        post_png, _ = shoot(page, page_html(*post_args), None)
        pre = session.attach_observation(step_index=i, kind="pre", png_bytes=pre_png)
        post = session.attach_observation(step_index=i, kind="post", png_bytes=post_png)
        status = step.get("status", "succeeded")
        params: dict[str, Any] = {"x": click[0], "y": click[1]} if click else {}
        if "text" in step:
            params = {"text": step["text"]}
        assert target is not None
        record.update(
            status=status, observation_pre=pre, observation_post=post,
            action={"type": step.get("action", "click"), "params": params,
                    "coordinate_space": "viewport_css_px", "dispatch_backend": "playwright"},
            grounding={"provider": "cua-large", "target_label": step["label"],
                       "coordinates": {"x": target[0], "y": target[1]},
                       "confidence": step.get("confidence", 0.95),
                       "evidence": f"visible text '{step['label']}'", "provenance": "screenshot"},
            verdict={"status": "failed" if status == "failed" else "passed",
                     "reason": step.get("verdict_reason", "expected change observed")},
        )
        if step.get("failure_class"):
            record["failure_class"] = step["failure_class"]
        session.record_step(record)
        events = [("planner", "decision", f"next: {step['intent'].lower()}"),
                  ("grounding", "decision", f"target '{step['label']}' at {target}"),
                  ("dispatch", "info", f"{step.get('action', 'click')} dispatched via CDP")]
        if status == "failed":
            events += [("verifier", "error", step["verdict_reason"]),
                       ("step_recovery", "decision", "retry with a fresh screenshot")]
        else:
            events.append(("verifier", "observation", "expected change observed"))
        for n, (layer, kind, summary) in enumerate(events):
            session.record_event({"ts": iso(start + timedelta(milliseconds=40 + 90 * n)),
                                  "step_index": i, "layer": layer, "kind": kind,
                                  "summary": summary, "detail": {"n": n}})
    if close:
        session.set_status("failed")
        session.close()
    return session


def main() -> None:
    from playwright.sync_api import sync_playwright

    out_dir = ROOT / "docs" / "img"
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.pop("AUGUR_CAPTURE_MODE", None)
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="augur-docs-") as tmp:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        shop = browser.new_page(viewport={"width": 1280, "height": 800})
        bundle = Path(tmp) / "augur-runs" / "run_demo_checkout"
        record_demo(bundle, shop)
        with run_viewer(bundle, "--jaeger-url", "http://localhost:16686") as url:
            page = browser.new_page(viewport={"width": 1440, "height": 860})
            page.goto(url + "#step=8&tab=action")
            page.wait_for_selector("#shot-wrap[data-loaded='1']")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out_dir / "viewer-action.png"))
            page.select_option("#f-status", "failures")
            page.keyboard.press("n")
            page.wait_for_selector("#detail[data-step='12'][data-ready='1']")
            page.keyboard.press("3")
            page.wait_for_selector("#shot-wrap[data-tab='post'][data-loaded='1']")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out_dir / "viewer-failures.png"))
            page.close()
        crashed = Path(tmp) / "augur-runs" / "run_crashed"
        session = record_demo(crashed, shop, close=False)
        live = (crashed / "live.json").read_text().replace(f'"pid": {os.getpid()}',
                                                            '"pid": 999999')
        (crashed / "live.json").write_text(live)
        with run_viewer(crashed) as url:
            page = browser.new_page(viewport={"width": 1440, "height": 860})
            page.goto(url + "#step=11&tab=pre")
            page.wait_for_selector("#shot-wrap[data-loaded='1']")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out_dir / "viewer-unfinished.png"))
            page.close()
        session.close()
        demo_run(browser, out_dir / "demo-run.png", Path(tmp) / "demo-runs")
        browser.close()
    for png in [*sorted(out_dir.glob("viewer-*.png")), out_dir / "demo-run.png"]:
        shrink(png)
        print(f"{png.relative_to(ROOT)}: {png.stat().st_size:,} bytes")


def demo_run(browser: Any, png: Path, out_base: Path) -> None:
    """The demo agent's run as `./scripts/demo.sh` records it (examples/playwright_agent/
    demo.py in its own process), open on its first failure, Action tab."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    subprocess.run([sys.executable, str(ROOT / "examples" / "playwright_agent" / "demo.py")],
                   env={**env, "AUGUR_OUT": str(out_base)}, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    bundle = next(out_base.iterdir())
    failed = min(int(p.stem) for p in (bundle / "steps").glob("*.json")
                 if json.loads(p.read_text())["status"] == "failed")
    with run_viewer(bundle) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 860})
        page.goto(url + f"#step={failed}&tab=action")
        page.wait_for_selector("#shot-wrap[data-loaded='1']")
        page.wait_for_timeout(300)
        page.screenshot(path=str(png))
        page.close()


def shrink(png: Path) -> None:
    """Store the screenshot as a 256-colour palette PNG (a third of the size) if Pillow is
    installed (it is in the test extra)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    small.save(png, optimize=True)


if __name__ == "__main__":
    main()
