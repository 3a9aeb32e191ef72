"""`augur view s3://BUCKET/PREFIX` lists and opens the runs stored there (real HTTP requests
to the served viewer, runs uploaded to a moto server)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augur_sdk import DebugSession, S3Store
from augur_sdk.testing import make_png

from s3_support import BUCKET, MotoServer
from support import run_seed_session, step_record


@contextmanager
def serve(target: str, *args: str) -> Iterator[str]:
    """`augur view TARGET --no-open --port 0` in a subprocess (stopped by pid); its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    proc = subprocess.Popen([sys.executable, "-m", "augur_sdk.cli", "view", target,
                             "--no-open", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    try:
        stdout = proc.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()  # a thread reads: select + readline can miss
        threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
        url, seen = None, []
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            if " at http://" in line:
                url = line.split(" at ", 1)[1].split()[0]
        if url is None:
            proc.kill()
            raise AssertionError(f"augur view did not start: {seen}")
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def test_view_lists_and_opens_runs_from_a_prefix(moto_server: MotoServer,
                                                 tmp_path: Path) -> None:
    """Runs uploaded under a prefix are listed (status, steps, failures), a run's steps and
    screenshots are served from the local mirror, and a run uploaded later appears."""
    run_seed_session(tmp_path / "a", steps=3, run_id="run_a",
                     store=S3Store(BUCKET, "team/run_a"))
    run_seed_session(tmp_path / "b", steps=2, run_id="run_b", fail_at=None,
                     store=S3Store(BUCKET, "team/run_b"))
    cache = tmp_path / "cache"
    with serve("s3://augur-runs/team", "--cache-dir", str(cache), "--refresh", "0.5") as url:
        listing = get_json(url + "api/runs")
        runs = {r["key"]: r for r in listing["runs"]}
        assert set(runs) == {"run_a", "run_b"}
        assert runs["run_a"]["status"] == "finished" and runs["run_a"]["step_count"] == 3
        assert runs["run_a"]["failed_steps"] == 1 and runs["run_b"]["failed_steps"] == 0
        index = get_json(url + "runs/run_a/api/index")
        assert [s["i"] for s in index["steps"]] == [0, 1, 2]
        step = get_json(url + "runs/run_a/api/step/1")
        assert step["step"]["step_id"] == "run_a/step/0001" and step["events"]
        with urllib.request.urlopen(url + "runs/run_a/api/shot/1/pre", timeout=10) as resp:
            assert resp.read() == (tmp_path / "a/screenshots/0001_pre.png").read_bytes()

        # A live run elsewhere, uploaded as it goes, shows up running, then finished.
        with DebugSession(run_id="run_c", client_name="t", capture_mode="screenshots",
                          out_dir=tmp_path / "c",
                          store=S3Store(BUCKET, "team/run_c", poll_interval_s=0.1)) as s:
            pre = s.attach_observation(step_index=0, kind="pre", png_bytes=make_png(8, 8))
            s.record_step(step_record("run_c", 0, pre=pre))
            deadline = time.monotonic() + 30
            while True:
                runs = {r["key"]: r for r in get_json(url + "api/runs")["runs"]}
                if runs.get("run_c", {}).get("step_count") == 1:
                    break
                assert time.monotonic() < deadline, runs
                time.sleep(0.2)
            assert runs["run_c"]["status"] == "running"
        deadline = time.monotonic() + 30
        while runs["run_c"]["status"] != "finished":
            assert time.monotonic() < deadline, runs["run_c"]
            time.sleep(0.2)
            runs = {r["key"]: r for r in get_json(url + "api/runs")["runs"]}
    assert (cache / "run_a/manifest.json").is_file()


def test_view_opens_a_single_run_prefix(moto_server: MotoServer, tmp_path: Path) -> None:
    """A prefix that is one bundle opens straight in the step viewer."""
    run_seed_session(tmp_path / "a", steps=2, run_id="run_one",
                     store=S3Store(BUCKET, "single/run_one"))
    with serve("s3://augur-runs/single/run_one", "--cache-dir", str(tmp_path / "cache"),
               "--refresh", "0") as url:
        index = get_json(url + "api/index")
        assert len(index["steps"]) == 2


def test_view_of_an_empty_prefix_says_so(moto_server: MotoServer, tmp_path: Path) -> None:
    """No objects under the prefix: exit 2 with the reason, no server."""
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "view",
                           "s3://augur-runs/nothing-here", "--no-open", "--cache-dir",
                           str(tmp_path / "c")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no objects under this prefix" in proc.stderr
