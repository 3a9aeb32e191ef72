"""Programmer errors raise at the call, naming the field; nothing is written; the session goes on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession
from augur_sdk.records import iso_to_ns
from augur_sdk.testing import make_png
from augur_sdk.validation import validate_bundle

from support import event_record, run_seed_session, step_record


@pytest.mark.parametrize(
    ("mutate", "error", "field"),
    [
        (lambda s: s.pop("step_id"), ValueError, "step.step_id"),
        (lambda s: s.pop("step_index"), ValueError, "step.step_index"),
        (lambda s: s.update(step_index="3"), TypeError, "step.step_index"),
        (lambda s: s.update(step_index=True), TypeError, "step.step_index"),
        (lambda s: s.update(step_index=-1), ValueError, "step.step_index"),
        (lambda s: s["action"]["params"].update(blob=b"\x00"), TypeError, "step.action.params.blob"),
        (lambda s: s["grounding"].update(confidence=float("nan")), ValueError,
         "step.grounding.confidence"),
        (lambda s: s["grounding"].update(confidence=1.7), ValueError, "step.grounding.confidence"),
        (lambda s: s.update(status="ok"), ValueError, "step.status"),
        (lambda s: s.update(started_at="yesterday"), ValueError, "step.started_at"),
        (lambda s: s.update(started_at="2026-05-19T00:00:00"), ValueError, "step.started_at"),
        (lambda s: s["action"]["params"].update({1: "x"}), TypeError, "step.action.params"),
        (lambda s: s.update(intent="bad \ud800 surrogate"), ValueError, "step.intent"),
        (lambda s: s.update(unknown_field=1), ValueError, "step"),
    ],
)
def test_bad_step_raises_naming_the_field_and_writes_nothing(
    tmp_path: Path, mutate: Any, error: type[Exception], field: str
) -> None:
    """Each malformed step raises the documented error naming its field, before any write."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
        bad = step_record("r", 0)
        mutate(bad)
        with pytest.raises(error) as info:
            s.record_step(bad)
        assert str(info.value).startswith(field), str(info.value)
        assert not (out / "steps").exists()
        s.record_step(step_record("r", 0))  # the session keeps working
    assert validate_bundle(out) == []


@pytest.mark.parametrize(
    ("event", "error", "field"),
    [
        ({"layer": "planner", "kind": "decision", "summary": "x"}, ValueError, "event"),
        ({**event_record(0), "layer": "brain"}, ValueError, "event.layer"),
        ({**event_record(0), "step_index": "0"}, TypeError, "event.step_index"),
        ({**event_record(0), "ts": "not a time"}, ValueError, "event.ts"),
        ({**event_record(0), "detail": {"x": float("inf")}}, ValueError, "event.detail.x"),
        ("not a dict", TypeError, "event"),
    ],
)
def test_bad_event_raises_naming_the_field(
    tmp_path: Path, event: Any, error: type[Exception], field: str
) -> None:
    """A malformed decision event raises naming its field; no events file is written."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
        with pytest.raises(error) as info:
            s.record_event(event)
        assert str(info.value).startswith(field), str(info.value)
    assert not (out / "events").exists()


def test_the_most_specific_problem_is_reported_first(tmp_path: Path) -> None:
    """A grounding with only `confidence: 1.7` names the bad value first, then the missing fields."""
    with DebugSession(run_id="r", client_name="a", capture_mode="trace",
                      out_dir=tmp_path / "b") as s:
        bad = step_record("r", 0)
        bad["grounding"] = {"confidence": 1.7}
        with pytest.raises(ValueError) as info:
            s.record_step(bad)
    message = str(info.value)
    assert message.startswith("step.grounding.confidence: 1.7 is greater than the maximum of 1 "
                              "(and 2 more problem(s): "), message
    assert "step.grounding: 'provider' is a required property" in message
    assert "step.grounding: 'provenance' is a required property" in message


def test_a_long_list_of_problems_is_cut_short(tmp_path: Path) -> None:
    """Past three more problems the message ends in '...'; each quoted value is shortened."""
    with DebugSession(run_id="r", client_name="a", capture_mode="trace",
                      out_dir=tmp_path / "b") as s:
        bad = step_record("r", 0)
        bad["grounding"] = {"confidence": 1.7, "provenance": "x" * 1000}
        bad["verdict"] = {"status": "maybe" * 200}
        bad["status"] = "nope"
        with pytest.raises(ValueError) as info:
            s.record_step(bad)
    message = str(info.value)
    assert message.count("; ") == 3 and message.endswith("; ...)"), message
    assert len(message) < 1000, message


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"step_index": 0, "kind": "middle", "png_bytes": make_png()}, ValueError, "kind"),
        ({"step_index": 0.5, "kind": "pre", "png_bytes": make_png()}, TypeError, "step_index"),
        ({"step_index": 0, "kind": "pre", "png_bytes": "png"}, TypeError, "png_bytes"),
        ({"step_index": 0, "kind": "pre", "png_bytes": b"GIF89a..."}, ValueError, "png_bytes"),
    ],
)
def test_bad_observation_raises_naming_the_field(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    """attach_observation rejects bad kind/index/bytes before writing a screenshot."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots", out_dir=out) as s:
        with pytest.raises(error) as info:
            s.attach_observation(**kwargs)
        assert str(info.value).startswith(field)
    assert not (out / "screenshots").exists()


