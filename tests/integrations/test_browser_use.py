"""augur_sdk.integrations.browser_use: a real browser-use Agent, recorded.

The slow tests run ``drivers/browser_use_shop.py`` in ``.ci-venvs/browser-use`` (browser-use
0.13 with this repository, ``bash .ci/install-browser-use.sh``): a real Agent signs in to the
demo shop in headless Chromium with a scripted model, searches, clicks an element index that
does not exist, navigates to a closed port, and finishes. They then read the bundle here and
open it in ``augur view``. The fast tests need no browser-use (it is not in this venv).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from augur_sdk.integrations import IntegrationNotInstalled
from augur_sdk.integrations._browser_use_map import failure_class
from augur_sdk.integrations.browser_use import FRAMEWORK
from integrations.integration_support import framework_python, run_driver, viewer_steps

PASSWORD = "correct-horse-42"   # the demo shop's, typed as browser-use's <secret> placeholder
# The scripted run: (action, status) per step; one browser-use step may hold several actions.
SCRIPT = [("navigate", "succeeded"),                                          # turn 1
          ("input", "succeeded"), ("input", "succeeded"), ("click", "succeeded"),  # turn 2
          ("input", "succeeded"), ("click", "succeeded"),                     # turn 3
          ("click", "failed"),                                                # turn 4
          ("navigate", "failed"),                                             # turn 5
          ("done", "succeeded")]                                              # turn 6
TURN_STARTS = [0, 1, 4, 6, 7, 8]   # the first step of each turn: its model call, reasoning
PNG = b"\x89PNG\r\n\x1a\n"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Run:
    def __init__(self, bundle: Path, summary: dict[str, Any]) -> None:
        self.bundle = bundle
        self.summary = summary
        self.steps = [json.loads(p.read_text()) for p in sorted((bundle / "steps").glob("*.json"))]
        self.trace = json.loads((bundle / "trace.json").read_text())


def _drive(tmp: Path, *args: str) -> Run:
    python = framework_python("browser-use")
    out = tmp / "bundle"
    done = run_driver(python, "browser_use_shop.py", "--out", str(out), *args, timeout=240)
    return Run(out, json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _drive(tmp_path_factory.mktemp("browser-use"))


# ── the recorded run (slow: a real agent in Chromium) ───────────────────────────────────

@pytest.mark.slow
def test_the_driver_ran_the_script_without_leaving_loopback(run: Run) -> None:
    """The agent took the six scripted turns and finished successfully; the on_step_end
    hook the driver passed (by position) ran after each step; the driver exits 3
    on any Python connection or lookup outside loopback (telemetry, cloud, version check),
    so reaching here means none happened."""
    assert run.summary["turns"] == 6
    assert run.summary["user_hook"] == [1, 2, 3, 4, 5, 6], "the user's on_step_end, chained"
    assert run.summary["done"] is True and run.summary["successful"] is True
    assert any("site unavailable" in e for e in run.summary["errors"])


@pytest.mark.slow
def test_the_bundle_validates(run: Run) -> None:
    """`augur validate` accepts the bundle."""
    done = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "validate", str(run.bundle)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_each_action_is_a_step_in_the_scripted_order(run: Run) -> None:
    """Nine actions in six browser-use steps -> nine steps, in order, with browser-use's
    action names and parameters, the turn's next_goal as intent, dispatched over CDP."""
    assert [(s["step_type"], s["status"]) for s in run.steps] == SCRIPT
    assert [s["step_index"] for s in run.steps] == list(range(len(SCRIPT)))
    params = [s["action"]["params"] for s in run.steps]
    assert params[0]["url"].endswith("/login")
    assert params[1]["text"] == "alice"
    assert params[2]["text"] == "<secret>shop_password</secret>"
    assert params[4]["text"] == "blue mug"
    assert params[6]["index"] == 9999
    assert params[8]["success"] is True and params[8]["text"] == "Blue mug: $12.00"
    assert run.steps[1]["intent"] == "Sign in as the shop user."
    assert {s["action"]["dispatch_backend"] for s in run.steps} == {"cdp"}


