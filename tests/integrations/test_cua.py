"""augur_sdk.integrations.cua: a real cua ``ComputerAgent`` on the demo shop, recorded.

The driver (``drivers/cua_shop.py``, run in ``.ci-venvs/cua``) drives headless Chromium
through cua with a scripted agent loop registered by cua's ``register_agent``; these tests
read the bundle it wrote and open it in ``augur view``. The runs that end early (a crash, cua's
budget manager) also stream to a loopback server that never answers, so closing their bundle
waits the whole close budget. The last tests run in the project's venv, where cua-agent is not
installed: what a user without the framework sees.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from augur_sdk.integrations import IntegrationNotInstalled
from augur_sdk.integrations._cua_items import failure_of, screenshot_bytes
from augur_sdk.integrations.cua import FRAMEWORK, record
from integrations.integration_support import (
    REPO,
    framework_python,
    run_driver,
    viewer_steps,
)

PNG = b"\x89PNG\r\n\x1a\n"
LAUNCH = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run"]
CLOSE_BUDGET_S = 2.0  # the driver's close_timeout_s with --dsn


def _run(tmp_path_factory: pytest.TempPathFactory, *args: str) -> tuple[Path, dict[str, Any]]:
    python = framework_python("cua")
    out = tmp_path_factory.mktemp("cua") / "bundle"
    done = run_driver(python, "cua_shop.py", "--out", str(out), *args, timeout=300)
    played = json.loads(done.stdout.strip().splitlines()[-1])
    played["stderr"] = done.stderr
    return out, played


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return _run(tmp_path_factory)


@pytest.fixture(scope="module")
def in_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return _run(tmp_path_factory, "--session")


@pytest.fixture(scope="module")
def hanging_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A DSN of a loopback server that accepts and never answers (tests/fault_server.py)."""
    work = tmp_path_factory.mktemp("hang")
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "fault_server.py"), "hang",
                             str(work / "port"), str(work / "log")])
    try:
        deadline = time.monotonic() + 10
        while not (work / "port").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no fault server"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{(work / 'port').read_text()}/api/v1?token=tok&tenant=acme"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory,
            hanging_dsn: str) -> tuple[Path, dict[str, Any]]:
    return _run(tmp_path_factory, "--crash", "--dsn", hanging_dsn)


@pytest.fixture(scope="module")
def budget(tmp_path_factory: pytest.TempPathFactory,
           hanging_dsn: str) -> tuple[Path, dict[str, Any]]:
    return _run(tmp_path_factory, "--budget", "--dsn", hanging_dsn)


def _steps(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((bundle / "steps").glob("*.json"))]


def _session(bundle: Path) -> dict[str, Any]:
    session: dict[str, Any] = json.loads((bundle / "trace.json").read_text())["session"]
    return session


def _validate(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", "validate", str(bundle)],
                          capture_output=True, text=True, timeout=120)


# ── the recorded run ────────────────────────────────────────────────────────────────────

def test_the_bundle_validates(shop: tuple[Path, dict[str, Any]]) -> None:
    """`augur validate` accepts what the integration wrote."""
    done = _validate(shop[0])
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_computer_call_is_a_step_with_its_action_and_coordinates(
        shop: tuple[Path, dict[str, Any]]) -> None:
    """One step per computer call cua executed, in order, with the action's type and
    parameters, and the click points as grounding coordinates in screenshot pixels; the
    closing message is a `done` step."""
    bundle, played = shop
    steps = _steps(bundle)
    assert [s["step_index"] for s in steps] == list(range(len(played["played"]) + 1))
    for step, action in zip(steps, played["played"], strict=False):
        assert step["step_type"] == step["action"]["type"] == action["type"]
        assert step["action"]["dispatch_backend"] == "cua"
        if "x" in action:
            assert (step["action"]["params"]["x"], step["action"]["params"]["y"]) == \
                (action["x"], action["y"])
            assert step["grounding"]["coordinates"] == {"x": action["x"], "y": action["y"]}
            assert step["action"]["coordinate_space"] == "screenshot_px"
        else:
            assert "coordinates" not in step["grounding"]
    typed = [s["action"]["params"]["text"] for s in steps if s["step_type"] == "type"]
    assert typed == ["alice", "[password]", "blue mug"]  # the driver's redactor masks it
    assert steps[-1]["step_type"] == "done"
    assert steps[-1]["action"]["params"]["text"] == played["final"]
    assert [s["status"] for s in steps].count("failed") == 1


