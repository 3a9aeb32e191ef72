"""``augur intervene RUN CMD --dsn DSN``: issue an intervention command (pause, resume, kill,
inject_hint, override_action) for a running run on ``augur serve``.

The DSN's token must be a **control** token of the run's tenant (``"role": "control"`` in
the server's tokens file). The command waits on the server until the run's client takes it
(``bind_intervention``) or it expires. Exit codes: 0 issued, 1 refused by the server or
unreachable, 2 usage error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from augur_sdk.intervention import COMMAND_TYPES, issue_command
from augur_sdk.stream.dsn import ENV_VAR, parse_dsn

ALIASES = {"hint": "inject_hint", "override": "override_action"}


def _fail(message: str, code: int = 2) -> int:
    print(f"augur intervene: {message}", file=sys.stderr)
    return code


def _point(text: str) -> dict[str, float]:
    x, sep, y = text.partition(",")
    try:
        if not sep:
            raise ValueError
        return {"x": float(x), "y": float(y)}
    except ValueError:
        raise ValueError(f"--at: expected X,Y (two numbers), got {text!r}") from None


def build_body(args: argparse.Namespace) -> dict[str, Any]:
    """The ``POST /runs/{run}/commands`` body of the command line (ValueError naming the
    option when it does not fit the command)."""
    kind = ALIASES.get(args.cmd, args.cmd)
    payload: dict[str, Any] = {}
    if args.hint is not None and kind != "inject_hint":
        raise ValueError("--hint: only for inject_hint")
    if args.at is not None and kind != "override_action":
        raise ValueError("--at: only for override_action")
    if kind == "inject_hint":
        if not args.hint:
            raise ValueError("--hint TEXT: inject_hint needs the hint's text")
        payload["text"] = args.hint
    if kind == "override_action":
        if args.at is None:
            raise ValueError("--at X,Y: override_action needs the point to act on")
        payload["coordinates"] = _point(args.at)
    if args.reason:
        payload["reason"] = args.reason
    body: dict[str, Any] = {"type": kind, "payload": payload}
    if args.ttl is not None:
        body["ttl_s"] = args.ttl
    return body


def intervene(args: argparse.Namespace) -> int:
    raw = args.dsn if args.dsn is not None else os.environ.get(ENV_VAR, "")
    if not raw.strip():
        return _fail(f"--dsn DSN (or ${ENV_VAR}) is needed: the server and a control token")
    try:
        dsn = parse_dsn(raw)
        body = build_body(args)
    except ValueError as exc:
        return _fail(str(exc))
    status, answer = issue_command(dsn, args.run, body)
    if status == 0:
        return _fail(answer["error"], 1)
    if status != 201:
        return _fail(f"the server refused the command (HTTP {status}): {answer['error']}", 1)
    command = answer.get("command", {})
    if args.json:
        print(json.dumps(command, sort_keys=True))
    else:
        print(f"{command.get('type')} issued for run {args.run}: {command.get('command_id')} "
              f"(seq {command.get('seq')}, expires {command.get('expires_at')})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "intervene", help="pause, resume, kill, hint or override a running agent",
        description="Issue an intervention command for RUN on an Augur server (augur serve). "
                    "The DSN's token must be a control token of the run's tenant. The agent "
                    "must have called session.bind_intervention(adapter). See "
                    "docs/intervention.md.")
    p.add_argument("run", metavar="RUN", help="the run id")
    p.add_argument("cmd", metavar="CMD", choices=sorted(COMMAND_TYPES) + sorted(ALIASES),
                   help="pause | resume | kill | inject_hint (hint) | override_action "
                        "(override)")
    p.add_argument("--dsn", default=None,
                   help=f"server and control token: http://HOST:PORT?token=...&tenant=... "
                        f"(default ${ENV_VAR})")
    p.add_argument("--hint", default=None, metavar="TEXT", help="inject_hint: the hint's text")
    p.add_argument("--at", default=None, metavar="X,Y",
                   help="override_action: the point to act on (the agent's coordinates)")
    p.add_argument("--reason", default=None, metavar="TEXT",
                   help="why (kept with the command and in the run's audit events)")
    p.add_argument("--ttl", type=float, default=None, metavar="SECONDS",
                   help="expire the command if the agent has not taken it by then "
                        "(default: the server's, 600)")
    p.add_argument("--json", action="store_true", help="print the issued command as JSON")
    p.set_defaults(func=intervene)