@pytest.mark.slow
def test_clicks_carry_the_executed_point_and_the_elements_dom_centre(run: Run) -> None:
    """A CDP click's executed point (browser-use's click_x/click_y) is the action's x/y; the
    centre of the element's DOM bounds is the grounding target of every element action
    (clicks and inputs). All of it is DOM-derived: coordinate space dom_client_rect,
    provenance dom. Both points lie inside the element's bounds (recorded in the step's
    grounding event), and each step names the element; the missing index and element-free
    actions carry no point."""
    by_index = {s["step_index"]: s for s in run.steps}
    labels = {i: by_index[i]["grounding"].get("target_label") for i in (1, 2, 3, 4, 5)}
    assert labels == {1: "input 'Username'", 2: "input 'Password'", 3: "button 'Sign in'",
                      4: "input 'Search products'", 5: "button 'Search'"}
    assert {s["action"]["coordinate_space"] for s in run.steps} == {"dom_client_rect"}
    assert {s["grounding"]["provenance"] for s in run.steps} == {"dom"}
    for i in (1, 2, 3, 4, 5):
        step = by_index[i]
        events = _read_jsonl(run.bundle / "events" / f"{i:04d}.jsonl")
        element = next(e for e in events if e["layer"] == "grounding")
        assert element["detail"]["index"] == step["action"]["params"]["index"]
        box = element["detail"]["bounds"]
        target = step["grounding"]["coordinates"]
        points = [(target["x"], target["y"])]
        if step["step_type"] == "click":
            points.append((step["action"]["params"]["x"], step["action"]["params"]["y"]))
        else:
            assert "x" not in step["action"]["params"], "an input reports no point"
        for x, y in points:
            assert box["x"] <= x <= box["x"] + box["width"], (i, x, box)
            assert box["y"] <= y <= box["y"] + box["height"], (i, y, box)
    ys = [by_index[i]["grounding"]["coordinates"]["y"] for i in (1, 2, 3)]
    assert ys == sorted(ys), "username above password above the Sign in button"
    for i in (0, 6, 7, 8):
        assert "coordinates" not in by_index[i]["grounding"], i
        assert "target_label" not in by_index[i]["grounding"], i
        assert "x" not in by_index[i]["action"]["params"], i


@pytest.mark.slow
def test_diagnose_sees_no_coordinate_space_mismatch(run: Run) -> None:
    """browser-use's points are all DOM client-rect points: `augur diagnose` reports no
    cua.coordinate_space_mismatch (it did on every step when a DOM-grounded action was
    labelled viewport_css_px). That browser-use clicks DOM targets (dom_used_as_runtime_target)
    is true of each CDP click, and only of those."""
    done = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "diagnose", "--json",
                           "--no-write", str(run.bundle)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    findings = json.loads(done.stdout)["findings"]
    rules = [(f["rule_id"], f.get("step_index")) for f in findings]
    assert not [r for r in rules if r[0] == "cua.coordinate_space_mismatch"], rules
    assert sorted(i for r, i in rules if r == "cua.dom_used_as_runtime_target") == [3, 5]


@pytest.mark.slow
def test_screenshots_pair_pre_and_post_across_turns(run: Run) -> None:
    """A turn's screenshot is its first step's pre and the previous turn's last step's post
    (the same image); the done step's post is taken at the end; every referenced file is a
    PNG. browser-use takes no screenshot of the new-tab page, so step 0 has no pre."""
    steps = run.steps
    for s in steps:
        for kind in ("observation_pre", "observation_post"):
            if s[kind]:
                assert (run.bundle / s[kind]).read_bytes().startswith(PNG), s[kind]
    assert steps[0]["observation_pre"] is None and steps[0]["observation_post"]
    for start in TURN_STARTS[1:]:
        assert steps[start]["observation_pre"], start
        previous_last = steps[start - 1]
        assert previous_last["observation_post"], start - 1
        assert (run.bundle / previous_last["observation_post"]).read_bytes() == \
            (run.bundle / steps[start]["observation_pre"]).read_bytes()
    assert steps[-1]["observation_post"], "the done step's post (a final screenshot)"
    middle = [2, 3, 5]   # not the first of their turn: no pre of their own
    assert all(steps[i]["observation_pre"] is None for i in middle)