def test_screenshots_before_and_after_each_step(shop: tuple[Path, dict[str, Any]]) -> None:
    """Every step has the screen before it as `pre`; a call that ran has cua's screenshot
    after it as `post`, which is the next step's `pre`; the failed call took none, so the
    step after it starts from the same screen."""
    bundle, _ = shop
    steps = _steps(bundle)
    data = {}
    for step in steps:
        for kind in ("pre", "post"):
            path = step[f"observation_{kind}"]
            if path is not None:
                data[step["step_index"], kind] = (bundle / path).read_bytes()
                assert data[step["step_index"], kind].startswith(PNG)
        assert step["observation_pre"] is not None, step["step_index"]
    computer_calls = [s for s in steps if s["step_type"] != "done"]
    for step in computer_calls:
        i = step["step_index"]
        if step["status"] == "succeeded":
            assert data[i, "post"] == data[i + 1, "pre"]
        else:
            assert step["observation_post"] is None
            assert data[i, "pre"] == data[i + 1, "pre"]
    assert data[1, "pre"] != data[1, "post"]  # typing "alice" changed the screen


def test_each_model_turn_is_a_model_call(shop: tuple[Path, dict[str, Any]]) -> None:
    """Each turn of the agent loop is a model-I/O record of the step it decided: the model
    name, the messages (screenshots stored once under modelio/images), the output items as
    tool calls and the tokens `on_usage` reported; the turn after the failed call shows
    the model the error."""
    bundle, played = shop
    calls = {int(p.name[:4]): json.loads(p.read_text())
             for p in sorted((bundle / "modelio").glob("*-model-0.json"))}
    assert sorted(calls) == list(range(len(played["played"]) + 1))
    for index, action in enumerate(played["played"]):
        call = calls[index]
        assert call["request"]["model"] == "augur-scripted/shop-v1"
        (tool_call,) = call["response"]["tool_calls"]
        assert {k: v for k, v in tool_call["action"].items() if k != "button"} == \
            ({**action, "text": "[password]"} if index == 3 else action)
        assert call["response"]["usage"]["completion_tokens"] == 21 + index
        assert call["response"]["usage"]["prompt_tokens"] > 1000
    assert calls[len(played["played"])]["response"]["text"] == played["final"]
    after_failure = json.dumps(calls[8]["request"]["messages"])
    assert "Unknown key" in after_failure and "function_call_output" in after_failure
    images = list((bundle / "modelio" / "images").glob("*.png"))
    assert images and "bundle:modelio/images/" in json.dumps(calls[2]["request"]["messages"])


def test_reasoning_items_are_the_steps_reasoning(shop: tuple[Path, dict[str, Any]]) -> None:
    """A turn's reasoning summary is recorded as the reasoning of the step it led to."""
    bundle, _ = shop
    lines = [json.loads(line) for line in
             (bundle / "diagnostics" / "reasoning.jsonl").read_text().splitlines()]
    by_step = {r["step_index"]: r["text"] for r in lines}
    assert sorted(by_step) == [0, 2, 4, 5, 7, 8]
    assert by_step[7] == "Submit the search."
    assert {r["format"] for r in lines} == {"openai_reasoning_summary"}


def test_the_failed_call_is_a_failed_step(shop: tuple[Path, dict[str, Any]]) -> None:
    """The keypress cua could not execute (the computer raised its ToolError) is a failed
    step, failure class `cua.ToolError`, the error as the verdict's reason; the agent went
    on and finished, so the run succeeded."""
    bundle, _ = shop
    failed = [s for s in _steps(bundle) if s["status"] == "failed"]
    assert [(s["step_index"], s["step_type"], s["action"]["params"]) for s in failed] == \
        [(7, "keypress", {"keys": ["Sumbit"]})]
    assert failed[0]["failure_class"] == "cua.ToolError"
    assert failed[0]["verdict"]["status"] == "failed"
    assert 'Unknown key: "Sumbit"' in failed[0]["verdict"]["reason"]
    session = _session(bundle)
    assert session["status"] == "succeeded"
    assert session["client"]["name"] == "cua" and session["tags"]["integration"] == "cua"


