"""The seed page's generic loop, unchanged, driving the fake CUA in ``fake_cua.py``.

Run:  python examples/generic_loop.py        (writes ./augur-runs/<run_id>/)
Then: augur validate augur-runs/<run_id>
"""

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augur_sdk import CaptureMode, DebugSession

from fake_cua import FakeCUA

OUT_BASE = os.environ.get("AUGUR_OUT", "augur-runs")
task = SimpleNamespace(id="demo-checkout")
my_cua = FakeCUA(steps=int(os.environ.get("DEMO_STEPS", "8")), fail_at=4)
cua_halted = False

# ── from here on: the seed page's code, with out_dir under OUT_BASE ──
run_id = f"run_{int(time.time())}"
with DebugSession(
    run_id=run_id,
    client_name="myagent",
    client_version="2.3.0",
    client_git_sha=os.environ.get("GIT_SHA", ""),
    capture_mode=CaptureMode.SCREENSHOTS,
    out_dir=f"{OUT_BASE}/{run_id}",
    tags={"env": "prod", "task_id": task.id},
) as session:
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
    if cua_halted:
        session.set_status("halted")

print(f"bundle: {OUT_BASE}/{run_id}")
print(f"check it:  augur validate {OUT_BASE}/{run_id}")
