"""The record-kind spine: every registered kind, the test-only one included, goes through
record -> span -> bundle -> stream -> ``augur serve`` -> validator -> viewer payload, per
capture mode, from its spec alone."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kinds_plugin import NOTE
from serverkit import ACME

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.kinds import FileFormat, Placement, RecordKind, all_kinds, get
from augur_sdk.testing import capture_spans, make_png
from augur_sdk.validation import validate_bundle
from augur_sdk.viewer.reader import BundleReader
from conftest import Server, start_server

# Every mode that records (`off` writes the envelope only: tests/privacy covers it).
MODES = [m for m in CaptureMode if m is not CaptureMode.OFF]
# Secret shapes default-pii-v1 masks wherever they are (e-mail, provider keys, URL
# credentials): planted in every kind's free text, found in none of its outputs.
CANARIES = ("jane.doe@example.com", "sk-proj-Q2x9Lm4Np7Rt1Vw8Yz3Ab6Cd0Ef5Gh2Jk",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "hunter2secret")
SECRET = (f"reach me at {CANARIES[0]} with {CANARIES[1]} or {CANARIES[2]} "
          f"via https://bob:{CANARIES[3]}@10.0.0.7/admin")
TS = "2026-05-19T00:00:01Z"
PLUGIN_DIR = str(Path(__file__).parent)


def _step(run_id: str, i: int) -> dict[str, Any]:
    return {"step_id": f"{run_id}/step/{i:04d}", "step_index": i, "step_type": "click",
            "status": "succeeded", "started_at": TS, "ended_at": "2026-05-19T00:00:02Z",
            "action": {"type": "click", "params": {"note": SECRET}}}


# How each kind is recorded in the shared run: one row per registered kind (a new kind
# without a row fails test_every_kind_has_a_row). Step 0 is recorded first.
RECORDERS: dict[str, Callable[[DebugSession, str], None]] = {
    "session": lambda s, run: s.add_tag("contact", SECRET),
    "step": lambda s, run: s.record_step(_step(run, 1)),
    "event": lambda s, run: s.record_event(
        {"step_index": 1, "ts": TS, "layer": "planner", "kind": "decision", "summary": SECRET}),
    "observation": lambda s, run: s.attach_observation(
        step_index=2, kind="pre", png_bytes=make_png(32, 24)),
    "observation_record": lambda s, run: s.attach_observation(
        step_index=2, kind="post", png_bytes=make_png(32, 24), mask_regions=[(0, 0, 4, 4)]),
    "reasoning": lambda s, run: s.record(
        "reasoning", {"step_index": 1, "ts": TS, "format": "adapter_inferred", "text": SECRET}),
    "modelio": lambda s, run: s.record_modelio({
        "schema_version": "0.1", "step_index": 1, "layer": "planner", "ts": TS,
        "request": {"model": "m-1", "messages": [{"role": "user", "content": SECRET}]},
        "response": {"text": SECRET}}),
    "side_effect": lambda s, run: s.commit_side_effect(s.declare_side_effect(
        1, "email", SECRET, side_effect_id="se-1", declared_at=TS), {"sent_to": SECRET}),
    "outcome": lambda s, run: s.record("outcome", {
        "scope": "session", "finalized_at": TS, "verdict": {"status": "failed"}}),
    "eval_candidate": lambda s, run: s.record("eval_candidate", {
        "step_index": 1, "reason": SECRET, "tagged_at": TS}),
    "finding": lambda s, run: s.record("finding", {
        "rule_id": "cua.far_click", "severity": "medium", "summary": SECRET, "step_index": 1,
        "evidence": [{"type": "step", "ref": "steps/0001.json"}]}),
    "log": lambda s, run: s.record("log", {"step_index": 1, "text": f"{SECRET}\n"}),
    "step_iteration": lambda s, run: s.record_step_iteration(1, {
        **_step(run, 1), "step_id": f"{run}/step/0001/iter/1", "intent": SECRET}),
    "step_patch": lambda s, run: s.set_score(1, 0.25, comparator="verifier"),
    "session_costs": lambda s, run: s.set_costs(total_usd=0.5, tokens_in=7),
    "test_note": lambda s, run: s.record(
        "test_note", {"step_index": 1, "ts": TS, "score": 0.5, "text": SECRET}),
}


@dataclass
class Recorded:
    mode: CaptureMode
    run_id: str
    local: Path
    remote: Path
    spans: list[Any]


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``augur serve`` that loads the test-only kind from ``AUGUR_RECORD_KINDS``."""
    srv = start_server(tmp_path_factory.mktemp("serve-kinds"),
                       env={"AUGUR_RECORD_KINDS": "kinds_plugin", "PYTHONPATH": PLUGIN_DIR})
    try:
        yield srv
    finally:
        srv.stop()
    assert srv.proc.poll() is not None