def test_bad_constructor_arguments_raise_before_any_file(tmp_path: Path) -> None:
    """Bad constructor input (mode, tags, session id) raises naming the argument; no dir is made."""
    out = tmp_path / "b"
    with pytest.raises(ValueError, match=r"^capture_mode"):
        DebugSession(run_id="r", client_name="a", capture_mode="everything", out_dir=out)
    with pytest.raises(TypeError, match=r"^tags"):
        DebugSession(run_id="r", client_name="a", out_dir=out, tags={"k": ["list"]})
    with pytest.raises(ValueError, match=r"^session\.debug_session_id"):
        DebugSession(run_id="r", client_name="a", out_dir=out, debug_session_id="nope")
    with pytest.raises(ValueError, match=r"^run_id"):
        DebugSession(run_id="", client_name="a", out_dir=out)
    assert not out.exists()


def test_recorded_record_is_a_copy(tmp_path: Path) -> None:
    """Mutating the dict after record_step does not change what was recorded."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=out) as s:
        step = step_record("r", 0)
        s.record_step(step)
        step["intent"] = "changed"
        s.record_event(event_record(0))
    assert json.loads((out / "steps/0000.json").read_text())["intent"] == "click button 0"


def test_iso_to_ns_is_exact() -> None:
    """Timestamps convert to integer ns exactly, zones and 9 fractional digits included."""
    assert iso_to_ns("1970-01-01T00:00:00Z", "t") == 0
    assert iso_to_ns("1970-01-01T00:00:01.000000001Z", "t") == 1_000_000_001
    assert iso_to_ns("2026-05-19T02:00:00.123456+02:00", "t") == iso_to_ns(
        "2026-05-19T00:00:00.123456Z", "t")
    assert iso_to_ns("2026-05-19T00:00:00.999999Z", "t") % 1_000_000_000 == 999_999_000


def test_closed_or_unstarted_session_raises(tmp_path: Path) -> None:
    """Recording outside the with-block raises RuntimeError; close() twice returns the manifest."""
    s = DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=tmp_path / "b")
    with pytest.raises(RuntimeError, match="not started"):
        s.record_step(step_record("r", 0))
    with s:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        s.record_step(step_record("r", 0))
    assert s.close() == s.manifest


def test_the_fast_copy_and_the_thorough_copy_agree() -> None:
    """``clean_json`` copies plain JSON on a fast path and hands anything else (subclasses,
    tuples, datetimes, non-ASCII keys, nesting near the limit, faults) to the thorough path:
    the result, its types, and the error naming the field are the same either way."""
    import enum
    from collections import OrderedDict
    from datetime import UTC, datetime

    from augur_sdk.records import MAX_DEPTH, _clean_json, clean_json

    class Level(enum.IntEnum):
        HIGH = 3

    def nested(depth: int) -> Any:
        value: Any = "leaf"
        for _ in range(depth):
            value = {"k": value}
        return value

    inputs = [
        {"a": [1, 2.5, True, None, "x"], "b": {"c": "é ü", "ключ": "значение"}},
        {"t": (1, 2), "o": OrderedDict(z=1), "e": Level.HIGH,
         "d": datetime(2026, 5, 19, tzinfo=UTC)},
        nested(MAX_DEPTH - 3), nested(MAX_DEPTH - 1), nested(MAX_DEPTH),
        [[[]]], {}, "plain", 10**30, -0.0,
    ]
    for value in inputs:
        fast, thorough = clean_json(value, "v"), _clean_json(value, "v", 0)
        assert fast == thorough
        assert json.dumps(fast) == json.dumps(thorough)  # same types (IntEnum -> int, ...)
    assert type(clean_json({"e": Level.HIGH}, "v")["e"]) is int
    for bad, error, field in [
        (nested(MAX_DEPTH + 1), ValueError, "v.k"),
        ({"a": {"b": float("nan")}}, ValueError, "v.a.b"),
        ({"a": ["ok", "bad \ud800"]}, ValueError, "v.a[1]"),
        ({"a": {"k\ud800": 1}}, ValueError, "v.a.k"),
        ({"a": {2: "x"}}, TypeError, "v.a"),
    ]:
        with pytest.raises(error) as info:
            clean_json(bad, "v")
        assert str(info.value).startswith(field), str(info.value)


def test_empty_timestamps_mean_not_given_and_warn_once_per_field(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`""` in a step's started_at/ended_at, an event's ts and the constructor's started_at
    (what 0.6.1 clients send) is filled with the call time, with one warning per field."""
    import json as _json

    from augur_sdk import _internal
    from augur_sdk.validation import validate_bundle

    _internal.reset_log_once()
    out = tmp_path / "empty"
    with caplog.at_level("WARNING", logger="augur_sdk"), DebugSession(
            run_id="r", client_name="a", out_dir=out, capture_mode="trace", started_at="",
            dsn="") as session:
        for i in range(3):
            session.record_step({"step_id": f"r/step/{i:04d}", "step_index": i,
                                 "step_type": "click", "status": "succeeded",
                                 "started_at": "", "ended_at": ""})
            session.record_event({"step_index": i, "ts": "", "layer": "planner",
                                  "kind": "decision", "summary": "s"})
    step = _json.loads((out / "steps/0002.json").read_text())
    assert step["started_at"].endswith("Z") and step["ended_at"] >= step["started_at"]
    event = _json.loads((out / "events/0002.jsonl").read_text().splitlines()[0])
    assert event["ts"].endswith("Z")
    assert _json.loads((out / "trace.json").read_text())["session"]["started_at"].endswith("Z")
    warned = [r.getMessage() for r in caplog.records if "empty string" in r.getMessage()]
    assert sorted(m.split(" is an empty")[0].split(": ")[1] for m in warned) == [
        "event.ts", "started_at", "step.ended_at", "step.started_at"]
    assert validate_bundle(out) == []


