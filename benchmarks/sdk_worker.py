"""One benchmark run inside one interpreter; started by ``benchmarks/compare.py``.

The same file runs in two virtualenvs, so it imports nothing from this repository at module
level and only the standard library until it knows which SDK it drives:

* ``--sdk ours``  (project venv): ``augur_sdk`` is augur-otel (this repository);
* ``--sdk ref``   (``.ci-venvs/augur-sdk-0.6.1``): ``augur_sdk`` is augur-sdk 0.6.1;
* ``--sdk floor`` (project venv): no SDK at all. The cheapest thing that could do the job:
  a bare OpenTelemetry span with the same attributes as our step span on a TracerProvider
  with no processors plus one atomic write of the same step JSON; ``add_event`` with the
  same attributes plus one appended JSONL line; one atomic write of the same PNG bytes.

Every step: two ~1 MB incompressible PNG observations (fresh ``bytes`` objects each call,
as a real agent hands over a new screenshot every time), one ``record_step``, one
``record_event``. Only the SDK call itself is inside the timer. Results (raw per-call
nanoseconds, wall and, for the SDKs, the agent thread's CPU time; close time, peak RSS) go
to ``--result`` as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import struct
import sys
import time
import zlib
from typing import Any

RUN_ID = "bench"
BASE_NS = 1_779_148_800 * 1_000_000_000  # 2026-05-19T00:00:00Z
N_PNGS = 4


# ── inputs (identical in every interpreter) ──────────────────────────────────


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def make_png_noise(width: int, height: int, seed: int) -> bytes:
    """Byte-for-byte what ``augur_sdk.testing.make_png(w, h, seed=seed, noise=True)`` returns.

    Re-implemented here because the 0.6.1 interpreter must not import our package;
    compare.py checks that every worker reports the same sha256 for its PNGs.
    """
    rng = random.Random(seed)
    for _ in range(3):  # make_png draws a (here unused) colour first
        rng.randrange(256)
    rows = b"".join(b"\x00" + rng.randbytes(3 * width) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows, 1))
            + _chunk(b"IEND", b""))


def png_side(png_kb: int) -> int:
    return int((png_kb * 1024 / 3) ** 0.5)


def iso(ns: int) -> str:
    seconds, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rem // 1000:06d}Z"


def step_record(i: int, pre: str | None, post: str | None) -> dict[str, Any]:
    start = BASE_NS + i * 1_000_000_000
    return {
        "step_id": f"{RUN_ID}/step/{i:04d}", "step_index": i, "step_type": "click",
        "intent": "click the OK button", "status": "succeeded",
        "started_at": iso(start), "ended_at": iso(start + 500_000_000), "duration_ms": 500,
        "observation_pre": pre, "observation_post": post,
        "action": {"type": "click", "params": {"x": 412, "y": 230},
                   "coordinate_space": "viewport_css_px", "dispatch_backend": "playwright"},
        "grounding": {"provider": "vlm", "target_label": "OK", "coordinates": {"x": 412, "y": 230},
                      "confidence": 0.92, "evidence": "button text 'OK'",
                      "provenance": "screenshot"},
        "verdict": {"status": "passed", "reason": "dialog closed"},
    }


def event_record(i: int) -> dict[str, Any]:
    return {"ts": iso(BASE_NS + i * 1_000_000_000 + 200_000_000), "step_index": i,
            "layer": "planner", "kind": "decision", "summary": "chose the OK button",
            "detail": {"candidates": ["OK", "Cancel"], "chosen": "OK", "step": i}}


def dsn_kwargs(dsn: str | None) -> dict[str, Any]:
    # An explicit empty DSN disables streaming even if AUGUR_DSN is set in the environment.
    return {"dsn": dsn or ""}


# ── the SDK loop (ours and 0.6.1: the seed page's calls) ─────────────────────


def run_sdk(args: argparse.Namespace, pngs: list[bytes]) -> dict[str, Any]:
    from augur_sdk import DebugSession

    kwargs: dict[str, Any] = {"run_id": RUN_ID, "client_name": "bench", "client_version": "1.0",
                              "capture_mode": args.mode, "out_dir": args.out,
                              **dsn_kwargs(args.dsn)}
    if args.sdk == "ours" and args.close_timeout_s is not None:
        kwargs["close_timeout_s"] = args.close_timeout_s
    if args.fsync:
        kwargs["fsync"] = True  # augur-otel only
    t_step: list[int] = []
    t_obs: list[int] = []
    t_evt: list[int] = []
    # CPU time of the agent's thread in each call (its clock reads sit outside the wall
    # window): unlike wall time, it does not count the time the thread waited for a core.
    c_step: list[int] = []
    c_obs: list[int] = []
    c_evt: list[int] = []
    pc, cpu = time.perf_counter_ns, time.thread_time_ns
    shots = args.png_kb > 0
    t0 = pc()
    session = DebugSession(**kwargs)
    session.__enter__()
    open_ns = pc() - t0
    loop0 = pc()
    for i in range(args.steps):
        pre = post = None
        if shots:
            a = bytes(memoryview(pngs[(2 * i) % N_PNGS]))  # a fresh screenshot object
            b = bytes(memoryview(pngs[(2 * i + 1) % N_PNGS]))
            c = cpu(); t = pc(); pre = session.attach_observation(step_index=i, kind="pre", png_bytes=a); t_obs.append(pc() - t); c_obs.append(cpu() - c)
            c = cpu(); t = pc(); post = session.attach_observation(step_index=i, kind="post", png_bytes=b); t_obs.append(pc() - t); c_obs.append(cpu() - c)
            del a, b
        rec = step_record(i, pre, post)
        c = cpu(); t = pc(); session.record_step(rec); t_step.append(pc() - t); c_step.append(cpu() - c)
        ev = event_record(i)
        c = cpu(); t = pc(); session.record_event(ev); t_evt.append(pc() - t); c_evt.append(cpu() - c)
    loop_ns = pc() - loop0
    t = pc()
    session.__exit__(None, None, None)
    close_ns = pc() - t
    import augur_sdk

    return {"record_step": t_step, "attach_observation": t_obs, "record_event": t_evt,
            "cpu": {"record_step": c_step, "attach_observation": c_obs, "record_event": c_evt},
            "open_ns": open_ns, "loop_ns": loop_ns, "close_ns": close_ns,
            "sdk_version": getattr(augur_sdk, "__version__", "?"), "sdk_path": augur_sdk.__file__}


# ── the floor ────────────────────────────────────────────────────────────────


def run_floor(args: argparse.Namespace, pngs: list[bytes]) -> dict[str, Any]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    from opentelemetry.trace import SpanKind

    from augur_sdk import codec, gating, records
    from augur_sdk.bundle import layout
    from augur_sdk.capture import resolve_capture_mode
    from augur_sdk.otel.provider import SPAN_LIMITS
    from augur_sdk.redaction import DefaultRedactionPolicy

    mode = resolve_capture_mode(args.mode)
    policy = DefaultRedactionPolicy()
    provider = TracerProvider(sampler=ALWAYS_ON, span_limits=SPAN_LIMITS)  # no processors
    tracer = provider.get_tracer("floor")
    run_span = tracer.start_span("invoke_agent bench", start_time=BASE_NS)
    ctx = trace.set_span_in_context(run_span)
    out = args.out
    for sub in ("screenshots", "steps", "events"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    facts = [{"sha256": hashlib.sha256(p).hexdigest(), "bytes": len(p),
              "width": png_side(args.png_kb), "height": png_side(args.png_kb)} for p in pngs]
    shots = args.png_kb > 0 and gating.records_screenshots(mode)
    events = gating.records_events(mode)
    t_step: list[int] = []
    t_obs: list[int] = []
    t_evt: list[int] = []
    pc = time.perf_counter_ns
    prev: Any = None
    prev_end = 0
    loop0 = pc()
    for i in range(args.steps):
        observations: dict[str, dict[str, Any]] = {}
        pre = post = None
        if shots:
            for n, kind in ((2 * i, "pre"), (2 * i + 1, "post")):
                data = bytes(memoryview(pngs[n % N_PNGS]))
                path = os.path.join(out, "screenshots", f"{i:04d}_{kind}.png")
                tmp = path + ".tmp"
                t = pc()
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
                t_obs.append(pc() - t)
                rel = f"screenshots/{i:04d}_{kind}.png"
                observations[kind] = {"path": rel, **facts[n % N_PNGS]}
                if kind == "pre":
                    pre = rel
                else:
                    post = rel
        # What our SDK would put on the span and in steps/NNNN.json (prepared off the clock).
        step = gating.gate_step(policy.apply(records.check_step(step_record(i, pre, post))), mode)
        attrs = codec.step_attributes(step, run_id=RUN_ID, seq=2 * i + 1, observations=observations)
        name = codec.step_span_name(step)
        start = records.iso_to_ns(step["started_at"], "started_at")
        end = records.iso_to_ns(step["ended_at"], "ended_at")
        data = layout.dumps(step).encode("utf-8")
        path = os.path.join(out, "steps", f"{i:04d}.json")
        tmp = path + ".tmp"
        t = pc()
        if prev is not None:
            prev.end(end_time=prev_end)
        span = tracer.start_span(name, context=ctx, kind=SpanKind.INTERNAL, attributes=attrs,
                                 start_time=start)
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        t_step.append(pc() - t)
        prev, prev_end = span, end
        if events:
            event = policy.apply(records.check_event(event_record(i)))
            ev_attrs = codec.event_attributes(event, seq=2 * i + 2)
            ts = records.iso_to_ns(event["ts"], "ts")
            line = layout.jsonl_line(event).encode("utf-8")
            path = os.path.join(out, "events", f"{i:04d}.jsonl")
            t = pc()
            span.add_event(codec.EVENT_NAME, ev_attrs, timestamp=ts)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, line)
            os.close(fd)
            t_evt.append(pc() - t)
    if prev is not None:
        prev.end(end_time=prev_end)
    run_span.end()
    return {"record_step": t_step, "attach_observation": t_obs, "record_event": t_evt,
            "open_ns": 0, "loop_ns": pc() - loop0, "close_ns": 0, "sdk_version": "floor"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sdk", choices=("ours", "ref", "floor"), required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--mode", default="screenshots")
    parser.add_argument("--png-kb", type=int, default=1024)
    parser.add_argument("--out", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--close-timeout-s", type=float, default=None)
    parser.add_argument("--fsync", action="store_true")
    args = parser.parse_args()
    side = png_side(args.png_kb)
    if args.png_kb and args.sdk in ("ours", "floor"):
        from augur_sdk.testing import make_png

        pngs = [make_png(side, side, seed=s, noise=True) for s in range(N_PNGS)]
    elif args.png_kb:
        pngs = [make_png_noise(side, side, seed=s) for s in range(N_PNGS)]
    else:
        pngs = []
    rss_start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = run_floor(args, pngs) if args.sdk == "floor" else run_sdk(args, pngs)
    data.update({
        "sdk": args.sdk, "steps": args.steps, "mode": args.mode,
        "rss_start_kb": rss_start_kb,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "png_sha256": [hashlib.sha256(p).hexdigest()[:16] for p in pngs],
        "png_bytes": [len(p) for p in pngs],
        "python": sys.version.split()[0],
    })
    with open(args.result, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


if __name__ == "__main__":
    main()