def test_the_typed_password_is_not_on_disk(shop: tuple[Path, dict[str, Any]]) -> None:
    """The redaction policy passed through `record` applies to everything written."""
    bundle, played = shop
    password = played["played"][3]["text"]
    for path in bundle.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            assert password not in path.read_text(errors="replace"), path


def test_the_bundle_opens_in_augur_view(shop: tuple[Path, dict[str, Any]]) -> None:
    """`augur view` lists every step, marks the failed one and raises no page error."""
    bundle, played = shop
    seen = viewer_steps(bundle)
    assert seen["rows"] == list(range(len(played["played"]) + 1))
    assert seen["failed"] == [7]
    assert seen["errors"] == []


def test_the_viewer_shows_a_click_on_its_screenshots(shop: tuple[Path, dict[str, Any]]) -> None:
    """The viewer loads a click step's pre screenshot (the page's 1024 px) with the click
    drawn on it, then its post screenshot."""
    bundle, played = shop
    click = next(i for i, a in enumerate(played["played"]) if a["type"] == "click")
    seen = viewer_steps(bundle, step=click)
    assert seen["selected"] == click
    assert seen["shot_width"] == 1024
    assert seen["click_markers"] == 1
    assert seen["post_loaded"] is True
    assert seen["errors"] == []


def test_a_run_that_raises_is_closed_as_failed(crashed: tuple[Path, dict[str, Any]]) -> None:
    """A computer that lets an exception escape ends cua's run with no `on_run_end`; the
    wrapped run still records the call as failed (`cua.<exception class>`), sets the run's
    status to failed, closes a valid bundle and gives the agent back as it was."""
    bundle, played = crashed
    assert played["raised"] == "Error"
    steps = _steps(bundle)
    assert [s["step_index"] for s in steps] == list(range(8))
    assert (steps[-1]["status"], steps[-1]["failure_class"]) == ("failed", "cua.Error")
    assert _session(bundle)["status"] == "failed"
    assert played["after_run"] == {"callbacks": [], "run_wrapped": False}
    done = _validate(bundle)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_run_the_budget_stopped_failed(budget: tuple[Path, dict[str, Any]]) -> None:
    """cua's budget manager (``max_trajectory_budget``, not raising) stops the loop after
    five turns: ``on_run_end`` runs, but without the assistant's closing message the run did
    not finish its task, so its status is failed; its five steps are there, no done step."""
    bundle, played = budget
    assert len(played["played"]) == 5
    steps = _steps(bundle)
    assert [(s["step_type"], s["status"]) for s in steps] == \
        [(a["type"], "succeeded") for a in played["played"]]
    assert _session(bundle)["status"] == "failed"
    done = _validate(bundle)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("run", ["budget", "crashed"])
def test_closing_the_bundle_leaves_the_event_loop_running(
        run: str, request: pytest.FixtureRequest) -> None:
    """Closing waits for exporters and the DSN's stream, up to the close budget: here the
    whole budget (the server never answers). It waits in a thread: a task ticking on the
    agent's event loop is never held up for long, whether the run ended by ``on_run_end``
    (the budget stop) or by raising (the crash)."""
    played: dict[str, Any] = request.getfixturevalue(run)[1]
    assert played["close_wait"] >= CLOSE_BUDGET_S * 0.9, played["close_wait"]
    assert played["stall"] < CLOSE_BUDGET_S / 2, played["stall"]


def test_a_second_record_of_an_agent_being_recorded_is_refused(
        shop: tuple[Path, dict[str, Any]]) -> None:
    """``record()`` again before the recorded run raises ValueError naming ``agent`` and
    says what to do; it writes no bundle and the recorded run is unaffected (one callback,
    one step per call)."""
    bundle, played = shop
    assert played["second_record"].startswith("agent: already recorded")
    assert "detach()" in played["second_record"]
    assert not bundle.with_name("never-written").exists()
    assert len(_steps(bundle)) == len(played["played"]) + 1


