"""`augur view BUNDLE`: serve the step debugger for a bundle, or export it as one HTML file."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import threading
import webbrowser
from pathlib import Path

from augur_sdk.viewer.reader import looks_like_bundle, normalize_jaeger_base
from augur_sdk.viewer.server import ViewerServer, is_loopback

DEFAULT_PORT = 7357
JAEGER_ENV = "AUGUR_JAEGER_URL"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return port


def _fail(message: str, code: int = 2) -> int:
    print(f"augur view: {message}", file=sys.stderr)
    return code


def _bundle_dir(raw: str) -> tuple[Path | None, str]:
    path = Path(raw)
    if not path.is_dir():
        return None, f"{raw}: no such directory"
    if looks_like_bundle(path):
        return path, ""
    runs = sorted(p for p in path.iterdir() if p.is_dir() and looks_like_bundle(p))
    if runs:
        return None, (f"{raw} is not a bundle but holds {len(runs)}; "
                      f"open one, e.g.: augur view {runs[-1]}")
    return None, f"{raw}: not an Augur bundle (no manifest.json, trace.json or steps/)"


def view(args: argparse.Namespace) -> int:
    bundle, problem = _bundle_dir(args.bundle)
    if bundle is None:
        return _fail(problem)
    try:
        jaeger = normalize_jaeger_base(args.jaeger_url or os.environ.get(JAEGER_ENV))
    except ValueError as exc:
        return _fail(f"--jaeger-url / {JAEGER_ENV}: {exc}")

    if args.export:
        from augur_sdk.viewer.export import export_html

        try:
            out = export_html(bundle, args.export, jaeger=jaeger)
        except OSError as exc:
            return _fail(f"cannot write {args.export}: {exc}")
        print(f"wrote {out} ({out.stat().st_size:,} bytes); open it in a browser, "
              "no server needed")
        return 0

    ports = [args.port] if args.port is not None else [DEFAULT_PORT, 0]
    server = None
    for port in ports:
        try:
            server = ViewerServer(bundle, host=args.host, port=port, jaeger=jaeger,
                                  quiet=not args.verbose)
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or port == ports[-1]:
                return _fail(f"cannot listen on {args.host}:{port}: {exc.strerror or exc}")
    assert server is not None
    if not is_loopback(args.host.strip("[]")):
        print(f"augur view: WARNING: listening on {args.host}: anyone who can reach this "
              "address sees the run's screenshots and records", file=sys.stderr)
    print(f"augur view: serving {bundle} at {server.url}  (Ctrl-C to stop)", flush=True)
    if not args.no_open:
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "view", help="open a bundle in the step debugger (browser)",
        description="Serve a local, offline step debugger for BUNDLE (live or finished) and "
                    "open it in the browser; or write it as one HTML file with --export.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else exposes the "
                        "run to the network)")
    p.add_argument("--port", type=_port, default=None,
                   help=f"port (default {DEFAULT_PORT}, or a free one if taken; 0 = any free)")
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    p.add_argument("--jaeger-url", default=None, metavar="URL",
                   help=f"Jaeger UI base URL for per-step trace links (env {JAEGER_ENV})")
    p.add_argument("--export", default=None, metavar="FILE.html",
                   help="write a self-contained HTML file (screenshots embedded) and exit")
    p.add_argument("--verbose", action="store_true", help="log every HTTP request")
    p.set_defaults(func=view)
