"""``augur diff A B``: compare two runs step by step (exit 0 same, 1 different, 2 unreadable)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from augur_sdk.diff.compare import ONLY_A, ONLY_B, Difference, DiffOptions, RunDiff, compare_runs
from augur_sdk.diff.load import BundleError


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _side(label: str, side: Any) -> str:
    facts = [side.run_id or "(no run id)", side.status or "no status", f"{side.steps} steps"]
    if side.client:
        facts.append(side.client)
    return f"{label}  {side.path}\n   " + " · ".join(facts)


def _difference(d: Difference) -> str:
    """``status failed (no_state_change) → succeeded``, ``click 44 px apart``, ..."""
    if d.field in ("duration", "cost") or (d.field == "click" and d.note and "apart" in d.note):
        return f"{d.field} {d.note}"
    text = f"{d.field} {d.a if d.a is not None else '—'} → {d.b if d.b is not None else '—'}"
    return f"{text} ({d.note})" if d.note else text


def _row_text(result: RunDiff, position: int) -> str:
    row = result.rows[position]
    a = f"A {row.a}" if row.a is not None else "  ·"
    b = f"B {row.b}" if row.b is not None else "  ·"
    if row.kind == ONLY_A:
        step = result.step_a(row.a)  # type: ignore[arg-type]
        what = f"only in A: {step.describe()} · {step.outcome()}"
    elif row.kind == ONLY_B:
        step = result.step_b(row.b)  # type: ignore[arg-type]
        what = f"only in B: {step.describe()} · {step.outcome()}"
    else:
        step = result.step_a(row.a)  # type: ignore[arg-type]
        what = f"{step.describe()}: " + "; ".join(_difference(d) for d in row.differences)
    mark = "!" if row.diverges else " "
    return f"  {mark} {a:<8} {b:<8} {what}"


def render_text(result: RunDiff, out: TextIO, *, limit: int = 50) -> None:
    """The human-readable report."""
    counts = result.counts()
    pairs = counts["same"] + counts["changed"]
    print(_side("A", result.a), file=out)
    print(_side("B", result.b), file=out)
    screens = ("perceptual hash" if result.screens == "perceptual"
               else "exact digest (Pillow not installed)")
    print(f"\naligned {_n(pairs, 'pair')} ({counts['changed']} differ), "
          f"{_n(counts['only_a'], 'step')} only in A, {counts['only_b']} only in B  [by action, "
          f"target, intent and pre screenshot: {screens}]", file=out)
    for side in (result.a, result.b):
        for problem in side.problems:
            print(f"  note: {side.path}: {problem}", file=out)
    first = result.first_divergence
    if first is not None:
        row = result.rows[first]
        if row.a is not None and row.b is not None:
            print(f"\nfirst divergence: A step {row.a} and B step {row.b}", file=out)
            for label, step in (("A", result.step_a(row.a)), ("B", result.step_b(row.b))):
                print(f"  {label}  {step.describe()} · {step.outcome()}", file=out)
            for d in row.differences:
                print(f"     {_difference(d)}", file=out)
        else:
            this, other = ("A", "B") if row.a is not None else ("B", "A")
            index = row.a if row.a is not None else row.b
            step = (result.step_a if this == "A" else result.step_b)(index)  # type: ignore[arg-type]
            print(f"\nfirst divergence: {this} step {index} has no counterpart in {other}",
                  file=out)
            print(f"  {this}  {step.describe()} · {step.outcome()}", file=out)
            follow = next((getattr(r, other.lower()) for r in result.rows[first:]
                           if getattr(r, other.lower()) is not None), None)
            if follow is not None:
                nxt = (result.step_b if other == "B" else result.step_a)(follow)
                print(f"  {other} goes on with step {follow}: {nxt.describe()} · "
                      f"{nxt.outcome()}", file=out)
    listed = [k for k, row in enumerate(result.rows) if row.kind != "same"]
    if listed:
        print(f"\ndifferences ({len(listed)} rows, {counts['diverging']} diverging, "
              "marked !):", file=out)
        for k in listed[:limit]:
            print(_row_text(result, k), file=out)
        if len(listed) > limit:
            print(f"  … {len(listed) - limit} more (--limit, or --json for all)", file=out)
    print(f"\noutcome: A {result.a.status or 'no status'}, B {result.b.status or 'no status'}",
          file=out)
    if result.same:
        print(f"same: both runs did the same {pairs} steps with the same outcome (exit 0)",
              file=out)
    else:
        why = []
        if first is not None:
            why.append("different steps")
        if not result.same_outcome:
            why.append("different outcome")
        print(f"the runs differ: {' and '.join(why)} (exit 1)", file=out)


def diff(args: argparse.Namespace) -> int:
    options = DiffOptions(click_px=args.click_px, perceptual=not args.exact_screens)
    try:
        result = compare_runs(args.a, args.b, options)
    except BundleError as exc:
        print(f"augur diff: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=False, allow_nan=False)
        sys.stdout.write("\n")
    else:
        render_text(result, sys.stdout, limit=args.limit)
    return result.exit_code


def view_compare(args: argparse.Namespace) -> int:
    """``augur view A --compare B [--export FILE]``: the side-by-side comparison page."""
    import errno
    import os

    from augur_sdk.cli.view import DEFAULT_PORT, JAEGER_ENV
    from augur_sdk.viewer.compare import CompareServer, export_compare_html
    from augur_sdk.viewer.reader import looks_like_bundle
    from augur_sdk.viewer.server import is_loopback
    from augur_sdk.viewer.summary import normalize_jaeger_base

    for raw in (args.bundle, args.compare):
        if not os.path.isdir(raw) or not looks_like_bundle(Path(raw)):
            print(f"augur view: {raw}: not an Augur bundle (--compare takes two bundles)",
                  file=sys.stderr)
            return 2
    try:
        jaeger = normalize_jaeger_base(args.jaeger_url or os.environ.get(JAEGER_ENV))
    except ValueError as exc:
        print(f"augur view: --jaeger-url / {JAEGER_ENV}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.export:
            out = export_compare_html(args.bundle, args.compare, args.export, jaeger=jaeger)
            print(f"wrote {out} ({out.stat().st_size:,} bytes); open it in a browser, "
                  "no server needed")
            return 0
        ports = [args.port] if args.port is not None else [DEFAULT_PORT, 0]
        server: CompareServer | None = None
        for port in ports:
            try:
                server = CompareServer(args.bundle, args.compare, host=args.host, port=port,
                                       jaeger=jaeger, quiet=not args.verbose)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or port == ports[-1]:
                    raise
    except BundleError as exc:
        print(f"augur view: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"augur view: {exc.strerror or exc}", file=sys.stderr)
        return 2
    assert server is not None
    if not is_loopback(args.host.strip("[]")):
        print(f"augur view: WARNING: listening on {args.host}: anyone who can reach this "
              "address sees both runs' screenshots and records", file=sys.stderr)
    print(f"augur view: comparing {args.bundle} (A) with {args.compare} (B) at {server.url}  "
          "(Ctrl-C to stop)", flush=True)
    from augur_sdk.cli.view import serve_until_interrupted

    return serve_until_interrupted(server, open_browser=not args.no_open)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff", help="compare two runs step by step: where they first diverge, and how",
        description="Aligns the steps of run A and run B by what the agent saw and did "
                    "(action, target, intent, a perceptual hash of the pre screenshot, click "
                    "point), not by index, then reports the first divergence and every aligned "
                    "pair that differs in status, action, target, click position, verdict, "
                    "cost or duration, and the steps only one run has. Exit codes: 0 the runs "
                    "did the same thing with the same outcome, 1 they differ, 2 a bundle is "
                    "unreadable. See docs/diff.md.")
    p.add_argument("a", metavar="A",
                   help="bundle directory of the first run (e.g. yesterday's, which passed)")
    p.add_argument("b", metavar="B", help="bundle directory of the second run")
    p.add_argument("--json", action="store_true",
                   help="print the whole report as one JSON object")
    p.add_argument("--click-px", type=float, default=DiffOptions.click_px, metavar="PX",
                   help="clicks further apart than this differ (default %(default)s, in the "
                        "recorded coordinate space)")
    p.add_argument("--exact-screens", action="store_true",
                   help="compare pre screenshots by exact digest only (no perceptual hash)")
    p.add_argument("--limit", type=int, default=50, metavar="N",
                   help="rows of differences printed (default %(default)s; --json has all)")
    p.set_defaults(func=diff)
