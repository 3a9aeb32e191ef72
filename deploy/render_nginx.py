#!/usr/bin/env python3
"""Render deploy/nginx/*.template into a directory nginx can run from (stdlib only).

    python deploy/render_nginx.py --listen 127.0.0.1:8765 \\
        --replica 127.0.0.1:8801 --replica 127.0.0.1:8802 --out /tmp/augur-nginx
    nginx -p /tmp/augur-nginx -c /tmp/augur-nginx/nginx.conf      # foreground

Writes OUT/augur-router.conf (the part to put in /etc/nginx/conf.d/ on a server) and
OUT/nginx.conf (a whole configuration for a foreground nginx: tests, benchmarks, a try).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "nginx"
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def render(out: Path, listen: str, replicas: list[str], *, workers: int = 1,
           user: str | None = None) -> Path:
    """Write both files into ``out``; returns the path of nginx.conf."""
    for address in [listen, *replicas]:
        if not _ADDRESS.match(address):
            raise ValueError(f"expected host:port, got {address!r}")
    if not replicas:
        raise ValueError("at least one --replica is needed")
    out = out.resolve()
    (out / "temp").mkdir(parents=True, exist_ok=True)
    if user is None and hasattr(os, "geteuid") and os.geteuid() == 0:
        user = "root"  # else the workers run as nobody and may not reach OUT
    servers = "\n".join(f"    server {r} max_fails=0;" for r in replicas)
    router = (HERE / "augur-router.conf.template").read_text(encoding="utf-8")
    router = router.replace("@LISTEN@", listen).replace("@REPLICAS@", servers) \
        .replace("@TEMP@", str(out / "temp"))
    (out / "augur-router.conf").write_text(router, encoding="utf-8")
    main = (HERE / "nginx.conf.template").read_text(encoding="utf-8")
    main = main.replace("@PREFIX@", str(out)).replace("@WORKERS@", str(workers)) \
        .replace("@USER@", f"user {user};" if user else "")
    conf = out / "nginx.conf"
    conf.write_text(main, encoding="utf-8")
    return conf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:8765", help="host:port nginx listens on")
    p.add_argument("--replica", action="append", default=[], metavar="HOST:PORT",
                   help="an augur serve replica (repeat)")
    p.add_argument("--workers", type=int, default=1, help="nginx worker processes")
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    args = p.parse_args(argv)
    try:
        conf = render(args.out, args.listen, args.replica, workers=args.workers)
    except ValueError as exc:
        print(f"render_nginx: {exc}", file=sys.stderr)
        return 2
    print(conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
