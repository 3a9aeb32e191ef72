"""``augur serve``: run the open ingest server (needs the ``server`` extra)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

# augur-otel is on no package index yet, so `pip install 'augur-otel[server]'` would find
# nothing: name the packages themselves (tests keep them in step with the `server` extra).
SERVER_REQUIREMENTS = ("starlette>=0.40", "uvicorn>=0.30", "python-multipart>=0.0.18")
_MISSING_EXTRA = ("augur serve: the server needs its extra dependencies: pip install "
                  + " ".join(f"'{r}'" for r in SERVER_REQUIREMENTS)
                  + " (or, in a checkout of augur-otel, pip install -e '.[server]')")


def serve(args: argparse.Namespace) -> int:
    try:
        from augur_sdk.server.config import ConfigError, ServerConfig, load_tokens
        from augur_sdk.server.paths import BadName
        from augur_sdk.server.runner import run_server
    except ImportError as exc:
        print(f"{_MISSING_EXTRA} ({exc})", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("augur_sdk.server").setLevel(logging.INFO)
    try:
        tokens = load_tokens(args.tokens)
        config = ServerConfig(
            data_dir=args.data, tokens=tokens, host=args.host, port=args.port,
            max_body_bytes=int(args.max_body_mb * 2**20), max_inflight=args.max_inflight,
            rate_limit=args.rate_limit, rate_burst=args.rate_burst,
            commands_hold_s=args.commands_hold, reopen_window_s=args.reopen_window,
            fsync=args.fsync,
            max_body_memory_bytes=int(args.max_body_memory_mb * 2**20),
            header_timeout_s=args.header_timeout, body_timeout_s=args.body_timeout,
            max_connections=args.max_connections,
            finish_idle_after_s=args.finish_idle_after,
            store_url=args.store, store_endpoint_url=args.store_endpoint_url,
            store_delay_s=args.store_delay, evict=args.evict,
        )
        if config.store_url is not None:
            from augur_sdk.stores.s3 import require_boto3

            require_boto3()
    except ImportError as exc:  # --store without boto3
        print(f"augur serve: --store: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, BadName) as exc:
        print(f"augur serve: {exc}", file=sys.stderr)
        return 2
    try:
        run_server(config, port_file=args.port_file, log_level=args.log_level,
                   access_log=args.access_log)
    except OSError as exc:
        print(f"augur serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="run the Augur ingest server (streaming protocol + OTLP/HTTP)",
        description="Receives runs from AUGUR_DSN clients (augur_sdk, augur-sdk 0.6.1) and "
                    "OTLP/HTTP traces at /v1/traces, and writes each run as an Augur bundle "
                    "in DATA/<tenant>/<run_id>/. Tokens: --tokens FILE "
                    '({"tenants": {"acme": ["token", ...]}}) and/or AUGUR_SERVER_TOKENS='
                    '"acme:token,...". See docs/server.md.')
    p.add_argument("--data", type=Path, default=Path("augur-data"),
                   help="data directory (default: ./augur-data)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else is reachable "
                        "from other machines)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free)")
    p.add_argument("--tokens", type=Path, default=None, metavar="FILE",
                   help="JSON file of per-tenant tokens")
    p.add_argument("--max-body-mb", type=float, default=32.0,
                   help="largest request body in MiB, after decompression (default 32)")
    p.add_argument("--max-inflight", type=int, default=64,
                   help="concurrent writing requests before answering 429 (default 64)")
    p.add_argument("--max-body-memory-mb", type=float, default=0.0, metavar="MIB",
                   help="memory for request bodies being received and decoded, all "
                        "together; a body waits for its share before it is read (default "
                        "256, or twice --max-body-mb if more)")
    p.add_argument("--max-connections", type=int, default=1000,
                   help="open connections; past it the longest-idle one is closed (default "
                        "1000, lowered to fit the open-file limit)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="a request's head must arrive within this, else the connection is "
                        "closed (default 10)")
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a request body that stalls this long ends in 408 (default 30)")
    p.add_argument("--rate-limit", type=float, default=None, metavar="RPS",
                   help="requests per second per tenant (default: unlimited)")
    p.add_argument("--rate-burst", type=int, default=0,
                   help="burst size of the rate limit (default 2 x RPS)")
    p.add_argument("--commands-hold", type=float, default=10.0, metavar="SECONDS",
                   help="how long GET /runs/{run}/commands is held open (default 10)")
    p.add_argument("--reopen-window", type=float, default=300.0, metavar="SECONDS",
                   help="late data this soon after a run finished is merged into it; later "
                        "data for the finished run is ignored (default 300)")
    p.add_argument("--finish-idle-after", type=float, default=1800.0, metavar="SECONDS",
                   help="finish a run no request reached for this long as 'halted' (its "
                        "client went away); 0 turns it off (default 1800)")
    p.add_argument("--fsync", action="store_true", help="fsync every file written")
    p.add_argument("--store", default=None, metavar="s3://BUCKET/PREFIX",
                   help="upload each finished run to BUCKET/PREFIX/<tenant>/<run dir>/ "
                        "(--data stays the local staging area); credentials and region "
                        "come from the usual AWS chain. See docs/deploy.md.")
    p.add_argument("--store-endpoint-url", default=None, metavar="URL",
                   help="S3-compatible endpoint (MinIO, R2, ...) for --store")
    p.add_argument("--store-delay", type=float, default=2.0, metavar="SECONDS",
                   help="wait this long after a run finished before uploading it, so late "
                        "data joins the same upload (default 2)")
    p.add_argument("--evict", action="store_true",
                   help="with --store: remove a run's local bundle once it is uploaded and "
                        "its --reopen-window has passed")
    p.add_argument("--port-file", type=Path, default=None,
                   help="write the bound port to this file once listening")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default warning)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=serve)