@pytest.fixture(scope="module")
def runs(plugin_server: Server, tmp_path_factory: pytest.TempPathFactory,
         ) -> dict[CaptureMode, Recorded]:
    """One run per capture mode recording every kind, streamed to the server."""
    out: dict[CaptureMode, Recorded] = {}
    for mode in MODES:
        run_id = f"kinds-{mode.value}"
        local = tmp_path_factory.mktemp(f"local-{mode.value}")
        dsn = f"{plugin_server.url}?token={ACME}&tenant=acme"
        with capture_spans() as exporter:
            with DebugSession(run_id=run_id, client_name="kinds", out_dir=local,
                              capture_mode=mode, dsn=dsn,
                              started_at="2026-05-19T00:00:00Z") as session:
                session.record_step(_step(run_id, 0))
                for name in sorted(RECORDERS, key=lambda n: n != "step"):
                    RECORDERS[name](session, run_id)
                session.record_step({**_step(run_id, 2),
                                     "observation_pre": "screenshots/0002_pre.png",
                                     "observation_post": "screenshots/0002_post.png"})
            spans = list(exporter.get_finished_spans())
        plugin_server.wait_status(run_id, "finished")
        out[mode] = Recorded(mode, run_id, local, plugin_server.run_dir(run_id), spans)
    return out


def test_every_kind_has_a_row() -> None:
    """Every SDK kind (and the test-only one) is recorded by the round trip: a kind added
    under src/ cannot skip it. (Plug-in kinds that other tests register are theirs.)"""
    assert {k.name for k in all_kinds() if k.builtin or k is NOTE} == set(RECORDERS)
    assert get("test_note") is NOTE


@pytest.mark.parametrize("name", sorted(RECORDERS))
def test_a_gated_record_keeps_every_required_field(name: str) -> None:
    """At its lowest mode a kind keeps every field its schema requires, so a gated record
    still validates (a spec whose modes drop a required field is refused here)."""
    from augur_schema import validator_for

    kind = get(name)
    schema = kind.schema
    if isinstance(schema, str):
        schema = validator_for(schema).schema
    required = list((schema or {}).get("required", []))
    if kind.gate is None:
        assert [f for f in required if kind.mode_of(f) > kind.min_mode] == []
    else:
        full = {f: "x" for f in required}
        assert set(kind.gate_record(full, kind.min_mode) or {}) >= set(required)


def _files_of(kind: RecordKind, root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and kind.bundle.matches(p.relative_to(root).as_posix()))


def _steps_of(root: Path, index: int) -> list[Any]:
    files = sorted((root / "steps" / f"{index:04d}").glob("*.json")) or \
        [root / "steps" / f"{index:04d}.json"]
    return [json.loads(p.read_text()) for p in files if p.is_file()]


# Kinds whose records live inside another kind's files: where the test finds them.
EMBEDDED: dict[str, Callable[[Path], list[Any]]] = {
    "step_iteration": lambda root: [s for s in _steps_of(root, 1)
                                    if s["step_id"].endswith("/iter/1")],
    "step_patch": lambda root: [s for s in _steps_of(root, 1)
                                if (s.get("verdict") or {}).get("score") == 0.25],
    "session_costs": lambda root: [c for c in [json.loads(
        (root / "trace.json").read_text())["session"].get("costs")] if c],
}


def _records_in(kind: RecordKind, root: Path) -> list[Any]:
    if kind.name in EMBEDDED:
        return EMBEDDED[kind.name](root) if (root / "trace.json").exists() else []
    found: list[Any] = []
    for rel in _files_of(kind, root):
        if kind.bundle.format is FileFormat.PNG:
            found.append((rel, (root / rel).read_bytes()))
            continue
        data = (root / rel).read_text(encoding="utf-8")
        if kind.bundle.format is FileFormat.JSONL:
            found += [json.loads(line) for line in data.splitlines() if line.strip()]
        elif kind.bundle.format is FileFormat.TEXT:
            found.append(data)
        elif kind.bundle.format is FileFormat.JSON_LIST:
            listed = json.loads(data)
            found += listed if kind.bundle.list_key is None else listed[kind.bundle.list_key]
        else:
            found.append(json.loads(data))
    if kind.name == "session":
        found = [json.loads((root / "trace.json").read_text())["session"]]
    return found


