"""Kill anywhere: SIGKILL / SIGTERM / SIGINT at a random moment of a recording subprocess.

Each trial starts ``kill_child.py`` (screenshots, steps, step and run events; one ack line
per returned call), sends the signal at a random moment (while entering the session, mid-run,
or while ``close()`` runs), and then checks the folder against an exact oracle: every call
that acked is on disk byte for byte, at most the one call in flight is there besides, nothing
else (no stale file of an older run in the same out_dir, no ``.tmp``). After SIGKILL,
``augur recover`` (CLI) must turn the folder into a valid 'halted' bundle; after SIGTERM or
SIGINT in the with-block the SDK itself must have ended the run 'halted', complete.
Most children are forked from ``kill_zygote.py`` (already imported: ~1 ms instead of ~0.6 s
of CPU per trial); every fifth is a fresh interpreter recovered by a subprocess CLI.

Trial counts: ``AUGUR_KILL_TRIALS`` SIGKILL trials (default 50), a fifth of that (at least
10) each for SIGTERM and SIGINT. ``AUGUR_KILL_SEED`` replays a run's random choices (the
timing itself is not reproducible); ``AUGUR_KILL_WORKERS`` trials run at once (default 2);
``AUGUR_KILL_REPORT=FILE`` appends a JSON summary line per suite to FILE.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    KILL_CHILD,
    KILL_ZYGOTE,
    child_env,
    cli,
    data_files,
    diff_files,
    expected_files,
    kill_ops,
    temp_files,
    torn_or_bad_jsonl,
)

from augur_sdk import cli as augur_cli
from augur_sdk.validation import validate_bundle

from support import ChildLines, run_seed_session

pytestmark = pytest.mark.slow

KILL_TRIALS = int(os.environ.get("AUGUR_KILL_TRIALS", "50"))
OTHER_TRIALS = max(10, KILL_TRIALS // 5)
WORKERS = int(os.environ.get("AUGUR_KILL_WORKERS", "2"))
BASE_SEED = int(os.environ.get("AUGUR_KILL_SEED") or random.SystemRandom().randrange(1 << 30))
REPORT_FILE = os.environ.get("AUGUR_KILL_REPORT", "")  # read now: conftest clears AUGUR_*
CHILD_TIMEOUT_S = 90.0

MID_STEPS = 40  # ~210 calls: a mid-run kill lands anywhere in them
CLOSE_STEPS = 100  # a longer run so that close() (trace.json from 100 step files) takes a while


@dataclass
class Trial:
    n: int
    seed: int
    sig: int
    trigger: str  # "early" | "acks" | "close"
    value: float  # delay in s (early/close) or the ack number to kill after (acks)
    steps: int
    reuse: bool  # out_dir holds an older, finished bundle of another run


@dataclass
class Outcome:
    trial: Trial
    lines: list[str] = field(default_factory=list)
    stderr: str = ""
    returncode: int | None = None
    acked: int = 0
    phase: str = ""
    recovered: bool = False
    tmp_before_recover: int = 0
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        t = self.trial
        return (f"trial {t.n} (seed {t.seed}, {signal.Signals(t.sig).name}, {t.trigger}="
                f"{t.value:.4g}, steps={t.steps}, reuse={t.reuse}; phase {self.phase}, "
                f"acked {self.acked}): " + " | ".join(self.problems)
                + (f"\n  child stderr: {self.stderr[-600:]}" if self.stderr.strip() else ""))


def make_trials(count: int, sig: int, seed: int) -> list[Trial]:
    rng = random.Random(seed)
    trials = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.1:
            trigger, steps, value = "early", MID_STEPS, rng.uniform(0.0, 0.05)
        elif roll < 0.7:
            steps = MID_STEPS
            trigger, value = "acks", float(rng.randrange(len(kill_ops(steps))))
        else:  # close() of 100 steps takes ~10 ms on an idle machine, far more under load
            trigger, steps = "close", CLOSE_STEPS
            value = rng.uniform(0.0, rng.choice([0.005, 0.015, 0.04]))
        trials.append(Trial(n, seed, sig, trigger, value, steps, reuse=rng.random() < 0.3))
    return trials


class ChildRun:
    """A kill child whose protocol lines are read continuously (it never blocks on a pipe).

    ``zygote=None``: a fresh interpreter (``python kill_child.py``); else forked by the
    zygote. Either way the test signals only its own child, and reaps it in :meth:`finish`.
    """

    def __init__(self, out: Path, steps: int, zygote: Zygote | None = None) -> None:
        self.lines: list[str] = []
        self.acks = 0
        self.cond = threading.Condition()
        self.eof = False
        self.stderr = ""
        self.returncode: int | None = None
        self.zygote = zygote
        self.proc: subprocess.Popen[str] | None = None
        if zygote is None:
            self.proc = subprocess.Popen(
                [sys.executable, str(KILL_CHILD), str(out), str(steps)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
            assert self.proc.stdout is not None
            stream = self.proc.stdout
            self.pid = self.proc.pid
        else:
            fifo, self.errfile = out.with_suffix(".fifo"), out.with_suffix(".err")
            os.mkfifo(fifo)
            self.pid = zygote.spawn(out, steps, fifo, self.errfile)
            stream = open(fifo, encoding="utf-8")  # noqa: SIM115 (closed by the reader)
        self._threads = [threading.Thread(target=self._read, args=(stream,), daemon=True)]
        if self.proc is not None:
            self._threads.append(threading.Thread(target=self._read_stderr, daemon=True))
        for thread in self._threads:
            thread.start()

    def _read(self, stream: Any) -> None:
        with stream:
            for raw in stream:
                line = raw.rstrip("\n")
                with self.cond:
                    self.lines.append(line)
                    if line.startswith("a "):
                        self.acks += 1
                    self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def wait_for(self, pred: Callable[[], bool], timeout: float = CHILD_TIMEOUT_S) -> bool:
        """Wait until ``pred()`` holds or the child's output ended; True if ``pred`` holds."""
        with self.cond:
            self.cond.wait_for(lambda: pred() or self.eof, timeout)
            return pred()

    def signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is None:  # a forked child is not reaped yet
            os.kill(self.pid, sig)

    def finish(self) -> None:
        """Wait for the child (SIGKILL if it outlives its budget), reap it, join readers."""
        if not self.wait_for(lambda: False) and not self.eof:
            os.kill(self.pid, signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=CHILD_TIMEOUT_S)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(timeout=30)
            self.returncode = self.proc.returncode
        else:
            assert self.zygote is not None
            self.returncode = self.zygote.reap(self.pid)
            self.stderr = self.errfile.read_text(errors="replace")
        for thread in self._threads:
            thread.join(timeout=30)


