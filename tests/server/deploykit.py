"""The two-replica deployment of deploy/ on loopback: nginx (Debian's package) in front of
two ``augur serve --store s3://...`` and a moto server. Every process is started here and
stopped by its pid; nginx's workers are found as its master's children and checked gone."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))

from render_nginx import render  # noqa: E402

STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str:
    """nginx from Debian's package (.ci/install-nginx.sh); a skip without it, a failure
    under CI."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (bash .ci/install-nginx.sh)")
        pytest.skip("needs nginx (apt-get install nginx, or bash .ci/install-nginx.sh)")
    return found


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    prefix: Path
    port: int
    workers: list[int]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[str]:
        return (self.prefix / "access.log").read_text(errors="replace").splitlines()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # fast shutdown: the master stops workers
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(alive(w) for w in self.workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        for worker in self.workers:
            if alive(worker):
                os.kill(worker, signal.SIGKILL)


def start_nginx(prefix: Path, replicas: list[str], *, workers: int = 1,
                cpus: str | None = None) -> Nginx:
    binary = nginx_binary()
    port = free_port()
    conf = render(prefix, f"127.0.0.1:{port}", replicas, workers=workers)
    cmd = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    log = open(prefix / "stderr.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RuntimeError("nginx exited: " + (prefix / "stderr.log").read_text()
                               + (prefix / "error.log").read_text(errors="replace"))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)
            raise RuntimeError("nginx did not answer in 15 s")
        time.sleep(0.05)
    return Nginx(proc, prefix, port, children_of(proc.pid))


@contextmanager
def running_nginx(prefix: Path, replicas: list[str], **kwargs: object) -> Iterator[Nginx]:
    nginx = start_nginx(prefix, replicas, **kwargs)  # type: ignore[arg-type]
    try:
        yield nginx
    finally:
        nginx.stop()
    assert nginx.proc.poll() is not None
    assert not any(alive(w) for w in nginx.workers), "an nginx worker outlived its master"
