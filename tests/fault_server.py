"""A loopback HTTP server with a chosen misbehaviour, run as a subprocess by the tests.

    python fault_server.py MODE PORT_FILE LOG_FILE

MODE: ok (record every request), hang (accept, never answer), error500, throttle429 (first
request to each path gets 429 + Retry-After: 1, then ok), slow (ok, but reads and answers at
256 KiB/s), flaky500[:N] (the first N requests, default 3, get 500, then ok), flakyclose[:N]
(the first N requests are read, then the connection is closed without an answer, then ok),
throttle3600 (every request gets 429 + Retry-After: 3600). The chosen port is written to
PORT_FILE; each request is appended to LOG_FILE as a JSON line {method, path, headers, body
(latin-1 text)}, and for the flaky modes also "failed" (whether it got the failure).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, PORT_FILE, LOG_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
MODE, _, _ARG = MODE.partition(":")
FLAKY_N = int(_ARG or 3)
RATE = 256 * 1024
_seen: set[str] = set()
_count = 0
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms a request), which made even "ok" a slow server.
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if MODE != "slow":
            return self.rfile.read(length)
        chunks, left = [], length
        while left:
            chunk = self.rfile.read(min(left, 16 * 1024))
            chunks.append(chunk)
            left -= len(chunk)
            time.sleep(len(chunk) / RATE)
        return b"".join(chunks)

    def _handle(self) -> None:
        if MODE == "hang":
            time.sleep(3600)
            return
        global _count
        body = self._read_body()
        with _lock:
            first = self.path not in _seen
            _seen.add(self.path)
            _count += 1
            entry: dict[str, object] = {"method": self.command, "path": self.path,
                                        "headers": dict(self.headers),
                                        "body": body.decode("latin-1")}
            failing = MODE in ("flaky500", "flakyclose") and _count <= FLAKY_N
            if MODE in ("flaky500", "flakyclose"):
                entry["failed"] = failing
            with open(LOG_FILE, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
        if MODE == "error500" or (MODE == "flaky500" and failing):
            self._reply(500, b'{"error":"boom"}')
        elif MODE == "flakyclose" and failing:
            self.close_connection = True  # read the request, then hang up without answering
        elif MODE == "throttle429" and first:
            self._reply(429, b'{"error":"slow down"}', {"Retry-After": "1"})
        elif MODE == "throttle3600":
            self._reply(429, b'{"error":"come back in an hour"}', {"Retry-After": "3600"})
        else:
            self._reply(200, b'{"ok":true}')

    def _reply(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()


server = Server(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as fh:
    fh.write(str(server.server_address[1]))
import os  # noqa: E402

os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
