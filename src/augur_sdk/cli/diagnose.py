"""`augur diagnose BUNDLE|DIR [--json]`: why runs failed.

On a bundle: the findings, ranked, with the likely cause of each failed step; written to
``diagnostics/findings.json`` (the manifest re-signed). On a directory of runs: every run
diagnosed, its failed steps grouped by signature across runs, the groups printed and saved
to ``DIR/failure-groups.json`` for ``augur view DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.bundle.files import atomic_write
from augur_sdk.capture import CaptureMode
from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import Diagnosis, RulesEngine, load_pack, rule_needs
from augur_sdk.diagnostics.groups import FailedStep, failed_steps, group_failures
from augur_sdk.diagnostics.packs.cua.common import failed, index_of
from augur_sdk.diagnostics.screens import prefetch
from augur_sdk.diagnostics.store import DiagnosticsError, diagnose_bundle
from augur_sdk.viewer.groups import GROUPS_FILE

MAX_DEPTH = 2  # DIR/run or DIR/tenant/run (augur serve's layout)
BATCH = 64  # runs whose screenshots are decoded in one pass (worker processes)


def find_bundles(root: Path) -> list[Path]:
    """Bundles under ``root`` (directories with a manifest.json), at most two levels down."""
    out: list[Path] = []
    level = [root]
    for _ in range(MAX_DEPTH):
        nxt: list[Path] = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir()
                                  if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
            for child in children:
                (out if (child / layout.MANIFEST).is_file() else nxt).append(child)
        level = nxt
    return out


def _diagnose(engine: RulesEngine, root: Path, write: bool) -> tuple[BundleContext, Diagnosis]:
    ctx = BundleContext(root)
    return ctx, diagnose_bundle(ctx, rules=engine.rules, write=write)


def _bundle_json(ctx: BundleContext, d: Diagnosis) -> dict[str, Any]:
    causes = []
    for step in ctx.steps:
        if failed(step):
            cause = d.cause(index_of(step))
            causes.append({"step_index": index_of(step),
                           "failure_class": step.get("failure_class"),
                           "cause": cause})
    return {"bundle": str(ctx.bundle_dir), "run_id": ctx.manifest.get("run_id"),
            "capture_mode": ctx.manifest.get("capture_mode"), "findings": d.findings,
            "failed_steps": causes,
            "not_evaluable": [{"rule_id": n.rule_id, "reason": n.reason,
                               "step_index": n.step_index} for n in d.unevaluable],
            "rule_errors": [{"rule_id": r, "error": e} for r, e in d.errors],
            "written": str(d.written) if d.written else None, "note": d.note}


def print_bundle(ctx: BundleContext, d: Diagnosis, out: Any = sys.stdout) -> None:
    steps = ctx.steps
    print(f"{ctx.manifest.get('run_id', ctx.bundle_dir.name)}: {len(steps)} steps, capture "
          f"mode {ctx.manifest.get('capture_mode', '?')}", file=out)
    bad = [s for s in steps if failed(s)]
    if bad:
        print("failed steps and their likely cause:", file=out)
    for step in bad:
        cause = d.cause(index_of(step))
        fc = step.get("failure_class") or "no failure class"
        what = f"{cause['rule_id']}: {cause['summary']}" if cause else "no rule explains it"
        print(f"  step {index_of(step)} ({fc}) -> {what}", file=out)
    print(f"findings ({len(d.findings)}, most severe first):" if d.findings else
          "findings: none", file=out)
    for f in d.findings:
        where = f"step {f['step_index']}" if "step_index" in f else "run"
        print(f"  [{f['severity']}] {f['rule_id']} ({where}): {f['summary']}", file=out)
    skipped = {n.rule_id: n.reason for n in d.unevaluable if n.step_index is None}
    for rule_id, reason in skipped.items():
        print(f"  not evaluable: {rule_id}: {reason}", file=out)
    partial: dict[str, int] = {}
    for n in d.unevaluable:
        if n.step_index is not None:
            partial[n.rule_id] = partial.get(n.rule_id, 0) + 1
    for rule_id, count in partial.items():
        print(f"  not evaluable on {count} step(s): {rule_id}", file=out)
    for rule_id, error in d.errors:
        print(f"  rule error: {rule_id}: {error}", file=out)
    if d.written:
        print(f"wrote {d.written} (manifest re-signed)", file=out)
    elif d.note:
        print(f"not written: {d.note}", file=out)


def _diagnose_dir(args: argparse.Namespace, engine: RulesEngine, root: Path) -> int:
    bundles = find_bundles(root)
    if not bundles:
        print(f"augur diagnose: no bundles under {root}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    failures: list[FailedStep] = []
    written = notes = 0
    for start in range(0, len(bundles), BATCH):
        batch = [BundleContext(b) for b in bundles[start:start + BATCH]]
        if any(rule_needs(r) >= CaptureMode.SCREENSHOTS for r in engine.rules):
            prefetch([(ctx.bundle_dir, ref) for ctx in batch for step in ctx.steps
                      for kind in ("pre", "post")
                      if (ref := ctx.screenshot_ref(step, kind)) is not None])
        for ctx in batch:
            key = ctx.bundle_dir.relative_to(root).as_posix()
            try:
                d = diagnose_bundle(ctx, rules=engine.rules, write=not args.no_write)
            except DiagnosticsError as exc:
                print(f"augur diagnose: skipped {key}: {exc}", file=sys.stderr)
                continue
            failures += failed_steps(key, ctx, d)
            written += d.written is not None
            notes += d.note is not None
    groups = group_failures(failures)
    doc = {"root": str(root), "runs": len(bundles),
           "runs_failed": len({f.run for f in failures}), "failed_steps": len(failures),
           "groups": [g.to_json() for g in groups]}
    if not args.no_write:
        try:
            atomic_write(root / GROUPS_FILE, layout.dumps(doc).encode("utf-8"))
        except OSError as exc:
            print(f"augur diagnose: could not write {root / GROUPS_FILE}: {exc}",
                  file=sys.stderr)
    if args.json:
        print(json.dumps(doc, sort_keys=True))
        return 0
    secs = time.perf_counter() - started
    print(f"{len(bundles)} runs, {doc['runs_failed']} with failed steps, {len(failures)} "
          f"failed steps in {len(groups)} group(s) ({secs:.1f} s)")
    if groups:
        print(f"{'runs':>5} {'steps':>6}  {'failure class':<24} {'action':<10} "
              f"{'cause':<32} example")
    for g in groups:
        run, idx = g.steps[0]
        print(f"{len(g.runs):>5} {g.count:>6}  {(g.failure_class or '-')[:24]:<24} "
              f"{(g.action or '-')[:10]:<10} {(g.rule_id or '-')[:32]:<32} {run} step {idx}")
    if not args.no_write:
        print(f"findings written in {written} run(s)"
              + (f", {notes} not written (unfinished or running)" if notes else "")
              + f"; groups in {root / GROUPS_FILE}")
    return 0


def diagnose(args: argparse.Namespace) -> int:
    try:
        engine = RulesEngine(load_pack(args.pack))
    except LookupError as exc:
        print(f"augur diagnose: {exc.args[0]}", file=sys.stderr)
        return 2
    root = Path(args.path)
    if not root.is_dir():
        print(f"augur diagnose: {root}: not a directory", file=sys.stderr)
        return 2
    if not (root / layout.MANIFEST).is_file():
        return _diagnose_dir(args, engine, root)
    try:
        ctx, d = _diagnose(engine, root, not args.no_write)
    except DiagnosticsError as exc:
        print(f"augur diagnose: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_bundle_json(ctx, d), sort_keys=True))
    else:
        print_bundle(ctx, d)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("diagnose", help="why a run failed: findings of the CUA rules",
                       description="On a bundle: ranked findings and the likely cause of each "
                                   "failed step, written to diagnostics/findings.json (the "
                                   "manifest re-signed). On a directory of runs: the failed "
                                   "steps of all runs grouped by signature, saved to "
                                   f"DIR/{GROUPS_FILE} for augur view.")
    p.add_argument("path", metavar="BUNDLE|DIR", help="a bundle, or a directory of bundles")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--no-write", action="store_true",
                   help="write nothing (no findings.json, no failure-groups.json)")
    p.add_argument("--pack", default="cua",
                   help="rule pack: cua (default) or one registered under augur.rule_packs")
    p.set_defaults(func=diagnose)
