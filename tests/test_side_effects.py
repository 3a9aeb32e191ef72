"""The side-effect ledger: a declaration is on disk before the call returns (a SIGKILL
between declare and commit never loses it), state changes are atomic and thread-safe,
each side effect is a span, and what is pending at close stays intent_only, listed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from augur_sdk import DebugSession
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle

from support import step_record


def _ledger(out: Path) -> dict[str, dict[str, object]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "side_effects").glob("*"))}


def test_declare_is_on_disk_then_commit_and_abort_rewrite_it(tmp_path: Path) -> None:
    """declare -> intent_only file at once; commit -> committed (result redacted); abort ->
    aborted with the reason; a second settle, an unknown id and a path-like id raise."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                      dsn="") as s:
        s.record_step(step_record("r", 0))
        sid = s.declare_side_effect(0, "payments", "charge", idempotency_key="k-1")
        assert _ledger(out)[f"0000-{sid}.json"]["status"] == "intent_only"
        assert _ledger(out)[f"0000-{sid}.json"]["step_id"] == "r/step/0000"
        s.commit_side_effect(sid, {"receipt_to": "jane.doe@example.com"})
        record = _ledger(out)[f"0000-{sid}.json"]
        assert record["status"] == "committed"
        assert record["observed_result"] == {"receipt_to": "***REDACTED:email***"}
        with pytest.raises(ValueError, match="is already 'committed'"):
            s.commit_side_effect(sid)
        with pytest.raises(ValueError, match="unknown side_effect_id='nope'"):
            s.mark_side_effect_aborted("nope", "x")
        with pytest.raises(ValueError, match="must be 1-128 characters"):
            s.declare_side_effect(0, "fs", "write", side_effect_id="../../etc")
        with pytest.raises(ValueError, match="reversibility must be"):
            s.declare_side_effect(0, "fs", "write", reversibility="maybe")
        other = s.declare_side_effect(1, "email", "send", side_effect_id="mail-1")
        assert s.abort_pending_side_effects("killed by operator") == [other]
    record = _ledger(out)["0001-mail-1.json"]
    assert record["status"] == "aborted" and record["abort_reason"] == "killed by operator"
    assert validate_bundle(out) == []
    assert "unsettled_side_effects" not in json.loads((out / "producer.json").read_text())


def test_each_side_effect_is_a_span_and_an_abort_is_an_error(tmp_path: Path) -> None:
    """A span from declare to commit (a child of its step's span); an abort ends it ERROR
    with the reason; one still pending at close ends unmarked and is listed as unsettled."""
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                          dsn="") as s:
            s.record_step(step_record("r", 0))
            done = s.declare_side_effect(0, "db", "insert", declared_at="2026-05-19T00:00:00Z")
            s.commit_side_effect(done, committed_at="2026-05-19T00:00:02Z")
            bad = s.declare_side_effect(0, "db", "delete")
            s.mark_side_effect_aborted(bad, "constraint violated")
            s.declare_side_effect(0, "email", "send", side_effect_id="left-open")
        spans = {sp.attributes.get("augur.side_effect.side_effect_id"): sp
                 for sp in exporter.get_finished_spans()
                 if sp.attributes.get("augur.record") == "side_effect"}
    step = next(sp for sp in exporter.get_finished_spans()
                if sp.attributes.get("augur.record") == "step")
    assert spans[done].parent.span_id == step.context.span_id
    assert spans[done].end_time - spans[done].start_time == 2 * 10**9
    assert spans[bad].status.description == "constraint violated"
    assert spans["left-open"].attributes["augur.side_effect.unsettled"] is True
    assert _ledger(out)["0000-left-open.json"]["status"] == "intent_only"  # never marked
    producer = json.loads((out / "producer.json").read_text())
    assert producer["unsettled_side_effects"] == ["left-open"]


def test_concurrent_commits_of_one_side_effect_settle_it_once(tmp_path: Path) -> None:
    """Eight threads commit the same id at once: exactly one wins, seven get ValueError."""
    with DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "b",
                      capture_mode="trace", dsn="") as s:
        sid = s.declare_side_effect(0, "api", "post")
        start = threading.Barrier(8)
        results: list[str] = []

        def commit() -> None:
            start.wait()
            try:
                s.commit_side_effect(sid)
                results.append("ok")
            except ValueError:
                results.append("refused")

        threads = [threading.Thread(target=commit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(results) == ["ok"] + ["refused"] * 7


CHILD = textwrap.dedent("""
    import sys
    from augur_sdk import DebugSession
    s = DebugSession(run_id="kill", client_name="a", out_dir=sys.argv[1],
                     capture_mode="trace", dsn="").start()
    for i in range(10_000):
        sid = s.declare_side_effect(i, "payments", "charge", side_effect_id=f"se-{i}")
        print("declared", sid, flush=True)
        s.commit_side_effect(sid, {"n": i})
        print("committed", sid, flush=True)
""")


@pytest.mark.parametrize("after_lines", [1, 2, 7, 40, 131])
def test_sigkill_between_declare_and_commit_loses_no_declaration(
        tmp_path: Path, after_lines: int) -> None:
    """SIGKILL at varying points: after `augur recover` every declaration the child saw
    returned is in the bundle, committed ones stay committed, and recover lists the rest."""
    out = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while len(lines) < after_lines:
            line = proc.stdout.readline()
            assert line, "the child stopped early"
            lines.append(line.split())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    declared = {sid for verb, sid in lines if verb == "declared"}
    committed = {sid for verb, sid in lines if verb == "committed"}
    recovered = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "recover", str(out)],
                               capture_output=True, text=True, timeout=60)
    assert recovered.returncode == 0, recovered.stderr
    on_disk = {r["side_effect_id"]: r["status"] for r in _ledger(out).values()}
    assert declared <= set(on_disk)
    assert all(on_disk[sid] == "committed" for sid in committed)
    unsettled = sorted(sid for sid, status in on_disk.items() if status == "intent_only")
    producer = json.loads((out / "producer.json").read_text())
    assert producer.get("unsettled_side_effects", []) == unsettled
    if unsettled:
        assert ", ".join(unsettled) in recovered.stdout
    assert validate_bundle(out) == []