@pytest.mark.slow
def test_model_calls_hold_the_messages_and_the_output(run: Run) -> None:
    """One model call per turn, under the turn's first step: browser-use's system and user
    messages (the browser state, the screenshot stored as a bundle image) and the structured
    output with the actions the step records show."""
    every = [json.loads(p.read_text()) for p in sorted((run.bundle / "modelio").glob("*.json"))]
    calls = [c for c in every if c["layer"] == "model"]
    assert [c["step_index"] for c in calls] == TURN_STARTS
    assert [(c["step_index"], c["layer"]) for c in every if c not in calls] == [(8, "judge")]
    for call in calls:
        assert call["request"]["model"] == "scripted-shop-v1"
        roles = [m["role"] for m in call["request"]["messages"]]
        assert roles[0] == "system" and roles[-1] == "user"
        assert call["response"]["usage"]["completion_tokens"] == 40
    login = calls[1]
    user = json.dumps(login["request"]["messages"][-1])
    assert "<browser_state>" in user and "input id=username" in user
    images = [part["image_url"]["url"] for part in login["request"]["messages"][-1]["content"]
              if part.get("type") == "image_url"]
    assert images and images[0].startswith("bundle:modelio/images/")
    assert (run.bundle / images[0].removeprefix("bundle:")).read_bytes().startswith(PNG)
    output = json.loads(login["response"]["text"])
    assert [next(iter(a)) for a in output["action"]] == ["input", "input", "click"]
    assert output["next_goal"] == "Sign in as the shop user."


@pytest.mark.slow
def test_browser_uses_judge_is_a_judge_decision_of_the_done_step(run: Run) -> None:
    """use_judge: browser-use asks the model to judge the run after the done step; that call
    is a `judge` model call of the done step, and its verdict a model judge's decision on
    that step, beside (not replacing) the step's own status."""
    judge_call = json.loads((run.bundle / "modelio" / "0008-judge-0.json").read_text())
    assert judge_call["request"]["params"] == {"output_format": "JudgementResult"}
    assert json.loads(judge_call["response"]["text"])["verdict"] is True
    done = run.steps[8]
    assert done["judge_decisions"] == [{
        "judge_id": "browser_use.judge:scripted-shop-v1", "judge_type": "model",
        "judged_at": done["judge_decisions"][0]["judged_at"],
        "verdict": {"status": "passed",
                    "reason": "The agent signed in, searched and reported the price."}}]
    assert done["status"] == "succeeded" and "verdict" not in done


@pytest.mark.slow
def test_reasoning_is_recorded_per_turn(run: Run) -> None:
    """The model's thinking, evaluation, memory and next goal are the reasoning of each
    turn's first step."""
    reasoning = _read_jsonl(run.bundle / "diagnostics" / "reasoning.jsonl")
    assert [r["step_index"] for r in reasoning] == TURN_STARTS
    assert "Next goal: Search for blue mug." in reasoning[2]["text"]
    assert "Thinking: Turn 3" in reasoning[2]["text"]


@pytest.mark.slow
def test_failures_are_failed_steps_with_browser_use_classes(run: Run) -> None:
    """A missing element index (browser-use's "not available" note) and a navigation error
    (ActionResult.error) are failed steps with namespaced classes and the text as reason;
    the run, finished with done(success=True), succeeded."""
    missing, navigation = run.steps[6], run.steps[7]
    assert missing["failure_class"] == "browser_use.element_not_available"
    assert "Element index 9999 not available" in missing["verdict"]["reason"]
    assert navigation["failure_class"] == "browser_use.site_unavailable"
    assert "site unavailable" in navigation["verdict"]["reason"]
    assert all("failure_class" not in s for s in run.steps if s["status"] == "succeeded")
    assert run.trace["session"]["status"] == "succeeded"
    assert run.trace["session"]["tags"]["integration"] == "browser_use"


