"""The golden scenario: one fixed, deterministic agent run through the public API.

    python tests/golden/golden_run.py --mode MODE --out BUNDLE_DIR --spans SPANS.json [--dsn DSN]

Records one run covering every kind of record the SDK writes today (session with tags,
task_spec, branch_context and group_id; succeeded, failed and skipped steps with failure class,
verdict, grounding, action coordinates, costs, latency, judge decisions, subgoals, replay
fields; decision events before and after their step, a run-level event, a late event for an
older step, ``model``- and ``dispatch``-layer events; pre/post screenshots, one of them masked;
``add_tag``, ``set_status``, ``set_capture_mode`` mid-run, ``step_scope``; values that the
default redaction policy must scrub) and then writes every span our pipeline produced, as seen
by an in-memory exporter passed through ``span_processors=``, to SPANS.json.

Every input timestamp is a fixed constant. What still varies from run to run (the clock at
close, generated ids, OTel ids) is left to the test's normalizer (``golden_normalize.py``).

It runs in a fresh interpreter so that nothing process-wide (the private TracerProvider, the
stream clients, log-once state) leaks between runs, and so that the same script can be run
against another revision's ``src/`` with ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.testing import make_png

RUN_ID = "golden-run"
STARTED_AT = "2026-01-02T03:04:05.000000Z"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.golden-secret-token"
EMAIL = "alice.golden@example.com"


def ts(second: int, micro: int = 0) -> str:
    """A fixed timestamp ``second`` seconds after 2026-01-02T03:04:00Z."""
    return f"2026-01-02T03:{4 + second // 60:02d}:{second % 60:02d}.{micro:06d}Z"


def have_pillow() -> bool:
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


def step_record(i: int, **fields: Any) -> dict[str, Any]:
    """A step record with the conventional step id and fixed times (``10 + 10*i`` s)."""
    record: dict[str, Any] = {
        "step_id": f"{RUN_ID}/step/{i:04d}",
        "step_index": i,
        "started_at": ts(10 + 10 * i, 125_000),
        "ended_at": ts(10 + 10 * i + 2, 375_250),
        "duration_ms": 2250,
    }
    record.update(fields)
    return record


def event(second: int, layer: str, kind: str, summary: str, step_index: int | None = None,
          detail: dict[str, Any] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"ts": ts(second, 500), "layer": layer, "kind": kind,
                              "summary": summary}
    if step_index is not None:
        record["step_index"] = step_index
    if detail is not None:
        record["detail"] = detail
    return record


def click(label: str, x: float, y: float, confidence: float) -> dict[str, Any]:
    return {
        "action": {"type": "click", "params": {"x": x, "y": y, "button": "left"},
                   "coordinate_space": "viewport_css_px", "dispatch_backend": "playwright"},
        "grounding": {"provider": "golden-vlm", "target_label": label,
                      "coordinates": {"x": x, "y": y}, "confidence": confidence,
                      "evidence": f"button text '{label}'", "provenance": "screenshot"},
    }


def record_run(session: DebugSession, mode: str) -> None:
    """The scripted run (the same calls, in the same order, for every mode)."""
    other = "full" if mode in ("off", "metadata") else "metadata"
    session.record_event(event(6, "runner", "info", "run started",
                               detail={"argv": ["agent", "--task", "checkout"], "seed": 7}))

    # Step 0: event before and after the step, both screenshots.
    session.record_event(event(10, "planner", "decision", "plan: click Sign in", 0,
                               {"candidates": ["Sign in", "Cancel"], "chosen": "Sign in"}))
    pre = session.attach_observation(step_index=0, kind="pre", png_bytes=make_png(40, 30, seed=1))
    post = session.attach_observation(step_index=0, kind="post",
                                      png_bytes=make_png(40, 30, seed=2))
    session.record_step(step_record(
        0, step_type="click", intent="Press Sign in", status="succeeded",
        observation_pre=pre, observation_post=post, **click("Sign in", 120.5, 64.0, 0.93),
        verdict={"status": "passed", "reason": "signed in", "score": 1.0},
        costs={"total_usd": 0.0125, "model_usd": 0.0125, "tokens_in": 1200, "tokens_out": 80},
        latency={"planner_ms": 800, "grounding_ms": 300, "total_ms": 2250},
        subgoals_completed=[{"subgoal_id": "login", "completion": 1.0}],
    ))
    session.record_event(event(12, "verifier", "observation", "state changed as expected", 0,
                               {"diff_pixels": 1200}))
    session.add_tag("phase", "search")

    # Step 1: failed; redaction targets in the record and its events; model/dispatch layers.
    session.record_event(event(20, "model", "info", "model call", 1,
                               {"prompt": f"Type the e-mail {EMAIL}", "response": "type",
                                "tokens": [{"token": "type", "logprob": -0.01}]}))
    session.record_event(event(21, "dispatch", "info", "dispatched keystrokes", 1,
                               {"backend": "playwright", "retries": 1,
                                "headers": {"Authorization": BEARER, "X-Trace": "t-1"}}))
    pre = session.attach_observation(step_index=1, kind="pre", png_bytes=make_png(40, 30, seed=3))
    session.record_step(step_record(
        1, step_type="type", intent=f"Type {EMAIL} into the e-mail field", status="failed",
        failure_class="wrong_target", observation_pre=pre, observation_post=None,
        action={"type": "type", "params": {"text": EMAIL, "password": "hunter2",
                                           "api_key": "sk-golden-123"},
                "coordinate_space": "viewport_css_px", "dispatch_backend": "playwright"},
        grounding={"provider": "golden-vlm", "target_label": "Search",
                   "coordinates": {"x": 300.25, "y": 40.0}, "confidence": 0.41,
                   "evidence": f"auth header was {BEARER}", "provenance": "screenshot"},
        verdict={"status": "failed", "reason": "typed into the search box", "score": 0.0,
                 "comparator": "verifier"},
        judge_decisions=[{"judge_id": "rule-pack-v1", "judge_type": "rule",
                          "verdict": {"status": "failed", "reason": "field mismatch"}}],
        costs={"total_usd": 0.02, "tokens_in": 1500, "tokens_out": 40},
        env_fingerprint={"url_host": "shop.example", "url_path_template": "/login"},
        captured_versions={"model": "golden-model-1", "prompt_hash": "abc123"},
        loop_detected=False,
    ))
    session.record_event(event(23, "step_recovery", "error", "wrong field, retrying", 1,
                               {"cookie": "session=abc", "next": "click e-mail field"}))

    # Step 2 under another capture mode, then back.
    session.set_capture_mode(other)
    session.record_event(event(30, "grounding", "decision", "found e-mail field", 2,
                               {"box": [10, 20, 30, 40]}))
    session.record_step(step_record(
        2, step_type="click", intent="Click the e-mail field", status="succeeded",
        **click("E-mail", 80.0, 120.75, 0.88), verdict={"status": "passed"}))
    session.set_capture_mode(mode)

    # A late event for an older step (goes on the run span).
    session.record_event(event(35, "verifier", "metric", "late score for step 0", 0,
                               {"score": 0.75}))

    # Step 3 inside step_scope: the span opens first, the record fills it in.
    with session.step_scope(3, "click"):
        pre = session.attach_observation(step_index=3, kind="pre",
                                         png_bytes=make_png(40, 30, seed=4))
        session.record_event(event(40, "planner", "decision", "plan: open checkout", 3,
                                   {"chosen": "Checkout"}))
        session.record_step(step_record(
            3, step_type="click", intent="Open checkout", status="succeeded",
            observation_pre=pre, **click("Checkout", 200.0, 150.0, 0.97),
            verdict={"status": "passed", "reason": "checkout page shown"}))

    # Step 4: a masked screenshot (opaque regions painted before the write).
    post = None
    if have_pillow():
        post = session.attach_observation(step_index=4, kind="post",
                                          png_bytes=make_png(40, 30, seed=5),
                                          mask_regions=[(2, 3, 10, 8), (20, 10, 35, 22)])
    session.record_step(step_record(
        4, step_type="verify", status="skipped", observation_pre=None, observation_post=post))
    session.record_event(event(55, "runner", "info", "run halted by the operator",
                               detail={"operator": EMAIL}))
    session.set_status("failed")


def _attributes(attrs: Any) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in sorted((attrs or {}).items())}


def span_dump(span: ReadableSpan) -> dict[str, Any]:
    """Everything an exporter sees of one span, as plain JSON."""
    ctx = span.get_span_context()
    assert ctx is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": None if span.parent is None else f"{span.parent.span_id:016x}",
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": _attributes(span.attributes),
        "events": [{"name": ev.name, "timestamp": ev.timestamp,
                    "attributes": _attributes(ev.attributes)} for ev in span.events],
        "links": len(span.links),
        "scope": None if span.instrumentation_scope is None else {
            "name": span.instrumentation_scope.name,
            "version": span.instrumentation_scope.version},
        "resource": _attributes(span.resource.attributes),
    }


def _order(span: dict[str, Any]) -> tuple[int, float, int, str]:
    """The run span first, then spans by their ``augur.seq`` (recording order)."""
    seq = span["attributes"].get("augur.seq")
    return (0 if span["parent_span_id"] is None else 1,
            float("inf") if seq is None else float(seq), span["start_time"], span["name"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", required=True, choices=[m.value for m in CaptureMode])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--spans", required=True, type=Path)
    parser.add_argument("--dsn", default="")
    args = parser.parse_args(argv)
    exporter = InMemorySpanExporter()
    with DebugSession(
        run_id=RUN_ID,
        client_name="golden-agent",
        client_version="1.2.3",
        client_git_sha="0123456789abcdef0123456789abcdef01234567",
        capture_mode=args.mode,
        out_dir=args.out,
        started_at=STARTED_AT,
        tags={"env": "test", "owner": EMAIL, "task_id": "checkout-42"},
        task_spec={"task_spec_id": "checkout-v1", "instruction": "Buy one blue mug",
                   "subgoals": [{"subgoal_id": "login", "description": "Sign in"}]},
        task_spec_id="checkout-v1",
        branch_context={"parent_run_id": "golden-parent", "branch_point_step_index": 1,
                        "mutated_axis": "model"},
        group_id="grpo-batch-7",
        dsn=args.dsn,
        span_processors=[SimpleSpanProcessor(exporter)],
        close_timeout_s=10.0,
    ) as session:
        record_run(session, args.mode)
    # Export order is not stable: a step span ends once its screenshots' sha256 (computed on
    # helper threads) are in, so a later step's span can end first. Dump in recording order.
    spans = sorted((span_dump(span) for span in exporter.get_finished_spans()), key=_order)
    args.spans.write_text(json.dumps(spans, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AUGUR_RAISE_INTERNAL_ERRORS", "1")
    sys.exit(main())
