"""`augur validate` and `augur recover` (each handler returns the exit code)."""

from __future__ import annotations

import argparse
import json
import sys

from augur_sdk.bundle.recover import RecoveryError, recover_bundle
from augur_sdk.validation import exit_code, validate_bundle


def validate(args: argparse.Namespace) -> int:
    issues = validate_bundle(args.bundle)
    code = exit_code(issues)
    if args.json:
        for issue in issues:
            print(json.dumps({"where": issue.where, "message": issue.message,
                              "path": issue.path, "code": issue.code}))
    elif not issues:
        print(f"valid: {args.bundle}")
    else:
        for issue in issues:
            print(f"[{issue.code}] {issue.render()}")
        print(f"{len(issues)} issue(s) in {args.bundle}", file=sys.stderr)
    return code


def recover(args: argparse.Namespace) -> int:
    try:
        manifest = recover_bundle(args.bundle, force=args.force)
    except RecoveryError as exc:
        print(f"augur recover: {exc}", file=sys.stderr)
        return 1
    print(f"recovered {args.bundle}: {manifest.get('step_count')} steps, status halted")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="check a bundle against augur-schema and its invariants",
                       description="Exit codes: 0 valid, 1 invalid or unfinished, 2 unreadable.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--json", action="store_true", help="print issues as JSON lines")
    p.set_defaults(func=validate)

    p = sub.add_parser("recover", help="finish the bundle of a run that was killed",
                       description="Turns the folder a killed run left into a valid bundle "
                                   "with status 'halted'.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--force", action="store_true",
                   help="recover even if the recorded producer process still runs")
    p.set_defaults(func=recover)
