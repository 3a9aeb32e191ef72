"""record_modelio: one file per call, on disk at return, gated by capture mode (metadata class
below model_io, content redacted from model_io up), images stored once by sha256, a byte
budget, prompt_hash idempotency only for identical content, and each call a GenAI `chat`
span of its step (opening the step's span when the call comes first)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle

from support import step_record


def _png(seed: int) -> bytes:
    """A tiny valid PNG whose bytes depend on ``seed``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"\x00" + bytes([seed % 256, 7, 9])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _call(*, text: str = "I will click Sign in", image: bytes | None = None,
          data_url: bytes | None = None, **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": "log in as jane.doe@example.com"}]
    if image is not None:
        content.append({"type": "image", "source": {
            "type": "base64", "media_type": "image/png",
            "data": base64.b64encode(image).decode()}})
    if data_url is not None:
        content.append({"type": "image_url", "image_url": {
            "url": "data:image/png;base64," + base64.b64encode(data_url).decode()}})
    record: dict[str, Any] = {
        "layer": "planner",
        "request": {"model": "claude-sonnet-4-5", "system": "You operate a browser.",
                    "messages": [{"role": "user", "content": content}],
                    "params": {"temperature": 0.2, "max_tokens": 512}},
        "response": {"text": text, "stop_reason": "tool_use",
                     "usage": {"prompt_tokens": 1200, "completion_tokens": 40,
                               "cache_hit_tokens": 800},
                     "tool_calls": [{"type": "tool_use", "id": "tu_1", "name": "computer",
                                     "input": {"action": "left_click",
                                               "coordinate": [410, 220]}}]},
        "duration_ms": 1500,
    }
    record.update(extra)
    return record


def _session(out: Path, mode: str = "model_io", **kw: Any) -> DebugSession:
    return DebugSession(run_id="r", client_name="agent", out_dir=out, capture_mode=mode,
                        dsn="", **kw)


def test_files_are_named_per_step_layer_and_sequence_and_on_disk_at_return(
        tmp_path: Path) -> None:
    """modelio/NNNN-<layer>-<seq>.json (run-... without a step) exists when the call returns;
    the caller's dict is not changed; the bundle validates."""
    out = tmp_path / "b"
    call = _call(image=_png(1))
    before = copy.deepcopy(call)
    with _session(out) as s:
        first = s.record_modelio(call, step_index=0)
        assert (out / first).is_file()
        second = s.record_modelio(call, step_index=0)
        grounding = s.record_modelio(_call(layer="grounding"), step_index=0)
        plan = s.record_modelio(_call(), layer="planner")
        s.record_step(step_record("r", 0))
    assert (first, second, grounding, plan) == (
        "modelio/0000-planner-0.json", "modelio/0000-planner-1.json",
        "modelio/0000-grounding-0.json", "modelio/run-planner-0.json")
    assert call == before
    assert validate_bundle(out) == []


def test_below_model_io_only_the_metadata_class_is_kept(tmp_path: Path) -> None:
    """At metadata: model, params, usage, stop reason, timings; no messages, system prompt,
    response text or tool calls, no image file. At model_io: all of it, redacted."""
    low, high = tmp_path / "low", tmp_path / "high"
    for out, mode in ((low, "metadata"), (high, "model_io")):
        with _session(out, mode) as s:
            s.record_step(step_record("r", 0))
            s.record_modelio(_call(image=_png(2)), step_index=0)
    kept = json.loads((low / "modelio/0000-planner-0.json").read_text())
    assert kept["request"] == {"model": "claude-sonnet-4-5",
                               "params": {"temperature": 0.2, "max_tokens": 512}}
    assert kept["response"] == {"stop_reason": "tool_use", "usage": {
        "prompt_tokens": 1200, "completion_tokens": 40, "cache_hit_tokens": 800}}
    assert kept["duration_ms"] == 1500 and kept["redaction_applied"] is True
    assert not (low / "modelio/images").exists()
    full = json.loads((high / "modelio/0000-planner-0.json").read_text())
    assert full["request"]["system"] == "You operate a browser."
    assert full["request"]["messages"][0]["content"][0]["text"] == \
        "log in as ***REDACTED:email***"
    assert full["response"]["tool_calls"][0]["input"]["coordinate"] == [410, 220]
    assert "jane.doe" not in (high / "modelio/0000-planner-0.json").read_text()


def test_images_are_written_once_by_sha256_and_referenced(tmp_path: Path) -> None:
    """Both base64 shapes (an Anthropic source, a data: URL) become references; the same
    image in two calls is one file, named by its sha256, with exactly its bytes."""
    out = tmp_path / "b"
    shot, other = _png(3), _png(4)
    with _session(out) as s:
        s.record_step(step_record("r", 0))
        s.record_modelio(_call(image=shot, data_url=other), step_index=0)
        s.record_modelio(_call(image=shot), step_index=0)
    digest = hashlib.sha256(shot).hexdigest()
    images = sorted(p.name for p in (out / "modelio/images").iterdir())
    assert images == sorted([f"{digest}.png", f"{hashlib.sha256(other).hexdigest()}.png"])
    assert (out / f"modelio/images/{digest}.png").read_bytes() == shot
    text = (out / "modelio/0000-planner-0.json").read_text()
    record = json.loads(text)
    blocks = record["request"]["messages"][0]["content"]
    assert blocks[1]["source"] == {"type": "bundle", "media_type": "image/png",
                                   "path": f"modelio/images/{digest}.png"}
    assert blocks[2]["image_url"]["url"].startswith("bundle:modelio/images/")
    assert base64.b64encode(shot).decode()[:40] not in text
    assert validate_bundle(out) == []


def test_prompt_hash_is_idempotent_only_for_identical_content(tmp_path: Path) -> None:
    """The same call again returns the first path and writes nothing; the same prompt_hash
    with another response is a call of its own (0.6.1 returned the old path)."""
    out = tmp_path / "b"
    with _session(out) as s:
        s.record_step(step_record("r", 0))
        a = s.record_modelio(_call(prompt_hash="p1"), step_index=0)
        again = s.record_modelio(_call(prompt_hash="p1"), step_index=0)
        other = s.record_modelio(_call(prompt_hash="p1", text="Something else"), step_index=0)
    assert a == again == "modelio/0000-planner-0.json"
    assert other == "modelio/0000-planner-1.json"
    assert len(list((out / "modelio").glob("*.json"))) == 2


def test_bad_input_is_refused_naming_the_field(tmp_path: Path) -> None:
    """A step_index disagreeing with the record's, a layer that is no file name (even with
    validate=False), a schema violation, a non-dict: refused at the call, nothing written."""
    out = tmp_path / "b"
    with _session(out) as s:
        with pytest.raises(ValueError, match="step_index: the record says 3"):
            s.record_modelio(_call(step_index=3), step_index=4)
        with pytest.raises(ValueError, match=r"layer: '\.\./x' is not a safe file-name part"):
            s.record_modelio(_call(), layer="../x")
        with pytest.raises(ValueError, match=r"record\.layer"):
            s.record_modelio(_call(layer="a/b"), validate=False)
        with pytest.raises(ValueError, match=r"record\.request.*modelio\.schema\.json"):
            s.record_modelio({"layer": "model", "request": {}, "response": {}})
        with pytest.raises(TypeError, match="record: expected a dict"):
            s.record_modelio(["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="kind: 'modelio' records are made by "
                                             "record_modelio"):
            s.record("modelio", _call())
    assert not (out / "modelio").exists()


def test_logprobs_follow_capture_logprobs_and_lose_token_text_below_model_io(
        tmp_path: Path) -> None:
    """Without capture_logprobs they are dropped; with it they are kept ([] when none came);
    below model_io each entry keeps its numbers, not its token text."""
    logprobs = [{"token": "Sign", "logprob": -0.1, "token_id": 7,
                 "top_alternatives": [{"token": "Log", "logprob": -2.5}]}]
    paths = {}
    for name, mode, flag in (("off", "model_io", False), ("on", "model_io", True),
                             ("low", "metadata", True), ("none", "model_io", True)):
        out = tmp_path / name
        call = _call()
        if name != "none":
            call["response"]["logprobs"] = logprobs
        with _session(out, mode, capture_logprobs=flag) as s:
            paths[name] = out / s.record_modelio(call, step_index=0)
            s.record_step(step_record("r", 0))

    def logprobs_of(name: str) -> Any:
        return json.loads(paths[name].read_text())["response"].get("logprobs", "absent")

    assert logprobs_of("off") == "absent"
    assert logprobs_of("on") == logprobs
    assert logprobs_of("low") == [{"logprob": -0.1, "token_id": 7,
                                   "top_alternatives": [{"logprob": -2.5}]}]
    assert logprobs_of("none") == []


def test_the_byte_budget_drops_calls_past_it_counted_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Calls that fit are written; the ones past the budget are not, producer.json counts
    them and one warning says so."""
    out = tmp_path / "b"
    with caplog.at_level(logging.WARNING, "augur_sdk"), \
            _session(out, modelio_budget_bytes=4_000) as s:
        s.record_step(step_record("r", 0))
        paths = [s.record_modelio(_call(text="x" * 1_000), step_index=0) for _ in range(6)]
    written = [p for p in paths if (out / p).exists()]
    assert 1 <= len(written) < 6 and paths[:len(written)] == written
    lost = json.loads((out / "producer.json").read_text())["lost"]
    assert lost["modelio_over_budget"] == 6 - len(written)
    assert sum("byte budget" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ValueError, match="modelio_budget_bytes"):
        _session(tmp_path / "c", modelio_budget_bytes=-1)


def test_each_call_is_a_genai_chat_span_of_its_step(tmp_path: Path) -> None:
    """A call recorded before record_step opens the step's span, which record_step fills;
    the chat span carries the GenAI attributes, content only from model_io up; model and
    prompt hash reach the step's captured_versions; a step never recorded ends unfilled."""
    spans_by_mode = {}
    for mode in ("metadata", "model_io"):
        out = tmp_path / mode
        with capture_spans() as exporter:
            with _session(out, mode) as s:
                s.record_modelio(_call(prompt_hash="ph-0"), step_index=0,
                                 provider="anthropic", reasoning_tokens=30)
                s.record_step(step_record("r", 0))
                s.record_modelio(_call(), step_index=1)  # step 1 never comes
            spans_by_mode[mode] = exporter.get_finished_spans()
        step = json.loads((out / "steps/0000.json").read_text())
        assert step["captured_versions"] == {"model": "claude-sonnet-4-5",
                                             "prompt_hash": "ph-0"}
    spans = spans_by_mode["model_io"]
    chats = [sp for sp in spans if sp.name == "chat claude-sonnet-4-5"]
    steps = {sp.attributes.get("augur.step_index"): sp for sp in spans
             if sp.name.startswith("execute_tool")}
    assert len(chats) == 2
    first = chats[0]
    assert first.parent is not None and first.parent.span_id == steps[0].context.span_id
    assert steps[0].attributes["augur.record"] == "step"  # opened by the call, then filled
    attrs = first.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"] == \
        "claude-sonnet-4-5"
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"],
            attrs["gen_ai.usage.cache_read.input_tokens"],
            attrs["gen_ai.usage.reasoning.output_tokens"]) == (1200, 40, 800, 30)
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert (first.end_time - first.start_time) == 1_500_000_000
    messages = json.loads(attrs["gen_ai.input.messages"])
    assert messages[0]["parts"][0] == {"type": "text",
                                       "content": "log in as ***REDACTED:email***"}
    output = json.loads(attrs["gen_ai.output.messages"])
    assert output[0]["parts"][1]["name"] == "computer"
    assert steps[1].attributes.get("augur.step.unfilled") is True
    low = next(sp for sp in spans_by_mode["metadata"] if sp.name.startswith("chat "))
    assert "gen_ai.input.messages" not in low.attributes
    assert "gen_ai.output.messages" not in low.attributes
    assert low.attributes["gen_ai.usage.input_tokens"] == 1200


def test_a_masked_screenshot_sent_to_the_model_is_stored_masked(tmp_path: Path) -> None:
    """attach_observation masks a region; a model call that sends the same screenshot as it
    was (base64) stores the masked PNG, never the original."""
    pytest.importorskip("PIL")
    from augur_sdk.testing import make_png
    out = tmp_path / "b"
    shot = make_png(64, 48, seed=3)
    with _session(out) as s:
        path = s.attach_observation(step_index=0, kind="pre", png_bytes=shot,
                                    mask_regions=[(0, 0, 32, 24)])
        s.record_modelio(_call(image=shot), step_index=0)
        s.record_step(step_record("r", 0))
    masked = (out / path).read_bytes()
    stored = [p.read_bytes() for p in (out / "modelio/images").iterdir()]
    assert masked != shot and stored == [masked]


def test_step_scope_takes_over_the_span_a_model_call_opened(tmp_path: Path) -> None:
    """record_modelio(0), then `with step_scope(0)`: one step span, the chat span's parent,
    ended and filled by record_step."""
    with capture_spans() as exporter:
        with _session(tmp_path / "b") as s:
            s.record_modelio(_call(), step_index=0)
            with s.step_scope(0, "click"):
                s.record_reasoning(0, "inside the block")
                s.record_step(step_record("r", 0))
        spans = exporter.get_finished_spans()
    steps = [sp for sp in spans if sp.name.startswith("execute_tool")]
    chat = next(sp for sp in spans if sp.name.startswith("chat "))
    assert len(steps) == 1 and chat.parent.span_id == steps[0].context.span_id
    assert steps[0].attributes["augur.record"] == "step"
    assert [e.name for e in steps[0].events if e.name == "augur.reasoning"] == ["augur.reasoning"]


def test_reasoning_before_its_step_goes_on_the_step_span(tmp_path: Path) -> None:
    """The usual order: model call, reasoning, then record_step; the reasoning event is on
    the step's span (opened by the call), not on the run span."""
    with capture_spans() as exporter:
        with _session(tmp_path / "b") as s:
            s.record_modelio(_call(), step_index=0)
            s.record_reasoning(0, "the button is top right")
            s.record_step(step_record("r", 0))
        spans = exporter.get_finished_spans()
    step = next(sp for sp in spans if sp.name.startswith("execute_tool"))
    run = next(sp for sp in spans if sp.attributes.get("augur.record") == "session")
    assert any(e.name == "augur.reasoning" for e in step.events)
    assert not any(e.name == "augur.reasoning" for e in run.events)


def test_a_bad_timestamp_is_refused_at_the_call(tmp_path: Path) -> None:
    """ts must parse (it ends the chat span): refused naming record.ts, nothing written."""
    out = tmp_path / "b"
    with _session(out) as s, pytest.raises(ValueError, match=r"record\.ts"):
        s.record_modelio(_call(image=_png(9), ts="yesterday"), step_index=0, validate=False)
    assert not (out / "modelio").exists()


def test_below_model_io_only_an_allow_list_is_kept(tmp_path: Path) -> None:
    """With validate=False, fields the schema does not know are content: dropped at
    metadata (request.input, response.output, a top-level extra), kept at model_io."""
    call = _call(notes="free text about jane")
    call["request"]["input"] = "raw prompt text"
    call["response"]["output"] = [{"type": "output_text", "text": "model text"}]
    out = tmp_path / "b"
    with _session(out, "metadata") as s:
        path = s.record_modelio(call, step_index=0, validate=False)
    kept = json.loads((out / path).read_text())
    assert set(kept) <= {"schema_version", "step_index", "layer", "ts", "prompt_hash",
                         "redaction_applied", "duration_ms", "request", "response"}
    assert set(kept["request"]) == {"model", "params"}
    assert set(kept["response"]) == {"stop_reason", "usage"}


def test_the_budget_counts_the_bytes_written(tmp_path: Path) -> None:
    """Deeply nested, non-ASCII calls (whose JSON is much larger than their text): the files
    written stay within the budget plus the one call that crosses it."""
    out = tmp_path / "b"
    heavy = [{"role": "user", "content": [{"type": "text", "text": "ログイン" * 50,
                                           "coords": [[1, 2], [3, 4]] * 20}]}]
    budget = 20_000
    with _session(out, modelio_budget_bytes=budget) as s:
        for _ in range(40):
            call = _call()
            call["request"]["messages"] = heavy
            s.record_modelio(call, step_index=0)
    sizes = [p.stat().st_size for p in (out / "modelio").glob("*.json")]
    assert 1 <= len(sizes) < 40
    assert sum(sizes) <= budget + max(sizes)