def test_other_bad_timestamps_are_still_refused(tmp_path: Path) -> None:
    """Only the empty string means "not given": a blank or malformed time still raises."""
    with DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "b",
                      capture_mode="trace", dsn="") as session:
        for bad in (" ", "yesterday", "2026-13-01T00:00:00Z"):
            with pytest.raises(ValueError, match=r"^step\.started_at: "):
                session.record_step({"step_id": "r/step/0000", "step_index": 0,
                                     "step_type": "click", "status": "succeeded",
                                     "started_at": bad})


def test_run_id_rule_is_shared_with_the_server_and_counts_bytes() -> None:
    """One run-id rule: UTF-8 bytes (not characters), bidi controls refused, and every id
    the SDK accepts has a safe, reversible directory name for `augur serve`."""
    from augur_sdk import limits
    from augur_sdk.records import check_run_id
    from augur_sdk.server.paths import BadName
    from augur_sdk.server.paths import check_run_id as server_check

    for ok in ("team/run-1", "..", ".hidden", "a\\b", "50%", " padded ", "é" * 64, "run_1"):
        assert check_run_id(ok) == server_check(ok) == ok
        name = limits.run_dir_name(ok)
        assert "/" not in name and "\\" not in name and name not in (".", "..")
        assert not name.startswith(".") and limits.run_id_from_dir(name) == ok
    for bad, why in (("é" * 65, "130 bytes"), ("\U0001F600" * 33, "132 bytes"),
                     ("abc\u202edef", "bidirectional"), ("a\x00b", "control"),
                     ("   ", "empty"), ("/" * 100, "escaped")):
        with pytest.raises(ValueError, match=why):
            check_run_id(bad)
        with pytest.raises(BadName, match=why):
            server_check(bad)


