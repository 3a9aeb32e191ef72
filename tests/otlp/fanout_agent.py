"""A fan-out agent for the end-to-end test: ``fanout_agent.py orchestrator OUT RUN_ID`` opens
an orchestrator and starts three worker processes (``fanout_agent.py worker OUT RUN_ID N``)
with its ``worker_env()``; each worker records two steps (worker 1 fails its second).
Everything else comes from the environment, as in a real deployment: ``AUGUR_DSN``,
``AUGUR_CAPTURE_MODE``, ``OTEL_EXPORTER_OTLP_ENDPOINT``. Prints the orchestrator's trace id.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from augur_sdk import DebugSession

WORKERS = 3
WORKER_TIMEOUT_S = 180


def step(run_id: str, i: int, failed: bool) -> dict[str, object]:
    return {
        "step_id": f"{run_id}/step/{i:04d}", "step_index": i, "step_type": "click",
        "intent": f"press button {i}", "status": "failed" if failed else "succeeded",
        "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "action": {"type": "click", "params": {"x": 10 * i, "y": 20}},
        "grounding": {"provider": "vlm", "target_label": f"Button {i}", "provenance": "screenshot"},
        "verdict": {"status": "failed" if failed else "passed"},
        **({"failure_class": "no_state_change"} if failed else {}),
    }


def worker(out: Path, parent_run: str, n: int) -> None:
    run_id = f"{parent_run}-w{n}"
    with DebugSession(run_id=run_id, client_name="fanout-worker", out_dir=out / run_id) as s:
        for i in range(2):
            s.record_step(step(run_id, i, failed=n == 1 and i == 1))
        if n == 1:
            s.set_status("failed")


def orchestrator(out: Path, run_id: str) -> None:
    with DebugSession.open_orchestrator(run_id=run_id, client_name="fanout-boss",
                                        out_dir=out / run_id, session_name="fanout") as boss:
        env = {**os.environ, **boss.worker_env()}
        procs = [subprocess.Popen([sys.executable, __file__, "worker", str(out), run_id, str(n)],
                                  env=env) for n in range(WORKERS)]
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait(WORKER_TIMEOUT_S))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait(10))
        boss.record_subgoal_completion(0, "all-workers", sum(c == 0 for c in codes) / WORKERS)
        boss.finalize_outcome(verdict={"status": "passed" if not any(codes) else "failed"})
        print(boss.trace_id, flush=True)
    if any(codes):
        sys.exit(f"worker exit codes: {codes}")


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        orchestrator(Path(sys.argv[2]), sys.argv[3])
