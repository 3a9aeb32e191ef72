"""Every rule of the CUA pack on a bundle where it must fire and on one where it must not,
each recorded with the real SDK (screenshots drawn), run through the real engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import (
    CHECKOUT,
    DIALOG,
    LOGIN,
    PRODUCT,
    SEARCH,
    click,
    edit_steps,
    record,
    step,
)

from augur_sdk.diagnostics import CUA_RULES, RulesEngine
from augur_sdk.diagnostics.engine import Rule
from drawn_runs import centre


@dataclass(frozen=True)
class Case:
    rule_id: str
    name: str
    build: Callable[[Path], Path]
    fires_on: tuple[int, ...]  # the step indexes of the findings; () = must not fire


def _failed(i: int, **kw: object) -> dict[str, object]:
    return step(i, status="failed", verdict={"status": "failed", "reason": "r"}, **kw)


def _two_same_clicks(out: Path, second_page: object) -> Path:
    return record(out, [_failed(0, failure_class="no_state_change"),
                        _failed(1, failure_class="no_state_change")],
                  pages={0: SEARCH, 1: second_page})  # type: ignore[dict-item]


def _no_type(out: Path) -> Path:
    record(out, [step(0), step(1)])

    def drop_type(r: dict[str, object]) -> None:
        if r["step_index"] == 1:
            r["action"] = {"params": {"x": 1, "y": 2}}
    edit_steps(out, drop_type)
    return out


def _missing_shot(out: Path, remove: bool) -> Path:
    record(out, [step(0), step(1)])
    if remove:
        (out / "screenshots" / "0001_pre.png").unlink()
    return out


def _fixture(out: Path, verdict: str) -> Path:
    record(out, [step(0), step(1, verdict={"status": verdict, "reason": "r"},
                            status="failed" if verdict == "failed" else "succeeded")],
           mode="replay")
    (out / "replay").mkdir(exist_ok=True)
    (out / "replay" / "0001_fixture.json").write_text("{}\n")
    return out


def _verifier(out: Path, with_event: bool) -> Path:
    events = [{"step_index": 0, "layer": "verifier", "kind": "decision",
               "summary": "the page did not change", "ts": "2026-03-01T09:00:00.4Z"}]
    return record(out, [_failed(0)], mode="trace", events=events if with_event else None)


def _retry(out: Path, second: tuple[float, float]) -> Path:
    aim = {"provider": "t", "provenance": "screenshot", "target_label": "Place order"}
    first = _failed(3, intent="Place the order", action=click(320, 322), grounding=aim)
    again = step(4, intent="Place the order (retry)", action=click(*second), grounding=aim)
    return record(out, [step(0), step(1), step(2), first, again])


def _retry_iteration(out: Path) -> Path:
    canonical = _failed(0, action=click(320, 322))
    iteration = dict(canonical, step_id=f"{canonical['step_id']}/iter/1",
                     started_at="2026-03-01T09:00:01Z")
    return record(out, [canonical], iterations=[(0, iteration)])


BACKDROP = (470.0, 150.0)  # on the checkout page, outside the dialog


def _modal(out: Path, target: tuple[float, float], page: object, *, ok: bool = False,
           then: object = None) -> Path:
    """One click on ``page``; with ``then``, a next step whose pre page is ``then``."""
    at = click(*target)
    s = step(0, action=at) if ok else _failed(0, action=at, failure_class="no_state_change")
    steps, pages = [s], {0: page}
    if then is not None:
        steps.append(step(1))
        pages[1] = then
    return record(out, steps, pages=pages)  # type: ignore[arg-type]


def _screens(out: Path, order: list[object], failing: bool = False) -> Path:
    steps = [(_failed(i) if failing else step(i, action=click(10 * i, 10 * i),
                                                grounding=None)) for i in range(len(order))]
    return record(out, steps, pages=dict(enumerate(order)))  # type: ignore[arg-type]


CASES = [
    Case("cua.repeated_action_stable_frame", "same point, same screen",
         lambda o: _two_same_clicks(o, SEARCH), (1,)),
    Case("cua.repeated_action_stable_frame", "same point, another screen",
         lambda o: _two_same_clicks(o, PRODUCT), ()),
    Case("cua.click_outside_viewport", "x beyond the 640 px screenshot",
         lambda o: record(o, [step(0, action=click(900, 50))]), (0,)),
    Case("cua.click_outside_viewport", "inside the screenshot",
         lambda o: record(o, [step(0, action=click(600, 50))]), ()),
    Case("cua.coordinate_space_mismatch", "dom target, css px action",
         lambda o: record(o, [step(0, grounding={"provider": "t", "provenance": "dom"})]),
         (0,)),
    Case("cua.coordinate_space_mismatch", "screenshot target",
         lambda o: record(o, [step(0)]), ()),
    Case("cua.dom_used_as_runtime_target", "dom target clicked",
         lambda o: record(o, [step(0, grounding={"provider": "t", "provenance": "dom"})]),
         (0,)),
    Case("cua.dom_used_as_runtime_target", "dom probe, typing without a point",
         lambda o: record(o, [step(0, grounding={"provider": "t", "provenance": "dom"},
                                   action={"type": "type", "params": {"text": "a"}})]), ()),
    Case("cua.no_state_change", "failure class says so",
         lambda o: record(o, [_failed(0, failure_class="no_state_change")]), (0,)),
    Case("cua.no_state_change", "identical pre and post of a failed step",
         lambda o: record(o, [_failed(0)], pages={0: (CHECKOUT, CHECKOUT)}), (0,)),
    Case("cua.no_state_change", "identical pre and post of a passed step",
         lambda o: record(o, [step(0)], pages={0: (CHECKOUT, CHECKOUT)}), ()),
    Case("cua.verifier_disagrees", "failed verdict and a verifier event",
         lambda o: _verifier(o, True), (0,)),
    Case("cua.verifier_disagrees", "failed verdict, no verifier event",
         lambda o: _verifier(o, False), ()),
    Case("cua.dispatch_ok_state_fail", "its failure class",
         lambda o: record(o, [_failed(0, failure_class="dispatch_ok_state_fail")]), (0,)),
    Case("cua.dispatch_ok_state_fail", "another failure class",
         lambda o: record(o, [_failed(0, failure_class="no_state_change")]), ()),
    Case("cua.invalid_action_schema", "an action without type", _no_type, (1,)),
    Case("cua.invalid_action_schema", "typed actions", lambda o: record(o, [step(0)]), ()),
    Case("cua.missing_observation", "a screenshot deleted",
         lambda o: _missing_shot(o, True), (1,)),
    Case("cua.missing_observation", "all screenshots there",
         lambda o: _missing_shot(o, False), ()),
    Case("cua.replay_diff", "fixture of a failed step", lambda o: _fixture(o, "failed"), (1,)),
    Case("cua.replay_diff", "fixture of a passed step", lambda o: _fixture(o, "passed"), ()),
    Case("cua.high_cost_infra_failure", "infra failure at step 0",
         lambda o: record(o, [_failed(0, failure_class="infra_failure")]), (0,)),
    Case("cua.high_cost_infra_failure", "infra failure at step 4",
         lambda o: record(o, [step(i) for i in range(4)] +
                          [_failed(4, failure_class="infra_failure")]), ()),
    Case("cua.uncategorized_failure", "failed without a class",
         lambda o: record(o, [_failed(0)]), (0,)),
    Case("cua.uncategorized_failure", "failed with a class",
         lambda o: record(o, [_failed(0, failure_class="no_state_change")]), ()),
    Case("cua.click_far_from_grounding", "44 px off",
         lambda o: record(o, [step(0, action=click(144, 100))]), (0,)),
    Case("cua.click_far_from_grounding", "5 px off",
         lambda o: record(o, [step(0, action=click(105, 100))]), ()),
    Case("cua.low_confidence_grounding", "confidence 0.3",
         lambda o: record(o, [step(0, grounding={"provider": "t", "provenance": "screenshot",
                                                 "confidence": 0.3})]), (0,)),
    Case("cua.low_confidence_grounding", "confidence 0.9",
         lambda o: record(o, [step(0)]), ()),
    Case("cua.retry_unchanged", "the retry clicks the same point",
         lambda o: _retry(o, (320, 322)), (4,)),
    Case("cua.retry_unchanged", "the retry moved the click",
         lambda o: _retry(o, (320, 290)), ()),
    Case("cua.retry_unchanged", "an iteration repeats the failed action",
         _retry_iteration, (0,)),
    Case("cua.modal_covers_target", "click on the backdrop of a dialog",
         lambda o: _modal(o, BACKDROP, DIALOG), (0,)),
    Case("cua.modal_covers_target", "click on the dialog over the button, page seen after",
         lambda o: _modal(o, centre("Place order"), DIALOG, then=CHECKOUT), (0,)),
    Case("cua.modal_covers_target", "click on the dialog, no view of the page under it",
         lambda o: _modal(o, centre("Got it"), DIALOG), ()),
    Case("cua.modal_covers_target", "no dialog on the page",
         lambda o: _modal(o, BACKDROP, CHECKOUT, then=CHECKOUT), ()),
    Case("cua.modal_covers_target", "the step succeeded",
         lambda o: _modal(o, BACKDROP, DIALOG, ok=True, then=CHECKOUT), ()),
    Case("cua.screen_loop", "back to the same screen twice",
         lambda o: _screens(o, [LOGIN, SEARCH, LOGIN, SEARCH, LOGIN]), (4,)),
    Case("cua.screen_loop", "stuck on one screen for 3 failed steps",
         lambda o: _screens(o, [CHECKOUT, CHECKOUT, CHECKOUT], failing=True), (2,)),
    Case("cua.screen_loop", "every screen new",
         lambda o: _screens(o, [LOGIN, SEARCH, PRODUCT, CHECKOUT]), ()),
]


def _rule(rule_id: str) -> Rule:
    return next(r for r in CUA_RULES if r.rule_id == rule_id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule_id}: {c.name}")
def test_rule_fires_or_stays_quiet(case: Case, tmp_path: Path) -> None:
    """The rule's findings are on exactly the expected steps, each with evidence that
    points at files of the bundle, and the rule was evaluated."""
    bundle = case.build(tmp_path / "run")
    diagnosis = RulesEngine([_rule(case.rule_id)]).diagnose(bundle)
    assert diagnosis.errors == []
    assert not [n for n in diagnosis.unevaluable if n.step_index is None], diagnosis.unevaluable
    assert sorted(f["step_index"] for f in diagnosis.findings) == list(case.fires_on)
    for finding in diagnosis.findings:
        assert finding["rule_id"] == case.rule_id
        for ref in finding["evidence"]:
            assert (bundle / ref["ref"].split("#", 1)[0]).is_file(), ref


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    """No rule of the pack goes untested either way."""
    fires = {c.rule_id for c in CASES if c.fires_on}
    quiet = {c.rule_id for c in CASES if not c.fires_on}
    ids = {r.rule_id for r in CUA_RULES}
    assert ids == fires == quiet


def test_iteration_evidence_points_into_the_iteration_layout(tmp_path: Path) -> None:
    """A step with iterations has no steps/NNNN.json: the evidence names the canonical
    record's and the iteration's files in steps/NNNN/."""
    bundle = _retry_iteration(tmp_path / "run")
    assert not (bundle / "steps" / "0000.json").exists()
    (finding,) = RulesEngine([_rule("cua.retry_unchanged")]).diagnose(bundle).findings
    refs = [e["ref"] for e in finding["evidence"]]
    assert all(r.startswith("steps/0000/") for r in refs) and len(set(refs)) == 2
    for ref in refs:
        assert json.loads((bundle / ref).read_text())["step_index"] == 0


def test_modal_evidence_has_the_dialog_box_and_the_click(tmp_path: Path) -> None:
    """The modal finding draws the dialog (its box within a few pixels of the drawn one)
    and the click point on the pre screenshot."""
    bundle = _modal(tmp_path / "run", centre("Place order"), DIALOG, then=CHECKOUT)
    (finding,) = RulesEngine([_rule("cua.modal_covers_target")]).diagnose(bundle).findings
    frags = [e["ref"].split("#xywh=")[1] for e in finding["evidence"] if "#xywh=" in e["ref"]]
    box = [float(v) for v in frags[0].split(",")]
    assert all(abs(a - b) <= 6 for a, b in zip(box, (110, 230, 421, 111), strict=True)), box
    x, y = centre("Place order")
    assert frags[1] == f"{x:g},{y:g},0,0"
    assert {"type": "screenshot", "ref": "screenshots/0001_pre.png"} in finding["evidence"]


def test_points_are_scaled_to_the_screenshot_at_device_scale_2(tmp_path: Path) -> None:
    """With screenshots at twice the CSS size and the device scale recorded, a click on the
    dialog (in CSS px) lands inside the dialog found in the image: no finding; a click on
    the backdrop is found, its evidence point in screenshot pixels (twice the CSS point)."""
    tags = {"device_scale_factor": "2"}
    on_dialog = _failed(0, action=click(*centre("Got it")), failure_class="no_state_change")
    bundle = record(tmp_path / "a", [on_dialog], pages={0: DIALOG}, tags=tags, scale=2)
    assert RulesEngine([_rule("cua.modal_covers_target")]).diagnose(bundle).findings == []
    unscaled = record(tmp_path / "b", [on_dialog], pages={0: DIALOG}, scale=2)
    assert RulesEngine([_rule("cua.modal_covers_target")]).diagnose(unscaled).findings, \
        "without the device scale the CSS point falls outside the 2x dialog"
    on_backdrop = _failed(0, action=click(*BACKDROP), failure_class="no_state_change")
    bundle = record(tmp_path / "c", [on_backdrop], pages={0: DIALOG}, tags=tags, scale=2)
    (finding,) = RulesEngine([_rule("cua.modal_covers_target")]).diagnose(bundle).findings
    refs = [e["ref"] for e in finding["evidence"]]
    assert f"screenshots/0000_pre.png#xywh={2 * BACKDROP[0]:g},{2 * BACKDROP[1]:g},0,0" in refs
