"""A real cua ``ComputerAgent`` on the demo shop, recorded with augur_sdk.integrations.cua.

Runs in ``.ci-venvs/cua`` (``.ci/install-cua.sh``)::

    python tests/integrations/drivers/cua_shop.py --out DIR

* the demo shop (``examples/playwright_agent/webapp.py``) on 127.0.0.1;
* a computer of cua's ``AsyncComputerHandler`` protocol backed by a Playwright page in headless
  Debian Chromium (screenshots are the page's PNGs; coordinates are viewport pixels);
* the model is a scripted agent loop registered with cua's own ``register_agent`` hook: it
  logs in by clicking and typing at coordinates, searches, presses a key the browser does not
  know (the computer raises cua's ``ToolError``: a failed call), recovers with Enter and ends
  with a message. It reports api start/end, usage and a first screenshot through the hooks
  cua hands every loop, as the network loops do.

With ``--crash`` the computer lets the bad key's error escape instead: cua's run raises there
(no ``on_run_end``), which the recording must still close as a failed run. With ``--budget``
cua's own budget manager (``max_trajectory_budget``, not raising) stops the run after five
turns of 0.01 each. With ``--session`` the driver opens the session, the agent runs twice
into it, then the recording is detached and the agent runs once more. Without any of them,
a second ``record()`` before the run is refused, the agent runs a second time after the
recorded run (not recorded: ``record(out_dir=)`` records one run) and a third time after
``record()`` again, into ``<out>-again``.

``--dsn URL`` streams to ``URL`` too (a server that never answers: closing waits the whole
close budget) while a task ticks on the event loop; the longest gap between its ticks is the
longest time the loop was blocked.

Prints one JSON line: the script's actions (type, x, y) in order, for the test to compare,
and what the driver saw of the agent and the loop.
No network beyond 127.0.0.1: cua's and litellm's telemetry are off.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# Before cua (and litellm) are imported: no telemetry, no model-price map download.
os.environ.update({"DO_NOT_TRACK": "1", "CUA_TELEMETRY": "off",
                   "CUA_TELEMETRY_ENABLED": "false", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                   "LITELLM_TELEMETRY": "False"})

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "examples" / "playwright_agent"))

from cua_agent import ComputerAgent, register_agent  # noqa: E402
from cua_agent.types import ToolError  # noqa: E402
from playwright.async_api import Error as PlaywrightError  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402
from webapp import PASSWORD, USERNAME, DemoShop  # noqa: E402

from augur_sdk import DebugSession, DefaultRedactionPolicy  # noqa: E402
from augur_sdk.integrations.cua import record  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
LAUNCH = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = (1024, 700)
MODEL = "augur-scripted/shop-v1"
CLOSE_BUDGET_S = 2.0
TURN_COST = 0.01


class PlaywrightComputer:
    """cua's ``AsyncComputerHandler`` protocol on one Playwright page."""

    def __init__(self, page: Any, *, wrap_errors: bool = True) -> None:
        self.page = page
        self.wrap_errors = wrap_errors

    async def get_environment(self) -> str:
        return "browser"

    async def get_dimensions(self) -> tuple[int, int]:
        return VIEWPORT

    async def screenshot(self, text: str | None = None) -> str:
        # A click that submits a form navigates a moment after it returns; Chromium refuses
        # (or never finishes) a capture in the middle of that, so wait for the load and retry.
        for attempt in range(4):
            try:
                await self.page.wait_for_load_state()
                png = await self.page.screenshot(type="png", animations="disabled",
                                                 timeout=10_000)
                return base64.b64encode(png).decode()
            except PlaywrightError:
                if attempt == 3:
                    raise
                await self.page.wait_for_timeout(200)
        raise AssertionError("unreachable")

    async def click(self, x: int, y: int, button: str = "left") -> None:
        await self.page.mouse.click(x, y, button=button)
        await self.page.wait_for_load_state()

    async def double_click(self, x: int, y: int) -> None:
        await self.page.mouse.dblclick(x, y)

    async def scroll(self, x: int, y: int, scroll_x: int, scroll_y: int) -> None:
        await self.page.mouse.move(x, y)
        await self.page.mouse.wheel(scroll_x, scroll_y)

    async def type(self, text: str) -> None:
        await self.page.keyboard.type(text)

    async def wait(self, ms: int = 1000) -> None:
        await self.page.wait_for_timeout(ms)

    async def move(self, x: int, y: int) -> None:
        await self.page.mouse.move(x, y)

    async def keypress(self, keys: list[str] | str) -> None:
        try:
            for key in [keys] if isinstance(keys, str) else keys:
                await self.page.keyboard.press(key)
        except PlaywrightError as exc:
            if not self.wrap_errors:  # --crash: any other exception ends cua's run
                raise
            # cua turns a ToolError into an error item for the model, and the run goes on
            raise ToolError(f"keypress {keys}: {exc.message.splitlines()[0]}") from exc
        await self.page.wait_for_load_state()

    async def drag(self, path: list[dict[str, int]]) -> None:
        await self.page.mouse.move(path[0]["x"], path[0]["y"])
        await self.page.mouse.down()
        for point in path[1:]:
            await self.page.mouse.move(point["x"], point["y"])
        await self.page.mouse.up()

    async def get_current_url(self) -> str:
        return str(self.page.url)

    async def left_mouse_down(self, x: int | None = None, y: int | None = None) -> None:
        await self.page.mouse.down()

    async def left_mouse_up(self, x: int | None = None, y: int | None = None) -> None:
        await self.page.mouse.up()

    async def center(self, selector: str) -> tuple[int, int]:
        """Where ``selector`` is on the screen: the scripted model's stand-in for vision."""
        box = await self.page.locator(selector).bounding_box()
        assert box is not None, selector
        return round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)


