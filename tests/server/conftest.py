"""``augur serve`` as a real uvicorn server on a free 127.0.0.1 port, in a subprocess.

Each server is started by ``python -m augur_sdk.cli serve --port 0 --port-file ...``, waited
for on ``/healthz``, and stopped by its pid (SIGTERM, then SIGKILL after a grace period); the
fixture checks the process is gone. Without the ``server`` extra the tests are skipped,
except under ``CI``, where that is a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import urllib3
from serverkit import ACME, TENANTS

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise
    pytest.skip("the server extra is not installed (pip install -e '.[server]')",
                allow_module_level=True)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass
class Server:
    """A running ``augur serve`` and a small HTTP client for it."""

    proc: subprocess.Popen[bytes]
    url: str
    port: int
    data: Path
    log: Path
    http: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(
        retries=False, timeout=urllib3.Timeout(connect=5.0, read=30.0)))

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = ACME,
                headers: dict[str, str] | None = None, raw: bytes | None = None,
                fields: dict[str, Any] | None = None) -> urllib3.BaseHTTPResponse:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs.setdefault("Authorization", f"Bearer {token}")
        if fields is not None:
            return self.http.request(method, self.url + path, fields=fields, headers=hdrs)
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        return self.http.request(method, self.url + path, body=raw, headers=hdrs)

    def json(self, method: str, path: str, body: Any = None, *, expect: int = 200,
             **kwargs: Any) -> Any:
        resp = self.request(method, path, body, **kwargs)
        assert resp.status == expect, (resp.status, resp.data[:500])
        return resp.json()

    def run_dir(self, run_id: str, tenant: str = "acme") -> Path:
        return self.data / tenant / run_id

    def wait_status(self, run_id: str, status: str = "finished", *, tenant: str = "acme",
                    token: str = ACME, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        info: dict[str, Any] = {}
        while time.monotonic() < deadline:
            resp = self.request("GET", f"/api/runs/{tenant}/{run_id}", token=token)
            if resp.status == 200:
                info = resp.json()
                if info["status"] == status:
                    return info
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not become {status}: {info}")

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT_S)
        self.http.clear()


def start_server(base: Path, *args: str, tokens: dict[str, list[Any]] | None = None,
                 env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> Server:
    """Start ``augur serve`` on a free loopback port with ``base/data`` as its data dir
    (``preexec_fn`` runs in the child before it starts, e.g. to lower its fd limit)."""
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    port_file = base / "port"
    log = base / "server.log"
    cmd = [sys.executable, "-m", "augur_sdk.cli", "serve", "--data", str(data), "--port", "0",
           "--port-file", str(port_file), "--commands-hold", "0.2", *args]
    if tokens is None:
        tokens = TENANTS
    if tokens:
        tokens_file = base / "tokens.json"
        tokens_file.write_text(json.dumps({"tenants": tokens}))
        cmd += ["--tokens", str(tokens_file)]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    child_env.update(env or {})
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=child_env,
                                stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
    deadline = time.monotonic() + START_TIMEOUT_S
    http = urllib3.PoolManager(retries=False, timeout=2.0)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"augur serve exited ({proc.returncode}): "
                               f"{log.read_text(errors='replace')}")
        if port_file.exists() and port_file.read_text().strip():
            port = int(port_file.read_text())
            try:
                if http.request("GET", f"http://127.0.0.1:{port}/healthz").status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)
            raise RuntimeError(f"augur serve did not start in {START_TIMEOUT_S}s")
        time.sleep(0.05)
    http.clear()
    return Server(proc, f"http://127.0.0.1:{port}", port, data, log)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One token-protected server for a test module (tests use their own run ids)."""
    srv = start_server(tmp_path_factory.mktemp("serve"))
    try:
        yield srv
    finally:
        srv.stop()
    assert srv.proc.poll() is not None


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers with their own options for one test; all stopped at its end."""
    started: list[Server] = []

    def make(*args: str, base: Path | None = None, **kwargs: Any) -> Server:
        srv = start_server(base or tmp_path / f"serve{len(started)}", *args, **kwargs)
        started.append(srv)
        return srv

    try:
        yield make
    finally:
        for srv in started:
            srv.stop()
        assert all(srv.proc.poll() is not None for srv in started)