def test_after_its_run_the_agent_is_given_back(shop: tuple[Path, dict[str, Any]]) -> None:
    """``record(agent, out_dir=...)`` records one run: when it ends, the callback is out of
    ``agent.callbacks`` and ``agent.run`` is cua's own again; the agent's second run adds
    nothing to the closed bundle (and warns of nothing), and ``record()`` again records the
    third run into a bundle of its own."""
    bundle, played = shop
    assert played["after_run"] == {"callbacks": [], "run_wrapped": False}
    assert len(_steps(bundle)) == len(played["played"]) + 1
    assert "call record() again" not in played["stderr"]
    again = bundle.with_name(bundle.name + "-again")
    assert [s["step_type"] for s in _steps(again)] == ["done"]
    assert _session(again)["status"] == "succeeded"
    assert played["after_again"] == {"callbacks": [], "run_wrapped": False}


def test_runs_into_the_users_session_continue_in_it(
        in_session: tuple[Path, dict[str, Any]]) -> None:
    """With `session=`, each run of the agent is recorded into it, the step numbers going
    on from the previous run, and the recording stays attached; the session stays open for
    its owner. After `detach()` the agent is cua's own again: its third run adds nothing."""
    bundle, played = in_session
    steps = _steps(bundle)
    n = len(played["played"])
    assert [s["step_index"] for s in steps] == list(range(n + 2))
    assert [s["step_type"] for s in steps[n:]] == ["done", "done"]
    assert (bundle / "modelio" / f"{n + 1:04d}-model-0.json").is_file()
    assert played["after_runs"] == {"callbacks": ["AugurCuaCallback"], "run_wrapped": True}
    assert played["detached"] == {"callbacks": [], "run_wrapped": False}
    session = _session(bundle)
    assert session["tags"]["after_runs"] == "open"  # tagged by the driver after both runs
    assert session["client"]["name"] == "shop-tests"
    done = _validate(bundle)
    assert done.returncode == 0, done.stdout + done.stderr


def test_importing_the_module_does_not_import_cua(tmp_path: Path) -> None:
    """With cua-agent installed, importing the integration leaves cua (and litellm)
    unimported; `record` then loads it and refuses an object that is not a ComputerAgent,
    naming the argument, before opening a bundle."""
    python = framework_python("cua")
    code = f"""
import sys
import augur_sdk.integrations.cua as m
print(sorted(k for k in sys.modules if k.split('.')[0] in ('cua_agent', 'litellm')))
try:
    m.record(object(), out_dir={str(tmp_path / "bundle")!r})
except TypeError as exc:
    print(exc)
"""
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "DO_NOT_TRACK": "1",
                                            "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[]", "agent: expected a cua ComputerAgent, got object"]
    assert not (tmp_path / "bundle").exists()


# ── the docs page ───────────────────────────────────────────────────────────────────────

DOCS = REPO / "docs" / "integrations" / "cua.md"
NEEDS_CUA = "# needs cua-agent"


def _samples() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOCS.read_text(encoding="utf-8"), re.S | re.M)


def test_the_docs_samples_that_need_cua_run_in_its_venv(tmp_path: Path) -> None:
    """The page's samples marked `# needs cua-agent` run with cua installed (they import
    cua and the integration and define the agent's code; starting it needs a model's key)."""
    marked = [code for code in _samples() if code.startswith(NEEDS_CUA)]
    assert len(marked) == 2
    python = framework_python("cua")
    for code in marked:
        done = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "DO_NOT_TRACK": "1", "CUA_TELEMETRY": "off",
                                   "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        assert done.returncode == 0, code + done.stderr