class Zygote:
    """``kill_zygote.py``: forks kill children from an interpreter that imported augur_sdk."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(KILL_ZYGOTE)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=child_env())
        self.lock = threading.Lock()
        assert self.proc.stdout is not None
        self.answers = ChildLines(self.proc.stdout)
        assert self._answer() == "zygote ready"

    def _answer(self) -> str:
        return (self.answers.next(CHILD_TIMEOUT_S) or "").rstrip("\n")

    def _ask(self, *words: object) -> str:
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write("\t".join(str(w) for w in words) + "\n")
            self.proc.stdin.flush()
            return self._answer()

    def spawn(self, out: Path, steps: int, fifo: Path, errfile: Path) -> int:
        answer = self._ask("spawn", out, steps, fifo, errfile)
        assert answer.startswith("pid "), answer
        return int(answer.split()[1])

    def reap(self, pid: int) -> int:
        answer = self._ask("reap", pid)
        assert answer.startswith("status "), answer
        return int(answer.split()[1])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    try:
        yield z
    finally:
        z.close()


def fresh(trial: Trial) -> bool:
    """Every fifth trial runs in a fresh interpreter and recovers with a subprocess CLI."""
    return trial.n % 5 == 0


def run_child_and_signal(trial: Trial, out: Path, zygote: Zygote) -> Outcome:
    outcome = Outcome(trial)
    child = ChildRun(out, trial.steps, None if fresh(trial) else zygote)
    try:
        if trial.trigger == "early":
            if child.wait_for(lambda: "ready" in child.lines):
                time.sleep(trial.value)
        elif trial.trigger == "acks":
            k = int(trial.value)
            child.wait_for(lambda: child.acks > k)
        else:
            if child.wait_for(lambda: "closing" in child.lines):
                time.sleep(trial.value)
        child.signal(trial.sig)
    finally:
        child.finish()
    outcome.lines = list(child.lines)
    outcome.stderr = child.stderr
    outcome.returncode = child.returncode
    outcome.acked = child.acks
    if "entered" not in child.lines:
        outcome.phase = "entering"
    elif "closed" in child.lines:
        outcome.phase = "after close"
    elif "closing" in child.lines:
        outcome.phase = "in close"
    else:
        outcome.phase = "mid-run"
    return outcome


def check_content(outcome: Outcome, out: Path) -> None:
    """Exactly the effect of the acked calls (or of those plus the call in flight) is on disk."""
    ops = kill_ops(outcome.trial.steps)
    actual = data_files(out)  # (an empty events file, see data_files, counts as absent)
    low = expected_files(ops[: outcome.acked])
    high = expected_files(ops[: outcome.acked + 1])
    if actual != low and actual != high:
        outcome.problems.append(
            f"data differs from the {outcome.acked} acked calls: {diff_files(actual, low)} "
            f"(and from those plus the call in flight: {diff_files(actual, high)})")
    if temp_files(out):
        outcome.problems.append(f".tmp files left: {temp_files(out)[:5]}")
    bad = torn_or_bad_jsonl(out)
    if bad:
        outcome.problems.append(f"bad JSONL lines: {bad[:3]}")


def recover(bundle: str, *, subprocess_cli: bool) -> tuple[int, str]:
    """``augur recover BUNDLE``: in a fresh interpreter, or the same entry point in-process
    (``augur_sdk.cli.main``; saves ~0.6 s of interpreter start per trial)."""
    if subprocess_cli:
        proc = cli("recover", bundle)
        return proc.returncode, proc.stderr.strip()
    return augur_cli.main(["recover", bundle]), "(its message is in the captured stderr)"


def old_bundle_untouched(outcome: Outcome, out: Path, old: dict[str, bytes] | None) -> bool:
    """Killed before the new run touched out_dir: the older bundle there is still whole."""
    if old is None or "entered" in outcome.lines or (out / "live.json").exists():
        return False
    try:
        run_id = json.loads((out / "manifest.json").read_text())["run_id"]
    except (OSError, ValueError, KeyError):
        return False
    return bool(run_id == "old" and data_files(out) == old and validate_bundle(out) == [])


def check_recovered(outcome: Outcome, out: Path, old: dict[str, bytes] | None) -> None:
    """After a SIGKILL/SIGTERM: the leftover folder recovers (CLI) into the exact bundle."""
    if old_bundle_untouched(outcome, out, old):
        return
    had_live = (out / "live.json").exists()
    outcome.tmp_before_recover = len(temp_files(out)) if out.exists() else 0
    if had_live:
        issues = validate_bundle(out)
        # Killed between live.json and the first manifest, the folder also reports
        # "manifest.json: missing" (see test_unfinished_folder_without_manifest_is_only_unfinished).
        other = [i.render() for i in issues if i.code != "unfinished"
                 and not (i.where == "manifest.json" and i.message == "missing")]
        if [i.code for i in issues][:1] != ["unfinished"] or other:
            outcome.problems.append(f"before recover, validate gave {other or issues}")
    code, err = recover(str(out), subprocess_cli=fresh(outcome.trial))
    if code != 0:
        if "entered" in outcome.lines:
            outcome.problems.append(f"augur recover failed: {err}")
            return
        # Killed inside DebugSession.__enter__ before live.json existed: nothing was recorded,
        # and an older bundle in the folder may only have lost files, never gained any.
        leftovers = data_files(out) if out.exists() else {}
        if any(old is None or old.get(rel) != data for rel, data in leftovers.items()):
            outcome.problems.append("unrecoverable folder holds data that is not the old run's")
        return
    outcome.recovered = had_live
    issues = validate_bundle(out)
    if issues:
        outcome.problems.append("after recover: " + "; ".join(i.render() for i in issues[:3]))
    trace = json.loads((out / "trace.json").read_text())
    want = "halted" if had_live else "succeeded"
    if trace["session"]["status"] != want:
        outcome.problems.append(f"status {trace['session']['status']!r}, expected {want!r}")
    check_content(outcome, out)


def check_interrupted(outcome: Outcome, out: Path, old: dict[str, bytes] | None) -> None:
    """After SIGINT/SIGTERM in the with-block: the run ended 'halted', complete, no recovery.

    SIGINT raises KeyboardInterrupt; SIGTERM (no handler of the app's) raises SystemExit(143)
    from the SDK's handler; either way ``__exit__`` closes the run.
    """
    if old_bundle_untouched(outcome, out, old):
        return
    if "closing" in outcome.lines or "entered" not in outcome.lines:
        # The signal raced past the with-body (into close(), or before it was entered):
        # the bundle must then be finished or recoverable, with every acked call.
        if (out / "live.json").exists() or not (out / "trace.json").exists():
            check_recovered(outcome, out, old)
        else:
            issues = validate_bundle(out)
            if issues:
                outcome.problems.append("; ".join(i.render() for i in issues[:3]))
            check_content(outcome, out)
        return
    if outcome.trial.sig == signal.SIGINT and "KeyboardInterrupt" not in outcome.stderr:
        outcome.problems.append("the child did not see a KeyboardInterrupt")
    if outcome.trial.sig == signal.SIGTERM and outcome.returncode not in (143, -15):
        outcome.problems.append(f"exit status {outcome.returncode}, expected 143")
    if (out / "live.json").exists():
        outcome.problems.append("live.json left behind: the run was not finished on the signal")
        return
    issues = validate_bundle(out)
    if issues:
        outcome.problems.append("; ".join(i.render() for i in issues[:3]))
        return
    status = json.loads((out / "trace.json").read_text())["session"]["status"]
    if status != "halted":
        outcome.problems.append(f"status {status!r}, expected 'halted'")
    check_content(outcome, out)


@pytest.fixture
def old_bundle(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A finished bundle of another run, with more steps than a kill child records."""
    old = tmp_path / "old"
    run_seed_session(old, steps=MID_STEPS + 10, run_id="old")
    return old, data_files(old)


def run_trials(trials: list[Trial], tmp_path: Path, zygote: Zygote,
               old: tuple[Path, dict[str, bytes]] | None,
               check: Callable[[Outcome, Path, dict[str, bytes] | None], None],
               ) -> list[Outcome]:
    def one(trial: Trial) -> Outcome:
        out = tmp_path / f"t{trial.n:04d}"
        if trial.reuse and old is not None:
            shutil.copytree(old[0], out)
        outcome = run_child_and_signal(trial, out, zygote)
        try:
            check(outcome, out, old[1] if trial.reuse and old is not None else None)
        except Exception as exc:  # a check that crashes is a finding, not a test bug to hide
            outcome.problems.append(f"check crashed: {type(exc).__name__}: {exc}")
        if not outcome.problems:
            shutil.rmtree(out, ignore_errors=True)
        return outcome

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, trials))


