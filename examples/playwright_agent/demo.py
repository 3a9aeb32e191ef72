"""Record a real computer-use run: a scripted agent drives headless Chromium (Playwright)
through a local demo shop (sign in, search, checkout, a failure and its recovery), and the
seed page's loop records every step with augur_sdk.

Run:   python examples/playwright_agent/demo.py          (writes ./augur-runs/<run_id>/)
       python examples/playwright_agent/demo.py --variant clean   (a run to compare it with)
Needs: pip install -e ".[demo]"  and Debian's chromium at /usr/bin/chromium (CHROMIUM_PATH)
       python examples/playwright_agent/demo.py --intervene  (an operator may pause, resume or
       kill it with `augur intervene`; needs AUGUR_DSN pointing at `augur serve`)
Env:   AUGUR_OUT (default augur-runs), AUGUR_CAPTURE_MODE (default screenshots),
       OTEL_EXPORTER_OTLP_ENDPOINT (also send the run's spans to a collector)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent import CHROMIUM, DEVICE_SCALE_FACTOR, VIEWPORT, Model, PlaywrightAgent
from webapp import DemoShop

from augur_sdk import CaptureMode, DebugSession


class OperatorControls:
    """The intervention adapter (``session.bind_intervention``): an operator's commands,
    issued with ``augur intervene``, reach the loop between steps. Hooks run on the
    channel's thread, so they only record what was asked; the loop acts on it."""

    def __init__(self) -> None:
        self.kill = threading.Event()
        self.hints: list[str] = []

    def on_pause(self) -> None:
        print("  operator: pause", flush=True)

    def on_resume(self) -> None:
        print("  operator: resume", flush=True)

    def on_kill(self) -> None:
        self.kill.set()
        print("  operator: kill", flush=True)

    def on_inject_hint(self, hint_text: str) -> None:
        self.hints.append(hint_text)  # a scripted agent has no planner prompt to put it in
        print(f"  operator: hint {hint_text!r}", flush=True)

    def on_action_override(self, coordinates: dict[str, float], *, provenance: str) -> None:
        raise NotImplementedError("the scripted agent grounds its own clicks")


def record_run(
    my_cua: PlaywrightAgent,
    *,
    out_base: str,
    capture_mode: CaptureMode | str = CaptureMode.SCREENSHOTS,
    tags: dict[str, str] | None = None,
    nest_steps: bool = False,
    name: str = "",
    intervene: bool = False,
) -> tuple[str, str]:
    """The seed page's loop over ``my_cua.run()``; returns (run_id, bundle path).

    ``nest_steps`` runs each step inside ``session.step_scope(i)``, so spans the agent's own
    code creates during a step (its model call) are children of that step's span. ``name``
    ends the run id (``run_<time>_<pid>_<name>``). ``intervene`` binds
    :class:`OperatorControls`: between steps the loop waits while an operator paused the
    run, and stops (status ``cancelled``) once killed.
    """
    run_id = f"run_{time.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}" + (f"_{name}" if name else "")
    with DebugSession(
        run_id=run_id,
        client_name="playwright-demo-agent",
        client_version="1.0.0",
        client_git_sha=os.environ.get("GIT_SHA", ""),
        capture_mode=capture_mode,
        out_dir=f"{out_base}/{run_id}",
        # The screen the agent saw, so that `augur view` maps the recorded CSS-px clicks onto
        # the screenshots without assuming a scale.
        tags={"env": "demo", "task_id": "buy-blue-mug",
              "viewport": f"{VIEWPORT['width']}x{VIEWPORT['height']}",
              "device_scale_factor": str(DEVICE_SCALE_FACTOR), **(tags or {})},
    ) as session:
        if nest_steps:
            my_cua.step_scope = session.step_scope
        channel = session.bind_intervention(OperatorControls()) if intervene else None
        if intervene:
            print(f"  run {run_id}: " + ("augur intervene " + run_id + " pause|resume|kill "
                                         "--dsn <control DSN>" if channel else
                                         "no AUGUR_DSN, so no operator can reach it"),
                  flush=True)
        for i, step in enumerate(my_cua.run()):
            # 1. Stage screenshots (no-op when capture_mode < screenshots)
            pre = session.attach_observation(step_index=i, kind="pre", png_bytes=step.pre_png)
            post = session.attach_observation(step_index=i, kind="post", png_bytes=step.post_png)
            # 2. Record the step
            session.record_step({
                "step_id": f"{run_id}/step/{i:04d}",
                "step_index": i,
                "step_type": step.action_type,
                "intent": step.intent,
                "status": "succeeded" if step.ok else "failed",
                "failure_class": step.failure_class,  # optional
                "started_at": step.started_at,  # ISO-8601 UTC
                "ended_at": step.ended_at,
                "duration_ms": step.duration_ms,
                "observation_pre": pre,
                "observation_post": post,
                "action": {
                    "type": step.action_type,
                    "params": step.action_params,
                    "coordinate_space": "viewport_css_px",
                    "dispatch_backend": "playwright",
                },
                "grounding": {
                    "provider": step.grounding.provider,
                    "target_label": step.grounding.label,
                    "coordinates": {"x": step.grounding.x, "y": step.grounding.y},
                    "confidence": step.grounding.confidence,
                    "evidence": step.grounding.evidence_text,
                    "provenance": "screenshot",  # ALWAYS for CUA contract
                },
                "verdict": {
                    "status": step.verdict,
                    "reason": step.verdict_reason,
                },
                # two more StepTrace fields this agent fills in
                "recovery_decision": step.recovery_decision,  # on a failed step
                "latency": step.latency,  # per layer, ms
            })
            # 3. Optionally surface decision events
            for ev in step.decision_events:
                session.record_event({
                    "ts": ev.ts,
                    "step_index": i,
                    "layer": ev.layer,
                    "kind": ev.kind,
                    "summary": ev.summary,
                    "detail": ev.detail,
                })
            print(f"  step {i:2d}  {'ok  ' if step.ok else 'FAIL'}  {step.intent}"
                  + (f"  [{step.failure_class}]" if step.failure_class else ""), flush=True)
            if channel is not None:
                if channel.paused:
                    print("  paused by the operator: waiting", flush=True)
                channel.wait_while_paused()  # returns at a resume or a kill
                if channel.killed:
                    print("  stopped by the operator", flush=True)
                    session.set_status("cancelled")
                    break
        if my_cua.halted:
            session.set_status("halted")
    return run_id, f"{out_base}/{run_id}"


