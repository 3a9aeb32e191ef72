"""augur_sdk.integrations.openai_agents: the OpenAI Agents SDK itself (``Runner.run`` with a
real ``Agent`` and ``ComputerTool``) drives the demo shop in headless Chromium through a
Playwright-backed ``AsyncComputer``; a scripted ``Model`` (the SDK's own custom-model hook)
stands in for the network model. The bundle it records is checked: steps with the scripted
actions and coordinates, pre/post screenshots, model calls, the failed action and its class,
the run's status; it validates and opens in ``augur view``.

The SDK runs in this process (``openai-agents`` is in the test extra). No network: the model
is local and the SDK's default exporter skips its upload without an ``OPENAI_API_KEY`` (the
key is removed from the environment here).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from playwright_agent.webapp import PASSWORD, USERNAME, DemoShop

from augur_sdk.integrations import openai_agents as integration
from augur_sdk.validation import validate_bundle
from integrations.integration_support import CHROMIUM, unavailable, viewer_steps
from integrations.openai_agents_support import (  # the SDK, or the module is skipped
    ScriptedModel,
    Turn,
    agents,
    computer_call,
    message,
    no_network,  # noqa: F401  (an autouse fixture)
    then,
)

pytestmark = pytest.mark.slow

SCREEN = (1280, 800)
LAUNCH = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run"]
KEYS = {"ENTER": "Enter", "CTRL": "Control", "ALT": "Alt", "SHIFT": "Shift", "TAB": "Tab"}


class OffScreenError(ValueError):
    """The computer refuses a pointer action outside its screen."""


class PlaywrightComputer(agents.AsyncComputer):
    """The SDK's ``AsyncComputer`` on a real Playwright page (screenshot pixels = CSS px)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    @property
    def environment(self) -> Any:
        return "browser"

    @property
    def dimensions(self) -> tuple[int, int]:
        return SCREEN

    def _on_screen(self, x: int, y: int) -> None:
        if not (0 <= x < SCREEN[0] and 0 <= y < SCREEN[1]):
            raise OffScreenError(f"({x}, {y}) is outside the {SCREEN[0]}x{SCREEN[1]} screen")

    async def _settle(self) -> None:
        """Let a navigation an action started finish (a screenshot taken while a page is
        replaced can stall)."""
        await self.page.wait_for_timeout(150)
        await self.page.wait_for_load_state()

    async def screenshot(self) -> str:
        await self.page.wait_for_load_state()
        return base64.b64encode(await self.page.screenshot()).decode()

    async def click(self, x: int, y: int, button: Any = "left") -> None:
        self._on_screen(x, y)
        await self.page.mouse.click(x, y, button=button)
        await self._settle()

    async def double_click(self, x: int, y: int) -> None:
        self._on_screen(x, y)
        await self.page.mouse.dblclick(x, y)

    async def scroll(self, x: int, y: int, scroll_x: int, scroll_y: int) -> None:
        await self.page.mouse.move(x, y)
        await self.page.mouse.wheel(scroll_x, scroll_y)

    async def type(self, text: str) -> None:
        await self.page.keyboard.type(text)

    async def wait(self) -> None:
        await self.page.wait_for_timeout(200)

    async def move(self, x: int, y: int) -> None:
        await self.page.mouse.move(x, y)

    async def keypress(self, keys: list[str]) -> None:
        await self.page.keyboard.press("+".join(KEYS.get(k.upper(), k) for k in keys))
        await self._settle()

    async def drag(self, path: list[tuple[int, int]]) -> None:
        await self.page.mouse.move(*path[0])
        await self.page.mouse.down()
        for point in path[1:]:
            await self.page.mouse.move(*point)
        await self.page.mouse.up()


# ── the script: the model "sees" the page and clicks where the element is ─────────────

async def center(page: Any, selector: str) -> tuple[int, int]:
    box = await page.locator(selector).first.bounding_box()
    return round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)


def click_on(n: int, selector: str, said: str | None = None) -> Turn:
    async def turn(page: Any) -> list[dict[str, Any]]:
        x, y = await center(page, selector)
        click = computer_call(n, {"type": "click", "button": "left", "x": x, "y": y})
        return [message(said), click] if said else [click]
    return turn


async def search_batch(page: Any) -> list[dict[str, Any]]:
    x, y = await center(page, "#q")
    return [message("Searching for the blue mug."),
            computer_call(7, {"type": "click", "button": "left", "x": x, "y": y},
                          {"type": "type", "text": "blue mug"},
                          {"type": "keypress", "keys": ["ENTER"]})]


