"""Our spans through a real OTLP receiver: DebugSession -> OTLP -> Arize Phoenix -> REST.

Each test runs a seed-style session (the loop of ``seed/generic-python-cua.txt``) with OTLP
pointed at Phoenix (see ``conftest.py``), then reads the spans back through Phoenix's own REST
API and checks them against the bundle the same session wrote to disk, and against a local
in-memory copy of the very spans the SDK produced.

What Phoenix cannot carry (measured, shared/research/receivers.md) is not asserted here:
OTel span kind, links, ``service.name`` and other resource attributes, nanosecond timestamps
(it keeps microseconds, so every timestamp is compared at µs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import augur_sdk
from augur_sdk import CaptureMode, DebugSession, _internal, codec, records
from augur_sdk.otel import provider
from augur_sdk.testing import make_png

if TYPE_CHECKING:
    from conftest import Phoenix

PROTOCOLS = ["http/protobuf", "grpc"]
CLIENT = "myagent"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Attributes Phoenix adds on ingest (GenAI -> OpenInference mapping); everything else that
# comes back must be exactly what the SDK sent.
PHOENIX_ADDED = {"session.id", "tool.id", "tool.name"}


# ── the SDK side ─────────────────────────────────────────────────────────────


@dataclass
class Otlp:
    protocol: str
    project: str
    local: InMemorySpanExporter  # the same spans, kept in-process, to compare with
    log_mark: int  # where Phoenix's log stood when the test began


@pytest.fixture(params=PROTOCOLS)
def otlp(request: pytest.FixtureRequest, phoenix: Phoenix,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Otlp]:
    """A fresh pipeline exporting to Phoenix over one protocol, into a project of its own."""
    protocol: str = request.param
    for name in list(os.environ):
        # The developer's own OTel settings and Augur server must not leak in.
        if name.startswith("OTEL_") or name == "AUGUR_DSN":
            monkeypatch.delenv(name)
    project = f"augur-{protocol.replace('/', '-')}-{uuid.uuid4().hex[:12]}"
    # Phoenix picks the project from this resource attribute on both transports.
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={project}")
    monkeypatch.setenv(_internal.RAISE_ENV, "1")
    _internal.reset_log_once()
    provider.reset(timeout_s=1.0)
    local = InMemorySpanExporter()
    augur_sdk.configure(otlp_endpoint=phoenix.endpoint(protocol), otlp_protocol=protocol,
                        otlp_timeout_s=5.0, span_processors=[SimpleSpanProcessor(local)])
    try:
        yield Otlp(protocol, project, local, phoenix.log_size())
    finally:
        provider.reset(timeout_s=5.0)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


PLAN = [  # (action, intent, target, ok)
    ("click", "Click the username field", "Username", True),
    ("type", "Type the username", "Username", True),
    ("click", "Press Sign in", "Sign in", False),
    ("click", "Press Sign in again", "Sign in", True),
]


def run_seed_session(out_dir: Path, run_id: str, *, halt: bool = False) -> dict[str, Any]:
    """The seed page's loop over PLAN, plus a decision event *before* each ``record_step``.

    Timestamps lie in the recent past with non-zero microsecond digits, so that the run span
    (started at ``started_at``, ended at close) encloses every step.
    """
    t0 = (datetime.now(UTC) - timedelta(seconds=10)).replace(microsecond=123_457)
    with DebugSession(
        run_id=run_id, client_name=CLIENT, client_version="2.3.0", client_git_sha="",
        capture_mode=CaptureMode.SCREENSHOTS, out_dir=out_dir, started_at=_iso(t0),
        tags={"env": "test", "task_id": "otlp-roundtrip"},
    ) as session:
        session.record_event({"ts": _iso(t0 + timedelta(microseconds=7)), "layer": "runner",
                              "kind": "info", "summary": "run-level event, no step",
                              "detail": {"attempt": 1}})
        for i, (action, intent, label, ok) in enumerate(PLAN):
            start = t0 + timedelta(seconds=1 + i, microseconds=1_001 * (i + 1))
            end = start + timedelta(milliseconds=250 + 10 * i, microseconds=3)
            # An event before its step exists (goes on the run span, with its step_index).
            session.record_event({"ts": _iso(start), "step_index": i, "layer": "planner",
                                  "kind": "decision", "summary": f"plan: {intent}",
                                  "detail": {"candidates": [label, "Cancel"], "chosen": label}})
            pre = session.attach_observation(step_index=i, kind="pre",
                                             png_bytes=make_png(32, 24, seed=2 * i))
            post = session.attach_observation(step_index=i, kind="post",
                                              png_bytes=make_png(32, 24, seed=2 * i + 1))
            x, y = 100.0 + 40 * i, 120.5 + 30 * i
            session.record_step({
                "step_id": f"{run_id}/step/{i:04d}",
                "step_index": i,
                "step_type": action,
                "intent": intent,
                "status": "succeeded" if ok else "failed",
                "failure_class": None if ok else "no_state_change",
                "started_at": _iso(start),
                "ended_at": _iso(end),
                "duration_ms": (end - start) // timedelta(milliseconds=1),
                "observation_pre": pre,
                "observation_post": post,
                "action": {
                    "type": action,
                    "params": {"text": "alice"} if action == "type" else {"x": x, "y": y},
                    "coordinate_space": "viewport_css_px",
                    "dispatch_backend": "playwright",
                },
                "grounding": {
                    "provider": "fake-vlm",
                    "target_label": label,
                    "coordinates": {"x": x, "y": y},
                    "confidence": 0.93 if ok else 0.41,
                    "evidence": f"button text '{label}' ✓",
                    "provenance": "screenshot",
                },
                "verdict": {
                    "status": "passed" if ok else "failed",
                    "reason": "target reached" if ok else "page did not change after click",
                },
            })
            # The seed's order: events after record_step (these go on the step's span).
            session.record_event({"ts": _iso(end), "step_index": i, "layer": "verifier",
                                  "kind": "observation" if ok else "error",
                                  "summary": "state changed" if ok else "no state change",
                                  "detail": {"diff_pixels": 1200 if ok else 0, "ok": ok}})
        if halt:
            raise RuntimeError("the agent crashed")
    return session.close()


# ── reading back ─────────────────────────────────────────────────────────────


def iso_us(value: str) -> int:
    """Microseconds since the epoch, exactly (integer arithmetic), for any ISO timestamp."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (dt - EPOCH) // timedelta(microseconds=1)


