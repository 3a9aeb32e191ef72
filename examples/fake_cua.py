"""A small fake computer-use agent: yields steps shaped like a real CUA's, no browser needed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from augur_sdk.testing import make_png


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
    decision_events: list[DecisionEvent] = field(default_factory=list)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeCUA:
    """Plays a login-search-checkout task; step ``fail_at`` fails with a wrong-target click."""

    PLAN = [
        ("click", "Click the username field", "Username"),
        ("type", "Type the username", "Username"),
        ("click", "Click the password field", "Password"),
        ("type", "Type the password", "Password"),
        ("click", "Press Sign in", "Sign in"),
        ("click", "Open the search box", "Search"),
        ("type", "Search for 'blue mug'", "Search"),
        ("click", "Open the first result", "Blue mug"),
        ("click", "Add to cart", "Add to cart"),
        ("click", "Go to checkout", "Checkout"),
    ]

    def __init__(self, steps: int = 8, fail_at: int | None = 4, seed: int = 7) -> None:
        self.steps = steps
        self.fail_at = fail_at
        self.rng = random.Random(seed)

    def run(self) -> Any:
        # Steps happened in the recent past (as when a real agent reports a finished step).
        t = datetime.now(UTC) - timedelta(seconds=self.steps)
        for i in range(self.steps):
            action, intent, label = self.PLAN[i % len(self.PLAN)]
            ok = i != self.fail_at
            x, y = 40.0 + 50 * (i % 5), 40.0 + 20 * (i % 7)  # inside the 320x200 screenshot
            duration = 200 + self.rng.randrange(500)
            start, end = t, t + timedelta(milliseconds=duration)
            t = end + timedelta(milliseconds=20)
            params: dict[str, Any] = {"x": x, "y": y}
            if action == "type":
                params = {"text": "alice" if "user" in intent else "blue mug"}
            events = [
                DecisionEvent(_iso(start), "planner", "decision", f"plan: {intent}",
                              {"candidates": [label, "Cancel"], "chosen": label}),
                DecisionEvent(_iso(end), "verifier", "observation" if ok else "error",
                              "state changed as expected" if ok else "no state change",
                              {"diff_pixels": 1200 if ok else 0}),
            ]
            yield Step(
                action_type=action, intent=intent, ok=ok,
                failure_class=None if ok else "no_state_change",
                started_at=_iso(start), ended_at=_iso(end), duration_ms=duration,
                pre_png=make_png(320, 200, seed=2 * i), post_png=make_png(320, 200, seed=2 * i + 1),
                action_params=params,
                grounding=Grounding("fake-vlm", label, x, y, 0.93 if ok else 0.41,
                                    f"button text '{label}'"),
                verdict="passed" if ok else "failed",
                verdict_reason="target reached" if ok else "page did not change after click",
                decision_events=events,
            )
