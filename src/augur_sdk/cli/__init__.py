"""The ``augur`` command line: validate, recover (and more as they land)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from augur_sdk._version import __version__
from augur_sdk.cli import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="augur", description="Tools for Augur bundles recorded by augur_sdk.")
    parser.add_argument("--version", action="version", version=f"augur-otel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a bundle against augur-schema and its invariants",
                       description="Exit codes: 0 valid, 1 invalid or unfinished, 2 unreadable.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--json", action="store_true", help="print issues as JSON lines")
    p.set_defaults(func=commands.validate)

    p = sub.add_parser("recover", help="finish the bundle of a run that was killed",
                       description="Turns the folder a killed run left into a valid bundle "
                                   "with status 'halted'.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--force", action="store_true",
                   help="recover even if the recorded producer process still runs")
    p.set_defaults(func=commands.recover)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