# The script: (reasoning, action); a selector in "at" is turned into x/y when the turn comes.
SCRIPT: list[tuple[str, dict[str, Any]]] = [
    ("The sign-in form is open; the username field comes first.",
     {"type": "click", "at": "#username"}),
    ("", {"type": "type", "text": USERNAME}),
    ("Now the password field.", {"type": "click", "at": "#password"}),
    ("", {"type": "type", "text": PASSWORD}),
    ("Both fields are filled; submit the form.", {"type": "click", "at": "button[type=submit]"}),
    ("Signed in: the search page. Focus the search box.", {"type": "click", "at": "#q"}),
    ("", {"type": "type", "text": "blue mug"}),
    ("Submit the search.", {"type": "keypress", "keys": ["Sumbit"]}),   # a key that is no key
    ("That key does not exist; Enter submits the form.", {"type": "keypress", "keys": ["Enter"]}),
]
FINAL = "Signed in and searched: 2 results for “blue mug”."


@register_agent(models=r"^augur-scripted/")
class ScriptedShopLoop:
    """A cua agent loop that plays SCRIPT instead of asking a network model."""

    def __init__(self) -> None:
        self.turn = 0
        self.played: list[dict[str, Any]] = []

    async def predict_step(self, messages: list[dict[str, Any]], model: str,
                           tools: list[dict[str, Any]] | None = None,
                           computer_handler: Any = None, _on_api_start: Any = None,
                           _on_api_end: Any = None, _on_usage: Any = None,
                           _on_screenshot: Any = None, **kwargs: Any) -> dict[str, Any]:
        if self.turn == 0 and _on_screenshot:  # the screen the first decision is made on
            await _on_screenshot(await computer_handler.screenshot(), "screenshot_before")
        request = {"model": model, "input": messages}
        if _on_api_start:
            await _on_api_start(request)
        output: list[dict[str, Any]] = []
        if self.turn < len(SCRIPT):
            thought, action = SCRIPT[self.turn]
            action = dict(action)
            if "at" in action:
                action["x"], action["y"] = await computer_handler.center(action.pop("at"))
            if thought:
                output.append({"type": "reasoning", "id": f"rs_{self.turn}",
                               "summary": [{"type": "summary_text", "text": thought}]})
            output.append({"type": "computer_call", "id": f"cu_{self.turn}",
                           "call_id": f"call_{self.turn}", "status": "completed",
                           "pending_safety_checks": [], "action": action})
            self.played.append(action)
        else:
            output.append({"type": "message", "role": "assistant", "id": "msg_final",
                           "content": [{"type": "output_text", "text": FINAL}]})
        self.turn += 1
        usage = {"prompt_tokens": 1000 + 10 * len(messages), "completion_tokens": 20 + self.turn,
                 "total_tokens": 0, "response_cost": TURN_COST}
        if _on_api_end:
            await _on_api_end(request, {"output": output})
        if _on_usage:
            await _on_usage(usage)
        return {"output": output, "usage": usage}

    async def predict_click(self, model: str, image_b64: str, instruction: str,
                            **kwargs: Any) -> tuple[int, int] | None:
        return None

    def get_capabilities(self) -> list[str]:
        return ["step"]


