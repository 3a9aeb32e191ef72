"""`augur validate` and `augur recover` (each handler returns the exit code)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from augur_sdk.bundle.recover import RecoveryError, recover_bundle, unsettled_side_effects
from augur_sdk.validation import ERROR, exit_code, validate_bundle


def validate(args: argparse.Namespace) -> int:
    issues = validate_bundle(args.bundle, include_warnings=True)
    code = exit_code(issues, strict=args.strict)
    errors = [i for i in issues if i.severity == ERROR]
    if args.json:
        for issue in issues:
            print(json.dumps({"where": issue.where, "message": issue.message,
                              "path": issue.path, "code": issue.code,
                              "severity": issue.severity}))
        return code
    for issue in issues:
        print(f"[{issue.code if issue.severity == ERROR else 'warning'}] {issue.render()}")
    warnings = len(issues) - len(errors)
    if not errors:
        note = f" ({warnings} warning(s){'; --strict fails on them' if warnings else ''})" \
            if warnings else ""
        print(f"valid: {args.bundle}{note}" if code == 0 else
              f"invalid under --strict: {args.bundle}: {warnings} warning(s)")
    else:
        print(f"{len(errors)} error(s), {warnings} warning(s) in {args.bundle}",
              file=sys.stderr)
    return code


def recover(args: argparse.Namespace) -> int:
    try:
        manifest = recover_bundle(args.bundle, force=args.force)
    except RecoveryError as exc:
        print(f"augur recover: {exc}", file=sys.stderr)
        return 1
    print(f"recovered {args.bundle}: {manifest.get('step_count')} steps, status halted")
    unsettled = unsettled_side_effects(Path(args.bundle))
    if unsettled:
        print(f"unsettled side effects (declared, never committed or aborted; the agent may "
              f"or may not have done them): {', '.join(unsettled)}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="check a bundle against augur-schema and its invariants",
                       description="Prints errors and warnings. Exit codes: 0 valid (warnings "
                                   "alone included), 1 invalid or unfinished (or, with "
                                   "--strict, any warning), 2 unreadable.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--json", action="store_true", help="print issues as JSON lines")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 1) on warnings too, e.g. step ids off the convention")
    p.set_defaults(func=validate)

    p = sub.add_parser("recover", help="finish the bundle of a run that was killed",
                       description="Turns the folder a killed run left into a valid bundle "
                                   "with status 'halted'.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--force", action="store_true",
                   help="recover even if the recorded producer process still runs")
    p.set_defaults(func=recover)
