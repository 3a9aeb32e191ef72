"""A small scripted computer-use agent (no LLM) driving headless Chromium with Playwright.

Each step runs the layers of a real CUA and yields what happened, shaped like the seed page's
``step`` objects:

* **planner**: the next task of a fixed plan (plus recovery steps it inserts);
* **grounding**: finds the target in the page and returns the centre of its box, in viewport
  CSS px (at device scale 1 these are also the pixels of the pre screenshot). A scripted
  stand-in for a vision model: the box comes from Playwright instead of a model;
* **dispatch**: ``page.mouse.click(x, y)`` / ``page.keyboard.type(...)`` / ``press(...)``;
* **verifier**: waits for the expected DOM/URL change, compares pre and post screenshots, and
  on failure looks at what the click actually hit;
* **step_recovery**: on a failed step decides what to do (dismiss what covers the target and
  retry, plain retry, or halt).

Two things go wrong on purpose: step 5's dispatcher has a calibration drift (the click lands
~44 px right of its target but still inside the search box, so the step passes and a viewer
can flag the distance), and "Place order" is covered by a dialog's backdrop on the first try.
``PlaywrightAgent(..., miss_first="Sign in")`` adds a flaky dispatch: the first click on that
target lands ``MISS_PX`` below it, hits nothing, and step recovery retries it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from webapp import PASSWORD, USERNAME

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 960, "height": 600}
DEVICE_SCALE_FACTOR = 1  # screenshot pixels per CSS pixel
SETTLE_TIMEOUT_MS = 1500  # how long the verifier waits for the expected change
GROUNDING_PROVIDER = "playwright-locator"
MISS_PX = 60.0  # how far below its target a missed first click lands (miss_first=...)


# ── what a step yields (the seed page's `step`) ────────────────────────────────────────────

@dataclass
class Grounding:
    provider: str
    label: str
    x: float
    y: float
    confidence: float
    evidence_text: str


@dataclass
class DecisionEvent:
    ts: str
    layer: str
    kind: str
    summary: str
    detail: dict[str, Any]


@dataclass
class Step:
    action_type: str
    intent: str
    ok: bool
    failure_class: str | None
    started_at: str
    ended_at: str
    duration_ms: int
    pre_png: bytes
    post_png: bytes
    action_params: dict[str, Any]
    grounding: Grounding
    verdict: str
    verdict_reason: str
    recovery_decision: dict[str, Any] | None = None
    latency: dict[str, int] = field(default_factory=dict)
    decision_events: list[DecisionEvent] = field(default_factory=list)


# ── the plan ────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Task:
    """One planned step: what to act on, how, and what the page should look like after."""

    intent: str
    action: str  # click | type | key
    target: str  # the label the grounding looks for
    locate: str  # "label" (form fields) or an ARIA role
    expect: tuple[str, ...]  # ("focused", sel) | ("value", sel, text) | ("url", regex) | ("gone", sel)
    text: str = ""
    secret: bool = False
    key: str = ""
    within_dialog: bool = False
    choose_with_model: bool = False  # target = the result the model picks
    drift: tuple[float, float] = (0.0, 0.0)  # dispatcher calibration error, CSS px
    attempt: int = 1
    retry_of: int | None = None
    recovery_for: int | None = None


QUERY = "blue mug"
PLAN = [
    Task("Focus the username field", "click", "Username", "label", ("focused", "#username")),
    Task(f"Type the username '{USERNAME}'", "type", "Username", "label",
         ("value", "#username", USERNAME), text=USERNAME),
    Task("Focus the password field", "click", "Password", "label", ("focused", "#password")),
    Task("Type the password", "type", "Password", "label",
         ("value", "#password", PASSWORD), text=PASSWORD, secret=True),
    Task("Sign in", "click", "Sign in", "button", ("url", r"/search$")),
    Task("Focus the search box", "click", "Search products", "label", ("focused", "#q"),
         drift=(44.0, 5.0)),
    Task(f"Type the query '{QUERY}'", "type", "Search products", "label",
         ("value", "#q", QUERY), text=QUERY),
    Task("Submit the search", "key", "Search products", "label",
         ("url", r"/search\?q=blue\+mug$"), key="Enter"),
    Task("Open the result that matches the task", "click", "", "link",
         ("url", r"/product/blue-mug$"), choose_with_model=True),
    Task("Add the mug to the cart", "click", "Add to cart", "button", ("url", r"/checkout$")),
    Task("Place the order", "click", "Place order", "button", ("url", r"/order/\d+$")),
]


# ── the model the planner asks (a deterministic stand-in; the in-app variant traces it) ────

@dataclass
class ModelReply:
    text: str
    input_tokens: int
    output_tokens: int
    meta: dict[str, Any] = field(default_factory=dict)


class Model(Protocol):
    name: str

    def complete(self, prompt: str, options: list[str]) -> ModelReply: ...


class DemoModel:
    """Picks the option that best matches the query in the prompt; no network, no LLM."""

    name = "demo-model"

    def complete(self, prompt: str, options: list[str]) -> ModelReply:
        match = re.search(r"query: '([^']*)'", prompt)
        query = set((match.group(1) if match else "").lower().split())

        def score(option: str) -> tuple[int, int]:
            words = set(option.lower().split())
            return (len(words & query), -len(words - query))

        time.sleep(0.03)  # a model takes a moment
        best = max(options, key=score) if options else ""
        return ModelReply(best, input_tokens=len(prompt.split()),
                          output_tokens=len(best.split()))


# ── helpers ─────────────────────────────────────────────────────────────────────────────────

def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DESCRIBE_POINT = """([x, y]) => {
  const el = document.elementFromPoint(x, y);
  if (!el) return null;
  return {tag: el.tagName.toLowerCase(), id: el.id || null,
          role: el.getAttribute('role'), text: (el.innerText || '').trim().slice(0, 60),
          position: getComputedStyle(el).position,
          covering_dialog: document.querySelector('[role=dialog]') !== null};
}"""


class PlaywrightAgent:
    """``with PlaywrightAgent(start_url) as cua: for step in cua.run(): ...``"""

    def __init__(self, start_url: str, model: Model | None = None, *,
                 miss_first: str | None = None) -> None:
        self.start_url = start_url
        self.model: Model = model or DemoModel()
        self.miss_first = miss_first  # the first click on this target misses (then a retry)
        self.halted = False
        self.succeeded = False
        # Set to DebugSession.step_scope to run each step (and so its model call) inside its
        # step span; the consumer records the step before the generator resumes.
        self.step_scope: Callable[[int], AbstractContextManager[None]] | None = None
        self._pw: Any = None
        self._browser: Any = None
        self.page: Any = None

    def __enter__(self) -> PlaywrightAgent:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            context = self._browser.new_context(viewport=VIEWPORT,
                                                 device_scale_factor=DEVICE_SCALE_FACTOR)
            self.page = context.new_page()
            self.page.goto(self.start_url + "login")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            if self._pw is not None:
                self._pw.stop()

    # ── the loop ──
    def run(self) -> Iterator[Step]:
        queue = deque(PLAN)
        index = 0
        while queue:
            task = queue.popleft()
            scope = self.step_scope(index) if self.step_scope else contextlib.nullcontext()
            with scope:
                step, follow_up = self._step(index, task)
                yield step
            index += 1
            if step.recovery_decision is not None:
                if step.recovery_decision["type"] == "halt":
                    self.halted = True
                    return
                queue.extendleft(reversed(follow_up))
        self.succeeded = True

    def _shot(self) -> bytes:
        png: bytes = self.page.screenshot(type="png", animations="disabled")
        return png

    def _step(self, index: int, task: Task) -> tuple[Step, list[Task]]:
        page = self.page
        events: list[DecisionEvent] = []

        def event(layer: str, kind: str, summary: str, **detail: Any) -> None:
            events.append(DecisionEvent(_iso(_now()), layer, kind, summary, detail))

        started = _now()
        t0 = time.monotonic()
        pre = self._shot()
        url_before = page.url

        # planner
        target = task.target
        model_event: dict[str, Any] | None = None
        if task.choose_with_model:
            options = [t.strip() for t in page.locator("#results a").all_inner_texts()]
            prompt = (f"Task: buy a mug for the query: '{QUERY}'. Search results: "
                      + "; ".join(options) + ". Which result should be opened?")
            tm = time.monotonic()
            reply = self.model.complete(prompt, options)
            target = reply.text
            model_event = {"model": self.model.name, "prompt": prompt, "response": reply.text,
                           "input_tokens": reply.input_tokens,
                           "output_tokens": reply.output_tokens,
                           "latency_ms": _ms(time.monotonic() - tm), **reply.meta}
        event("planner", "decision", f"{task.action} '{target}': {task.intent}",
              intent=task.intent, action=task.action, target=target, attempt=task.attempt,
              **({"retry_of_step": task.retry_of} if task.retry_of is not None else {}),
              **({"recovery_for_step": task.recovery_for}
                 if task.recovery_for is not None else {}))
        if model_event is not None:
            event("model", "decision", f"{self.model.name} chose '{target}'", **model_event)
        t1 = time.monotonic()

        # grounding
        grounding, box = self._ground(task, target)
        event("grounding", "decision",
              f"'{grounding.label}' at ({grounding.x:.0f}, {grounding.y:.0f}), "
              f"confidence {grounding.confidence:.2f}",
              target_label=grounding.label, box=box,
              point={"x": grounding.x, "y": grounding.y}, confidence=grounding.confidence,
              coordinate_space="viewport_css_px", provider=GROUNDING_PROVIDER)
        t2 = time.monotonic()

        # dispatch
        params: dict[str, Any]
        if not box:  # nothing to act on: dispatch nothing, let the verifier and recovery see
            params, call = {}, "nothing dispatched: no target"
        elif task.action == "click":
            dx, dy = task.drift
            if task.attempt == 1 and task.target == self.miss_first:
                dy += MISS_PX  # a flaky dispatch: this first attempt lands below its target
            x = round(grounding.x + dx, 1)
            y = round(grounding.y + dy, 1)
            page.mouse.click(x, y)
            params = {"x": x, "y": y, "button": "left"}
            call = f"page.mouse.click({x}, {y})"
        elif task.action == "type":
            page.keyboard.type(task.text)
            # A `password` key is dropped by the SDK's default redaction before anything is
            # written or exported; the bundle keeps only the length.
            params = ({"password": task.text, "chars": len(task.text)} if task.secret
                      else {"text": task.text})
            call = f"page.keyboard.type(<{len(task.text)} chars>)"
        else:
            page.keyboard.press(task.key)
            params = {"key": task.key}
            call = f"page.keyboard.press({task.key!r})"
        t3 = time.monotonic()
        dispatch_detail: dict[str, Any] = {"backend": "playwright", "call": call,
                                           "duration_ms": _ms(t3 - t2)}
        if task.drift != (0.0, 0.0):
            dispatch_detail["calibration_drift_px"] = {"x": task.drift[0], "y": task.drift[1]}
        event("dispatch", "info", call, **dispatch_detail)

        # verifier
        met = bool(box) and self._wait_for(task.expect)
        waited = _ms(time.monotonic() - t3)
        post = self._shot()
        url_after = page.url
        changed = _sha(pre) != _sha(post)
        check = _describe_expectation(task.expect)
        detail: dict[str, Any] = {"expected": check, "met": met, "waited_ms": waited,
                                  "url_before": url_before, "url_after": url_after,
                                  "screenshot_changed": changed}
        failure_class = None
        if met:
            verdict_reason = f"{check}: yes"
            if task.drift != (0.0, 0.0):
                off = (task.drift[0] ** 2 + task.drift[1] ** 2) ** 0.5
                verdict_reason += f" (the click landed {off:.0f} px from the grounding target)"
        elif not box:
            failure_class = "target_not_found"
            verdict_reason = f"{check}: no; '{target}' was not found, nothing was dispatched"
        else:
            if task.action == "click":
                detail["element_at_click"] = page.evaluate(DESCRIBE_POINT,
                                                           [params["x"], params["y"]])
            if not changed and url_after == url_before:
                failure_class = "no_state_change"
                verdict_reason = (f"{check}: no; nothing changed on the page "
                                  f"within {SETTLE_TIMEOUT_MS} ms")
            else:
                failure_class = "dispatch_ok_state_fail"
                verdict_reason = f"{check}: no; the page changed, but not as expected"
        if met:
            event("verifier", "observation", f"passed: {check}", **detail)
        else:
            event("verifier", "error", f"failed ({failure_class}): {check}", **detail)
        t4 = time.monotonic()

        # step recovery
        decision: dict[str, Any] | None = None
        follow_up: list[Task] = []
        if not met:
            decision, follow_up = self._recover(index, task, detail.get("element_at_click"))
            event("step_recovery", "decision", f"{decision['type']}: {decision['reason']}",
                  decision=decision, inserted_steps=[t.intent for t in follow_up])
        elif task.retry_of is not None:
            event("step_recovery", "observation",
                  f"recovered: step {task.retry_of} succeeded on attempt {task.attempt}",
                  recovered_step=task.retry_of, attempt=task.attempt)
        elif task.recovery_for is not None:
            event("step_recovery", "info", f"recovery step for step {task.recovery_for} done",
                  recovery_for_step=task.recovery_for)
        t5 = time.monotonic()

        ended = _now()
        step = Step(
            action_type=task.action, intent=task.intent, ok=met, failure_class=failure_class,
            started_at=_iso(started), ended_at=_iso(ended),
            duration_ms=_ms((ended - started).total_seconds()),
            pre_png=pre, post_png=post, action_params=params, grounding=grounding,
            verdict="passed" if met else "failed", verdict_reason=verdict_reason,
            recovery_decision=decision,
            latency={"planner_ms": _ms(t1 - t0), "grounding_ms": _ms(t2 - t1),
                     "dispatch_ms": _ms(t3 - t2), "verifier_ms": _ms(t4 - t3),
                     "recovery_ms": _ms(t5 - t4), "total_ms": _ms(t5 - t0)},
            decision_events=events,
        )
        return step, follow_up

    def _ground(self, task: Task, label: str) -> tuple[Grounding, dict[str, float]]:
        page = self.page
        scope = page.get_by_role("dialog") if task.within_dialog else page
        if task.locate == "label":
            found = scope.get_by_label(label, exact=True)
            kind = "field"
        else:
            found = scope.get_by_role(task.locate, name=label, exact=True)
            kind = task.locate
        matches = found.count()
        raw = found.first.bounding_box() if matches else None
        if raw is None:
            return Grounding(GROUNDING_PROVIDER, label, 0.0, 0.0, 0.0,
                             f"no {kind} '{label}' found in the pre screenshot"), {}
        box = {k: round(float(v), 1) for k, v in raw.items()}
        x = round(box["x"] + box["width"] / 2, 1)
        y = round(box["y"] + box["height"] / 2, 1)
        confidence = 0.97 if matches == 1 else 0.72
        inside = (box["x"] >= 0 and box["y"] >= 0
                  and box["x"] + box["width"] <= VIEWPORT["width"]
                  and box["y"] + box["height"] <= VIEWPORT["height"])
        if not inside:
            confidence *= 0.6
        if min(box["width"], box["height"]) < 24:
            confidence -= 0.05
        evidence = (f"{kind} '{label}' at ({x:.0f}, {y:.0f}), box {box['width']:.0f}x"
                    f"{box['height']:.0f} px in the pre screenshot"
                    + (f"; {matches} matches, took the first" if matches > 1 else ""))
        return Grounding(GROUNDING_PROVIDER, label, x, y, round(confidence, 2), evidence), box

    def _wait_for(self, expect: tuple[str, ...]) -> bool:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page, kind = self.page, expect[0]
        try:
            if kind == "url":
                page.wait_for_url(re.compile(expect[1]), timeout=SETTLE_TIMEOUT_MS)
            elif kind == "focused":
                page.wait_for_function("s => document.activeElement?.matches(s)", arg=expect[1],
                                       timeout=SETTLE_TIMEOUT_MS)
            elif kind == "value":
                page.wait_for_function("([s, v]) => document.querySelector(s)?.value === v",
                                       arg=[expect[1], expect[2]], timeout=SETTLE_TIMEOUT_MS)
            elif kind == "gone":
                page.wait_for_function("s => !document.querySelector(s)", arg=expect[1],
                                       timeout=SETTLE_TIMEOUT_MS)
            else:
                raise ValueError(f"unknown expectation {expect!r}")
        except PlaywrightTimeout:
            return False
        return True

    def _recover(self, index: int, task: Task,
                 hit: dict[str, Any] | None) -> tuple[dict[str, Any], list[Task]]:
        """The step_recovery layer: what to do after step ``index`` failed."""
        dialog = self.page.get_by_role("dialog")
        if hit and hit.get("covering_dialog") and dialog.count() and task.attempt < 3:
            title = dialog.get_by_role("heading").first.inner_text().strip()
            button = dialog.get_by_role("button").first.inner_text().strip()
            where = f"<{hit['tag']}{' id=' + hit['id'] if hit.get('id') else ''}>"
            reason = (f"the click on '{task.target}' hit {where}, the backdrop of the dialog "
                      f"'{title}'; dismiss it with '{button}', then retry")
            dismiss = Task(f"Recovery: dismiss the '{title}' dialog", "click", button, "button",
                           ("gone", "[role=dialog]"), within_dialog=True, recovery_for=index)
            retry = replace(task, intent=f"{task.intent} (retry)", attempt=task.attempt + 1,
                            retry_of=index)
            return {"type": "replan", "reason": reason, "attempt": task.attempt}, [dismiss, retry]
        if task.attempt < 2:
            retry = replace(task, intent=f"{task.intent} (retry)", attempt=task.attempt + 1,
                            retry_of=index)
            return {"type": "retry", "reason": "no cause found; retry once",
                    "attempt": task.attempt}, [retry]
        return {"type": "halt", "reason": f"'{task.target}' failed {task.attempt} times",
                "attempt": task.attempt}, []


def _describe_expectation(expect: tuple[str, ...]) -> str:
    kind = expect[0]
    if kind == "url":
        return f"URL matches {expect[1]}"
    if kind == "focused":
        return f"{expect[1]} has focus"
    if kind == "value":
        shown = expect[2] if expect[1] != "#password" else f"<{len(expect[2])} chars>"
        return f"{expect[1]} holds {shown!r}"
    return f"{expect[1]} is gone"