def test_step_index_limit_is_one_number_everywhere(tmp_path: Path) -> None:
    """The SDK, the server's URL and body checks and the viewer agree on the step range."""
    import re

    from augur_sdk import limits
    from augur_sdk.server.paths import BadName, check_index, parse_index
    from augur_sdk.viewer import server as viewer_server

    top = limits.MAX_STEP_INDEX
    assert parse_index(str(top)) == check_index(top) == top
    with pytest.raises(BadName):
        parse_index(str(top + 1))
    assert viewer_server._STEP_RE.match(f"/api/step/{top}")
    assert not viewer_server._STEP_RE.match(f"/api/step/{top + 1}")
    with DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "i",
                      capture_mode="metadata", dsn="") as session:
        session.record_step({"step_id": f"r/step/{top}", "step_index": top,
                             "step_type": "click", "status": "succeeded",
                             "started_at": "2026-05-19T00:00:00Z"})
        with pytest.raises(ValueError, match=re.escape(f"from 0 to {top}")):
            session.record_step({"step_id": "x", "step_index": top + 1, "step_type": "click",
                                 "status": "succeeded", "started_at": "2026-05-19T00:00:00Z"})


def test_out_dir_that_is_a_file_is_refused_at_creation(tmp_path: Path) -> None:
    """An out_dir that exists as a file raises when the session is created (nothing could be
    written there), naming out_dir."""
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    with pytest.raises(ValueError, match=r"^out_dir: .* is a file"):
        DebugSession(run_id="r", client_name="a", out_dir=target, capture_mode="trace")
    assert target.read_text() == "x"


def test_a_typo_in_augur_capture_mode_logs_once_and_records_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """AUGUR_CAPTURE_MODE=bogus does not stop the agent: one warning names the variable and
    the valid modes, and the run goes on as if it were unset; a bad capture_mode= argument
    is a programming error and still raises."""
    from augur_sdk import _internal

    _internal.reset_log_once()
    monkeypatch.setenv("AUGUR_CAPTURE_MODE", "screenshot")
    with caplog.at_level("WARNING", logger="augur_sdk"):
        for n in range(2):
            with DebugSession(run_id="r", client_name="a", out_dir=tmp_path / f"b{n}",
                              dsn="") as s:
                s.record_step(step_record("r", 0))
    typo = [r.getMessage() for r in caplog.records if "AUGUR_CAPTURE_MODE" in r.getMessage()
            and "unknown capture mode" in r.getMessage()]
    assert len(typo) == 1 and "'screenshot'" in typo[0] and "screenshots" in typo[0]
    assert not (tmp_path / "b0" / "steps").exists()
    with pytest.raises(ValueError, match="capture_mode: unknown capture mode 'screenshot'"):
        DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "c",
                     capture_mode="screenshot")


def test_a_finished_bundle_of_another_run_is_moved_aside_not_replaced(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two runs in one out_dir (a run id with one-second resolution): the first run's
    bundle moves whole to <out_dir>.prev-<its debug_session_id>, still valid; one warning;
    the same session id reusing it replaces as before."""
    out = tmp_path / "run_1"
    first = run_seed_session(out, steps=2)
    with caplog.at_level("WARNING", logger="augur_sdk"):
        run_seed_session(out, steps=1)
    kept = tmp_path / f"run_1.prev-{first['debug_session_id']}"
    assert validate_bundle(kept) == [] and validate_bundle(out) == []
    assert len(list((kept / "steps").iterdir())) == 2 and len(list((out / "steps").iterdir())) == 1
    assert sum("was moved to" in r.getMessage() for r in caplog.records) == 1
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="off",
                      debug_session_id=json.loads((out / "manifest.json").read_text())[
                          "debug_session_id"]):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_1", kept.name]
