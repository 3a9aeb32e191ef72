"""What the OpenAI Agents SDK tests share: the SDK (a module importing this is skipped without
it, failed under CI: the test extra installs it), no network, and the scripted model: a
``Model`` (the SDK's custom-model hook) that answers from a script of Responses output items
instead of calling the network."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from integrations.integration_support import in_ci

try:
    import agents
    from agents.models.interface import Model
    from openai.types.responses import Response
except ImportError:
    if in_ci():
        raise
    pytest.skip("openai-agents is not installed: pip install -e '.[test]'",
                allow_module_level=True)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK's default exporter uploads only with a key: there is none in these tests
    (autouse in each module that imports it)."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_AGENTS_DISABLE_TRACING"):
        monkeypatch.delenv(name, raising=False)
    yield

Turn = Callable[[Any], Awaitable[list[dict[str, Any]]]]


class ScriptedModel(Model):
    """A ``Model`` that answers from a script instead of the network. Like the SDK's own
    Responses model it builds an ``openai`` ``Response`` and traces it in a ``response``
    span (input and response when the run traces sensitive data)."""

    def __init__(self, turns: list[Turn], page: Any) -> None:
        self.turns, self.page, self.calls = list(turns), page, 0

    async def get_response(self, system_instructions: Any, input: Any, model_settings: Any,
                           tools: Any, output_schema: Any, handoffs: Any, tracing: Any, *,
                           previous_response_id: Any = None, conversation_id: Any = None,
                           prompt: Any = None) -> Any:
        with agents.response_span(disabled=tracing.is_disabled()) as span:
            self.calls += 1
            output = await self.turns.pop(0)(self.page)
            response = Response.model_validate({
                "id": f"resp_{self.calls}", "object": "response", "created_at": 0,
                "model": "scripted-cua", "instructions": system_instructions,
                "output": output, "parallel_tool_calls": False, "tool_choice": "auto",
                "tools": [], "status": "completed",
                "usage": {"input_tokens": 1000 + self.calls, "output_tokens": 20,
                          "total_tokens": 1020 + self.calls,
                          "input_tokens_details": {"cached_tokens": 0,
                                                   "cache_write_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}})
            if tracing.include_data():
                span.span_data.response = response
                span.span_data.input = input
        usage = agents.Usage(requests=1, input_tokens=1000 + self.calls, output_tokens=20,
                             total_tokens=1020 + self.calls)
        return agents.ModelResponse(output=response.output, usage=usage,
                                    response_id=response.id)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the scripted model does not stream")


def computer_call(n: int, *actions: dict[str, Any]) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "computer_call", "id": f"cu_{n}", "call_id": f"call_{n}",
                            "pending_safety_checks": [], "status": "completed"}
    if len(actions) == 1:
        call["action"] = actions[0]
    else:
        call["actions"] = list(actions)
    return call


def message(text: str) -> dict[str, Any]:
    return {"type": "message", "id": f"msg_{abs(hash(text))}", "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def then(*items: dict[str, Any]) -> Turn:
    async def turn(page: Any) -> list[dict[str, Any]]:
        return list(items)
    return turn
