"""The parts the integrations share, without any framework: the version gate's messages and
the StepRecorder's numbering, screenshot pairing, records and error gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augur_sdk import DebugSession
from augur_sdk.integrations import (
    Framework,
    IntegrationNotInstalled,
    ObservedCall,
    ObservedStep,
    StepRecorder,
)
from augur_sdk.integrations._framework import ALLOW_UNTESTED_ENV, parse_release
from augur_sdk.testing import make_png

FRAMEWORK = Framework(identifier="demo_fw", distribution="demo-framework-not-on-pypi",
                      module="demo_framework_not_importable", minimum=(1, 4),
                      below=(1, 6), extra="demo-fw")


def test_release_numbers_are_read_from_the_front_of_a_version() -> None:
    assert parse_release("0.13.14") == (0, 13, 14)
    assert parse_release("1.5.0rc2") == (1, 5, 0)
    assert parse_release("v2") == (2,)
    assert parse_release("dev") == ()


def test_a_missing_framework_says_what_to_install() -> None:
    with pytest.raises(IntegrationNotInstalled) as raised:
        FRAMEWORK.load()
    message = str(raised.value)
    assert "augur_sdk.integrations.demo_fw needs demo-framework-not-on-pypi" in message
    assert "not installed" in message
    assert "pip install 'demo-framework-not-on-pypi>=1.4,<1.6'" in message
    assert "pip install -e '.[demo-fw]'" in message
    assert isinstance(raised.value, ImportError)  # `except ImportError` still catches it


@pytest.mark.parametrize("version", ["1.4", "1.4.0", "1.5.99"])
def test_versions_in_the_tested_range_pass(version: str) -> None:
    FRAMEWORK.check_version(version)


def test_an_older_version_is_refused_with_the_found_version() -> None:
    with pytest.raises(IntegrationNotInstalled, match=r"found 1\.3\.9") as raised:
        FRAMEWORK.check_version("1.3.9")
    assert ALLOW_UNTESTED_ENV not in str(raised.value)  # no way round for an older one


def test_a_newer_version_is_refused_unless_untested_is_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_UNTESTED_ENV, raising=False)
    with pytest.raises(IntegrationNotInstalled, match=ALLOW_UNTESTED_ENV):
        FRAMEWORK.check_version("1.6.0")
    monkeypatch.setenv(ALLOW_UNTESTED_ENV, "1")
    FRAMEWORK.check_version("1.6.0")
    with pytest.raises(IntegrationNotInstalled):
        FRAMEWORK.check_version("1.3")  # still refused: older than we test


def _steps(out: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((out / "steps").glob("*.json"))]


def test_held_steps_take_the_next_screenshot_as_post(tmp_path: Path) -> None:
    shots = [make_png(seed=n) for n in range(4)]
    with DebugSession(run_id="r_pair", client_name="t", out_dir=tmp_path,
                      capture_mode="screenshots") as session:
        recorder = StepRecorder(session, integration="demo_fw", dispatch_backend="cdp")
        recorder.screenshot(shots[0])
        assert recorder.hold(ObservedStep("click", {"x": 1, "y": 2},
                                          coordinates=(1, 2))) == 0
        assert recorder.upcoming_index == 1
        recorder.screenshot(shots[1])                 # post of 0, pre of 1
        recorder.hold(ObservedStep("type", {"text": "blue mug"}))
        recorder.screenshot(shots[2])                 # post of 1, pre of 2
        recorder.hold(ObservedStep("click", status="failed", failure_class="demo_fw.gone",
                                   error="element 99 does not exist"))
        recorder.close(status="failed")               # 2 has no post
    steps = _steps(tmp_path)
    assert [s["step_index"] for s in steps] == [0, 1, 2]
    assert [s["step_id"] for s in steps] == [f"r_pair/step/{i:04d}" for i in range(3)]
    bytes_of = {p: (tmp_path / p).read_bytes() for s in steps
                for p in (s["observation_pre"], s["observation_post"]) if p}
    assert bytes_of[steps[0]["observation_pre"]] == shots[0]
    assert bytes_of[steps[0]["observation_post"]] == shots[1]
    assert bytes_of[steps[1]["observation_pre"]] == shots[1]
    assert bytes_of[steps[1]["observation_post"]] == shots[2]
    assert bytes_of[steps[2]["observation_pre"]] == shots[2]
    assert steps[2]["observation_post"] is None
    assert steps[0]["grounding"]["coordinates"] == {"x": 1.0, "y": 2.0}
    assert steps[0]["action"]["dispatch_backend"] == "cdp"
    assert steps[2]["status"] == "failed"
    assert steps[2]["failure_class"] == "demo_fw.gone"
    assert steps[2]["verdict"] == {"status": "failed", "reason": "element 99 does not exist"}
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace["session"]["status"] == "failed"


def test_a_model_call_goes_to_the_upcoming_step(tmp_path: Path) -> None:
    with DebugSession(run_id="r_call", client_name="t", out_dir=tmp_path,
                      capture_mode="model_io") as session:
        recorder = StepRecorder(session, integration="demo_fw", dispatch_backend="cdp")
        first = recorder.model_call(ObservedCall(
            model="scripted-1", messages=[{"role": "user", "content": "Log in"}],
            text="clicking Sign in", tool_calls=[{"name": "click", "input": {"index": 3}}],
            prompt_tokens=10, completion_tokens=4, duration_ms=12.5))
        recorder.hold(ObservedStep("click"))
        second = recorder.model_call(ObservedCall(model="scripted-1", text="typing"))
        recorder.record(ObservedStep("type"))
        recorder.close()
    assert first == "modelio/0000-model-0.json"
    assert second == "modelio/0001-model-0.json"
    call = json.loads((tmp_path / first).read_text())
    assert call["request"]["messages"] == [{"role": "user", "content": "Log in"}]
    assert call["response"]["usage"] == {"prompt_tokens": 10, "completion_tokens": 4}
    assert call["duration_ms"] == 12
    assert [s["step_type"] for s in _steps(tmp_path)] == ["click", "type"]


def test_a_jpeg_screenshot_is_stored_as_png(tmp_path: Path) -> None:
    import io

    from PIL import Image

    jpeg = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(jpeg, format="JPEG")
    with DebugSession(run_id="r_jpeg", client_name="t", out_dir=tmp_path,
                      capture_mode="screenshots") as session:
        recorder = StepRecorder(session, integration="demo_fw", dispatch_backend="cdp")
        recorder.record(ObservedStep("click", pre_png=jpeg.getvalue()))
    (step,) = _steps(tmp_path)
    with Image.open(tmp_path / step["observation_pre"]) as stored:
        assert (stored.format, stored.size) == ("PNG", (40, 30))


def test_a_bad_screenshot_costs_the_screenshot_not_the_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes that are no image are the framework's surprise, not the user's mistake: in a
    user's run the screenshot is skipped (logged) and the step is still recorded, with the
    next index; under our tests the gate re-raises."""
    with DebugSession(run_id="r_gate", client_name="t", out_dir=tmp_path,
                      capture_mode="screenshots") as session:
        recorder = StepRecorder(session, integration="demo_fw", dispatch_backend="cdp")
        with pytest.raises(ValueError, match="png_bytes"):
            recorder.record(ObservedStep("scroll", pre_png=b"not an image at all"))
        monkeypatch.setenv("AUGUR_RAISE_INTERNAL_ERRORS", "0")
        assert recorder.record(ObservedStep("click", pre_png=b"not an image at all")) == 0
        assert recorder.record(ObservedStep("type", pre_png=make_png())) == 1
    steps = _steps(tmp_path)
    assert [(s["step_index"], s["step_type"]) for s in steps] == [(0, "click"), (1, "type")]
    assert steps[0]["observation_pre"] is None
    assert steps[1]["observation_pre"] is not None