@pytest.mark.slow
def test_a_bundle_record_opens_captures_model_io_by_default(run: Run) -> None:
    """The driver passes no capture_mode (and no AUGUR_CAPTURE_MODE is set): the bundle
    record() opens is in model_io, not DebugSession's default off, which records nothing."""
    assert run.trace["session"]["capture_mode"] == "model_io"


@pytest.mark.slow
def test_the_password_is_never_on_disk(run: Run) -> None:
    """browser-use's sensitive_data keeps the password a placeholder in the model's
    messages and the action's parameters; no file of the bundle holds it."""
    leaking = [p for p in run.bundle.rglob("*") if p.is_file() and PASSWORD.encode() in
               p.read_bytes()]
    assert leaking == []


@pytest.mark.slow
def test_the_bundle_opens_in_the_viewer(run: Run) -> None:
    """augur view lists the nine steps, marks the two failures, and the page raises no
    error."""
    shown = viewer_steps(run.bundle)
    assert shown["rows"] == list(range(len(SCRIPT)))
    assert shown["failed"] == [6, 7]
    assert shown["errors"] == []


def _viewer_screenshot(bundle: Path) -> dict[str, Any]:
    """The step the viewer selects on opening and its screenshot (``#shot``, outside
    ``#detail``, so ``viewer_steps``' images do not include it) once loaded."""
    from playwright.sync_api import sync_playwright

    from viewer.viewer_support import open_viewer, run_viewer

    with run_viewer(bundle) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            open_viewer(page, url)
            page.wait_for_selector("#shot-wrap[data-loaded='1']", timeout=15000)
            return {"step": int(page.get_attribute("#detail", "data-step") or -1),
                    "width": page.eval_on_selector("#shot", "i => i.naturalWidth"),
                    "src": page.get_attribute("#shot", "src"), "errors": errors}
        finally:
            browser.close()


@pytest.mark.slow
def test_the_viewer_shows_the_failed_steps_screenshot(run: Run) -> None:
    """The viewer opens on the first failure (the missing element) and loads its
    screenshot, the 1920 px wide page browser-use captured."""
    shown = _viewer_screenshot(run.bundle)
    assert shown["step"] == 6
    assert shown["width"] == 1920, shown
    assert shown["errors"] == []


@pytest.mark.slow
def test_recording_into_the_users_session_leaves_it_open(tmp_path: Path) -> None:
    """record(agent, session=s): the steps go into the user's session, the run's status is
    set, and the session stays open for the user (the driver tags it after the run, then
    closes it)."""
    own = _drive(tmp_path, "--own-session")
    assert [(s["step_type"], s["status"]) for s in own.steps] == SCRIPT
    session = own.trace["session"]
    assert session["client"]["name"] == "shop-agent"
    assert session["tags"] == {"after_run": "still-open"}
    assert session["status"] == "succeeded"


@pytest.mark.slow
def test_record_refuses_wrong_arguments_with_browser_use_installed(tmp_path: Path) -> None:
    """With browser-use (its venv, no browser launched): an object that is not an Agent, both
    session= and out_dir=, and a second record() of the same agent are refused naming the
    argument, writing no bundle; close() puts back browser-use's own ainvoke wrapper and
    Agent.run; a record() that fails after opening its bundle closes it."""
    python = framework_python("browser-use")
    out = tmp_path / "misuse"
    done = run_driver(python, "browser_use_shop.py", "--out", str(out), "--misuse",
                      timeout=120)
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["not_an_agent"] == "TypeError: agent: expected a browser_use.Agent, got object"
    assert said["both"].startswith("TypeError: session: pass either session= or out_dir=")
    assert said["twice"].startswith("ValueError: agent: already recorded")
    assert said["wrapped"] is True and said["restored"] is True
    # a record() failing half-way (a judge model with __slots__) re-raises, closes the
    # bundle it opened (trace.json written, no live.json) and undoes the hooks it had set
    assert said["slotted"].startswith("AttributeError: ") and "ainvoke" in said["slotted"]
    assert said["slotted_closed"] is True and said["slotted_undone"] is True
    # the accepted record(), the user's, and the one that failed (closed)
    assert said["left_on_disk"] == ["first", "mine", "slotted"]


# ── without browser-use (fast, this venv) ───────────────────────────────────────────────