def test_the_other_docs_samples_run_without_cua(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The page's other samples run as written in the project's venv (no cua-agent); the
    one for a missing framework prints the message the page shows."""
    monkeypatch.chdir(tmp_path)
    plain = [code for code in _samples() if not code.startswith(NEEDS_CUA)]
    assert len(plain) == 2
    for n, code in enumerate(plain):
        exec(compile(code, f"docs/integrations/cua.md#{n}", "exec"), {"__name__": "__docs__"})
    printed = " ".join(capsys.readouterr().out.split())
    assert printed == ('augur_sdk.integrations.cua needs cua-agent, which is not installed: '
                       "pip install 'cua-agent>=0.9.1,<0.10' (or, in a checkout of "
                       "augur-otel, pip install -e '.[cua]')")
    assert not (tmp_path / "augur-runs").exists()


# ── without cua-agent (the project's venv) ──────────────────────────────────────────────

def test_record_without_cua_says_what_to_install(tmp_path: Path) -> None:
    """In a venv without cua-agent, `record` raises IntegrationNotInstalled naming the
    distribution, the tested range and the pip command, and writes no bundle."""
    assert FRAMEWORK.installed_version() is None, "this test needs a venv without cua-agent"
    with pytest.raises(IntegrationNotInstalled) as caught:
        record(object(), out_dir=tmp_path / "bundle")
    message = str(caught.value)
    assert "augur_sdk.integrations.cua needs cua-agent, which is not installed" in message
    assert "pip install 'cua-agent>=0.9.1,<0.10'" in message
    assert "cua-agent>=0.9.1,<0.10" in message
    assert isinstance(caught.value, ImportError)
    assert not (tmp_path / "bundle").exists()


def test_versions_outside_the_tested_range_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """0.9.1 up to 0.10 pass; an older release is refused; a newer one is refused with the
    way out, which lets it through."""
    monkeypatch.delenv("AUGUR_INTEGRATIONS_ALLOW_UNTESTED", raising=False)
    FRAMEWORK.check_version("0.9.1")
    FRAMEWORK.check_version("0.9.7")
    with pytest.raises(IntegrationNotInstalled, match=r"found 0\.9\.0: pip install") as old:
        FRAMEWORK.check_version("0.9.0")
    assert "ALLOW_UNTESTED" not in str(old.value)
    with pytest.raises(IntegrationNotInstalled, match="AUGUR_INTEGRATIONS_ALLOW_UNTESTED=1"):
        FRAMEWORK.check_version("0.10.0")
    monkeypatch.setenv("AUGUR_INTEGRATIONS_ALLOW_UNTESTED", "1")
    FRAMEWORK.check_version("0.10.0")


def test_the_framework_is_named_for_pypi_and_import() -> None:
    """The extra in pyproject installs the range the integration tests."""
    assert (FRAMEWORK.identifier, FRAMEWORK.distribution, FRAMEWORK.module) == \
        ("cua", "cua-agent", "cua_agent")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^cua = \["cua-agent>=0\.9\.1,<0\.10"\]$', pyproject, re.M)


def test_failure_class_comes_from_the_error_items_exception() -> None:
    """cua writes a failed call's output as {"error": repr(exception)}: the class is the
    repr's name, namespaced `cua.`; text of another shape is a ToolError."""
    assert failure_of(json.dumps({"error": "IllegalArgumentError('Expected (x, y)')"})) == \
        ("cua.IllegalArgumentError", "IllegalArgumentError('Expected (x, y)')")
    assert failure_of("not json")[0] == "cua.ToolError"


def test_screenshots_are_read_as_cua_passes_them() -> None:
    """Base64, a data URL and raw bytes of an image are read (PNG, and JPEG or WebP, which
    the step recorder converts); anything else is no screenshot."""
    import base64

    png, jpeg, webp = PNG + b"rest", b"\xff\xd8\xffjpeg", b"RIFF\0\0\0\0WEBPVP8 "
    encoded = base64.b64encode(png).decode()
    assert screenshot_bytes(encoded) == screenshot_bytes("data:image/png;base64," + encoded) \
        == screenshot_bytes(png) == png
    assert screenshot_bytes(base64.b64encode(jpeg).decode()) == jpeg
    assert screenshot_bytes(webp) == webp
    assert screenshot_bytes(base64.b64encode(b"GIF89a").decode()) is None
    assert screenshot_bytes("not base64!") is None
    assert screenshot_bytes(None) is None
