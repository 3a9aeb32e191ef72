"""Loopback fault servers (subprocesses, stopped by pid) and a closed port."""

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

from augur_sdk.stream.client import reset_clients

HERE = Path(__file__).resolve().parent


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


@pytest.fixture(autouse=True)
def _fresh_stream_clients() -> Iterator[None]:
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def fault_server(tmp_path: Path) -> Iterator[Callable[[str], FaultServer]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(mode: str) -> FaultServer:
        port_file = tmp_path / f"{mode}.port"
        log = tmp_path / f"{mode}.log"
        proc = subprocess.Popen([sys.executable, str(HERE / "fault_server.py"), mode,
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