def record_us(value: str) -> int:
    ns = records.iso_to_ns(value, "test")
    assert ns % 1000 == 0, "test data must have µs precision"
    return ns // 1000


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_same_value(name: str, sent: Any, got: Any) -> None:
    sent = list(sent) if isinstance(sent, tuple) else sent
    assert type(got) is type(sent) and got == sent, (
        f"{name}: sent {sent!r} ({type(sent).__name__}), Phoenix returned {got!r} "
        f"({type(got).__name__})")


def assert_matches_local(remote: dict[str, Any], local: ReadableSpan,
                         skip: frozenset[str] = frozenset()) -> None:
    """Phoenix's copy of a span equals what the SDK produced (at Phoenix's µs precision);
    attributes named in ``skip`` are not compared."""
    assert remote["name"] == local.name
    assert remote["context"]["trace_id"] == f"{local.context.trace_id:032x}"
    assert remote["context"]["span_id"] == f"{local.context.span_id:016x}"
    parent = f"{local.parent.span_id:016x}" if local.parent is not None else None
    assert remote["parent_id"] == parent
    assert local.start_time is not None and local.end_time is not None
    assert iso_us(remote["start_time"]) == local.start_time // 1000
    assert iso_us(remote["end_time"]) == local.end_time // 1000
    assert remote["status_code"] == local.status.status_code.name
    assert remote["status_message"] == (local.status.description or "")
    sent = {k: v for k, v in (local.attributes or {}).items() if k not in skip}
    got = {k: v for k, v in remote["attributes"].items() if k not in skip}
    assert not sent.keys() - got.keys(), f"attributes lost: {sorted(sent.keys() - got.keys())}"
    for key, value in sent.items():
        assert_same_value(f"{local.name}: {key}", value, got[key])
    assert got.keys() - sent.keys() <= PHOENIX_ADDED, sorted(got.keys() - sent.keys())
    assert len(remote["events"]) == len(local.events), [e["name"] for e in remote["events"]]
    for got_event, sent_event in zip(remote["events"], local.events, strict=True):
        assert got_event["name"] == sent_event.name
        assert iso_us(got_event["timestamp"]) == sent_event.timestamp // 1000
        sent_attrs = {k: v for k, v in (sent_event.attributes or {}).items() if k not in skip}
        got_attrs = {k: v for k, v in got_event["attributes"].items() if k not in skip}
        assert got_attrs.keys() == sent_attrs.keys()
        for key, value in sent_attrs.items():
            assert_same_value(f"{sent_event.name}: {key}", value, got_attrs[key])