def test_browser_use_is_not_in_this_venv() -> None:
    """The fast tests below rely on it: browser-use pins anthropic<2, against the test
    extra's anthropic 2.x, so it lives only in .ci-venvs/browser-use."""
    assert FRAMEWORK.installed_version() is None


def test_record_without_browser_use_says_what_to_install() -> None:
    """record() refuses with one message naming the package, the tested range and the
    extra, before touching the agent or opening a bundle."""
    from augur_sdk.integrations.browser_use import record

    with pytest.raises(IntegrationNotInstalled) as caught:
        record(object(), out_dir="never-created")
    message = str(caught.value)
    assert "augur_sdk.integrations.browser_use needs browser-use, which is not installed" \
        in message
    assert "browser-use>=0.13.14,<0.14" in message
    assert "[browser-use]" in message
    assert not Path("never-created").exists()


def test_importing_the_integration_does_not_import_browser_use() -> None:
    """Importing the module (as the docs and type hints do) is free: browser_use is
    imported only when record() is called."""
    code = ("import sys, augur_sdk.integrations.browser_use; "
            "print('browser_use' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_versions_outside_the_tested_range_are_refused() -> None:
    """0.13.13 and 0.12 are refused; 0.14.0 is refused with the way out (the env var);
    0.13.14 and 0.13.20 pass."""
    for ok in ("0.13.14", "0.13.20"):
        FRAMEWORK.check_version(ok)
    for old in ("0.13.13", "0.12.6"):
        with pytest.raises(IntegrationNotInstalled, match=f"found {old}"):
            FRAMEWORK.check_version(old)
    with pytest.raises(IntegrationNotInstalled, match="AUGUR_INTEGRATIONS_ALLOW_UNTESTED=1"):
        FRAMEWORK.check_version("0.14.0")


@pytest.mark.parametrize(("error", "expected"), [
    # browser-use 0.13.14's own texts (tools/service.py, agent/service.py)
    ("Element index 12 not available - page may have changed. Try refreshing browser state.",
     "element_not_available"),
    ("Element index 7 not found in browser state", "element_not_available"),
    ("Navigation failed - site unavailable: http://127.0.0.1:9/", "site_unavailable"),
    ("Navigation failed: net::ERR_ABORTED", "navigation_failed"),
    ("Action click timed out after 60s. The browser may be unresponsive.", "timeout"),
    ("Failed to click element 0: Cannot click on element with index 0. If there are no "
     "interactive elements use wait()", "invalid_element_index"),
    ("ValueError: could not convert string to float: 'x'", "value_error"),
    ("Failed to input text into element 3: detached", "action_error"),
])
def test_error_texts_map_to_namespaced_failure_classes(error: str, expected: str) -> None:
    """browser-use reports errors as text; the class is read from it, always namespaced
    ``browser_use.``, with ``action_error`` when nothing more specific matches."""
    assert failure_class(error) == f"browser_use.{expected}"


@pytest.mark.slow
def test_a_run_that_runs_out_of_steps_fails_with_its_step_errors(tmp_path: Path) -> None:
    """max_steps=3: browser-use allows only `done` on the last step, the script's
    search does not fit that schema (a step error: invalid model output), and browser-use
    appends its "maximum steps" item after the last step ends, which is recorded at the run's
    end. The run's status is failed."""
    short = _drive(tmp_path, "--max-steps", "3")
    assert [(s["step_type"], s["status"]) for s in short.steps] == [
        *SCRIPT[:4], ("step_error", "failed"), ("step_error", "failed")]
    invalid, out_of_steps = short.steps[4], short.steps[5]
    assert invalid["failure_class"] == "browser_use.invalid_model_output"
    assert "Invalid model output format" in invalid["verdict"]["reason"]
    assert invalid["observation_pre"], "the screenshot of the step that failed"
    assert out_of_steps["failure_class"] == "browser_use.max_steps_reached"
    assert short.trace["session"]["status"] == "failed"
    done = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "validate",
                           str(short.bundle)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_driving_agent_step_by_hand_with_the_recordings_hook(tmp_path: Path) -> None:
    """Without agent.run(): the driver calls agent.step() and the recording's on_step_end
    after each, then close(status=...): the same steps, model calls and status."""
    by_hand = _drive(tmp_path, "--by-hand")
    assert [(s["step_type"], s["status"]) for s in by_hand.steps] == SCRIPT
    calls = sorted(p.name for p in (by_hand.bundle / "modelio").glob("*-model-*.json"))
    assert [int(name[:4]) for name in calls] == TURN_STARTS
    assert by_hand.steps[-1]["observation_post"], "the done step's final screenshot"
    assert by_hand.trace["session"]["status"] == "succeeded"


@pytest.mark.slow
def test_a_broken_recording_never_breaks_the_agent(tmp_path: Path) -> None:
    """In a user's run (internal errors not re-raised), the bundle is closed under the
    integration after the second step: every later record fails, the agent still finishes
    all six turns (and the user's hook runs each time), and the failure is one logged
    warning naming the integration."""
    python = framework_python("browser-use")
    done = run_driver(python, "browser_use_shop.py", "--out", str(tmp_path / "b"),
                      "--sabotage", timeout=240, env={"AUGUR_RAISE_INTERNAL_ERRORS": "0"})
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["turns"] == 6 and summary["successful"] is True
    assert summary["user_hook"] == [1, 2, 3, 4, 5, 6]
    warnings = [line for line in done.stderr.splitlines()
                if "internal error in integrations.browser_use" in line]
    assert len(warnings) == 1 and "your agent keeps running" in warnings[0], done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "b" / "steps").iterdir()) == \
        ["0000.json", "0001.json", "0002.json"]