VARIANTS = {
    # name: (the checkout shows its dialog, the target whose first click misses)
    "dialog": (True, None),  # the default: the dialog breaks "Place order", recovery fixes it
    "clean": (False, None),  # no dialog: every step passes the first time
    "retry": (False, "Sign in"),  # no dialog; the sign-in click misses once and is retried
}
"""Runs of the same task to compare with ``augur diff`` / ``augur view A --compare B``."""


def run_demo(
    *,
    out_base: str,
    model: Model | None = None,
    capture_mode: CaptureMode | str = CaptureMode.SCREENSHOTS,
    tags: dict[str, str] | None = None,
    nest_steps: bool = False,
    variant: str = "dialog",
    intervene: bool = False,
) -> tuple[str, str]:
    """Serve a fresh demo shop, start the agent on it, record the run (see ``record_run``).
    ``variant`` is one of ``VARIANTS``."""
    notice, miss_first = VARIANTS[variant]
    with DemoShop(notice=notice) as shop, \
            PlaywrightAgent(shop.url, model=model, miss_first=miss_first) as my_cua:
        return record_run(my_cua, out_base=out_base, capture_mode=capture_mode,
                          tags={"variant": variant, **(tags or {})}, nest_steps=nest_steps,
                          name="" if variant == "dialog" else variant, intervene=intervene)


def check_requirements() -> bool:
    """Chromium and Playwright for Python are there; otherwise say how to get them."""
    problems = []
    if not os.path.exists(CHROMIUM):
        problems.append(f"no Chromium at {CHROMIUM}. Install Debian's chromium (sudo apt-get "
                        "install chromium, or run .ci/install-chromium.sh as root), or point "
                        "CHROMIUM_PATH at a Chromium binary")
    if importlib.util.find_spec("playwright") is None:
        problems.append("Playwright for Python is missing: pip install -e '.[demo]' "
                        "(no browser download needed)")
    for problem in problems:
        print(f"demo: {problem}", file=sys.stderr)
    return not problems


def augur_command() -> str:
    """The `augur` command as it can be typed here: plain `augur` when that is this
    interpreter's on PATH, else the script beside this interpreter (`.venv/bin/augur`: the
    demo runs from a venv that is usually not activated), else `python -m augur_sdk.cli`."""
    beside = Path(sys.executable).parent / "augur"
    found = shutil.which("augur")
    if found and beside.exists() and Path(found).resolve() == beside.resolve():
        return "augur"
    if beside.exists():
        return shlex.quote(_as_typed(beside))
    return f"{shlex.quote(sys.executable)} -m augur_sdk.cli"


def _as_typed(path: Path | str) -> str:
    """``path`` as the caller can type it: relative to the directory they started from
    (``DEMO_CALLER_CWD``, set by scripts/demo.sh, which changes into the repository) when
    it lies below it, else absolute."""
    here = Path(os.environ.get("DEMO_CALLER_CWD") or os.getcwd())
    full = Path(os.path.abspath(path))
    try:
        rel = full.relative_to(here)
    except ValueError:
        return str(full)
    text = str(rel)
    return text if os.sep in text else os.path.join(".", text)


def print_next_steps(bundle: str) -> None:
    augur, where = augur_command(), shlex.quote(_as_typed(bundle))
    print(f"\nbundle:   {where}")
    print(f"view it:  {augur} view {where}")
    print(f"check it: {augur} validate {where}")
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        print("spans:    sent over OTLP too (trace id in otel/spans.jsonl)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record a Playwright agent run of the demo shop.")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="dialog",
                        help="dialog (default): a dialog breaks 'Place order' and recovery "
                             "dismisses it; clean: no dialog, every step passes; retry: no "
                             "dialog, the sign-in click misses once and is retried")
    parser.add_argument("--intervene", action="store_true",
                        help="let an operator pause, resume or kill the run with `augur "
                             "intervene` (needs AUGUR_DSN pointing at `augur serve`)")
    args = parser.parse_args(argv)
    if not check_requirements():
        return 2
    out_base = os.environ.get("AUGUR_OUT", "augur-runs")
    mode = os.environ.get("AUGUR_CAPTURE_MODE") or CaptureMode.SCREENSHOTS
    print(f"recording a Playwright agent run on a local demo shop ({args.variant}) ...",
          flush=True)
    started = time.monotonic()
    _, bundle = run_demo(out_base=out_base, capture_mode=mode, variant=args.variant,
                         intervene=args.intervene)
    print(f"done in {time.monotonic() - started:.1f} s")
    print_next_steps(bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
