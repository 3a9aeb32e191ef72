"""An orchestrator and three worker processes, streaming to a real ``augur serve`` and
exporting over OTLP to Arize Phoenix: one trace in Phoenix (read back through its REST API),
one tree in the run list of the server's data directory.

Every process is real (``fanout_agent.py``): the workers learn their parent only from the
environment the orchestrator's ``worker_env()`` gives them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from augur_sdk.validation import validate_bundle
from augur_sdk.viewer.runs import RunDirectory
from golden.golden_servers import TENANT, start_augur_serve, wait_finished

if TYPE_CHECKING:
    from conftest import Phoenix

AGENT = Path(__file__).with_name("fanout_agent.py")
RUN_TIMEOUT_S = 300


def test_fan_out_is_one_trace_in_phoenix_and_one_tree_in_the_run_list(
        phoenix: Phoenix, tmp_path: Path) -> None:
    """Phoenix holds one trace: the orchestrator's run span (a root), three worker run spans
    under it and each worker's two step spans under its run; augur serve stored four runs,
    listed as the orchestrator with its three workers under it; the local bundles validate."""
    project = f"augur-fanout-{uuid.uuid4().hex[:12]}"
    run_id = f"fanout-{uuid.uuid4().hex[:8]}"
    serve = start_augur_serve(tmp_path / "serve")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUGUR_"))}
        env.update({"AUGUR_DSN": serve.dsn(), "AUGUR_CAPTURE_MODE": "trace",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.base_url,
                    "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}"})
        out = tmp_path / "runs"
        proc = subprocess.run([sys.executable, str(AGENT), "orchestrator", str(out), run_id],
                              capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        trace_id = proc.stdout.strip().splitlines()[-1]
        workers = [f"{run_id}-w{n}" for n in range(3)]
        for name in (run_id, *workers):
            wait_finished(serve, name)
            assert validate_bundle(out / name) == [], name

        # One trace in Phoenix, and nothing else in the project.
        spans = phoenix.wait_for_spans(project, trace_id, 1 + 3 + 3 * 2)
        everything = phoenix.get_json(f"/v1/projects/{project}/spans?limit=100")["data"]
        assert {s["context"]["trace_id"] for s in everything} == {trace_id}
        assert len(everything) == len(spans) == 10
        runs = {s["attributes"]["augur.run_id"]: s for s in spans
                if s["name"].startswith("invoke_agent ")}
        assert sorted(runs) == sorted([run_id, *workers])
        boss = runs[run_id]
        assert boss["parent_id"] is None
        for name in workers:
            assert runs[name]["parent_id"] == boss["context"]["span_id"], name
        steps = [s for s in spans if s["name"].startswith("execute_tool ")]
        worker_spans = {runs[name]["context"]["span_id"] for name in workers}
        assert len(steps) == 6 and all(s["parent_id"] in worker_spans for s in steps)
        assert sum(s["status_code"] == "ERROR" for s in steps) == 1

        # One tree in the run list of the server's data directory.
        listing = RunDirectory(serve.base / "data").listing()["runs"]
        tree = [(r["key"], r["depth"], r["parent_key"], r["status"]) for r in listing]
        assert tree[0] == (f"{TENANT}/{run_id}", 0, None, "finished")
        assert sorted(tree[1:]) == [  # the workers, in the order they started
            (f"{TENANT}/{name}", 1, f"{TENANT}/{run_id}",
             "failed" if name.endswith("w1") else "finished") for name in workers]
        stored = json.loads((serve.base / "data" / TENANT / workers[0] / "trace.json")
                            .read_text())["session"]
        assert stored["tags"]["augur.parent_run_id"] == run_id
    finally:
        serve.stop()
    assert serve.proc.poll() is not None
