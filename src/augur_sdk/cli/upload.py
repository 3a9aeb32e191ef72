"""`augur upload BUNDLE [s3://BUCKET/PREFIX]`: send a finished (or recovered) bundle to
object storage, or finish an upload a run could not complete.

Only what the destination lacks (or holds different bytes of) is sent, ``manifest.json``
last; then ``live.json`` and stale files of an older run at that prefix are removed, and
``upload.json`` records the outcome. Without a destination, the one a session recorded in
the bundle's ``upload.json`` is used. Endpoint and credentials come from the standard AWS
chain (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``...); exit codes: 0 complete, 1 incomplete,
2 usage error or unreadable bundle."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from augur_sdk.validation import RUNNING, live_state


def _fail(message: str, code: int = 2) -> int:
    print(f"augur upload: {message}", file=sys.stderr)
    return code


def upload(args: argparse.Namespace) -> int:
    from augur_sdk.stores.s3 import (
        INSTALL_HINT,
        ClientOptions,
        S3Location,
        TransferError,
        parse_s3_url,
        require_boto3,
    )
    from augur_sdk.stores.sync import upload_bundle
    from augur_sdk.stores.transfer import read_report

    root = Path(args.bundle)
    if not root.is_dir():
        return _fail(f"{root}: no such directory")
    state = live_state(root)
    if state is not None:
        kind, live = state
        if kind == RUNNING:
            return _fail(f"{root}: still being written by process {live.get('pid')}; its "
                         "session uploads it (run this after it ended)")
        return _fail(f"{root}: unfinished (its producer died); run `augur recover {root}` "
                     "first, then upload", 1)
    if not (root / "manifest.json").is_file():
        return _fail(f"{root}: not an Augur bundle (no manifest.json)")
    destination = args.destination
    if destination is None:
        recorded = (read_report(root) or {}).get("destination")
        if not isinstance(recorded, str) or not recorded.startswith("s3://"):
            return _fail(f"{root}: no destination given and none recorded in upload.json; "
                         "pass s3://BUCKET/PREFIX")
        destination = recorded
    try:
        bucket, prefix = parse_s3_url(destination)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        require_boto3()
    except ImportError:
        return _fail(INSTALL_HINT)
    location = S3Location(bucket, prefix, ClientOptions(
        endpoint_url=args.endpoint_url, profile_name=args.profile,
        max_connections=args.jobs + 2))
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        result = upload_bundle(root, location, jobs=args.jobs, deadline=deadline)
    except TransferError as exc:
        return _fail(f"cannot reach {location.destination}: {exc.reason}", 1)
    report = result.report
    mb = report["bytes_sent"] / 1e6
    print(f"{location.destination}: sent {result.sent} file(s) ({mb:.1f} MB) in "
          f"{result.seconds:.1f}s, {result.already} already there, {result.removed} removed")
    for note in [*report.get("notes", []), *result.notes]:
        print(f"  note: {note}")
    if report["complete"]:
        print(f"complete: {report['files']} files of {root} are in {location.destination}")
        return 0
    missing = report["missing"]
    print(f"INCOMPLETE: {report['missing_count']} file(s) not sent "
          f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); last error: "
          f"{report.get('last_error')}; run again to retry", file=sys.stderr)
    return 1


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"expected 1..64, got {text!r}")
    return n


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "upload", help="send a bundle to S3-compatible storage, or finish a partial upload",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("bundle", metavar="BUNDLE", help="a finished or recovered bundle directory")
    p.add_argument("destination", nargs="?", metavar="s3://BUCKET/PREFIX",
                   help="where the bundle's files go (default: the destination recorded in "
                        "the bundle's upload.json)")
    p.add_argument("--jobs", type=_jobs, default=8, help="concurrent requests (default 8)")
    p.add_argument("--endpoint-url", default=None, metavar="URL",
                   help="S3 endpoint (default: AWS_ENDPOINT_URL or the AWS config)")
    p.add_argument("--profile", default=None, help="AWS profile (default: AWS_PROFILE)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up after this long (default: retry each file for 5 rounds)")
    p.set_defaults(func=upload)