def fetch_run(phoenix: Phoenix, otlp: Otlp, bundle: Path,
              ) -> tuple[dict[str, Any], dict[int, dict[str, Any]], dict[str, Any]]:
    """(run span, step spans by index, sidecar run line) as stored by Phoenix."""
    sidecar = read_jsonl(bundle / "otel" / "spans.jsonl")
    run_line = next(line for line in sidecar if line["kind"] == "run")
    step_lines = {line["step_index"]: line for line in sidecar if line["kind"] == "step"}
    assert sorted(step_lines) == list(range(len(PLAN)))
    started = time.monotonic()
    spans = phoenix.wait_for_spans(otlp.project, run_line["trace_id"], 1 + len(PLAN))
    print(f"{otlp.protocol}: spans visible in Phoenix {time.monotonic() - started:.2f} s "
          "after close()")
    by_id = {span["context"]["span_id"]: span for span in spans}
    assert len(by_id) == len(spans) == 1 + len(PLAN)
    assert set(by_id) == {run_line["span_id"]} | {line["span_id"] for line in step_lines.values()}
    steps = {index: by_id[line["span_id"]] for index, line in step_lines.items()}
    errors = phoenix.log_errors(since=otlp.log_mark)
    assert not errors, f"Phoenix logged errors while ingesting:\n{errors}"
    return by_id[run_line["span_id"]], steps, run_line


# ── the tests ────────────────────────────────────────────────────────────────