def test_session_options_and_a_session_are_exclusive(tmp_path: Path) -> None:
    from augur_sdk.integrations._steps import open_session

    with (DebugSession(run_id="r_x", client_name="t", out_dir=tmp_path / "a") as session,
          pytest.raises(TypeError, match="session")):
        open_session(session, identifier="demo_fw", out_dir=tmp_path / "b", run_id=None,
                     client_name=None, session_kwargs={})
    with pytest.raises(TypeError, match="out_dir"):
        open_session(None, identifier="demo_fw", out_dir=None, run_id=None,
                     client_name=None, session_kwargs={})


@pytest.mark.parametrize(("given", "env", "expected"), [
    (None, None, "model_io"),          # DebugSession's own default (off) would record nothing
    (None, "trace", "trace"),          # AUGUR_CAPTURE_MODE still decides
    ("screenshots", "trace", "screenshots"),  # and an explicit mode over it
])
def test_a_session_an_integration_opens_records_by_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str | None, env: str | None,
        expected: str) -> None:
    from augur_sdk.integrations._steps import open_session

    if env is None:
        monkeypatch.delenv("AUGUR_CAPTURE_MODE", raising=False)
    else:
        monkeypatch.setenv("AUGUR_CAPTURE_MODE", env)
    options = {"capture_mode": given, "tags": {"team": "web"}}
    session, owned = open_session(None, identifier="demo_fw", out_dir=tmp_path, run_id="r_d",
                                  client_name=None, session_kwargs=options)
    try:
        assert owned is True
        assert str(session.capture_mode) == expected
    finally:
        session.close()
    assert options == {"capture_mode": given, "tags": {"team": "web"}}  # not changed
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace["session"]["tags"] == {"integration": "demo_fw", "team": "web"}
    assert trace["session"]["client"]["name"] == "demo_fw"