class Ticker:
    """A task that ticks on the event loop every 20 ms; ``stall`` is the longest gap between
    ticks, up to the exit (a block just before it would never be seen by a tick)."""

    def __init__(self) -> None:
        self.stall = 0.0
        self._last = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self._gap()

    def _gap(self) -> None:
        now = time.monotonic()
        self.stall, self._last = max(self.stall, now - self._last), now

    def __enter__(self) -> Ticker:
        self._last = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self._gap()


def attached(agent: Any) -> dict[str, Any]:
    """What of the recording the agent still carries."""
    return {"callbacks": [type(c).__name__ for c in agent.callbacks
                          if type(c).__module__ == "augur_sdk.integrations.cua"],
            "run_wrapped": "run" in vars(agent)}


async def play(agent: Any, task: str) -> None:
    """Run ``task`` to its end; ``close_wait``: the seconds from the last chunk to the end
    (the run ending: the recording closing its bundle, when it owns it)."""
    last = time.monotonic()
    try:
        async for _ in agent.run(task):
            last = time.monotonic()
    finally:
        seen["close_wait"] = round(time.monotonic() - last, 3)


seen: dict[str, Any] = {}


async def main(out: Path, crash: bool, session_mode: bool, budget: bool,
               dsn: str | None) -> None:
    raised: BaseException | None = None
    with DemoShop() as shop:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH,
                                               headless=True)
            try:
                context = await browser.new_context(
                    viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]},
                    device_scale_factor=1)  # screenshot pixels are CSS pixels
                page = await context.new_page()
                await page.goto(shop.url + "login")
                computer = PlaywrightComputer(page, wrap_errors=not crash)
                agent = ComputerAgent(
                    model=MODEL, tools=[computer], telemetry_enabled=False,
                    screenshot_delay=0.1, max_retries=0,
                    max_trajectory_budget={"max_budget": 4.5 * TURN_COST, "raise_error": False}
                    if budget else None)
                # The typed password is an action parameter like any other text: keep it off
                # disk (steps and the model calls' tool calls) with a redactor.
                policy = DefaultRedactionPolicy()
                policy.add_redactor(lambda text: text.replace(PASSWORD, "[password]"))
                task = "Sign in as alice and search for a blue mug."
                if session_mode:  # the user's session: both runs go into it, left open
                    with DebugSession(run_id="cua-shop", client_name="shop-tests", out_dir=out,
                                      capture_mode="model_io",
                                      redaction_policy=policy) as session:
                        recording = record(agent, session=session)
                        for prompt in (task, "Are you done?"):
                            await play(agent, prompt)
                        seen["after_runs"] = attached(agent)
                        recording.detach()
                        seen["detached"] = attached(agent)
                        await play(agent, "Still there?")  # not recorded
                        session.add_tag("after_runs", "open")  # raises if it was closed
                else:
                    options: dict[str, Any] = {"dsn": dsn, "close_timeout_s": CLOSE_BUDGET_S} \
                        if dsn else {}
                    record(agent, out_dir=out, run_id="cua-shop", capture_mode="model_io",
                           redaction_policy=policy, **options)
                    if not (crash or budget):
                        try:
                            record(agent, out_dir=out.with_name("never-written"))
                        except ValueError as exc:
                            seen["second_record"] = str(exc)
                    try:
                        with Ticker() as ticker:
                            await play(agent, task)
                    except PlaywrightError as exc:
                        if not crash:
                            raise
                        raised = exc
                    seen["stall"] = round(ticker.stall, 3)
                    seen["after_run"] = attached(agent)
                    if not (crash or budget):
                        await play(agent, "Are you done?")  # not recorded
                        record(agent, out_dir=out.with_name(out.name + "-again"),
                               run_id="cua-again", capture_mode="model_io")
                        await play(agent, "And now?")
                        seen["after_again"] = attached(agent)
                loop = agent.agent_loop
                assert isinstance(loop, ScriptedShopLoop)
                if not (crash or budget):
                    count = await page.inner_text("#count")
                    assert "2 results" in count, f"the search did not run: {count}"
            finally:
                await browser.close()
    print(json.dumps({"played": loop.played, "final": FINAL, "url": shop.url,
                      "raised": type(raised).__name__ if raised else None, **seen}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--crash", action="store_true",
                        help="the computer lets the failed keypress raise: the run ends there")
    parser.add_argument("--session", action="store_true",
                        help="record into a DebugSession of the driver's, over two runs")
    parser.add_argument("--budget", action="store_true",
                        help="cua's budget manager stops the run after five turns")
    parser.add_argument("--dsn", help="stream to this DSN too (closing waits for it)")
    args = parser.parse_args()
    asyncio.run(main(args.out, args.crash, args.session, args.budget, args.dsn))
