"""Run the golden scenario for one capture mode and render what it produced.

Three runs of ``golden_run.py``, each in a fresh interpreter:

1. no DSN: the bundle directory (``bundle.txt``), the span dump (``spans.json``) and what the
   SDK logged (``log.txt``);
2. ``dsn=`` a recording HTTP server: the request log in arrival order (one run is pinned to
   one stream worker, so that is the order the SDK sends in) without the timer's periodic
   heartbeats, plus the files of this run's local bundle that differ from run 1's
   (``stream.txt``);
3. ``dsn=`` a real ``augur serve``: the bundle the server stored (``server_bundle.txt``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from golden_normalize import Normalizer
from golden_render import render_files, render_requests, render_tree
from golden_servers import (
    TENANT,
    recorded_requests,
    start_augur_serve,
    start_recorder,
    wait_finished,
)

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "golden_run.py"
RUN_TIMEOUT_S = 120.0
RUN_ID = "golden-run"
ARTIFACTS = ("bundle.txt", "spans.json", "log.txt", "stream.txt", "server_bundle.txt")


def run_scenario(mode: str, work: Path, dsn: str = "") -> tuple[Path, Path, str]:
    """Run the script once; return (bundle dir, span dump, stderr)."""
    out, spans = work / "bundle", work / "spans.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    env["AUGUR_RAISE_INTERNAL_ERRORS"] = "1"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--mode", mode, "--out", str(out), "--spans", str(spans),
         "--dsn", dsn], env=env, capture_output=True, timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL, check=False)
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AssertionError(f"golden_run.py --mode {mode} failed ({proc.returncode}):\n"
                             f"{stderr}")
    return out, spans, stderr


def without_timer_heartbeats(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the heartbeats the stream client's timer sends every 15 s (a slow run gets one
    more); the heartbeat that opens the run carries ``last_event`` and is kept."""
    return [r for r in requests if not (
        str(r["path"]).endswith("/heartbeat") and '"last_event"' not in str(r["body"]))]


def capture(mode: str, work: Path) -> dict[str, str]:
    """Every golden artifact of ``mode``, rendered and normalized (name -> text)."""
    norm = Normalizer({str(work): "<tmp>"})
    bundle, spans, stderr = run_scenario(mode, work / "plain")
    plain_files = render_files(bundle, norm) if bundle.is_dir() else {}
    outputs = {
        "bundle.txt": render_tree(bundle, norm),
        "spans.json": norm.text(spans.read_text(encoding="utf-8")),
        "log.txt": norm.text(stderr) or "(nothing logged)\n",
    }

    recorder = start_recorder(work / "recorder")
    try:
        bundle, _, _ = run_scenario(mode, work / "streamed", recorder.dsn())
    finally:
        recorder.stop()
    norm = Normalizer({str(work): "<tmp>"})
    norm.learn_varying(bundle)
    text = render_requests(without_timer_heartbeats(recorded_requests(recorder)), norm)
    local = render_files(bundle, norm) if bundle.is_dir() else {}
    changed = [rel for rel in sorted(set(local) | set(plain_files))
               if local.get(rel) != plain_files.get(rel)]
    text += "\n# local bundle files that differ from the run without a DSN\n"
    text += "".join(local.get(rel, f"=== {rel}\n(absent)\n") for rel in changed) or "(none)\n"
    outputs["stream.txt"] = text

    server = start_augur_serve(work / "serve")
    try:
        run_scenario(mode, work / "served", server.dsn())
        if recorded_requests(recorder):
            wait_finished(server, RUN_ID)
    finally:
        server.stop()
    outputs["server_bundle.txt"] = render_tree(server.base / "data" / TENANT / RUN_ID,
                                               Normalizer({str(work): "<tmp>"}))
    return outputs
