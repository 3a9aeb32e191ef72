"""A TCP server on 127.0.0.1 that accepts every connection, reads what it is sent, and never
answers: an Augur server that hangs. Prints its port on the first line of stdout.

    python benchmarks/hang_server.py        # compare.py starts it and stops it by pid

A connection stays open until the client gives up and closes it.
"""

from __future__ import annotations

import resource
import selectors
import socket
import sys


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    listener.listen(4096)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    print(listener.getsockname()[1], flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is listener:
                try:
                    conn, _addr = listener.accept()
                except OSError:  # EMFILE and friends: leave it in the backlog
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ)
                continue
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the client gave up
                sel.unregister(sock)
                sock.close()


if __name__ == "__main__":
    main()
