"""record_reasoning and append_log: written locally when the call returns, redacted, on the
step's span, valid; 0.6.1 clients' content= and free-form format tags are accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augur_sdk import DebugSession
from augur_sdk.bundle import writer as bundle_writer
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle

from support import step_record


def test_reasoning_is_written_redacted_and_an_event_of_its_step(tmp_path: Path) -> None:
    """content= works as text; an unknown format tag becomes adapter_inferred; the record
    is in diagnostics/reasoning.jsonl at return, redacted, and on the step's span."""
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                          dsn="") as s:
            s.record_step(step_record("r", 0))
            got = s.record_reasoning(0, content="email jane.doe@example.com next",
                                     format="scratchpad", tokens=12, model="m-1")
            lines = (out / "diagnostics/reasoning.jsonl").read_text().splitlines()
            assert json.loads(lines[0])["text"] == "email ***REDACTED:email*** next"
            with pytest.raises(ValueError, match="step_index: required"):
                s.record_reasoning(None, "run-level thought")
        spans = exporter.get_finished_spans()
    assert got["format"] == "adapter_inferred" and got["tokens"] == 12
    step = next(sp for sp in spans if sp.attributes.get("augur.record") == "step")
    assert [e.name for e in step.events if e.name == "augur.reasoning"] == ["augur.reasoning"]
    assert validate_bundle(out) == []


def test_logs_are_written_without_a_server_capped_and_redacted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """append_log writes logs/ locally (0.6.1 drops them without a DSN), per step or by
    name, redacted; past the per-file cap the rest is cut and counted in producer.json."""
    monkeypatch.setattr(bundle_writer, "MAX_TEXT_FILE_BYTES", 64)
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace",
                      dsn="") as s:
        s.record_step(step_record("r", 0))
        s.append_log("started\n")
        s.append_log("token for jane.doe@example.com\n", step_index=0)
        assert (out / "logs/run.log").read_text() == "started\n"
        s.append_log("x" * 100, name="agent")
        with pytest.raises(ValueError, match=r"^log\.name: "):
            s.append_log("nope", name="../escape")
    assert (out / "logs/step-0.log").read_text() == "token for ***REDACTED:email***\n"
    assert len((out / "logs/agent.log").read_bytes()) == 64
    producer = json.loads((out / "producer.json").read_text())
    assert producer["lost"] == {"log_bytes_over_cap": 36}