def _span_carries(kind: RecordKind, spans: list[Any]) -> bool:
    if kind.name == "step_iteration":  # a step span of its own, linked to the step's
        return any(link.attributes.get("augur.link") == "iteration_of"
                   for sp in spans for link in sp.links)
    if kind.name == "step_patch":  # on the open step span, or an amendment on the run span
        return any("0.25" in str((sp.attributes or {}).get("augur.step_json.verdict", ""))
                   for sp in spans) or any(
            ev.name == kind.span_event_name for sp in spans for ev in sp.events)
    if kind.name == "session_costs":
        return any((sp.attributes or {}).get("augur.cost.total_usd") == 0.5 for sp in spans)
    if kind.placement is Placement.SPAN_EVENT:
        return any(ev.name == kind.span_event_name for sp in spans for ev in sp.events)
    if kind.placement is Placement.RUN_SPAN:
        return any((sp.attributes or {}).get("augur.record") == "session" for sp in spans)
    if kind.placement is Placement.STEP_SPAN:
        return any((sp.attributes or {}).get("augur.record") == "step" for sp in spans)
    if kind.placement is Placement.CHILD_SPAN:
        return any(sp.name == kind.span_event_name or
                   (sp.attributes or {}).get("augur.record") == kind.name for sp in spans)
    # NONE: screenshots are referenced from their step's span only
    return any(name.startswith("augur.observation.") for sp in spans
               for name in (sp.attributes or {}))


CASES = [(k, m) for k in sorted(RECORDERS) for m in MODES]


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{k}-{m.value}" for k, m in CASES])
def test_kind_round_trip(runs: dict[CaptureMode, Recorded], name: str,
                         mode: CaptureMode) -> None:
    """A kind is recorded exactly when its mode allows, redacted, on its span, in its
    bundle file, in the server's copy, valid, and in the viewer's payload."""
    kind, run = get(name), runs[mode]
    local = _records_in(kind, run.local)
    if mode < kind.min_mode:
        assert local == [] and _records_in(kind, run.remote) == []
        assert not any(ev.name == kind.span_event_name for sp in run.spans for ev in sp.events)
        return
    assert local, f"no {name} record in the bundle at {mode}"
    assert _span_carries(kind, run.spans)
    text = json.dumps([r for r in local if not isinstance(r, tuple | bytes)])
    for canary in CANARIES:  # redacted before it was written, sent or put on a span
        assert canary not in text, canary
        assert canary not in json.dumps(_records_in(kind, run.remote), default=str)
        assert not any(canary in str(v) for sp in run.spans
                       for v in [*(sp.attributes or {}).values(),
                                 *(a for e in sp.events for a in (e.attributes or {}).values())])
    for record in local:
        if isinstance(record, dict) and kind.name != "session_costs":  # gated by its spec
            assert set(record) == set(kind.gate_record(record, mode) or {}), record
    if kind.wire is not None:
        assert _records_in(kind, run.remote) == local  # the stream carried the same records
    for root in (run.local, run.remote):
        assert validate_bundle(root) == [], root
    if kind.viewer_section == "steps":
        assert BundleReader(run.local).step_indexes() == [0, 1, 2]
    elif kind.viewer_section == "events":
        assert BundleReader(run.local).step_detail(1)["events"]  # type: ignore[index]
    elif kind.viewer_section == "screenshots":
        shots = BundleReader(run.local).step_detail(2)["shots"]  # type: ignore[index]
        assert {k: v["status"] for k, v in shots.items()} == {"pre": "ok", "post": "ok"}
    elif kind.viewer_section not in (None, "session"):
        reader = BundleReader(run.local)
        section = reader.run_events()["records"][kind.viewer_section]
        detail = reader.step_detail(1)
        assert detail is not None
        in_step = detail["records"].get(kind.viewer_section, {"records": []})["records"]
        assert in_step == [r for r in section["records"] if r["record"].get("step_index") == 1
                           or kind.bundle.format is FileFormat.TEXT]
        shown = [r["record"] for r in section["records"]]
        if kind.bundle.format is FileFormat.TEXT:
            shown = [r["text"] for r in shown]
        assert shown == local