LOGIN_AND_SEARCH: list[Turn] = [
    then({"type": "reasoning", "id": "rs_1",
          "summary": [{"type": "summary_text", "text": "I should look at the screen first."}]},
         computer_call(1, {"type": "screenshot"})),
    click_on(2, "#username", "Signing in as alice."),
    then(computer_call(3, {"type": "type", "text": USERNAME})),
    click_on(4, "#password"),
    then(computer_call(5, {"type": "type", "text": PASSWORD})),
    then(computer_call(6, {"type": "keypress", "keys": ["ENTER"]})),
    search_batch,
    then(message("Opening the first result."),  # off the 1280x800 screen: the computer raises
         computer_call(8, {"type": "click", "button": "left", "x": 1500, "y": 300})),
]
RETRY: list[Turn] = [
    click_on(9, "#results a", "Opening the blue mug."),
    then(message("The blue mug costs $12.00.")),
]


# ── running it ─────────────────────────────────────────────────────────────────────────

def _require_browser() -> None:
    if not CHROMIUM.exists():
        unavailable("Debian's chromium package is not installed (/usr/bin/chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        unavailable("playwright (Python) is not installed")




async def _drive(runs: list[tuple[str, list[Turn]]], config: Any = None) -> list[Any]:
    """Run the agent once per ``(task, turns)`` on a fresh shop; a run that raises is
    recorded as its exception (the next run is the user's retry)."""
    from playwright.async_api import async_playwright

    outcomes: list[Any] = []
    with DemoShop(notice=False) as shop:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH,
                                               headless=True)
            try:
                page = await browser.new_page(viewport={"width": SCREEN[0],
                                                        "height": SCREEN[1]})
                await page.goto(shop.url + "login")
                for task, turns in runs:
                    model = ScriptedModel(turns, page)
                    agent = agents.Agent(name="shopper", instructions="You shop on the web.",
                                         model=model,
                                         tools=[agents.ComputerTool(PlaywrightComputer(page))])
                    try:
                        result = await agents.Runner.run(agent, task, max_turns=20,
                                                         run_config=config)
                        outcomes.append(result.final_output)
                    except Exception as exc:
                        outcomes.append(exc)
                    assert not model.turns, (f"{len(model.turns)} scripted turns left unused", outcomes)
                outcomes.append(page.url)
            finally:
                await browser.close()
    return outcomes


def run_agent(runs: list[tuple[str, list[Turn]]], timeout: float = 180,
              config: Any = None) -> list[Any]:
    """``_drive`` on a thread of its own (its own event loop, whatever the main thread
    runs), with a deadline."""
    _require_browser()
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(asyncio.run(_drive(runs, config)))
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=target, name="openai-agents-run", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the agent did not finish in {timeout} s"
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _bundle(out: Path) -> Path:
    (bundle,) = [p.parent for p in out.rglob("manifest.json")]
    return bundle


def _steps(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((bundle / "steps").glob("*.json"))]


# ── the tests ──────────────────────────────────────────────────────────────────────────

