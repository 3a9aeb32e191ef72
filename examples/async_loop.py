"""An async agent loop. ``async with DebugSession(...)`` works; recording calls are quick
local writes, so they are fine to call from a coroutine. ``close()`` (which may wait for an
OTLP collector, bounded by ``close_timeout_s``) runs in a worker thread on ``async with`` exit.

Run:  python examples/async_loop.py     (writes ./augur-runs/<run_id>/)
"""

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augur_sdk import CaptureMode, DebugSession

from fake_cua import FakeCUA

OUT_BASE = os.environ.get("AUGUR_OUT", "augur-runs")


async def act(step):  # stands in for the agent's awaited model call and browser action
    await asyncio.sleep(0.01)
    return step


async def main() -> str:
    run_id = f"run_async_{int(time.time())}"
    async with DebugSession(run_id=run_id, client_name="myagent",
                            capture_mode=CaptureMode.SCREENSHOTS,
                            out_dir=f"{OUT_BASE}/{run_id}") as session:
        for i, planned in enumerate(FakeCUA(steps=5, fail_at=2).run()):
            step = await act(planned)
            pre = session.attach_observation(step_index=i, kind="pre", png_bytes=step.pre_png)
            post = session.attach_observation(step_index=i, kind="post", png_bytes=step.post_png)
            session.record_step({
                "step_id": f"{run_id}/step/{i:04d}",
                "step_index": i,
                "step_type": step.action_type,
                "intent": step.intent,
                "status": "succeeded" if step.ok else "failed",
                "failure_class": step.failure_class,
                "started_at": step.started_at,
                "ended_at": step.ended_at,
                "observation_pre": pre,
                "observation_post": post,
            })
            for ev in step.decision_events:
                session.record_event({"ts": ev.ts, "step_index": i, "layer": ev.layer,
                                      "kind": ev.kind, "summary": ev.summary,
                                      "detail": ev.detail})
    return f"{OUT_BASE}/{run_id}"


if __name__ == "__main__":
    print(f"bundle: {asyncio.run(main())}")
