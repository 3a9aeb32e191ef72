"""`augur view BUNDLE`: serve the step debugger for a bundle, or export it as one HTML file.

`augur view DIR` (DIR holding bundles: a folder of local runs, or augur serve's data
directory) serves a run list whose runs open in the same step debugger."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any

from augur_sdk.viewer.reader import looks_like_bundle
from augur_sdk.viewer.runs import RunDirectory, RunRef
from augur_sdk.viewer.server import RunListServer, ViewerServer, is_loopback
from augur_sdk.viewer.summary import normalize_jaeger_base

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


def _bundle_dir(raw: str) -> tuple[Path | None, list[RunRef], str]:
    """The bundle to open, or the runs DIR holds (one or two levels down), or a problem."""
    path = Path(raw)
    if not path.is_dir():
        return None, [], f"{raw}: no such directory"
    if looks_like_bundle(path):
        return path, [], ""
    runs = list(RunDirectory(path).discover(force=True).values())
    if runs:
        return None, runs, ""
    return None, [], (f"{raw}: not an Augur bundle (no manifest.json, trace.json or steps/) "
                      "and no bundles in it (DIR/<run_id>/ or DIR/<tenant>/<run_id>/)")


def view(args: argparse.Namespace) -> int:
    if args.bundle.startswith("s3://"):  # a local mirror of the prefix, served as a folder
        from augur_sdk.cli.view_s3 import mirror_for_view

        mirrored, problem = mirror_for_view(args.bundle, cache_dir=args.cache_dir,
                                            refresh_s=args.refresh)
        if mirrored is None:
            return _fail(problem)
        args.bundle = str(mirrored)
    if args.compare:  # two runs side by side (augur diff's view)
        from augur_sdk.cli.diff import view_compare

        return view_compare(args)
    bundle, runs, problem = _bundle_dir(args.bundle)
    if bundle is None and not runs:
        return _fail(problem)
    if bundle is None and args.export:
        example = Path(args.bundle) / runs[-1].key
        held = f"{len(runs)} run{'' if len(runs) == 1 else 's'}"
        return _fail(f"--export writes one bundle; {args.bundle} holds {held}. "
                     f"Export one, e.g.: augur view {example} --export {args.export}")
    try:
        jaeger = normalize_jaeger_base(args.jaeger_url or os.environ.get(JAEGER_ENV))
    except ValueError as exc:
        return _fail(f"--jaeger-url / {JAEGER_ENV}: {exc}")

    if args.export:
        assert bundle is not None
        from augur_sdk.viewer.export import export_html

        try:
            out = export_html(bundle, args.export, jaeger=jaeger)
        except OSError as exc:
            return _fail(f"cannot write {args.export}: {exc}")
        print(f"wrote {out} ({out.stat().st_size:,} bytes); open it in a browser, "
              "no server needed")
        return 0

    ports = [args.port] if args.port is not None else [DEFAULT_PORT, 0]
    server: ViewerServer | RunListServer | None = None
    for port in ports:
        try:
            if bundle is not None:
                server = ViewerServer(bundle, host=args.host, port=port, jaeger=jaeger,
                                      quiet=not args.verbose)
            else:
                server = RunListServer(args.bundle, host=args.host, port=port, jaeger=jaeger,
                                       quiet=not args.verbose)
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or port == ports[-1]:
                return _fail(f"cannot listen on {args.host}:{port}: {exc.strerror or exc}")
            print(f"augur view: port {port} is taken (another augur view?); using a free "
                  "port instead", file=sys.stderr, flush=True)
    assert server is not None
    control_dsn = args.control_dsn or os.environ.get("AUGUR_CONTROL_DSN", "")
    if control_dsn.strip():
        from augur_sdk.viewer.intervene import Controller

        try:
            server.control = Controller(control_dsn)
        except ValueError as exc:
            server.server_close()
            return _fail(f"--control-dsn: {exc}")
    if not is_loopback(args.host.strip("[]")):
        print(f"augur view: WARNING: listening on {args.host}: anyone who can reach this "
              "address sees the run's screenshots and records", file=sys.stderr)
    if bundle is not None:
        print(f"augur view: serving {bundle} at {server.url}  (Ctrl-C to stop)", flush=True)
    else:
        print(f"augur view: serving the runs in {args.bundle} ({len(runs)} now) at "
              f"{server.url}  (Ctrl-C to stop)", flush=True)
    return serve_until_interrupted(server, open_browser=not args.no_open)


def serve_until_interrupted(server: Any, *, open_browser: bool) -> int:
    """Serve (opening the browser unless told not to) until Ctrl-C; then close. Exit 0."""
    if open_browser:
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
                    "open it in the browser; or write it as one HTML file with --export. "
                    "Given a folder of bundles (./augur-runs, or augur serve's data "
                    "directory), serve a list of its runs instead.")
    p.add_argument("bundle", metavar="BUNDLE|DIR|s3://BUCKET/PREFIX",
                   help="bundle directory, or a folder holding bundles (DIR/<run_id>/ or "
                        "DIR/<tenant>/<run_id>/), or the same on S3-compatible storage")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else exposes the "
                        "run to the network)")
    p.add_argument("--port", type=_port, default=None,
                   help=f"port (default {DEFAULT_PORT}, or a free one if taken; 0 = any free)")
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    p.add_argument("--control-dsn", default=None, metavar="DSN",
                   help="an augur serve DSN with a control token (default "
                        "$AUGUR_CONTROL_DSN): run pages get Pause/Resume/Kill/Hint buttons "
                        "(the token stays in this process; see docs/intervention.md)")
    p.add_argument("--jaeger-url", default=None, metavar="URL",
                   help=f"Jaeger UI base URL for per-step trace links (env {JAEGER_ENV})")
    p.add_argument("--export", default=None, metavar="FILE.html",
                   help="write a self-contained HTML file (screenshots embedded) and exit "
                        "(one bundle only)")
    p.add_argument("--compare", default=None, metavar="B",
                   help="show BUNDLE and bundle B side by side, aligned step by step, at their "
                        "first divergence (see augur diff); with --export, one HTML file")
    p.add_argument("--verbose", action="store_true", help="log every HTTP request")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="s3:// only: where the runs are mirrored (default "
                        "~/.cache/augur/s3/BUCKET/PREFIX)")
    p.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS",
                   help="s3:// only: fetch what changed this often (default 5; 0 = once)")
    p.set_defaults(func=view)
