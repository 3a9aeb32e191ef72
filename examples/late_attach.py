"""Late attach: steps 0..4 were not captured; say so, then capture from step 5 on.

Run:  python examples/late_attach.py     (writes ./augur-runs/<run_id>/)
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augur_sdk import CaptureMode, DebugSession

from fake_cua import FakeCUA

OUT_BASE = os.environ.get("AUGUR_OUT", "augur-runs")
run_id = f"run_late_{int(time.time())}"
steps = list(FakeCUA(steps=9, fail_at=None).run())

with DebugSession(run_id=run_id, client_name="myagent", capture_mode=CaptureMode.SCREENSHOTS,
                  out_dir=f"{OUT_BASE}/{run_id}") as session:
    # Tell the bundle that steps 0..4 were intentionally skipped (rendered "not captured").
    for i in range(5):
        session.record_step({
            "step_id": f"{run_id}/step/{i:04d}",
            "step_index": i,
            "step_type": "verify",
            "status": "skipped",
            "started_at": steps[i].started_at,
            "observation_pre": None,
            "observation_post": None,
        })
    # Capture from step 5 onward.
    for i in range(5, len(steps)):
        step = steps[i]
        pre = session.attach_observation(step_index=i, kind="pre", png_bytes=step.pre_png)
        post = session.attach_observation(step_index=i, kind="post", png_bytes=step.post_png)
        session.record_step({
            "step_id": f"{run_id}/step/{i:04d}",
            "step_index": i,
            "step_type": step.action_type,
            "intent": step.intent,
            "status": "succeeded",
            "started_at": step.started_at,
            "ended_at": step.ended_at,
            "observation_pre": pre,
            "observation_post": post,
        })

print(f"bundle: {OUT_BASE}/{run_id}")
