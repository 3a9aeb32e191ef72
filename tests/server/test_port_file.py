"""`augur serve --port-file`: the port is written once the server accepts connections."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def test_first_connection_after_the_port_file_appears_is_accepted(tmp_path: Path) -> None:
    """Connecting the moment the port file exists is never refused (the socket listens before
    the file is written), and that connection gets an HTTP answer."""
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "augur_sdk.cli", "serve", "--port", "0",
                             "--port-file", str(port_file), "--data", str(tmp_path / "data")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "AUGUR_SERVER_TOKENS": "acme:tok"})
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.005)
        port = int(port_file.read_text())
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:  # no retry
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            sock.settimeout(30)
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode is not None
