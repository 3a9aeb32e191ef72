"""Logged computer-use runs built with the providers' own Python SDK types (pydantic models
validate every response; requests are the SDK's TypedDict params), so they have the shapes
the APIs document. Each run has four calls: a screenshot, a click that fails, a click that
works, and a final answer; the model's coordinates are in a declared display half the size of
the screenshots (as with a HiDPI screen), so a viewer must scale them by 2."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augur_sdk.testing import make_png

DISPLAY = (640, 400)  # what the model is told; screenshots are twice as large
SHOT_SIZE = (1280, 800)
CLICKS = [(100.0, 50.0), (300.0, 200.0)]  # the failed click, then the one that worked
ERROR = "element not clickable: a dialog covers it"


@dataclass
class Log:
    path: Path
    shots: list[bytes]  # screenshots in the order the harness took them


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _shots() -> list[bytes]:
    return [make_png(*SHOT_SIZE, seed=10 + i) for i in range(3)]


def _write(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")


def anthropic_log(path: Path) -> Log:
    from anthropic.types.beta import (
        BetaMessage,
        BetaMessageParam,
        BetaTextBlock,
        BetaThinkingBlock,
        BetaToolComputerUse20250124Param,
        BetaToolResultBlockParam,
        BetaToolUseBlock,
        BetaUsage,
    )

    shots = _shots()
    tool = BetaToolComputerUse20250124Param(type="computer_20250124", name="computer",
                                            display_width_px=DISPLAY[0],
                                            display_height_px=DISPLAY[1])
    history: list[BetaMessageParam] = [
        {"role": "user", "content": "Log in to the shop as alice."}]

    def message(n: int, blocks: list[Any], stop: str = "tool_use") -> BetaMessage:
        return BetaMessage(id=f"msg_{n}", type="message", role="assistant",
                           model="claude-sonnet-4-5", content=blocks, stop_reason=stop,
                           usage=BetaUsage(input_tokens=1000 + n, output_tokens=20 + n,
                                           cache_read_input_tokens=500))

    def result(tool_id: str, shot: bytes | None, error: str | None = None,
               ) -> BetaToolResultBlockParam:
        content: list[Any] = []
        if shot is not None:
            content.append({"type": "image", "source": {"type": "base64",
                                                        "media_type": "image/png",
                                                        "data": _b64(shot)}})
        if error is not None:
            content.append({"type": "text", "text": error})
        block = BetaToolResultBlockParam(type="tool_result", tool_use_id=tool_id,
                                         content=content)
        if error is not None:
            block["is_error"] = True
        return block

    responses = [
        message(0, [BetaTextBlock(type="text", text="Let me look at the screen."),
                    BetaToolUseBlock(type="tool_use", id="toolu_0", name="computer",
                                     input={"action": "screenshot"})]),
        message(1, [BetaThinkingBlock(type="thinking", signature="sig",
                                      thinking="The Sign in button is at the top left."),
                    BetaTextBlock(type="text", text="Clicking Sign in."),
                    BetaToolUseBlock(type="tool_use", id="toolu_1", name="computer",
                                     input={"action": "left_click",
                                            "coordinate": list(map(int, CLICKS[0]))})]),
        message(2, [BetaTextBlock(type="text", text="A dialog was in the way; clicking OK."),
                    BetaToolUseBlock(type="tool_use", id="toolu_2", name="computer",
                                     input={"action": "left_click",
                                            "coordinate": list(map(int, CLICKS[1]))})]),
        message(3, [BetaTextBlock(type="text", text="Logged in.")], stop="end_turn"),
    ]
    results = [None, result("toolu_0", shots[0]), result("toolu_1", shots[1], ERROR),
               result("toolu_2", shots[2])]
    entries = []
    for n, response in enumerate(responses):
        if results[n] is not None:
            history.append({"role": "user", "content": [results[n]]})
        request = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "tools": [tool],
                   "system": "You operate a web browser.", "messages": list(history),
                   "betas": ["computer-use-2025-01-24"]}
        dumped = response.model_dump(mode="json", exclude_none=True)
        entries.append({"request": json.loads(json.dumps(request)), "response": dumped,
                        "duration_ms": 900 + n, "ts": f"2026-12-07T10:00:0{n}.500000Z"})
        history.append({"role": "assistant", "content": dumped["content"]})
    _write(path, entries)
    return Log(path, shots)


def openai_log(path: Path) -> Log:
    from openai.types.responses import (
        ComputerUsePreviewTool,
        Response,
        ResponseComputerToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
        ResponseReasoningItem,
        ResponseUsage,
    )
    from openai.types.responses.response_computer_tool_call import ActionClick, ActionScreenshot
    from openai.types.responses.response_reasoning_item import Summary
    from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails
    from openai.types.shared import Reasoning

    shots = _shots()
    tool = ComputerUsePreviewTool(type="computer_use_preview", display_width=DISPLAY[0],
                                  display_height=DISPLAY[1], environment="browser")

    def say(n: int, text: str) -> ResponseOutputMessage:
        return ResponseOutputMessage(id=f"msg_{n}", type="message", role="assistant",
                                     status="completed", content=[ResponseOutputText(
                                         type="output_text", text=text, annotations=[])])

    def call(n: int, action: Any, status: str = "completed") -> ResponseComputerToolCall:
        return ResponseComputerToolCall(id=f"cu_{n}", call_id=f"call_{n}", type="computer_call",
                                        status=status, pending_safety_checks=[], action=action)

    def response(n: int, output: list[Any], status: str = "completed") -> Response:
        return Response(id=f"resp_{n}", object="response", created_at=1_765_000_000 + n,
                        model="computer-use-preview", output=output, parallel_tool_calls=False,
                        tool_choice="auto", tools=[tool], status=status,
                        # The API echoes the request's reasoning setting: not reasoning text.
                        reasoning=Reasoning(effort="medium", summary="concise"),
                        usage=ResponseUsage(
                            input_tokens=2000 + n, output_tokens=30 + n, total_tokens=2030,
                            input_tokens_details=InputTokensDetails(cached_tokens=100, cache_write_tokens=0),
                            output_tokens_details=OutputTokensDetails(reasoning_tokens=12)))

    responses = [
        response(0, [say(0, "Let me look at the screen."),
                     call(0, ActionScreenshot(type="screenshot"))]),
        response(1, [ResponseReasoningItem(id="rs_1", type="reasoning", summary=[Summary(
            type="summary_text", text="The Sign in button is at the top left.")]),
            say(1, "Clicking Sign in."),
            call(1, ActionClick(type="click", button="left", x=int(CLICKS[0][0]),
                                y=int(CLICKS[0][1])), status="incomplete")]),
        response(2, [say(2, "Trying the dialog's OK button."),
                     call(2, ActionClick(type="click", button="left", x=int(CLICKS[1][0]),
                                         y=int(CLICKS[1][1])))]),
        response(3, [say(3, "Logged in.")]),
    ]
    outputs = {0: shots[1], 2: shots[2]}  # the incomplete call 1 got no screenshot back
    items: list[Any] = [{"role": "user", "content": [
        {"type": "input_text", "text": "Log in to the shop as alice."},
        {"type": "input_image", "image_url": "data:image/png;base64," + _b64(shots[0])}]}]
    entries = []
    for n, resp in enumerate(responses):
        if n > 0 and (n - 1) in outputs:
            items.append({"type": "computer_call_output", "call_id": f"call_{n - 1}",
                          "output": {"type": "computer_screenshot",
                                     "image_url": "data:image/png;base64,"
                                     + _b64(outputs[n - 1])}})
        request = {"model": "computer-use-preview", "tools": [tool.model_dump(mode="json")],
                   "input": list(items), "truncation": "auto",
                   "reasoning": {"summary": "concise"}}
        dumped = resp.model_dump(mode="json", exclude_none=True)
        entries.append({"request": json.loads(json.dumps(request)), "response": dumped,
                        "duration_ms": 1200 + n, "ts": f"2026-12-07T11:00:0{n}.250000Z"})
        items.extend(i for i in dumped["output"] if i["type"] != "message")
    _write(path, entries)
    return Log(path, shots)