@pytest.mark.slow
def test_two_agents_sharing_one_model_keep_their_own_calls(tmp_path: Path) -> None:
    """One chat model object, two recorded agents run with asyncio.gather: each bundle holds
    its own agent's calls only, one per turn (a: 2 turns, b: 4), including b's calls after
    a's run ended and closed its recording; the model is restored to browser-use's own
    wrapper when the last recording closes."""
    python = framework_python("browser-use")
    out = tmp_path / "shared"
    done = run_driver(python, "browser_use_shop.py", "--out", str(out), "--shared",
                      timeout=240)
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["turns"] == {"a": 2, "b": 4} and said["done"] == [True, True]
    assert said["restored"] is True
    for who, turns in (("a", 2), ("b", 4)):
        calls = [json.loads(p.read_text())
                 for p in sorted((out / who / "modelio").glob("*.json"))]
        assert [c["step_index"] for c in calls] == list(range(turns)), who
        for call in calls:
            text = json.dumps(call["request"]["messages"])
            assert f"[agent {who}]" in text, who
            other = "b" if who == "a" else "a"
            assert f"[agent {other}]" not in text, (who, "holds a call of", other)
        assert len(list((out / who / "steps").glob("*.json"))) == turns


@pytest.mark.slow
def test_the_judges_verdict_is_kept_without_a_final_screenshot(tmp_path: Path) -> None:
    """final_screenshot=False: the done step stays held until the run's end; it is written
    before the judge's verdict is recorded, so the verdict is on it (it was dropped)."""
    bare = _drive(tmp_path, "--no-final-screenshot")
    done = bare.steps[8]
    assert done["step_type"] == "done" and done["observation_post"] is None
    assert [d["verdict"]["status"] for d in done.get("judge_decisions", [])] == ["passed"]
    assert bare.trace["session"]["status"] == "succeeded"


@pytest.mark.slow
def test_closing_the_bundle_does_not_stall_the_agents_event_loop(tmp_path: Path) -> None:
    """The run's end closes the bundle: with an exporter whose flush takes 4 s (a span
    processor passed to record()), the close runs off the event loop: a task ticking every
    20 ms beside the agent never waits 3 s (it waited the whole flush when the close ran on
    the loop). The bundle is still closed with the run's status."""
    slow = _drive(tmp_path, "--slow-exporter")
    assert slow.summary["longest_stall_s"] < 3.0, slow.summary
    assert slow.trace["session"]["status"] == "succeeded"
    assert (slow.bundle / "manifest.json").is_file()
