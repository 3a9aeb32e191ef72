"""augur diff on real runs of the Playwright demo agent (headless Chromium): the passing run
against the run the dialog broke, against the run with an extra retry, and against a second
passing run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from augur_sdk.diff import compare_runs
from augur_sdk.diff.compare import CHANGED, ONLY_A, ONLY_B
from demo_runs import demo_runs

pytestmark = pytest.mark.slow


def test_the_dialog_run_first_diverges_at_the_step_the_dialog_broke() -> None:
    """Passing run vs dialog run: the first divergence is the dialog run's failed 'Place the
    order' (step 10); the recovery step is only in the dialog run; the steps before are
    paired one to one; exit 1."""
    runs = demo_runs()
    result = compare_runs(runs["clean"], runs["dialog"])
    first = result.rows[result.first_divergence]
    assert first.b == 10
    broken = result.step_b(10)
    assert (broken.intent, broken.status, broken.failure_class) == (
        "Place the order", "failed", "no_state_change")
    assert {a: b for a, b in result.alignment.matched().items() if a < 10} == {
        i: i for i in range(10)}
    only_b = [r.b for r in result.rows if r.kind == ONLY_B]
    assert 11 in only_b and result.step_b(11).intent.startswith("Recovery: dismiss")
    assert result.exit_code == 1 and result.same_outcome  # both runs end succeeded


def test_the_retry_run_aligns_without_shifting_later_steps() -> None:
    """Retry run vs passing run: the missed sign-in pairs with the passing sign-in (status,
    click 60 px apart), its retry is extra, and every later step pairs with the passing run's
    step one index lower."""
    runs = demo_runs()
    result = compare_runs(runs["retry"], runs["clean"])
    assert result.alignment.matched() == {**{i: i for i in range(5)},
                                          **{i: i - 1 for i in range(6, 12)}}
    first = result.rows[result.first_divergence]
    assert (first.a, first.b, first.kind) == (4, 4, CHANGED)
    fields = {d.field: d for d in first.differences}
    assert {"status", "click", "verdict"} <= set(fields)
    assert fields["click"].note == "60 px apart"
    assert [(r.a, r.kind) for r in result.rows if r.diverges] == [(4, CHANGED), (5, ONLY_A)]


def test_two_passing_runs_are_the_same() -> None:
    """Two separate passing runs of the task (different timings, re-rendered screenshots)
    did the same thing: no divergence, exit 0 from the command too."""
    runs = demo_runs()
    result = compare_runs(runs["clean"], runs["clean2"])
    assert result.first_divergence is None and result.same
    assert all(r.kind in ("same", "changed") and not r.diverges for r in result.rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGUR_", "OTEL_"))}
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "diff", "--json",
                           str(runs["clean"]), str(runs["clean2"])], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["same"] is True
