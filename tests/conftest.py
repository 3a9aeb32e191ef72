"""Shared fixtures: clean OTel pipeline and stream clients per test, internal errors re-raised,
loopback fault servers (subprocesses stopped by pid)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import _internal
from augur_sdk.otel import provider
from augur_sdk.stream.client import reset_clients

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

_OTEL_ENV_PREFIXES = ("OTEL_", "AUGUR_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_OTEL_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv(_internal.RAISE_ENV, "1")
    _internal.reset_log_once()
    provider.reset(timeout_s=1.0)
    reset_clients()
    yield
    provider.reset(timeout_s=1.0)
    reset_clients()



@dataclass
class FaultServer:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def dsn(self, token: str = "tok-secret", tenant: str = "acme") -> str:
        return f"http://127.0.0.1:{self.port}/api/v1?token={token}&tenant={tenant}"

    def requests(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fault_server(tmp_path: Path) -> Iterator[Callable[[str], FaultServer]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(mode: str) -> FaultServer:
        # Files per call: a second server of the same mode must not read the first's port.
        name = f"{mode.replace(':', '_')}-{len(started)}"
        port_file = tmp_path / f"{name}.port"
        log = tmp_path / f"{name}.log"
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fault_server.py"), mode,
                                 str(port_file), str(log)])
        started.append(proc)
        deadline = time.monotonic() + 10
        while not port_file.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"fault server {mode} did not start")
            time.sleep(0.02)
        return FaultServer(proc, int(port_file.read_text()), log)

    yield start
    for proc in started:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.poll() is not None


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound then closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port