def report(name: str, outcomes: list[Outcome], started: float) -> str:
    phases = Counter(o.phase for o in outcomes)
    losses = sum(1 for o in outcomes if o.problems)
    summary = {
        "suite": name, "seed": BASE_SEED, "trials": len(outcomes), "failed_trials": losses,
        "phases": dict(sorted(phases.items())),
        "recovered": sum(o.recovered for o in outcomes),
        "tmp_leftovers_seen": sum(o.tmp_before_recover for o in outcomes),
        "acked_calls_checked": sum(o.acked for o in outcomes),
        "seconds": round(time.monotonic() - started, 1),
    }
    line = json.dumps(summary, sort_keys=True)
    print(line)
    if REPORT_FILE:
        with open(REPORT_FILE, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return line


# Bugs the random trials hit now and then, each also shown by a deterministic xfail test.
# A suite whose only failures match one of these is reported as xfail (not strict: timing).
# Remove an entry when its bug is fixed.
KNOWN_BUGS: dict[str, str] = {}  # none open (the trace.json/steps race was fixed)


def assert_no_problems(outcomes: list[Outcome], summary: str) -> None:
    failed = [o for o in outcomes if o.problems]

    def known(problem: str) -> str | None:
        return next((why for text, why in KNOWN_BUGS.items() if text in problem), None)

    if failed and all(known(p) for o in failed for p in o.problems):
        reasons = sorted({str(known(p)) for o in failed for p in o.problems})
        pytest.xfail(f"{len(failed)} trial(s) hit a known bug: {'; '.join(reasons)} "
                     f"({summary}): " + " || ".join(o.describe() for o in failed[:3]))
    assert not failed, f"{len(failed)} trial(s) lost or broke data ({summary}):\n" + "\n".join(
        o.describe() for o in failed[:8])


@pytest.mark.parametrize("forked", [False, True], ids=["fresh", "forked"])
def test_control_run_matches_the_oracle(tmp_path: Path, zygote: Zygote, forked: bool) -> None:
    """Unkilled, a kill child (fresh or forked) writes exactly the oracle's files, a valid bundle."""
    out = tmp_path / "b"
    child = ChildRun(out, MID_STEPS, zygote if forked else None)
    child.finish()
    assert child.returncode == 0, child.stderr
    assert child.lines[-1] == "closed" and child.acks == len(kill_ops(MID_STEPS))
    assert validate_bundle(out) == []
    assert data_files(out) == expected_files(kill_ops(MID_STEPS))
    assert json.loads((out / "trace.json").read_text())["session"]["status"] == "succeeded"


def test_sigkill_anywhere_loses_nothing_that_returned(
        tmp_path: Path, zygote: Zygote, old_bundle: tuple[Path, dict[str, bytes]]) -> None:
    """SIGKILL at a random moment (entering, mid-run, in close): recover yields every acked call byte for byte."""
    started = time.monotonic()
    outcomes = run_trials(make_trials(KILL_TRIALS, signal.SIGKILL, BASE_SEED), tmp_path,
                          zygote, old_bundle, lambda o, out, old: check_recovered(o, out, old))
    summary = report("sigkill", outcomes, started)
    assert_no_problems(outcomes, summary)
    phases = Counter(o.phase for o in outcomes)
    if KILL_TRIALS >= 50:  # the random schedule must actually have hit each phase
        assert phases["mid-run"] >= 10 and phases["in close"] >= 2, summary


def test_sigterm_anywhere_ends_halted_and_loses_nothing(
        tmp_path: Path, zygote: Zygote, old_bundle: tuple[Path, dict[str, bytes]]) -> None:
    """SIGTERM at a random moment: mid-run the run ends 'halted' and complete by itself; otherwise recover; every acked call intact."""
    started = time.monotonic()
    outcomes = run_trials(make_trials(OTHER_TRIALS, signal.SIGTERM, BASE_SEED + 1), tmp_path,
                          zygote, old_bundle, check_interrupted)
    assert_no_problems(outcomes, report("sigterm", outcomes, started))


def test_sigterm_mid_run_ends_halted_with_a_complete_bundle(tmp_path: Path) -> None:
    """SIGTERM mid-run (fresh interpreter): exit 143, a 'halted' bundle that validates without recover."""
    out = tmp_path / "b"
    child = ChildRun(out, MID_STEPS)
    try:
        assert child.wait_for(lambda: child.acks > 60)
        child.signal(signal.SIGTERM)
    finally:
        child.finish()
    assert child.returncode in (143, -15) and "closed" not in child.lines, child.stderr
    outcome = Outcome(Trial(0, 0, signal.SIGTERM, "acks", 60, MID_STEPS, False),
                      lines=child.lines, acked=child.acks, returncode=child.returncode)
    check_interrupted(outcome, out, None)
    assert outcome.problems == []


def test_sigint_in_the_with_block_ends_halted_without_recovery(
        tmp_path: Path, zygote: Zygote) -> None:
    """SIGINT (KeyboardInterrupt) at a random call: __exit__ finishes a valid 'halted' bundle holding every acked call."""
    started = time.monotonic()
    rng = random.Random(BASE_SEED + 2)
    calls = len(kill_ops(MID_STEPS))
    # Interrupt the with-body at a random call (close() is the SIGKILL suite's job).
    trials = [Trial(n, BASE_SEED + 2, signal.SIGINT, "acks", float(rng.randrange(calls)),
                    MID_STEPS, reuse=False) for n in range(OTHER_TRIALS)]
    outcomes = run_trials(trials, tmp_path, zygote, None, check_interrupted)
    assert_no_problems(outcomes, report("sigint", outcomes, started))


# fixed: was a strict xfail before the fix; kept as a regression test
def test_unfinished_folder_without_manifest_is_only_unfinished(tmp_path: Path) -> None:
    """A folder killed before its first manifest.json is reported as unfinished only."""
    out = tmp_path / "b"
    run_seed_session(out, steps=2)
    (out / "manifest.json").unlink()
    live = {"pid": 2**22 + 12345, "host": "elsewhere", "producer": "augur-otel test",
            "redaction_policy": "default-pii-v1",
            "session": json.loads((out / "trace.json").read_text())["session"]}
    (out / "live.json").write_text(json.dumps(live))
    assert [i.code for i in validate_bundle(out)] == ["unfinished"]


class _ReplaceThenInterrupt:
    """``os`` for ``augur_sdk.bundle.files`` whose ``replace`` or ``link`` of one step file
    (the call that puts it at its final path: a rename of a ``.tmp`` sibling, or a link of a
    spare file) lands the file and then raises KeyboardInterrupt, as Ctrl-C does when it
    arrives during that call."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _landed(self, dst: Any) -> None:
        if not self.fired and str(dst).endswith(self.target):
            self.fired = True
            raise KeyboardInterrupt

    def replace(self, src: Any, dst: Any) -> None:
        os.replace(src, dst)
        self._landed(dst)

    def link(self, src: Any, dst: Any) -> None:
        os.link(src, dst)
        self._landed(dst)


# fixed: was a strict xfail before the fix; kept as a regression test
def test_interrupt_after_step_file_landed_keeps_bundle_valid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C that lands just after a step file's rename still leaves a valid 'halted' bundle."""
    from augur_sdk import DebugSession
    from augur_sdk.bundle import files

    from support import step_record

    monkeypatch.setattr(files, "os", _ReplaceThenInterrupt("steps/0001.json"))
    out = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt), DebugSession(
            run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
        s.record_step(step_record("r", 0))
        s.record_step(step_record("r", 1))  # interrupted once its file is in place
    assert json.loads((out / "trace.json").read_text())["session"]["status"] == "halted"
    assert validate_bundle(out) == []
