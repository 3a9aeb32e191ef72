"""How fast `augur view` is on a big run (issue 6): first paint and step switching.

Generates a 5,000-step bundle (two 1280x800 screenshots and 20 decision events per step)
with DebugSession, starts `augur view --no-open --port 0` as a subprocess, drives Debian's
Chromium with Playwright, and prints:

* server start: process start until the URL is printed (index of every step built);
* first paint: navigation start until the step list is drawn and the first step's details
  are shown (the page's own performance.now()), and until its screenshot is shown;
* step switch: key press (j) until the next step's details are shown / its screenshot is
  shown, p50 / p95 / max over N presses; plus jumps (n, G, g).

Targets (issue 6): first paint < 1.5 s, step switch < 100 ms.

    python benchmarks/bench_viewer.py                 # 5,000 steps
    python benchmarks/bench_viewer.py --steps 500     # smaller
    python benchmarks/bench_viewer.py --bundle DIR    # an existing bundle
"""

from __future__ import annotations

import argparse
import json
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "viewer"))

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def generate(out: Path, steps: int, events: int) -> float:
    from viewer_bundles import StepSpec, record_steps, wireframe_png

    from augur_sdk import CaptureMode, DebugSession

    pngs = [wireframe_png(1280, 800, variant=v) for v in range(8)]
    layers = ["planner", "grounding", "model", "dispatch", "verifier"]
    specs = []
    for i in range(steps):
        failed = i % 97 == 13
        specs.append(StepSpec(
            intent=f"Step {i}: click the button for item {i % 50}",
            status="failed" if failed else "succeeded",
            failure_class="no_state_change" if failed else None,
            click=(400.0 + i % 300, 300.0 + i % 200), target=(402.0 + i % 300, 301.0 + i % 200),
            confidence=0.35 if i % 41 == 7 else 0.9,
            events=[(layers[n % 5], "decision" if n % 3 else "observation", f"event {n} of step {i}")
                    for n in range(events)]))
    t = time.perf_counter()
    with DebugSession(run_id="bench_viewer", client_name="bench", client_version="1",
                      capture_mode=CaptureMode.SCREENSHOTS, out_dir=out,
                      tags={"bench": "viewer"}) as session:
        record_steps(session, "bench_viewer", specs, pngs=pngs)
    return time.perf_counter() - t


def start_viewer(bundle: Path) -> tuple[subprocess.Popen[str], str, float]:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "augur_sdk.cli", "view", str(bundle),
                             "--no-open", "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    if " at " not in line:
        proc.kill()
        raise SystemExit(f"viewer did not start: {line!r}")
    return proc, line.split(" at ")[1].split()[0], time.perf_counter() - t


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def measure(url: str, presses: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright
    from viewer_support import wait_js

    out: dict[str, object] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        # Warm the browser (process start, code caches) on a blank page, not on the viewer.
        page.goto("about:blank")
        first: list[tuple[float, float]] = []
        phases: list[dict[str, int]] = []
        for _ in range(3):
            page.goto(url + "#")
            page.wait_for_selector("body[data-ready='1']")
            wait_js(page, "() => window.augurViewer.stats.firstImage !== null")
            s = page.evaluate("window.augurViewer.stats")
            nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
            first.append((s["firstPaint"], s["firstImage"]))
            phases.append({"html_received": round(nav["responseEnd"]),
                           "script_start": round(s["scriptStart"]),
                           "data_parsed": round(s["dataParsed"]),
                           "list_drawn": round(s["listDrawn"]),
                           "details_shown": round(s["firstPaint"])})
            page.goto("about:blank")
        out["first_paint_ms"] = [round(a) for a, _ in first]
        out["first_image_ms"] = [round(b) for _, b in first]
        out["first_paint_phases_ms"] = phases
        page.goto(url + "#step=0&tab=action")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#shot-wrap[data-loaded='1']")
        out["list_rows_in_dom"] = page.locator("#list-rows .row").count()
        out["steps_listed"] = page.evaluate("document.getElementById('list-count').textContent")

        def press(key: str) -> tuple[float, float]:
            n = page.evaluate("window.augurViewer.stats.switches.length")
            page.keyboard.press(key)
            wait_js(page, "n => { const s = window.augurViewer.stats.switches;"
                    " return s.length > n && s[s.length - 1].image !== null; }", n)
            last = page.evaluate("window.augurViewer.stats.switches.at(-1)")
            return last["text"], last["image"]

        runs = [press("j") for _ in range(presses)]
        jumps = [press(k) for k in ["n", "n", "N", "G", "g", "n", "]"] * 3]
        out["switch_text_ms"] = summary([r[0] for r in runs])
        out["switch_image_ms"] = summary([r[1] for r in runs])
        out["jump_text_ms"] = summary([r[0] for r in jumps])
        out["jump_image_ms"] = summary([r[1] for r in jumps])
        heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : null")
        out["js_heap_mb"] = round(heap / 2**20, 1) if heap else None
        browser.close()
    return out


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "p95": round(pct(values, 0.95), 1),
            "max": round(max(values), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--events", type=int, default=20, help="decision events per step")
    ap.add_argument("--presses", type=int, default=100, help="j presses to time")
    ap.add_argument("--bundle", type=Path, help="use this bundle instead of generating one")
    ap.add_argument("--keep", action="store_true", help="keep the generated bundle")
    args = ap.parse_args()
    tmp = None
    if args.bundle:
        bundle = args.bundle
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_viewer_"))
        bundle = tmp / "bundle"
        secs = generate(bundle, args.steps, args.events)
        print(f"generated {args.steps:,} steps ({args.events} events, 2 screenshots each) "
              f"in {secs:.1f} s: {bundle}")
    proc, url, start_s = start_viewer(bundle)
    try:
        result = measure(url, args.presses)
    finally:
        proc.terminate()
        proc.wait(10)
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"server start (process start -> URL printed, index built): {start_s * 1000:.0f} ms")
    print(f"first paint (navigation -> list + step details): {result['first_paint_ms']} ms "
          "(target < 1500)")
    print(f"first screenshot shown: {result['first_image_ms']} ms")
    for p in result["first_paint_phases_ms"]:  # type: ignore[attr-defined]
        print(f"  phases: {p}")
    print(f"step switch j, details shown:    {result['switch_text_ms']} ms (target < 100)")
    print(f"step switch j, screenshot shown: {result['switch_image_ms']} ms")
    print(f"jumps n/N/G/g/], details shown:   {result['jump_text_ms']} ms")
    print(f"jumps n/N/G/g/], screenshot:      {result['jump_image_ms']} ms")
    print(f"list rows in the DOM: {result['list_rows_in_dom']} ({result['steps_listed']}); "
          f"JS heap {result['js_heap_mb']} MB")
    print(json.dumps({"server_start_ms": round(start_s * 1000), **result}))


if __name__ == "__main__":
    main()
