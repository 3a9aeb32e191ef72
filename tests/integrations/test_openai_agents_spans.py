"""augur_sdk.integrations.openai_agents on the SDK's other spans, without a browser: a
chat-completions model's ``generation`` span, function tools run by ``Runner.run`` (one that
raises), the internal-error gate (a recording that cannot write never breaks the agent; under
our tests its error is raised by ``close()``), and the docs page's samples."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession
from augur_sdk.integrations import openai_agents as integration
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle
from integrations.integration_support import REPO
from integrations.openai_agents_support import (  # the SDK, or the module is skipped
    ScriptedModel,
    Turn,
    agents,
    message,
    no_network,  # noqa: F401  (an autouse fixture)
    then,
)


def _steps(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((bundle / "steps").glob("*.json"))]


def _status(bundle: Path) -> str:
    return str(json.loads((bundle / "trace.json").read_text())["session"]["status"])


def _run(agent: Any, task: str) -> Any:
    """``Runner.run`` on a thread of its own (its own event loop), with a deadline."""
    box: list[Any] = []
    thread = threading.Thread(
        target=lambda: box.append(asyncio.run(agents.Runner.run(agent, task))), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and box, "the run did not finish in 60 s"
    return box[0]


def test_a_chat_completions_generation_is_a_model_call(tmp_path: Path) -> None:
    """A ``generation`` span (what chat-completions models such as LiteLLM's trace): its
    messages, model, settings, usage and answer become a model-I/O record of step 0 and a GenAI
    ``chat`` span under that step's span, and the answer (text, no tool call) a ``done``
    step; the agent span without error: succeeded."""
    # (A span joins the trace current when it is made: each is made after the one before
    # it is entered.)
    with capture_spans() as exporter, integration.record(out_dir=tmp_path, run_id="oa-chat"), \
            agents.trace("chat"), agents.agent_span("helper"), agents.generation_span(
                input=[{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "Which mug is blue?"}],
                model="gpt-4o-mini", model_config={"temperature": 0.0},
                usage={"input_tokens": 12, "output_tokens": 4}) as span:
        span.span_data.output = [{"role": "assistant", "content": "The blue mug."}]
    assert validate_bundle(tmp_path) == []
    (call,) = [json.loads(p.read_text()) for p in (tmp_path / "modelio").glob("*.json")]
    assert call["step_index"] == 0
    assert call["request"]["model"] == "gpt-4o-mini"
    assert call["request"]["messages"][1] == {"role": "user", "content": "Which mug is blue?"}
    assert call["request"]["params"] == {"temperature": 0.0}
    assert call["response"]["text"] == "The blue mug."
    assert call["response"]["usage"] == {"prompt_tokens": 12, "completion_tokens": 4}
    (done,) = _steps(tmp_path)
    assert (done["step_type"], done["action"]["params"]) == ("done", {"answer": "The blue mug."})
    # ... and a GenAI chat span under the step's span.
    finished = exporter.get_finished_spans()
    (chat,) = [sp for sp in finished if sp.name == "chat gpt-4o-mini"]
    (step,) = [sp for sp in finished if sp.attributes.get("augur.step_index") == 0
               and sp.name.startswith("execute_tool")]
    assert chat.parent is not None and chat.parent.span_id == step.context.span_id
    assert chat.attributes["gen_ai.usage.input_tokens"] == 12
    assert _status(tmp_path) == "succeeded"


def test_our_processor_alone_records_without_the_sdk_exporter(tmp_path: Path) -> None:
    """The docs' way to keep the SDK from uploading while recording:
    ``set_trace_processors([tracing_processor()])`` leaves ours as the only processor, and
    the run is still recorded."""
    from agents.tracing import get_trace_provider

    ours = integration.tracing_processor()  # registered first: restored with the others
    before = list(get_trace_provider()._multi_processor._processors)  # no public accessor
    assert ours in before
    agents.set_trace_processors([integration.tracing_processor()])
    try:
        with integration.record(out_dir=tmp_path, run_id="oa-alone"), \
                agents.trace("alone"), agents.agent_span("helper"), agents.generation_span(
                    input=[{"role": "user", "content": "Hi"}], model="m") as span:
            span.span_data.output = [{"role": "assistant", "content": "Hello."}]
        assert get_trace_provider()._multi_processor._processors == (
            integration.tracing_processor(),)
    finally:
        agents.set_trace_processors(before)
    assert [s["step_type"] for s in _steps(tmp_path)] == ["done"]
    assert len(list((tmp_path / "modelio").glob("*.json"))) == 1


def _function_call(n: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": name,
            "arguments": json.dumps(arguments), "status": "completed"}


def test_function_tools_run_by_the_sdk_are_steps(tmp_path: Path) -> None:
    """``Runner.run`` with two function tools: the one that works is a succeeded
    ``function_call`` step with its input and output; the one that raises (the SDK turns the
    error into a message to the model and goes on) a failed step,
    ``openai_agents.tool_error``; then the answer; each model call under its step."""

    @agents.function_tool
    def price_of(name: str) -> str:
        """The price of a product."""
        return "$12.00"

    @agents.function_tool
    def stock_of(name: str) -> str:
        """The stock of a product."""
        raise RuntimeError("the stock service is down")

    turns: list[Turn] = [then(_function_call(1, "price_of", {"name": "blue mug"})),
                         then(_function_call(2, "stock_of", {"name": "blue mug"})),
                         then(message("The blue mug costs $12.00; stock unknown."))]
    agent = agents.Agent(name="clerk", instructions="Answer about products.",
                         model=ScriptedModel(turns, None), tools=[price_of, stock_of])
    with integration.record(out_dir=tmp_path, run_id="oa-tools"):
        result = _run(agent, "How much is the blue mug?")
    assert result.final_output == "The blue mug costs $12.00; stock unknown."
    assert validate_bundle(tmp_path) == []
    price, stock, done = _steps(tmp_path)
    assert (price["step_type"], price["status"]) == ("function_call", "succeeded")
    assert price["action"]["params"]["name"] == "price_of"
    assert json.loads(price["action"]["params"]["input"]) == {"name": "blue mug"}
    assert price["action"]["params"]["output"] == "$12.00"
    assert (stock["status"], stock["failure_class"]) == ("failed", "openai_agents.tool_error")
    # The reason is the SDK's trace text: with the default failure function it redacts the
    # exception's message (the model was told only that the tool failed).
    assert stock["verdict"]["reason"] == "Tool execution failed. Error details are redacted."
    assert done["action"]["params"] == {"answer": "The blue mug costs $12.00; stock unknown."}
    calls = sorted(p.name for p in (tmp_path / "modelio").glob("*.json"))
    assert calls == ["0000-model-0.json", "0001-model-0.json", "0002-model-0.json"]
    assert _status(tmp_path) == "succeeded"


def _broken_recording(tmp_path: Path) -> tuple[Any, Any]:
    """A recording into a session that is closed before the agent runs: every record it
    tries fails inside the integration."""
    session = DebugSession(run_id="oa-closed", client_name="t", out_dir=tmp_path,
                           capture_mode="model_io")
    session.__enter__()
    recording = integration.record(session=session)
    session.__exit__(None, None, None)
    agent = agents.Agent(name="clerk", model=ScriptedModel([then(message("Hello."))], None))
    return recording, agent


def test_a_recording_that_cannot_write_never_breaks_the_agent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a user's run (internal errors not raised) the agent finishes with its answer and
    ``close()`` returns: the failure stays in the integration."""
    monkeypatch.setenv("AUGUR_RAISE_INTERNAL_ERRORS", "0")
    recording, agent = _broken_recording(tmp_path)
    assert _run(agent, "Hi").final_output == "Hello."
    recording.close()


def test_under_our_tests_an_internal_error_is_raised_by_close(tmp_path: Path) -> None:
    """The SDK logs and swallows what a processor raises; under our tests
    (``AUGUR_RAISE_INTERNAL_ERRORS=1``) ``close()`` raises it instead, so a bug in the
    integration cannot hide behind the SDK."""
    recording, agent = _broken_recording(tmp_path)
    assert _run(agent, "Hi").final_output == "Hello."
    with pytest.raises(RuntimeError, match="closed"):
        recording.close()


PAGE = REPO / "docs" / "integrations" / "openai-agents.md"


@pytest.mark.parametrize("n", range(3))
def test_the_docs_samples_run(n: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Python sample of docs/integrations/openai-agents.md runs as written (tests/docs
    runs docs/*.md only) and leaves a valid bundle where it says."""
    samples = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.S | re.M)
    assert len(samples) == 3
    monkeypatch.chdir(tmp_path)
    exec(compile(samples[n], f"{PAGE.name}#{n}", "exec"), {"__name__": "__docs__"})
    (bundle,) = [p.parent for p in (tmp_path / "augur-runs").rglob("manifest.json")]
    assert validate_bundle(bundle) == []


def test_two_agents_recorded_at_once_each_get_their_own_spans(tmp_path: Path) -> None:
    """Two agents, each recorded in its own task with its own record(), run at the same
    time (their spans interleave): each bundle holds its own agent's answer only. A trace
    is bound to the recording whose context started it."""
    barrier = asyncio.Barrier(2)

    def answer_after_the_other_started(name: str) -> Turn:
        async def turn(_page: Any) -> list[dict[str, Any]]:
            await barrier.wait()  # both runs are under way before either answers
            return [message(f"I am {name}.")]
        return turn

    async def one(name: str) -> Any:
        agent = agents.Agent(name=name, model=ScriptedModel(
            [answer_after_the_other_started(name)], None))
        with integration.record(out_dir=tmp_path / name, run_id=f"oa-{name}"):
            return await agents.Runner.run(agent, "Who are you?")

    async def both() -> list[Any]:
        return list(await asyncio.gather(one("alpha"), one("beta")))

    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(asyncio.run(both())), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and box, "the runs did not finish in 60 s"
    assert [r.final_output for r in box[0]] == ["I am alpha.", "I am beta."]
    for name in ("alpha", "beta"):
        bundle = tmp_path / name
        assert validate_bundle(bundle) == []
        answers = [s["action"]["params"].get("answer") for s in _steps(bundle)]
        assert answers == [f"I am {name}."], (name, answers)