INTEGRATIONS = ["browser_use", "openai_agents", "cua"]


@pytest.mark.parametrize("name", INTEGRATIONS)
def test_each_extra_is_the_range_its_integration_accepts(name: str) -> None:
    """pyproject's extra installs exactly the range the integration's version check accepts
    (its install hint names that requirement), and the version the tests install (the test
    extra's pin, or the .ci installer's) is inside it."""
    import importlib
    import re
    import tomllib

    root = Path(__file__).resolve().parents[2]
    framework = importlib.import_module(f"augur_sdk.integrations.{name}").FRAMEWORK
    assert framework.identifier == name
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"][framework.extra] == [framework.requirement]
    installer = root / ".ci" / f"install-{framework.extra}.sh"
    if installer.exists():
        found = re.search(rf"^pinned_venv \S+ {re.escape(framework.distribution)} (\S+) ",
                          installer.read_text(), re.M)
    else:
        found = re.search(rf"^{re.escape(framework.distribution)}==(\S+)$",
                          "\n".join(project["optional-dependencies"]["test"]), re.M)
    assert found, f"no pinned {framework.distribution} for the tests"
    framework.check_version(found.group(1))


def test_steps_beside_the_users_own_are_never_overwritten(tmp_path: Path) -> None:
    """Recording into a session that has steps already (the user's own, another agent's
    recorder): the integration's steps take the next free indexes, whoever wrote last."""
    with DebugSession(run_id="r_mix", client_name="t", out_dir=tmp_path,
                      capture_mode="trace") as session:
        assert session.next_step_index == 0
        for i in range(2):
            session.record_step({"step_id": f"r_mix/step/{i:04d}", "step_index": i,
                                 "step_type": "verify", "status": "succeeded",
                                 "started_at": "2026-12-07T10:00:00Z", "intent": "mine"})
        assert session.next_step_index == 2
        first = StepRecorder(session, integration="demo_fw", dispatch_backend="cdp")
        second = StepRecorder(session, integration="other_fw", dispatch_backend="cdp")
        assert first.upcoming_index == 2 and first.last_index is None
        assert first.record(ObservedStep("click", intent="agent A")) == 2
        assert second.record(ObservedStep("type", intent="agent B")) == 3
        assert first.hold(ObservedStep("scroll", intent="agent A")) == 4
        assert first.holding and first.upcoming_index == 5
        first.close()
        assert not first.holding and first.last_index == 4
    steps = _steps(tmp_path)
    assert [(s["step_index"], s["intent"]) for s in steps] == [
        (0, "mine"), (1, "mine"), (2, "agent A"), (3, "agent B"), (4, "agent A")]
