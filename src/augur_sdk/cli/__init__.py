"""The ``augur`` command line.

Each subcommand lives in its own module with ``register(subparsers)``; add new commands to
``_COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from augur_sdk._version import __version__

_COMMAND_MODULES = (
    "augur_sdk.cli.bundle_commands",  # validate, recover
    "augur_sdk.cli.serve",  # serve
    "augur_sdk.cli.view",  # view
    "augur_sdk.cli.export_otlp",  # export-otlp
    "augur_sdk.cli.upload",  # upload
    "augur_sdk.cli.diff",  # diff
    "augur_sdk.cli.diagnose",  # diagnose
    "augur_sdk.cli.summarize",  # summarize
    "augur_sdk.cli.import_log",  # import
    "augur_sdk.cli.intervene",  # intervene
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="augur", description="Tools for Augur bundles recorded by augur_sdk.")
    parser.add_argument("--version", action="version", version=f"augur-otel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
