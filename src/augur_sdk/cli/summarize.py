"""`augur summarize BUNDLE`: one screen about a run: steps, failures by class, top findings,
cost, duration. Findings come from ``diagnostics/findings.json`` when `augur diagnose` wrote
it, else the rules run here (nothing is written)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import NOT_EVALUABLE, RulesEngine, rank
from augur_sdk.diagnostics.packs.cua import CUA_RULES
from augur_sdk.diagnostics.packs.cua.common import as_dict, failed, number
from augur_sdk.diagnostics.store import FINDINGS

TOP_FINDINGS = 5


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _duration_s(ctx: BundleContext) -> float | None:
    start, end = _epoch(ctx.session.get("started_at")), _epoch(ctx.session.get("ended_at"))
    if start is None and ctx.steps:
        start = _epoch(ctx.steps[0].get("started_at"))
    if end is None and ctx.steps:
        end = _epoch(ctx.steps[-1].get("ended_at"))
    return None if start is None or end is None else max(0.0, end - start)


def _cost(ctx: BundleContext) -> tuple[float | None, float | None]:
    """(total USD, tokens) from the run's costs, else summed over the steps."""
    run = as_dict(ctx.manifest.get("costs")) or as_dict(ctx.session.get("costs"))
    usd, tokens = number(run.get("total_usd")), None
    step_usd = [number(as_dict(s.get("costs")).get("total_usd")) for s in ctx.steps]
    step_tok = [(number(as_dict(s.get("costs")).get("tokens_in")) or 0) +
                (number(as_dict(s.get("costs")).get("tokens_out")) or 0) for s in ctx.steps]
    if usd is None and any(v is not None for v in step_usd):
        usd = sum(v for v in step_usd if v is not None)
    if any(step_tok):
        tokens = sum(step_tok)
    return usd, tokens


def _findings(ctx: BundleContext) -> tuple[list[dict[str, Any]], str]:
    path = ctx.bundle_dir / FINDINGS
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, list):
            return [f for f in stored if isinstance(f, dict)], FINDINGS
    except (OSError, ValueError):
        pass
    return RulesEngine(CUA_RULES).diagnose(ctx).findings, "the CUA rules (not written)"


def summary(ctx: BundleContext) -> dict[str, Any]:
    steps = ctx.steps
    status = Counter(str(s.get("status")) for s in steps)
    classes = Counter(str(s.get("failure_class") or "unclassified") for s in steps if failed(s))
    findings, source = _findings(ctx)
    real = rank(f for f in findings
                if not str(f.get("summary", "")).startswith(NOT_EVALUABLE))
    usd, tokens = _cost(ctx)
    return {"run_id": ctx.manifest.get("run_id"), "status": ctx.session.get("status"),
            "capture_mode": ctx.manifest.get("capture_mode"), "steps": len(steps),
            "by_status": dict(status), "failures_by_class": dict(classes.most_common()),
            "findings": len(real), "top_findings": real[:TOP_FINDINGS],
            "findings_from": source, "cost_usd": usd, "tokens": tokens,
            "duration_s": _duration_s(ctx)}


def summarize(args: argparse.Namespace) -> int:
    root = Path(args.bundle)
    if not (root / layout.MANIFEST).is_file():
        print(f"augur summarize: {root}: no manifest.json, not an Augur bundle",
              file=sys.stderr)
        return 2
    s = summary(BundleContext(root))
    if args.json:
        print(json.dumps(s, sort_keys=True))
        return 0
    dur = f"{s['duration_s']:.1f} s" if s["duration_s"] is not None else "unknown"
    cost = f"${s['cost_usd']:.4f}" if s["cost_usd"] is not None else "not recorded"
    if s["tokens"]:
        cost += f", {int(s['tokens'])} tokens"
    by_status = ", ".join(f"{n} {k}" for k, n in sorted(s["by_status"].items())) or "none"
    print(f"run       {s['run_id']}  ({s['status'] or 'no status'}, capture mode "
          f"{s['capture_mode']})")
    print(f"steps     {s['steps']}: {by_status}")
    print(f"duration  {dur}")
    print(f"cost      {cost}")
    failures = ", ".join(f"{k} x{n}" for k, n in s["failures_by_class"].items()) or "none"
    print(f"failures  {failures}")
    print(f"findings  {s['findings']} (from {s['findings_from']})")
    for f in s["top_findings"]:
        where = f"step {f['step_index']}" if "step_index" in f else "run"
        print(f"  [{f.get('severity')}] {f.get('rule_id')} ({where}): {f.get('summary')}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("summarize", help="one screen about a run: steps, failures, findings, "
                                         "cost, duration")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=summarize)