def test_spans_reach_phoenix_exactly_as_the_sdk_made_them(
        otlp: Otlp, phoenix: Phoenix, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every span, attribute (value and type), event and status arrives at Phoenix unchanged."""
    caplog.set_level(logging.WARNING)
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    run_seed_session(tmp_path / run_id, run_id)
    # Neither we (flush timeout) nor the OTLP exporter (failed or retried export) complained.
    assert not [r for r in caplog.records
                if r.name.startswith(("augur_sdk", "opentelemetry"))], caplog.text
    local = {f"{s.context.span_id:016x}": s for s in otlp.local.get_finished_spans()}
    run, steps, _ = fetch_run(phoenix, otlp, tmp_path / run_id)
    assert len(local) == 1 + len(PLAN)
    for span in [run, *steps.values()]:
        assert_matches_local(span, local[span["context"]["span_id"]])


def test_span_tree_and_ids_match_the_bundle_sidecar(
        otlp: Otlp, phoenix: Phoenix, tmp_path: Path) -> None:
    """One trace: the run span is the root, each step span its child, ids as in spans.jsonl."""
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    bundle = tmp_path / run_id
    run_seed_session(bundle, run_id)
    run, steps, run_line = fetch_run(phoenix, otlp, bundle)
    sidecar = {line["step_index"]: line for line in read_jsonl(bundle / "otel" / "spans.jsonl")
               if line["kind"] == "step"}

    assert run["name"] == f"invoke_agent {CLIENT}"
    assert run["parent_id"] is None
    assert run["context"]["trace_id"] == run_line["trace_id"]
    attrs = run["attributes"]
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.agent.name"] == CLIENT
    assert attrs["gen_ai.agent.version"] == "2.3.0"
    assert attrs["augur.run_id"] == run_id
    trace_json = json.loads((bundle / "trace.json").read_text(encoding="utf-8"))
    assert codec.decode_session(attrs) == trace_json["session"]
    assert iso_us(run["start_time"]) == record_us(trace_json["session"]["started_at"])
    assert iso_us(run["end_time"]) == record_us(trace_json["session"]["ended_at"])
    assert run["status_code"] == "UNSET"
    # Phoenix understood the GenAI operation names (its own span kinds, not OTel's).
    assert run["span_kind"] == "AGENT"

    for index, span in steps.items():
        line = sidecar[index]
        assert span["context"]["trace_id"] == line["trace_id"] == run_line["trace_id"]
        assert span["context"]["span_id"] == line["span_id"]
        assert span["parent_id"] == line["parent_span_id"] == run_line["span_id"]
        assert span["attributes"]["gen_ai.tool.call.id"] == line["step_id"]
        assert span["span_kind"] == "TOOL"


def test_step_spans_carry_the_step_records_on_disk(
        otlp: Otlp, phoenix: Phoenix, tmp_path: Path) -> None:
    """Step span attributes decode to steps/NNNN.json; names, GenAI keys, timestamps, status."""
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    bundle = tmp_path / run_id
    run_seed_session(bundle, run_id)
    _, steps, _ = fetch_run(phoenix, otlp, bundle)

    for index, span in steps.items():
        step = json.loads((bundle / "steps" / f"{index:04d}.json").read_text(encoding="utf-8"))
        attrs = span["attributes"]
        assert codec.decode_step(attrs) == step
        assert span["name"] == f"execute_tool {step['step_type']}"
        assert attrs["gen_ai.operation.name"] == "execute_tool"
        assert attrs["gen_ai.tool.name"] == step["step_type"]
        assert attrs["gen_ai.tool.call.id"] == step["step_id"] == f"{run_id}/step/{index:04d}"
        assert attrs["augur.step_index"] == index and type(attrs["augur.step_index"]) is int
        assert attrs["augur.action.type"] == step["action"]["type"]
        assert attrs["augur.grounding.confidence"] == step["grounding"]["confidence"]
        assert attrs["augur.grounding.x"] == step["grounding"]["coordinates"]["x"]
        assert attrs["augur.grounding.target_label"] == step["grounding"]["target_label"]
        assert attrs["augur.verdict.status"] == step["verdict"]["status"]
        for kind in ("pre", "post"):
            png = (bundle / step[f"observation_{kind}"]).read_bytes()
            assert attrs[f"augur.observation.{kind}.path"] == step[f"observation_{kind}"]
            assert attrs[f"augur.observation.{kind}.sha256"] == hashlib.sha256(png).hexdigest()
            assert attrs[f"augur.observation.{kind}.bytes"] == len(png)
        # Phoenix keeps microseconds; the test data has µs precision, so these are exact.
        assert iso_us(span["start_time"]) == record_us(step["started_at"])
        assert iso_us(span["end_time"]) == record_us(step["ended_at"])
        if step["status"] == "failed":
            assert span["status_code"] == "ERROR"
            assert span["status_message"] == "no_state_change: page did not change after click"
            assert attrs["error.type"] == step["failure_class"] == "no_state_change"
        else:
            assert span["status_code"] == "UNSET"
            assert "error.type" not in attrs
        verdicts = [e for e in span["events"] if e["name"] == "gen_ai.evaluation.result"]
        assert len(verdicts) == 1
        assert verdicts[0]["attributes"]["gen_ai.evaluation.score.label"] == \
            step["verdict"]["status"]
        assert verdicts[0]["attributes"]["gen_ai.evaluation.explanation"] == \
            step["verdict"]["reason"]
        assert iso_us(verdicts[0]["timestamp"]) == record_us(step["ended_at"])
    assert [steps[i]["status_code"] for i in range(len(PLAN))] == [
        "UNSET" if ok else "ERROR" for *_, ok in PLAN]


def test_decision_events_arrive_with_their_attributes(
        otlp: Otlp, phoenix: Phoenix, tmp_path: Path) -> None:
    """Events after record_step sit on the step span, earlier ones on the run span; all decode."""
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    bundle = tmp_path / run_id
    run_seed_session(bundle, run_id)
    run, steps, _ = fetch_run(phoenix, otlp, bundle)

    def decoded(span: dict[str, Any]) -> list[dict[str, Any]]:
        events = [e for e in span["events"] if e["name"] == codec.EVENT_NAME]
        for event in events:  # the span event's own timestamp is the record's ts
            assert iso_us(event["timestamp"]) == record_us(event["attributes"]["augur.event.ts"])
            assert type(event["attributes"][codec.SEQ_ATTR]) is int
        return [codec.decode_event(e["attributes"]) for e in events]

    on_run = decoded(run)
    # Run-level event (no step) and each step's "before" event (its span did not exist yet).
    assert on_run[0] == read_jsonl(bundle / "events" / "run.jsonl")[0]
    assert [e.get("step_index") for e in on_run] == [None, *range(len(PLAN))]
    assert all(e["layer"] == "planner" for e in on_run[1:])

    for index, span in steps.items():
        on_disk = read_jsonl(bundle / "events" / f"{index:04d}.jsonl")
        assert len(on_disk) == 2
        before, after = on_disk
        assert before in on_run and before["summary"].startswith("plan: ")
        assert decoded(span) == [after]
        assert after["layer"] == "verifier"
        assert after["kind"] == ("observation" if PLAN[index][3] else "error")
        raw = next(e for e in span["events"] if e["name"] == codec.EVENT_NAME)["attributes"]
        assert raw["augur.event.layer"] == after["layer"]
        assert raw["augur.event.kind"] == after["kind"]
        assert raw["augur.event.summary"] == after["summary"]
        assert raw["augur.event.step_index"] == index
        assert json.loads(raw["augur.event_json.detail"]) == after["detail"]


def test_a_halted_run_is_an_error_span_in_phoenix(
        otlp: Otlp, phoenix: Phoenix, tmp_path: Path) -> None:
    """A run that raised inside `with` reaches Phoenix as an ERROR run span, steps intact."""
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    bundle = tmp_path / run_id
    with pytest.raises(RuntimeError, match="the agent crashed"):
        run_seed_session(bundle, run_id, halt=True)
    run, steps, _ = fetch_run(phoenix, otlp, bundle)
    assert run["status_code"] == "ERROR"
    assert run["status_message"] == "run halted"
    assert run["attributes"]["augur.session.status"] == "halted"
    assert len(steps) == len(PLAN)


def test_export_otlp_of_an_offline_bundle_arrives_like_the_live_run(
        otlp: Otlp, phoenix: Phoenix, tmp_path: Path) -> None:
    """A bundle recorded with no collector, sent later by `augur export-otlp` over this
    protocol, arrives as the live run's spans: ids, parents, names, times, status, attributes
    and every event on the span it was on live (run-level and pre-step events on the run span)."""
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    bundle = tmp_path / run_id
    provider.reset(timeout_s=1.0)  # record offline: no OTLP endpoint, spans kept in-process
    live = InMemorySpanExporter()
    augur_sdk.configure(span_processors=[SimpleSpanProcessor(live)])
    run_seed_session(bundle, run_id)

    proc = subprocess.run(
        [sys.executable, "-m", "augur_sdk.cli", "export-otlp", str(bundle), "--endpoint",
         phoenix.endpoint(otlp.protocol), "--protocol", otlp.protocol, "--no-progress"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{1 + len(PLAN)} delivered, 0 failed" in proc.stdout

    local = {f"{s.context.span_id:016x}": s for s in live.get_finished_spans()}
    run, steps, _ = fetch_run(phoenix, otlp, bundle)
    assert len(local) == 1 + len(PLAN)
    # The run span holds the run-level event and one pre-step event per step.
    assert len(run["events"]) == 1 + len(PLAN)
    for span in [run, *steps.values()]:
        # augur.seq is an ordering hint: the replay numbers in bundle order.
        assert_matches_local(span, local[span["context"]["span_id"]],
                             skip=frozenset({codec.SEQ_ATTR}))


def test_model_calls_reach_phoenix_as_genai_chat_spans_of_their_steps(
        otlp: Otlp, phoenix: Phoenix, tmp_path: Path) -> None:
    """Each record_modelio call arrives as a `chat {model}` span, a child of its step's span
    (opened by the call, filled by record_step), with its GenAI attributes exactly as sent:
    operation, provider, models, finish reasons, token usage and, at model_io, the redacted
    input and output messages."""
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    with DebugSession(run_id=run_id, client_name=CLIENT, capture_mode=CaptureMode.MODEL_IO,
                      out_dir=tmp_path / run_id) as session:
        for i in range(2):
            session.record_modelio({
                "layer": "planner", "duration_ms": 800 + i,
                "request": {"model": "claude-sonnet-4-5", "messages": [
                    {"role": "user", "content": f"step {i}: log in as jane.doe@example.com"}]},
                "response": {"text": f"click {i}", "stop_reason": "tool_use",
                             "usage": {"prompt_tokens": 900 + i, "completion_tokens": 30}},
            }, step_index=i, reasoning_tokens=12)
            session.record_step({
                "step_id": f"{run_id}/step/{i:04d}", "step_index": i, "step_type": "click",
                "status": "succeeded", "started_at": records.utcnow_iso(),
                "ended_at": records.utcnow_iso(), "action": {"type": "click"}})
    local = {f"{s.context.span_id:016x}": s for s in otlp.local.get_finished_spans()}
    trace_id = f"{next(iter(local.values())).context.trace_id:032x}"
    spans = phoenix.wait_for_spans(otlp.project, trace_id, 1 + 2 * 2)
    chats = sorted((s for s in spans if s["name"] == "chat claude-sonnet-4-5"),
                   key=lambda s: s["attributes"]["gen_ai.usage.input_tokens"])
    steps = {s["context"]["span_id"]: s for s in spans if s["name"] == "execute_tool click"}
    assert len(chats) == 2 and len(steps) == 2
    for i, chat in enumerate(chats):
        attrs = chat["attributes"]
        assert chat["parent_id"] in steps
        assert steps[chat["parent_id"]]["attributes"]["augur.step_index"] == i
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "anthropic"
        assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"] == \
            "claude-sonnet-4-5"
        assert attrs["gen_ai.response.finish_reasons"] == ["tool_use"]
        assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"],
                attrs["gen_ai.usage.reasoning.output_tokens"]) == (900 + i, 30, 12)
        messages = json.loads(attrs["gen_ai.input.messages"])
        assert messages[0]["parts"][0]["content"] == \
            f"step {i}: log in as ***REDACTED:email***"
        assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"][0]["content"] == \
            f"click {i}"
        # Phoenix reads the GenAI attributes as an LLM call (its OpenInference view):
        assert attrs["llm.model_name"] == "claude-sonnet-4-5"
        assert attrs["llm.token_count.prompt"] == 900 + i
        assert attrs["llm.input_messages.0.message.content"] == \
            f"step {i}: log in as ***REDACTED:email***"
        added = {k for k in attrs if k.startswith(("llm.", "openinference.", "input.", "output."))}
        assert_matches_local(chat, local[chat["context"]["span_id"]],
                             skip=frozenset(PHOENIX_ADDED | added))