def test_plugin_kind_gating_keeps_only_metadata_fields(runs: dict[CaptureMode, Recorded],
                                                       ) -> None:
    """The test-only kind's free text needs `trace`; its score and ids are `metadata`."""
    (meta,) = _records_in(NOTE, runs[CaptureMode.METADATA].local)
    (full,) = _records_in(NOTE, runs[CaptureMode.FULL].local)
    assert meta == {"step_index": 1, "ts": TS, "score": 0.5}
    assert full["text"].startswith("reach me at ***REDACTED:email*** with ***REDACTED:")


def test_plugin_kind_span_event_sits_on_its_step_span(runs: dict[CaptureMode, Recorded],
                                                      ) -> None:
    """A note for the open step becomes an event of that step's span, at its timestamp."""
    spans = runs[CaptureMode.FULL].spans
    steps = [sp for sp in spans if (sp.attributes or {}).get("augur.step_index") == 1
             and (sp.attributes or {}).get("augur.record") == "step"]
    assert len(steps) == 2  # the step and its iteration, the one open when the note came
    (event,) = [ev for sp in steps for ev in sp.events if ev.name == "augur.test_note"]
    assert all(ev.name != "augur.test_note" for sp in spans if sp not in steps
               for ev in sp.events)
    assert event.attributes["augur.test_note.score"] == 0.5
    assert event.attributes["augur.record"] == "test_note"
    assert event.timestamp == 1779148801 * 10**9


def test_plugin_kind_bad_input_names_the_field(tmp_path: Path) -> None:
    """A record that breaks the kind's schema raises naming the field; nothing is written."""
    with DebugSession(run_id="bad", client_name="kinds", out_dir=tmp_path / "b",
                      capture_mode="full", dsn="") as session:
        with pytest.raises(ValueError, match=r"^test_note\.score: "):
            session.record("test_note", {"step_index": 0, "ts": TS, "score": 7})
        with pytest.raises(ValueError, match="no record kind named 'nope'"):
            session.record("nope", {})
    assert not (tmp_path / "b" / "notes").exists()


def test_plugin_kind_validator_rule_flags_a_note_in_the_wrong_file(
        runs: dict[CaptureMode, Recorded], tmp_path: Path) -> None:
    """The kind's own rule and schema run in `augur validate` for its files."""
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(runs[CaptureMode.FULL].local, bundle)
    (bundle / "notes" / "0005.jsonl").write_text(
        json.dumps({"step_index": 1, "ts": TS, "score": 2}) + "\n")
    messages = [i.render() for i in validate_bundle(bundle)]
    assert any("notes/0005.jsonl: line 1: note of step 1 in the file of step 5" in m
               for m in messages), messages
    assert any("notes/0005.jsonl: line 1: 2 is greater than the maximum of 1" in m
               for m in messages), messages


def test_server_refuses_a_plugin_record_that_breaks_its_schema(plugin_server: Server) -> None:
    """`augur serve` checks a plug-in kind's records as the SDK does: 400, nothing written."""
    resp = plugin_server.request("POST", "/runs/kinds-bad/steps/3/notes",
                                 {"ts": TS, "score": "high"})
    assert resp.status == 400, resp.data
    assert b"test_note.score" in resp.data
    resp = plugin_server.request("POST", "/runs/kinds-bad/steps/3/notes",
                                 {"step_index": 4, "ts": TS, "score": 0.1})
    assert resp.status == 400 and b"disagrees with the path" in resp.data
    assert not (plugin_server.run_dir("kinds-bad") / "notes").exists()


def test_record_refuses_kinds_that_have_a_method_of_their_own(tmp_path: Path) -> None:
    """record() cannot bypass attach_observation, the ledger, iterations or patches: those
    kinds are refused by name, naming the method to use; nothing is written."""
    with DebugSession(run_id="own", client_name="kinds", out_dir=tmp_path / "o",
                      capture_mode="full", dsn="") as session:
        for name, method in (("side_effect", "declare_side_effect"),
                             ("step_patch", "annotation"), ("observation", "attach_observation"),
                             ("session_costs", "set_costs")):
            with pytest.raises(ValueError, match=f"'{name}' records are made by .*{method}"):
                session.record(name, {"step_index": 0})
    assert not (tmp_path / "o" / "side_effects").exists()
