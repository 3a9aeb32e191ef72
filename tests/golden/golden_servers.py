"""Loopback servers for the golden test, each a subprocess stopped by its pid.

* ``start_recorder``: ``tests/fault_server.py`` in mode ``ok``; it answers 200 to everything
  and appends each request (method, path, headers, body) to a JSON-lines log.
* ``start_augur_serve``: a real ``augur serve`` on a free 127.0.0.1 port with one tenant.

Every wait has a deadline; ``stop`` sends SIGTERM, then SIGKILL after a grace period, and
waits (bounded) until the process is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

TESTS = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
TENANT = "golden"
TOKEN = "tok-golden-1"


@dataclass
class Child:
    """A started server: its process, port and (for the recorder) request log."""

    proc: subprocess.Popen[bytes]
    port: int
    base: Path

    def dsn(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1?token={TOKEN}&tenant={TENANT}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT_S)


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}


def _wait_port(proc: subprocess.Popen[bytes], port_file: Path, what: str) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT_S)
            raise RuntimeError(f"{what} did not start (exit code {proc.returncode})")
        time.sleep(0.02)
    return int(port_file.read_text())


def start_recorder(base: Path) -> Child:
    """The recording HTTP server; its requests land in ``base/requests.jsonl``."""
    base.mkdir(parents=True, exist_ok=True)
    port_file = base / "port"
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "fault_server.py"), "ok", str(port_file),
         str(base / "requests.jsonl")], env=_child_env(), stdin=subprocess.DEVNULL)
    return Child(proc, _wait_port(proc, port_file, "the recording server"), base)


def recorded_requests(child: Child) -> list[dict[str, Any]]:
    log = child.base / "requests.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def start_augur_serve(base: Path) -> Child:
    """``augur serve`` with its data under ``base/data``; ready once /healthz answers."""
    base.mkdir(parents=True, exist_ok=True)
    port_file = base / "port"
    tokens = base / "tokens.json"
    tokens.write_text(json.dumps({"tenants": {TENANT: [TOKEN]}}))
    cmd = [sys.executable, "-m", "augur_sdk.cli", "serve", "--data", str(base / "data"),
           "--port", "0", "--port-file", str(port_file), "--tokens", str(tokens),
           "--commands-hold", "0.2"]
    with open(base / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_child_env(),
                                stdin=subprocess.DEVNULL)
    child = Child(proc, _wait_port(proc, port_file, "augur serve"), base)
    http = urllib3.PoolManager(retries=False, timeout=2.0)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            try:
                if http.request("GET", f"http://127.0.0.1:{child.port}/healthz").status == 200:
                    return child
            except urllib3.exceptions.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                child.stop()
                raise RuntimeError("augur serve did not answer /healthz")
            time.sleep(0.05)
    finally:
        http.clear()


def wait_finished(child: Child, run_id: str, timeout_s: float = 30.0) -> None:
    """Wait until ``augur serve`` reports run ``run_id`` no longer ``running`` (``finished``
    or ``failed``: its bundle is complete)."""
    http = urllib3.PoolManager(retries=False, timeout=5.0)
    url = f"http://127.0.0.1:{child.port}/api/runs/{TENANT}/{run_id}"
    deadline = time.monotonic() + timeout_s
    info: object = None
    try:
        while time.monotonic() < deadline:
            resp = http.request("GET", url, headers={"Authorization": f"Bearer {TOKEN}"})
            if resp.status == 200:
                info = resp.json()
                if isinstance(info, dict) and info.get("status") not in (None, "running"):
                    return
            time.sleep(0.05)
    finally:
        http.clear()
    raise AssertionError(f"augur serve: run {run_id} did not finish: {info}")