def test_an_agent_run_on_the_shop_becomes_a_bundle(tmp_path: Path) -> None:
    """Login (screenshot, click, type, click, type, Enter), a batched search (click, type,
    Enter), an off-screen click the computer refuses (the run raises; the user retries),
    then a click on the result and the answer: 12 steps with the scripted actions at the
    page's coordinates, screenshots chained pre -> post, one model call per turn, the refused
    click failed with ``openai_agents.OffScreenError``, the run succeeded (the retry did)."""
    # What the agent types is kept off disk by path (the password among it).
    hidden = ["action.params.text", "**.action.text"]
    with integration.record(out_dir=tmp_path / "runs", run_id="oa-shop",
                            never_record=hidden) as recording:
        outcomes = run_agent([("Log in as alice and find the blue mug.", LOGIN_AND_SEARCH),
                              ("Open the blue mug.", RETRY)])
    first, second, url = outcomes
    assert isinstance(first, OffScreenError)
    assert second == "The blue mug costs $12.00."
    assert url.endswith("/product/blue-mug")
    bundle = _bundle(tmp_path / "runs")
    assert recording.session.run_id == "oa-shop"

    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "validate", str(bundle)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    steps = _steps(bundle)
    assert [s["step_type"] for s in steps] == [
        "screenshot", "click", "type", "click", "type", "key",
        "click", "type", "key", "click", "click", "done"]
    assert [s["status"] for s in steps] == ["succeeded"] * 9 + ["failed"] + ["succeeded"] * 2
    assert [s["step_index"] for s in steps] == list(range(12))
    username, login_typed, search = steps[1], steps[2], steps[6:9]
    for step in (username, steps[3], search[0], steps[10]):
        params = step["action"]["params"]
        assert step["grounding"]["coordinates"] == {"x": params["x"], "y": params["y"]}
        assert 0 < params["x"] < SCREEN[0] and 0 < params["y"] < SCREEN[1]
        assert params["viewport"] == {"width": SCREEN[0], "height": SCREEN[1]}
        assert step["action"]["coordinate_space"] == "screenshot_px"  # the Responses API's
        assert step["action"]["dispatch_backend"] == "openai_agents.computer"
    assert username["intent"] == "Signing in as alice."
    assert login_typed["action"]["params"]["text"] == "***REDACTED:never_record***"
    assert not [p for p in bundle.rglob("*") if p.is_file() and PASSWORD.encode() in
                p.read_bytes()]
    assert steps[5]["action"]["params"]["keys"] == ["ENTER"]
    assert [s["action"]["params"]["batch"] for s in search] == [
        {"position": n, "size": 3} for n in range(3)]
    failed = steps[9]
    assert (failed["action"]["params"]["x"], failed["action"]["params"]["y"]) == (1500, 300)
    assert failed["failure_class"] == "openai_agents.OffScreenError"
    assert failed["verdict"] == {"status": "failed",
                                 "reason": "(1500, 300) is outside the 1280x800 screen"}
    assert failed["observation_post"] is None
    assert steps[11]["action"]["params"]["answer"] == "The blue mug costs $12.00."

    # Screenshots: each single action's post is the next step's pre; a batch has a pre on
    # its first action and a post on its last (the SDK takes none in between).
    shot = lambda rel: (bundle / rel).read_bytes()  # noqa: E731
    assert steps[0]["observation_pre"] is None  # nothing was seen before the first action
    for before, after in itertools.pairwise(steps[:7]):
        assert before["observation_post"] and after["observation_pre"]
        assert shot(before["observation_post"]) == shot(after["observation_pre"])
    assert search[0]["observation_post"] is None and search[1]["observation_pre"] is None
    assert shot(search[2]["observation_post"]) == shot(failed["observation_pre"])
    assert steps[10]["observation_pre"], [(s["step_type"], s["observation_pre"], s["observation_post"]) for s in steps]
    assert shot(steps[10]["observation_post"]) == shot(steps[11]["observation_pre"])
    assert shot(steps[0]["observation_post"]) != shot(steps[8]["observation_post"])
    for step in steps:
        for kind in ("observation_pre", "observation_post"):
            if step[kind]:
                assert shot(step[kind]).startswith(b"\x89PNG")

    # Model calls: one per model turn (10), under the step each one led to.
    calls = {p.name: json.loads(p.read_text()) for p in sorted((bundle / "modelio").glob(
        "*.json"))}
    assert len(calls) == 10, sorted(calls)
    assert {c["step_index"] for c in calls.values()} == {0, 1, 2, 3, 4, 5, 6, 9, 10, 11}
    first_call = calls["0000-model-0.json"]
    assert first_call["request"]["model"] == "scripted-cua"
    assert first_call["request"]["system"] == "You shop on the web."
    assert first_call["request"]["messages"][0]["content"] == \
        "Log in as alice and find the blue mug."
    assert first_call["response"]["tool_calls"][0]["action"] == {"type": "screenshot"}
    assert first_call["response"]["usage"] == {"prompt_tokens": 1001, "completion_tokens": 20}
    assert all(c["duration_ms"] >= 0 for c in calls.values())  # from the response span
    assert calls["0011-model-0.json"]["response"]["text"] == "The blue mug costs $12.00."
    reasoning = [json.loads(line) for line in
                 (bundle / "diagnostics/reasoning.jsonl").read_text().splitlines()]
    assert [(r["step_index"], r["text"]) for r in reasoning] == [
        (0, "I should look at the screen first.")]

    assert json.loads((bundle / "trace.json").read_text())["session"]["status"] == "succeeded"

    seen = viewer_steps(bundle)
    assert seen["errors"] == []
    assert seen["rows"] == list(range(12))
    assert seen["failed"] == [9]
    assert seen["selected"] == 9 and seen["shot_width"] == SCREEN[0]  # its pre screenshot
    seen = viewer_steps(bundle, step=10)  # the click on the result: pre, marker, post
    assert seen["errors"] == []
    assert (seen["shot_width"], seen["click_markers"], seen["post_loaded"]) == (SCREEN[0], 1,
                                                                                True)


