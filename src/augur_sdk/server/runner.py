"""Run the app under uvicorn: bind (port 0 picks a free port), report the address, warn when
a server that accepts every request is reachable from other machines, guard connections
(``connections.py``: request-head deadline, connection cap), stop cleanly on
SIGINT/SIGTERM."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from augur_sdk.bundle.files import atomic_write
from augur_sdk.server.app import ServerState, create_app
from augur_sdk.server.config import ServerConfig, is_loopback
from augur_sdk.server.connections import connection_cap, protocol_class

logger = logging.getLogger("augur_sdk.server")


class _Server(uvicorn.Server):
    """Tells the app that shutdown began, so held command polls answer at once."""

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self._augur_state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._augur_state.stopping = True
        super().handle_exit(sig, frame)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then; without
    # it every keep-alive request waits ~40 ms (Nagle against delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), port))
    # Listen now: connections made as soon as the port file appears queue in the backlog
    # until uvicorn accepts them, instead of being refused.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
_M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """Make freed request bodies go back to the system (glibc only; False elsewhere).

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after
    which bodies of a few MiB come from heaps it rarely returns, one heap per thread that
    touched one: RSS stays at its peak for good. A fixed threshold keeps every block over
    128 KiB in its own mapping, unmapped when freed; two arenas bound the heaps."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, 128 * 1024) and mallopt(_M_ARENA_MAX, 2))


def security_warnings(config: ServerConfig) -> list[str]:
    if config.tokens.open and not is_loopback(config.host):
        return [f"augur serve: listening on {config.host}, reachable from other machines, "
                f"with no token configured: anyone who can reach it can write runs. Set "
                f"--tokens FILE or AUGUR_SERVER_TOKENS."]
    return []


def run_server(config: ServerConfig, *, port_file: Path | None = None,
               log_level: str = "info", access_log: bool = False) -> None:
    """Serve until SIGINT/SIGTERM."""
    tune_malloc()
    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    config.port = int(port)
    app = create_app(config)
    state: ServerState = app.state.augur
    for message in security_warnings(config):
        logger.warning(message)
    if config.tokens.open:
        logger.info("augur serve: no token configured; every request is accepted")
    shown = f"[{host}]" if ":" in str(host) else str(host)
    logger.info("augur serve: listening on http://%s:%d (data: %s, %d token(s))",
                   shown, port, config.data_dir, len(config.tokens))
    if port_file is not None:
        atomic_write(port_file, f"{port}\n".encode())
    cap = connection_cap(config.max_connections)
    if cap < config.max_connections:
        logger.warning("augur serve: the open-file limit allows %d connections, not %d "
                       "(raise it with ulimit -n)", cap, config.max_connections)
    http = protocol_class(config.header_timeout_s, config.body_timeout_s, cap)
    uv_config = uvicorn.Config(app, log_level=log_level, access_log=access_log,
                               timeout_graceful_shutdown=5, lifespan="on",
                               server_header=False, http=http)
    server = _Server(uv_config, state)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
