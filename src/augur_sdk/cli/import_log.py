"""`augur import anthropic|openai LOG --out DIR`: a computer-use run logged from a model API
(JSONL, one ``{"request": ..., "response": ...}`` per call; see docs/model-api-adapters.md)
into a bundle. Exit codes: 0 imported and valid, 1 imported with validation issues, 2 the log
could not be read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROVIDERS = ("anthropic", "openai")


def import_command(args: argparse.Namespace) -> int:
    from importlib import import_module

    from augur_sdk.adapters.cua_log import import_log
    from augur_sdk.validation import validate_bundle

    log = Path(args.log)
    if not log.is_file():
        print(f"augur import: {log}: no such file", file=sys.stderr)
        return 2
    provider = import_module(f"augur_sdk.adapters.{args.provider}")
    try:
        out = import_log(provider, log, args.out, run_id=args.run_id,
                         capture_mode=args.capture_mode)
    except (OSError, ValueError, TypeError) as exc:
        print(f"augur import: {exc}", file=sys.stderr)
        return 2
    issues = validate_bundle(out)
    steps = len(list((out / "steps").glob("*.json"))) if (out / "steps").is_dir() else 0
    calls = len(list((out / "modelio").glob("*.json"))) if (out / "modelio").is_dir() else 0
    print(f"imported {log.name}: {steps} steps, {calls} model calls -> {out}")
    for issue in issues:
        print(issue.render(), file=sys.stderr)
    return 1 if issues else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("import", help="a computer-use run logged from a model API into a bundle",
                       description=__doc__)
    p.add_argument("provider", choices=PROVIDERS, help="whose API the log is of")
    p.add_argument("log", help="the JSONL log: one request/response pair per line")
    p.add_argument("--out", required=True, help="the bundle directory to write")
    p.add_argument("--run-id", default=None, help="the run id (default: the log's name)")
    p.add_argument("--capture-mode", default="model_io",
                   help="what to keep (default model_io: steps, screenshots, model calls)")
    p.set_defaults(func=import_command)
