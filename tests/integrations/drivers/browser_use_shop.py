"""Driver (runs in .ci-venvs/browser-use): a real browser-use Agent on the demo shop,
recorded with augur_sdk.integrations.browser_use.

    python browser_use_shop.py --out DIR

Starts the demo shop on 127.0.0.1, runs browser-use 0.13's Agent in headless Debian Chromium
(browser-use launches it and talks CDP itself) with a *scripted* model in place of a network
model (browser-use's custom-model hook: an object with ``model``, ``provider``, ``name`` and
``ainvoke(messages, output_format)``). The script reads the element indexes from the browser
state browser-use sends it, like a model would, and:

1. navigates to the login page;
2. types the user name and the password (as browser-use's ``<secret>`` placeholder), clicks
   "Sign in";
3. types "blue mug" into the search box, clicks "Search";
4. clicks element index 9999, which does not exist (browser-use: "not available");
5. navigates to a closed port of 127.0.0.1 (browser-use: ActionResult.error);
6. done, success; browser-use's judge (the same scripted model) then passes the run.

``--misuse``: no run; record()'s refusals of wrong arguments, printed as JSON.
``--by-hand``: agent.step() driven by the driver, the recording's hook called after each.
``--max-steps 3``: the run ends unfinished.
``--sabotage``: the user's hook closes the bundle after step 2; the agent must finish.
``--own-session``: the same run recorded into a DebugSession the driver opened
(``record(agent, session=...)``), which must still be open after the run.
``--no-final-screenshot``: ``record(..., final_screenshot=False)`` (the done step stays held
until the run's end).
``--slow-exporter``: a span processor whose flush takes 4 s (a slow exporter); a ticker
task measures the longest stall of the event loop during the run.
``--shared``: two agents share one chat model and run together (``asyncio.gather``), each
recorded into its own bundle (``OUT/a``, ``OUT/b``); b takes more turns than a.

Prints one JSON line: the bundle's path and what the run saw (for the test's messages).
Any Python connection to an address other than loopback fails the driver (an audit hook),
so browser-use's telemetry, cloud sync or version check cannot slip through unnoticed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# browser-use reads these at import time: no telemetry, no cloud sync, no PyPI version
# check, no extension download, no API-key probe.
os.environ.update({
    "ANONYMIZED_TELEMETRY": "false",
    "BROWSER_USE_CLOUD_SYNC": "false",
    "BROWSER_USE_VERSION_CHECK": "false",
    "BROWSER_USE_DISABLE_EXTENSIONS": "1",
    "BROWSER_USE_CLOUD_HINTS": "false",
    "SKIP_LLM_API_KEY_VERIFICATION": "true",
    "BROWSER_USE_CONFIG_DIR": tempfile.mkdtemp(prefix="bu-config-"),
})

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "examples" / "playwright_agent"))

NON_LOCAL: list[str] = []


def _loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple) and not _loopback(args[1][0]):
        NON_LOCAL.append(f"connect {args[1]!r}")
    elif event == "socket.getaddrinfo" and not _loopback(args[0]):
        NON_LOCAL.append(f"getaddrinfo {args[0]!r}")


sys.addaudithook(_audit)

from browser_use import Agent, BrowserProfile  # noqa: E402
from browser_use.llm.views import ChatInvokeCompletion, ChatInvokeUsage  # noqa: E402
from opentelemetry.sdk.trace import SpanProcessor  # noqa: E402
from webapp import PASSWORD, USERNAME, DemoShop  # noqa: E402

from augur_sdk import DebugSession  # noqa: E402
from augur_sdk.integrations.browser_use import record  # noqa: E402

CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SEARCH = "blue mug"
MISSING_INDEX = 9999


def _state_text(messages: list[Any]) -> str:
    """The text of the messages (browser-use's <browser_state> for this turn among them)."""
    texts = []
    for message in messages:
        content = message.content
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(getattr(part, "text", "") for part in content)
    return "\n".join(texts)


def _index(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    if not found:
        raise AssertionError(f"the browser state has no element matching {pattern!r}:\n"
                             f"{text[-3000:]}")
    return int(found.group(1))


class ScriptedModel:
    """A chat model for browser-use that answers from a script, not the network."""

    model = "scripted-shop-v1"
    provider = "scripted"
    name = "scripted-shop-v1"
    _verified_api_keys = True

    def __init__(self, shop_url: str, closed_url: str) -> None:
        self.shop_url = shop_url
        self.closed_url = closed_url
        self.turn = 0

    def _turn(self, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        turns = [
            ("Open the shop's sign-in page.", lambda: [
                {"navigate": {"url": self.shop_url + "login"}}]),
            ("Sign in as the shop user.", lambda: [
                {"input": {"index": _index(r"\[(\d+)\]<input id=username", text),
                           "text": USERNAME}},
                {"input": {"index": _index(r"\[(\d+)\]<input type=password", text),
                           "text": "<secret>shop_password</secret>"}},
                {"click": {"index": _index(r"\[(\d+)\]<button type=submit />\s*Sign in",
                                           text)}}]),
            (f"Search for {SEARCH}.", lambda: [
                {"input": {"index": _index(r"\[(\d+)\]<input id=q", text), "text": SEARCH}},
                {"click": {"index": _index(r"\[(\d+)\]<button type=submit />\s*Search",
                                           text)}}]),
            ("Open the first result.", lambda: [{"click": {"index": MISSING_INDEX}}]),
            ("Check the order service.", lambda: [{"navigate": {"url": self.closed_url}}]),
            ("Report the result.", lambda: [
                {"done": {"text": "Blue mug: $12.00", "success": True}}]),
        ]
        goal, actions = turns[min(self.turn, len(turns) - 1)]
        self.turn += 1
        brain = {"thinking": f"Turn {self.turn}: the page shows what I expected.",
                 "evaluation_previous_goal": "Success" if self.turn > 1 else "Start",
                 "memory": f"{self.turn - 1} turns done.", "next_goal": goal}
        return brain, actions()

    async def ainvoke(self, messages: list[Any], output_format: Any = None,
                      **kwargs: Any) -> ChatInvokeCompletion[Any]:
        usage = ChatInvokeUsage(prompt_tokens=1000 + len(messages), prompt_cached_tokens=None,
                                prompt_cache_creation_tokens=None, prompt_image_tokens=None,
                                completion_tokens=40, total_tokens=1040 + len(messages))
        if output_format is None:
            return ChatInvokeCompletion(completion="ok", usage=usage, stop_reason="end_turn")
        if output_format.__name__ == "JudgementResult":   # browser-use's judge, at the end
            verdict = output_format.model_validate({
                "reasoning": "The agent signed in, searched and reported the price.",
                "verdict": True, "failure_reason": ""})
            return ChatInvokeCompletion(completion=verdict, usage=usage,
                                        stop_reason="end_turn")
        if output_format.__name__ != "AgentOutput":
            raise AssertionError(f"unexpected structured call: {output_format.__name__}")
        brain, actions = self._turn(_state_text(messages))
        completion = output_format.model_validate({**brain, "action": actions})
        return ChatInvokeCompletion(completion=completion, usage=usage,
                                    stop_reason="end_turn")


class SharedModel:
    """One chat model for two agents: each agent's task names it (``[agent a]``); the model
    answers each agent from its own short script, counting its turns per agent."""

    model = "scripted-shared-v1"
    provider = "scripted"
    name = "scripted-shared-v1"
    _verified_api_keys = True
    TURNS = {"a": 2, "b": 4}   # b navigates three times, a once; then done

    def __init__(self, shop_url: str) -> None:
        self.shop_url = shop_url
        self.turns = {"a": 0, "b": 0}

    async def ainvoke(self, messages: list[Any], output_format: Any = None,
                      **kwargs: Any) -> ChatInvokeCompletion[Any]:
        usage = ChatInvokeUsage(prompt_tokens=100, prompt_cached_tokens=None,
                                prompt_cache_creation_tokens=None, prompt_image_tokens=None,
                                completion_tokens=10, total_tokens=110)
        if output_format is None or output_format.__name__ != "AgentOutput":
            raise AssertionError(f"unexpected call: {output_format}")
        who = re.search(r"\[agent ([ab])\]", _state_text(messages))
        if who is None:
            raise AssertionError("no agent marker in the messages")
        agent = who.group(1)
        self.turns[agent] += 1
        turn = self.turns[agent]
        await asyncio.sleep(0.05)   # let the other agent's task interleave
        if turn < self.TURNS[agent]:
            action: dict[str, Any] = {"navigate": {"url": f"{self.shop_url}?{agent}={turn}"}}
        else:
            action = {"done": {"text": f"agent {agent} done", "success": True}}
        completion = output_format.model_validate({
            "thinking": f"[agent {agent}] turn {turn}", "evaluation_previous_goal": "ok",
            "memory": f"[agent {agent}]", "next_goal": f"[agent {agent}] turn {turn}",
            "action": [action]})
        return ChatInvokeCompletion(completion=completion, usage=usage,
                                    stop_reason="end_turn")


async def shared(out: Path) -> dict[str, Any]:
    """Two recorded agents sharing one model object, run together."""
    with DemoShop() as shop, tempfile.TemporaryDirectory(prefix="bu-a-") as profile_a, \
            tempfile.TemporaryDirectory(prefix="bu-b-") as profile_b:
        llm = SharedModel(shop.url)
        agents = {}
        for who, profile in (("a", profile_a), ("b", profile_b)):
            browser = BrowserProfile(executable_path="/usr/bin/chromium", headless=True,
                                     chromium_sandbox=False, user_data_dir=profile,
                                     args=CHROMIUM_ARGS, enable_default_extensions=False,
                                     keep_alive=False)
            agents[who] = Agent(task=f"[agent {who}] Look around the shop at {shop.url}.",
                                llm=llm, browser_profile=browser, use_judge=False,
                                directly_open_url=False, enable_planning=False,
                                enable_signal_handler=False)
            record(agents[who], out_dir=out / who, run_id=f"shared_{who}")
        histories = await asyncio.gather(agents["a"].run(max_steps=6),
                                         agents["b"].run(max_steps=6))
        return {"turns": llm.turns, "done": [h.is_done() for h in histories],
                "restored": llm.ainvoke.__name__ == "tracked_ainvoke"}


class SlowFlush(SpanProcessor):
    """A span processor standing for a slow exporter: its flush takes 4 s."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        time.sleep(4.0)
        return True


async def _ticker(gaps: list[float], stop: asyncio.Event) -> None:
    """The longest the event loop went without running this task (ticks every 20 ms)."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.02)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main(out: Path, own_session: bool, max_steps: int,
               by_hand: bool = False, sabotage: bool = False,
               final_screenshot: bool = True, slow_exporter: bool = False) -> dict[str, Any]:
    with DemoShop() as shop, tempfile.TemporaryDirectory(prefix="bu-chromium-") as profile:
        llm = ScriptedModel(shop.url, f"http://127.0.0.1:{_closed_port()}/orders")
        browser = BrowserProfile(executable_path="/usr/bin/chromium", headless=True,
                                 chromium_sandbox=False, user_data_dir=profile,
                                 args=CHROMIUM_ARGS, enable_default_extensions=False,
                                 keep_alive=False)
        agent = Agent(task=f"Sign in to the shop at {shop.url} and find the price of a "
                           f"{SEARCH}.", llm=llm, browser_profile=browser,
                      sensitive_data={"shop_password": PASSWORD}, use_judge=True,
                      directly_open_url=False, enable_planning=False,
                      enable_signal_handler=False)
        if by_hand:   # agent.step() driven by the caller, the recording's hook called by hand
            recording = record(agent, out_dir=out, run_id="browser_use_shop_by_hand")
            await agent.browser_session.start()
            for _ in range(max_steps):
                await agent.step()
                await recording.on_step_end(agent)
                if agent.history.is_done():
                    break
            recording.close(status="succeeded" if agent.history.is_successful() else "failed")
            await agent.eventbus.stop(clear=True, timeout=3.0)   # what agent.run() does last
            await agent.close()
            return _summary(recording.session.out_dir, llm, agent.history)
        if not own_session:
            # no capture_mode: the integration's default (model_io) applies
            extra: dict[str, Any] = {"span_processors": [SlowFlush()]} if slow_exporter \
                else {}
            recording = record(agent, out_dir=out, run_id="browser_use_shop",
                               final_screenshot=final_screenshot, **extra)
            seen: list[int] = []   # the user's own hook, given by position, still runs
            gaps: list[float] = []
            stop = asyncio.Event()
            ticker = asyncio.create_task(_ticker(gaps, stop))

            async def users_hook(agent: Any) -> None:
                seen.append(len(agent.history.history))
                if sabotage and len(seen) == 2:   # the telemetry breaks from here on
                    recording.session.close()

            history = await agent.run(max_steps, None, users_hook)
            stop.set()
            await ticker
            return {**_summary(recording.session.out_dir, llm, history), "user_hook": seen,
                    "longest_stall_s": round(max(gaps, default=0.0), 3)}
        # The user's own session: recorded into, left open for the user to close.
        with DebugSession(run_id="browser_use_shop_own", out_dir=out, client_name="shop-agent",
                          capture_mode="model_io") as session:
            record(agent, session=session)
            history = await agent.run(max_steps=max_steps)
            session.add_tag("after_run", "still-open")  # raises if the session were closed
        return _summary(session.out_dir, llm, history)


def _refusal(call: Any, *kinds: type[Exception]) -> str | None:
    try:
        call()
    except (TypeError, ValueError, *kinds) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def misuse(out: Path) -> dict[str, Any]:
    """record()'s refusals, with browser-use installed: each message, the hooks undone by
    close(), and what was left on disk (Agent() alone launches no browser)."""
    agent = Agent(task="nothing", llm=ScriptedModel("http://127.0.0.1:9/", ""),
                  use_judge=False, enable_signal_handler=False)
    said: dict[str, Any] = {
        "not_an_agent": _refusal(lambda: record(object(), out_dir=out / "not-an-agent"))}
    with DebugSession(run_id="mine", client_name="me", out_dir=out / "mine",
                      capture_mode="metadata") as mine:
        said["both"] = _refusal(lambda: record(agent, out_dir=out / "both", session=mine))
    first = record(agent, out_dir=out / "first")
    said["wrapped"] = agent.llm.ainvoke.__name__ == "ainvoke" and "run" in vars(agent)
    said["twice"] = _refusal(lambda: record(agent, out_dir=out / "twice"))
    first.close()
    # browser-use's own token counter wrapped ainvoke first; close() puts it back
    said["restored"] = agent.llm.ainvoke.__name__ == "tracked_ainvoke" \
        and "run" not in vars(agent)
    # a record() that fails half-way (a chat model with __slots__ cannot be observed)
    # closes the bundle it opened and undoes what it hooked
    slotted = Agent(task="nothing", llm=ScriptedModel("http://127.0.0.1:9/", ""),
                    use_judge=False, enable_signal_handler=False)
    slotted.judge_llm = SlottedModel()
    said["slotted"] = _refusal(lambda: record(slotted, out_dir=out / "slotted"), AttributeError)
    # closed: trace.json written, live.json (an open bundle's) gone
    said["slotted_closed"] = (out / "slotted" / "trace.json").is_file() \
        and not (out / "slotted" / "live.json").exists()
    said["slotted_undone"] = slotted.llm.ainvoke.__name__ == "tracked_ainvoke" \
        and "run" not in vars(slotted)
    said["left_on_disk"] = sorted(p.name for p in out.iterdir())
    return said


class SlottedModel:
    """A chat model object with ``__slots__``: its ``ainvoke`` cannot be replaced."""

    __slots__ = ()
    model = "slotted"
    provider = "scripted"

    async def ainvoke(self, messages: list[Any], output_format: Any = None) -> Any:
        raise AssertionError("never called")


def _summary(bundle: Path, llm: ScriptedModel, history: Any) -> dict[str, Any]:
    return {"bundle": str(bundle), "turns": llm.turn, "done": history.is_done(),
            "successful": history.is_successful(),
            "errors": [e for e in history.errors() if e]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--max-steps", type=int, default=10,
                        help="browser-use's max_steps (3: the run ends unfinished)")
    for flag, text in (
            ("--own-session", "record into a DebugSession the driver opens (session=)"),
            ("--by-hand", "drive agent.step() and the recording's on_step_end by hand"),
            ("--sabotage", "close the bundle after step 2: the agent must finish anyway"),
            ("--misuse", "only check record()'s refusals (no run)"),
            ("--no-final-screenshot", "record(..., final_screenshot=False)"),
            ("--slow-exporter", "a span processor whose flush takes 4 s; measure loop stalls"),
            ("--shared", "two agents sharing one model, run with asyncio.gather")):
        parser.add_argument(flag, action="store_true", help=text)
    cli = parser.parse_args()
    if cli.misuse:
        summary = misuse(cli.out)
    elif cli.shared:
        summary = asyncio.run(shared(cli.out))
    else:
        summary = asyncio.run(main(cli.out, cli.own_session, cli.max_steps, cli.by_hand,
                                   cli.sabotage, not cli.no_final_screenshot,
                                   cli.slow_exporter))
    print(json.dumps(summary))
    if NON_LOCAL:
        print(f"non-loopback network use: {sorted(set(NON_LOCAL))}", file=sys.stderr)
        sys.exit(3)