def test_a_run_that_fails_is_a_failed_run(tmp_path: Path) -> None:
    """A run whose computer raises ends the recording's run ``failed`` (the SDK marks its
    agent span with the error), the refused click a failed step with the exception's class."""
    turns = [click_on(1, "#username"),
             then(computer_call(2, {"type": "double_click", "x": -5, "y": 10}))]
    recording = integration.record(out_dir=tmp_path, run_id="oa-fails")
    try:
        (outcome, _url) = run_agent([("Log in.", turns)])
    finally:
        recording.close()
    assert isinstance(outcome, OffScreenError)
    bundle = _bundle(tmp_path)
    steps = _steps(bundle)
    assert [(s["step_type"], s["status"]) for s in steps] == [("click", "succeeded"),
                                                              ("double_click", "failed")]
    assert steps[1]["failure_class"] == "openai_agents.OffScreenError"
    assert json.loads((bundle / "trace.json").read_text())["session"]["status"] == "failed"


def test_without_sensitive_data_a_computer_call_is_a_bare_step(tmp_path: Path) -> None:
    """With ``trace_include_sensitive_data=False`` the SDK's spans hold no actions, screenshots
    or model messages: each computer call is still a step (type ``computer``, no parameters,
    no screenshots), model calls are not recorded, the status still comes through."""
    config = agents.RunConfig(trace_include_sensitive_data=False)
    with integration.record(out_dir=tmp_path, run_id="oa-redacted"):
        run_agent([("Log in.", [click_on(1, "#username"), then(message("Done."))])],
                  config=config)
    assert validate_bundle(tmp_path) == []
    (step,) = _steps(tmp_path)
    assert (step["step_type"], step["action"]["params"], step["status"]) == \
        ("computer", {}, "succeeded")
    assert step["observation_pre"] is None and step["observation_post"] is None
    assert not (tmp_path / "modelio").exists() or not list((tmp_path / "modelio").iterdir())
    assert json.loads((tmp_path / "trace.json").read_text())["session"]["status"] == \
        "succeeded"


def test_the_sdk_trace_still_reaches_its_other_processors(tmp_path: Path) -> None:
    """Recording adds a processor beside the SDK's: another processor registered with
    ``add_trace_processor`` still gets the trace and its spans (the computer call with its
    screenshot, the model call), and the SDK's default (OpenAI) processor stays registered."""
    seen: list[Any] = []

    class Collect(agents.TracingProcessor):
        active = True

        def on_trace_start(self, trace: Any) -> None:
            if self.active:
                seen.append(trace)

        def on_trace_end(self, trace: Any) -> None:
            pass

        def on_span_start(self, span: Any) -> None:
            pass

        def on_span_end(self, span: Any) -> None:
            if self.active:
                seen.append(span)

        def shutdown(self) -> None:
            pass

        def force_flush(self) -> None:
            pass

    collect = Collect()
    agents.add_trace_processor(collect)
    try:
        with integration.record(out_dir=tmp_path, run_id="oa-beside"):
            run_agent([("Log in.", [click_on(1, "#username"), then(message("Done."))])])
    finally:
        collect.active = False  # the SDK has no way to remove a processor
    traces = [t for t in seen if hasattr(t, "name") and not hasattr(t, "span_data")]
    kinds = [getattr(s.span_data, "type", None) for s in seen if hasattr(s, "span_data")]
    assert len(traces) == 1
    assert kinds.count("response") == 2 and "agent" in kinds
    computer = [s for s in seen if getattr(getattr(s, "span_data", None), "name", "") ==
                "computer"]
    assert len(computer) == 1 and computer[0].span_data.output.startswith("data:image/png")
    # The SDK's own exporter is still there (we added a processor, we did not replace any).
    from agents.tracing import get_trace_provider
    from agents.tracing.processors import default_processor

    registered = get_trace_provider()._multi_processor._processors  # no public accessor
    assert default_processor() in registered
    assert integration.tracing_processor() in registered
    assert sum(1 for p in registered if p is integration.tracing_processor()) == 1
    assert len(_steps(_bundle(tmp_path))) == 2  # the click and the answer
