"""Redaction before any byte leaves the process: bundle files, OTLP, and the stream."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession, DefaultRedactionPolicy, RedactionPolicy, codec, configure
from augur_sdk.redaction import NEVER_RECORD, NoRedactionPolicy, _blank_paths, _matches
from augur_sdk.testing import capture_spans, make_png

RUN = "run_canary"
TESTS = Path(__file__).resolve().parent.parent

# Each canary is a distinct secret planted in one place; the rule that must catch it is noted.
CANARIES = {
    "intent": "canary01.intent@example.com",            # email pattern
    "typed_text": "Tr0ub4dor-canary02",                   # never_record action.params.text
    "params_password": "canary03pw",                      # drop key: password
    "evidence_bearer": "canary04tokenABC",                # bearer pattern
    "summary_api_key": "canary05key",                     # api_key=... pattern
    "detail_cookie": "canary06session",                   # drop key: cookie (nested dict)
    "detail_list_token": "canary07tok",                   # mask key: token, inside a list
    "tag_email": "canary08@example.org",                  # email pattern in tags
    "tag_token": "canary09tagtoken",                      # mask key in tags
    "client_git_sha": "AKIACANARY1000000000",             # AWS key pattern in a client field
    "verdict_jwt": "eyJhbGciOiJIUzI1NiJ9.eyJjYW5hcnkxMSI6MX0.c2lnY2FuYXJ5MTE",  # JWT
    "recovery_password_kv": "canary12pass",               # password=... pattern
    "nested_list_ssn": "canary13-ssn",                    # mask key: ssn inside a list
    "params_secret": "canary14secret",                    # drop key: secret
    "detail_card": "canary15card",                        # mask key: card_number
    "run_event_cookie_header": "canary16cookie",          # cookie header pattern
    "dict_key_email": "canary17@example.net",             # email inside a dict key
    "client_version_email": "canary18@example.com",       # email in client version
    # Free failure text: the open-string failure class (also error.type and the span status),
    # a judge's verdict reason, an error event's summary, a run-level error event's detail.
    "failure_class": "canary19.failure@example.com",      # email pattern
    "judge_reason": "canary20judge",                      # api_key=... pattern
    "error_event_summary": "canary21err",                 # bearer pattern
    "run_error_detail": "canary22trace",                  # password=... pattern
    "step_logs": "canary23.log@example.com",              # email in a step's log reference
    "evidence_ref": "canary24@example.org",               # email in verdict.evidence_refs
    "target_label": "canary25.label@example.com",         # email (also a flat span attribute)
    # The session's task spec.
    "task_instruction": "canary26.task@example.com",      # email pattern
    "task_condition": "canary27cond",                     # password=... pattern
    "task_condition_param": "canary28param",              # drop key: secret (nested params)
    "task_subgoal": "canary29subgoal",                    # bearer pattern
    "task_prohibited": "AKIACANARY3000000000",            # AWS key pattern in a list
    "branch_mutation": "canary31mut",                     # mask key: token in branch_context
    "captured_prompt": "canary32prompt",                  # api_key=... in captured_versions
    "added_tag": "canary33.tag@example.com",              # email in a tag added later
    "log_step_id": "canary34.id@example.com",             # email in an off-convention step
                                                          # id (also in a warning log line)
    "scope_exception": "canary35.exc@example.com",        # email in an exception message
                                                          # escaping step_scope
    "client_name_email": "canary36.agent@example.com",    # email in the client name
}
SURVIVORS = ["press the blue Sign in button", "survivor-param-value", "survivor-summary",
             "survivor-tag", "survivor.failure", "survivor-judge", "survivor-error",
             "survivor-label", "survivor-task", "survivor-subgoal"]


def _requests(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _wire_bytes(requests: list[dict[str, Any]]) -> bytes:
    """Everything a receiver got: paths, headers and bodies."""
    return "".join(r["path"] + json.dumps(r["headers"]) + r["body"]
                   for r in requests).encode("latin-1")


def _record(session: DebugSession) -> None:
    c = CANARIES
    session.add_tag("contact", c["added_tag"])
    with pytest.raises(RuntimeError), session.step_scope(0, "type"):
        session.record_step({
            "step_id": f"{RUN}/step/0000", "step_index": 0, "step_type": "type",
            "intent": f"press the blue Sign in button as {c['intent']}",
            "status": "failed", "failure_class": f"survivor.failure {c['failure_class']}",
            "started_at": "2026-05-19T00:00:00Z", "ended_at": "2026-05-19T00:00:01Z",
            "action": {"type": "type", "params": {
                "text": c["typed_text"], "password": c["params_password"],
                "secret": c["params_secret"], "note": "survivor-param-value",
                "fields": [{"name": "ssn", "ssn": c["nested_list_ssn"]}],
                c["dict_key_email"]: "value under an email key"}},
            "grounding": {"provider": "vlm", "provenance": "screenshot",
                          "target_label": f"survivor-label {c['target_label']}",
                          "evidence": f"header Authorization: Bearer {c['evidence_bearer']}"},
            "verdict": {"status": "failed", "reason": f"token was {c['verdict_jwt']}",
                        "evidence_refs": [f"screenshots/0000_post.png {c['evidence_ref']}"]},
            "judge_decisions": [{"judge_id": "j1", "judge_type": "model", "verdict": {
                "status": "failed", "reason": f"survivor-judge api_key={c['judge_reason']}"}}],
            "recovery_decision": {"type": "retry",
                                  "reason": f"password={c['recovery_password_kv']}"},
            "logs": [f"logs/agent.log#L3 {c['step_logs']}"],
            "captured_versions": {"model": "m-1", "prompt": f"api_key={c['captured_prompt']}"},
        })
        session.record_event({
            "ts": "2026-05-19T00:00:00.5Z", "step_index": 0, "layer": "planner",
            "kind": "decision", "summary": f"survivor-summary used api_key={c['summary_api_key']}",
            "detail": {"headers": {"cookie": f"s={c['detail_cookie']}"},
                       "calls": [{"token": c["detail_list_token"]}],
                       "payment": {"card_number": c["detail_card"]}},
        })
        session.record_event({
            "ts": "2026-05-19T00:00:00.7Z", "step_index": 0, "layer": "runner", "kind": "error",
            "summary": f"survivor-error: request failed with Bearer {c['error_event_summary']}"})
        raise RuntimeError(f"login failed for {c['scope_exception']}")
    session.record_step({  # an id off the convention: logged (redacted) as a warning
        "step_id": f"step one of {c['log_step_id']}", "step_index": 1, "step_type": "wait",
        "status": "succeeded", "started_at": "2026-05-19T00:00:02Z"})
    session.record_event({"ts": "2026-05-19T00:00:02Z", "layer": "runner", "kind": "info",
                          "summary": f"Cookie: sid={c['run_event_cookie_header']}"})
    session.record_event({"ts": "2026-05-19T00:00:03Z", "layer": "runner", "kind": "error",
                          "summary": "runner crashed",
                          "detail": {"lines": [f"connect(password={c['run_error_detail']})"]}})


def _session(out: Path, dsn: str, policy: RedactionPolicy | None = None,
             never_record: tuple[str, ...] = ("action.params.text",)) -> DebugSession:
    c = CANARIES
    return DebugSession(
        run_id=RUN, client_name=f"agent {c['client_name_email']}",
        client_version=f"1.0 {c['client_version_email']}",
        client_git_sha=c["client_git_sha"], capture_mode="full", out_dir=out, dsn=dsn,
        tags={"owner": c["tag_email"], "token": c["tag_token"], "team": "survivor-tag"},
        task_spec={
            "instruction": f"survivor-task: log in as {c['task_instruction']}",
            "prohibited_actions": [f"use key {c['task_prohibited']}"],
            "success_conditions": [{"kind": "url_matches",
                                    "description": f"logged in with password={c['task_condition']}",
                                    "params": {"url": "/home",
                                               "secret": c["task_condition_param"]}}],
            "subgoals": [{"subgoal_id": "s1",
                          "description": f"survivor-subgoal Bearer {c['task_subgoal']}"}]},
        branch_context={"parent_run_id": "run_parent", "branch_point_step_index": 0,
                        "mutated_axis": "prompt", "mutation": {"token": c["branch_mutation"]}},
        redaction_policy=policy, never_record=never_record)


def test_canaries_are_found_nowhere(tmp_path: Path, fault_server,  # type: ignore[no-untyped-def]
                                    caplog: pytest.LogCaptureFixture) -> None:
    """36 planted secrets appear zero times in the bundle, the OTLP export, the stream (paths,
    headers, bodies) and the augur_sdk log, while non-secret values survive everywhere."""
    caplog.set_level(logging.DEBUG, logger="augur_sdk")
    otlp_server, augur_server = fault_server("ok"), fault_server("ok")  # one log each
    otlp_port, otlp_log = otlp_server.port, otlp_server.log
    augur_port, augur_log = augur_server.port, augur_server.log
    configure(otlp_endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces", close_timeout_s=10)
    out = tmp_path / "bundle"
    with _session(out, f"http://127.0.0.1:{augur_port}/api/v1?token=tok-ok&tenant=acme") as s:
        _record(s)

    bundle_bytes = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
    otlp, stream = _requests(otlp_log), _requests(augur_log)
    assert {r["path"] for r in otlp} == {"/v1/traces"}, "OTLP receiver got other requests"
    assert stream and not any(r["path"] == "/v1/traces" for r in stream)
    assert any(r["path"].endswith("/trace") for r in stream)
    for where, data in (("bundle", bundle_bytes), ("otlp", _wire_bytes(otlp)),
                        ("stream", _wire_bytes(stream))):
        leaked = [name for name, secret in CANARIES.items() if secret.encode() in data]
        assert leaked == [], f"{where} leaked {leaked}"
        for survivor in SURVIVORS:
            assert survivor.encode() in data, f"{where} lost {survivor!r}"
        assert b"***REDACTED:never_record***" in data
        assert b"***REDACTED:email***" in data and b"***REDACTED:mask***" in data
    assert "does not follow the convention" in caplog.text  # the warning was logged...
    assert [n for n, secret in CANARIES.items() if secret in caplog.text] == []  # ...redacted
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["redaction"] == {"policy_id": "default-pii-v1", "applied": True}


def test_canaries_are_planted_where_data_flows(tmp_path: Path, fault_server) -> None:  # type: ignore[no-untyped-def]
    """Control for the canary test: without redaction every canary does leave the process,
    so finding none of them above means redaction caught them, not that they went nowhere."""
    otlp_server, augur_server = fault_server("ok"), fault_server("ok")  # one log each
    otlp_port, otlp_log = otlp_server.port, otlp_server.log
    augur_port, augur_log = augur_server.port, augur_server.log
    configure(otlp_endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces", close_timeout_s=10)
    out = tmp_path / "bundle"
    with _session(out, f"http://127.0.0.1:{augur_port}/api/v1?token=tok-ok&tenant=acme",
                  policy=NoRedactionPolicy(), never_record=()) as s:
        _record(s)
    bundle_bytes = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
    otlp, stream = _wire_bytes(_requests(otlp_log)), _wire_bytes(_requests(augur_log))
    # The escaping exception is recorded on the step span only (OTLP), not as a record.
    only_otlp = {"scope_exception"}
    for where, data in (("bundle", bundle_bytes), ("otlp", otlp), ("stream", stream)):
        absent = [n for n, secret in CANARIES.items()
                  if secret.encode() not in data and (where == "otlp" or n not in only_otlp)]
        assert absent == [], f"without redaction, {where} did not carry {absent}"


# ── never_record ────────────────────────────────────────────────────────────

@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("action.params.text", "action.params.text", True),
    ("action.params.text", "action.params", False),            # not a prefix match
    ("action.params.text", "action.params.text.x", False),
    ("action.params.text", "step.action.params.text", False),  # anchored at the record root
    ("action.params.text", "action.params.Text", False),       # keys are case-sensitive
    ("action.*.text", "action.params.text", True),             # * is exactly one segment
    ("action.*.text", "action.text", False),
    ("action.*.text", "action.a.b.text", False),
    ("fields.*.value", "fields.3.value", True),                # list indices are segments
    ("*", "intent", True),
    ("*", "action.type", False),
    ("**.otp", "otp", True),                                   # ** is zero or more segments
    ("**.otp", "action.params.otp", True),
    ("**.otp", "detail.calls.1.otp", True),
    ("**.otp", "action.params.otp.x", False),
    ("**.otp", "action.params.otp_hint", False),
    ("**.*.otp", "otp", False),
    ("**.*.otp", "a.otp", True),
    ("action.**.otp", "action.otp", True),                     # ** inside a path
    ("action.**.otp", "action.params.fields.0.otp", True),
    ("action.**.otp", "detail.otp", False),
    ("action.params.**", "action.params", True),
    ("action.params.**", "action.params.a.b", True),
    ("action.params.**", "action.type", False),
])
def test_never_record_matcher(pattern: str, path: str, expected: bool) -> None:
    """The path matcher: literal segments, ``*`` (one segment) and ``**`` (any number)."""
    assert _matches(pattern.split("."), path.split(".")) is expected


def test_never_record_blanks_exactly_the_matched_values() -> None:
    """Matched strings become the marker and keep their key; other matched values (numbers,
    whole containers) are left out (a list keeps the slot as null, so later indices keep
    their meaning), so typed fields never hold a string; nothing else
    changes, the input is not mutated, and the record root is never blanked."""
    value = {"otp": 1, "a": {"otp": {"x": 1}, "b": [{"otp": "2", "k": "v"}, "otp"]},
             "text": "keep", "params": {"text": "hunter2", "n": 3},
             "codes": ["a1", 7, {"c": "x"}]}
    before = json.dumps(value, sort_keys=True)
    out = _blank_paths(value, [["**", "otp"], ["params", "text"], ["codes", "*"]], [])
    assert out == {"a": {"b": [{"otp": NEVER_RECORD, "k": "v"}, "otp"]},
                   "text": "keep", "params": {"text": NEVER_RECORD, "n": 3},
                   "codes": [NEVER_RECORD, None, None]}
    assert json.dumps(value, sort_keys=True) == before
    assert _blank_paths("otp", [["**"]], []) == "otp"
    policy = NoRedactionPolicy(never_record=["**.otp", "params.text", "codes.*"])
    assert policy.apply(value) == out
    assert NoRedactionPolicy(never_record=["*"]).apply({"a": 1, "b": {"c": 2}, "s": "x"}) == {
        "s": NEVER_RECORD}


def test_never_record_paths_are_checked() -> None:
    """A bare string (which would be split into characters), a non-string and an empty
    segment are refused, on the policy and on the session alike."""
    with pytest.raises(TypeError, match="got a string"):
        DefaultRedactionPolicy(never_record="action.params.text")
    with pytest.raises(TypeError, match="got a string"):
        DefaultRedactionPolicy().with_never_record("action.params.text")
    with pytest.raises(TypeError, match="not a string"):
        DefaultRedactionPolicy(never_record=[3])  # type: ignore[list-item]
    for bad in ("", "action..text", "action.params."):
        with pytest.raises(ValueError, match="empty segment"):
            DefaultRedactionPolicy(never_record=[bad])
    with pytest.raises(TypeError, match="got a string"):
        DebugSession(run_id="r", client_name="a", out_dir="unused", never_record="x.y")


def test_never_record_policy_forms_compose() -> None:
    """A subclass's class attribute, the constructor argument and ``with_never_record`` all
    take effect; ``with_never_record`` returns a copy and leaves the original alone."""

    class OtpPolicy(DefaultRedactionPolicy):
        never_record = frozenset({"**.otp"})

    base = OtpPolicy()
    both = base.with_never_record(["action.params.text"])
    record = {"action": {"params": {"text": "hunter2", "otp": "1"}}, "otp": "2"}
    assert base.apply(record) == {"action": {"params": {"text": "hunter2", "otp": NEVER_RECORD}},
                                  "otp": NEVER_RECORD}
    assert both.apply(record) == {"action": {"params": {"text": NEVER_RECORD,
                                                        "otp": NEVER_RECORD}},
                                  "otp": NEVER_RECORD}
    assert base.never_record == frozenset({"**.otp"})
    assert DefaultRedactionPolicy(never_record=["otp"]).apply(record)["otp"] == NEVER_RECORD


NR_RUN = "run_nr"
NR_PATHS = ["action.params.text", "**.otp", "action.params.fields.*.value",
            "grounding.target_label", "verdict.reason"]
NR_STEP: dict[str, Any] = {
    "step_id": f"{NR_RUN}/step/0000", "step_index": 0, "step_type": "type",
    "status": "succeeded", "started_at": "2026-05-19T00:00:00Z",
    "ended_at": "2026-05-19T00:00:01Z", "intent": "type the one-time code",
    "action": {"type": "type", "params": {
        "text": "hunter2", "field": "password box", "otp": "482913",
        "fields": [{"name": "pin", "value": "pin-4821"}, {"name": "zip", "value": "zip-90210"}],
        "nested": {"deep": {"otp": 777111, "hint": "otp sent by sms"}}}},
    "grounding": {"provider": "vlm", "provenance": "screenshot", "target_label": "OTP box",
                  "evidence": "text field labelled otp", "confidence": 0.9},
    "verdict": {"status": "passed", "reason": "code 482913 accepted", "score": 1.0},
}
NR_EVENT: dict[str, Any] = {
    "ts": "2026-05-19T00:00:00.5Z", "step_index": 0, "layer": "planner", "kind": "decision",
    "summary": "asked the user for the otp",
    "detail": {"otp": "482913", "reply": [{"otp": "1"}], "text": "not under action.params"},
}


def _nr_expected() -> tuple[dict[str, Any], dict[str, Any]]:
    step = json.loads(json.dumps(NR_STEP))
    params = step["action"]["params"]
    params["text"] = params["otp"] = NEVER_RECORD
    del params["nested"]["deep"]["otp"]  # a number: left out, not turned into a string
    for field in params["fields"]:
        field["value"] = NEVER_RECORD
    step["grounding"]["target_label"] = step["verdict"]["reason"] = NEVER_RECORD
    event = json.loads(json.dumps(NR_EVENT))
    event["detail"]["otp"] = event["detail"]["reply"][0]["otp"] = NEVER_RECORD
    return step, event


@pytest.mark.parametrize("form", ["none", "session", "policy", "subclass"])
def test_never_record_in_the_bundle_and_on_the_spans(tmp_path: Path, form: str) -> None:
    """Exactly the matched fields are replaced, in the step file, the events file, the session
    record, and the span attributes (record and flattened ones) and span event attributes;
    every other value is as recorded. ``none`` is the control: nothing is replaced."""
    kwargs: dict[str, Any] = {}
    if form == "session":
        kwargs["never_record"] = NR_PATHS
    elif form == "policy":
        kwargs["redaction_policy"] = DefaultRedactionPolicy(never_record=NR_PATHS)
    elif form == "subclass":
        class Team(DefaultRedactionPolicy):
            id = "team-nr"
            never_record = frozenset(NR_PATHS)
        kwargs["redaction_policy"] = Team()
    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id=NR_RUN, client_name="a", capture_mode="full", out_dir=out,
                          tags={"otp": "5555", "team": "web"}, **kwargs) as s:
            s.record_step(NR_STEP)
            s.record_event(NR_EVENT)
        spans = {codec.record_kind(sp.attributes): sp for sp in exporter.get_finished_spans()}
    step, event = (NR_STEP, NR_EVENT) if form == "none" else _nr_expected()
    otp_tag = "5555" if form == "none" else NEVER_RECORD

    assert json.loads((out / "steps/0000.json").read_text()) == step
    assert [json.loads(line) for line in
            (out / "events/0000.jsonl").read_text().splitlines()] == [event]
    trace_doc = json.loads((out / "trace.json").read_text())
    assert trace_doc["steps"] == [step]
    assert trace_doc["session"]["tags"] == {"otp": otp_tag, "team": "web"}

    step_span, run_span = spans["step"], spans["session"]
    assert step_span.attributes is not None and run_span.attributes is not None
    assert codec.decode_step(step_span.attributes) == step
    assert step_span.attributes["augur.grounding.target_label"] == step["grounding"][
        "target_label"]
    decisions = [e for e in step_span.events if e.name == codec.EVENT_NAME]
    assert [codec.decode_event(e.attributes or {}) for e in decisions] == [event]
    verdicts = [e for e in step_span.events if e.name == codec.VERDICT_EVENT_NAME]
    assert [(e.attributes or {})["gen_ai.evaluation.explanation"] for e in verdicts] == [
        step["verdict"]["reason"]]
    assert codec.decode_session(run_span.attributes)["tags"] == {"otp": otp_tag, "team": "web"}
    assert run_span.attributes["augur.tag.otp"] == otp_tag
    flat = json.dumps({k: v for k, v in step_span.attributes.items()}) + json.dumps(
        {k: v for e in step_span.events for k, v in (e.attributes or {}).items()})
    if form != "none":
        for secret in ("hunter2", "482913", "777111", "pin-4821", "zip-90210", "OTP box", "5555"):
            assert secret not in flat, secret


def test_subclass_with_class_attributes_is_honoured() -> None:
    """A subclass overriding id/drop_keys/mask_keys/mask_secret_names as class attributes
    takes effect (without the secret-name rule, only its own mask_keys are masked)."""

    class TeamPolicy(RedactionPolicy):
        id = "team-v2"
        drop_keys = RedactionPolicy.drop_keys | {"session_blob"}
        mask_keys = frozenset({"employee_id"})
        mask_secret_names = False

    policy = TeamPolicy()
    out = policy.apply({"session_blob": "x", "employee_id": "e-9", "token": "kept", "n": 1})
    assert policy.id == "team-v2"
    assert out == {"employee_id": "***REDACTED:mask***", "token": "kept", "n": 1}


def test_hooks_and_logprob_tokens() -> None:
    """add_redactor/add_dropper run on every string/field; a token next to a logprob is kept."""
    policy = DefaultRedactionPolicy()
    policy.add_redactor(lambda s: s.replace("ACME-INTERNAL", "[internal]"))
    policy.add_dropper(lambda key, value: key.startswith("debug_"))
    out = policy.apply({"a": "ACME-INTERNAL plan", "debug_dump": "x",
                        "logprobs": [{"token": "Hello", "logprob": -0.1}], "token": "t"})
    assert out == {"a": "[internal] plan", "logprobs": [{"token": "Hello", "logprob": -0.1}],
                   "token": "***REDACTED:mask***"}


def test_custom_policy_id_lands_in_the_manifest(tmp_path: Path) -> None:
    """The manifest records which policy ran."""
    with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=tmp_path / "b",
                      redaction_policy=RedactionPolicy(id="team-v3")):
        pass
    assert json.loads((tmp_path / "b/manifest.json").read_text())["redaction"]["policy_id"] == \
        "team-v3"


def test_masked_regions_are_opaque_and_nothing_else_changes(tmp_path: Path) -> None:
    """Masked rectangles are solid black in the written PNG; every other pixel is unchanged;
    the observation record and producer.json say which regions were masked, the step span
    how many. (The manifest and the step file do not say it: see docs/redaction.md.)"""
    from PIL import Image

    original = make_png(64, 48, seed=3, noise=True)

    class FieldPolicy(DefaultRedactionPolicy):
        def screenshot_regions(self, step_index: int, kind: str, width: int, height: int):  # type: ignore[no-untyped-def]
            return [(40, 30, 50, 40)] if kind == "post" else []

    out = tmp_path / "b"
    with capture_spans() as exporter:
        with DebugSession(run_id="r", client_name="a", capture_mode="screenshots",
                          out_dir=out, redaction_policy=FieldPolicy()) as s:
            pre = s.attach_observation(step_index=0, kind="pre", png_bytes=original,
                                       mask_regions=[{"x1": 5, "y1": 5, "x2": 20, "y2": 12,
                                                      "label": "password field"}])
            post = s.attach_observation(step_index=0, kind="post", png_bytes=original)
            s.record_step({"step_id": "r/step/0000", "step_index": 0, "step_type": "type",
                           "status": "succeeded", "started_at": "2026-05-19T00:00:00Z",
                           "observation_pre": pre, "observation_post": post})
        (step_span,) = [sp for sp in exporter.get_finished_spans()
                        if codec.record_kind(sp.attributes) == "step"]
    assert step_span.attributes is not None
    assert step_span.attributes["augur.observation.pre.masked_regions"] == 1
    assert step_span.attributes["augur.observation.post.masked_regions"] == 1
    before = Image.open(io.BytesIO(original)).convert("RGB")
    for kind, box in (("pre", (5, 5, 20, 12)), ("post", (40, 30, 50, 40))):
        after = Image.open(out / f"screenshots/0000_{kind}.png").convert("RGB")
        assert after.size == before.size
        for y in range(48):
            for x in range(64):
                inside = box[0] <= x < box[2] and box[1] <= y < box[3]
                expected = (0, 0, 0) if inside else before.getpixel((x, y))
                assert after.getpixel((x, y)) == expected, (kind, x, y)
        record = json.loads((out / f"screenshots/0000_{kind}.json").read_text())
        assert record["redaction"]["applied"] is True
        assert record["redaction"]["regions"][0]["x1"] == box[0]
    producer = json.loads((out / "producer.json").read_text())
    assert set(producer["masked_screenshots"]) == {"screenshots/0000_pre.png",
                                                   "screenshots/0000_post.png"}
    from augur_sdk.validation import validate_bundle

    assert validate_bundle(out) == []


def test_bad_mask_region_raises_before_writing(tmp_path: Path) -> None:
    """An invalid region raises naming it, and no screenshot is written."""
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots",
                      out_dir=out) as s, pytest.raises(ValueError, match=r"mask_regions\[0\]"):
        s.attach_observation(step_index=0, kind="pre", png_bytes=make_png(),
                             mask_regions=[(10, 10, 5, 5)])
    assert not (out / "screenshots").exists()


@pytest.mark.parametrize("path", ["step_index", "status", "*", "**", "client", "ts"])
def test_never_record_refuses_fields_every_record_needs(path: str) -> None:
    """A path matching a field the schemas require (a step's index, an event's ts, the
    session's client, or everything) is refused at construction, naming the field."""
    with pytest.raises(ValueError, match=r"never_record: .* which every (step|event|session)"):
        DebugSession(run_id="r", client_name="a", out_dir="unused", never_record=[path])


def test_keys_are_redacted_by_overrides_and_hooks_on_every_record() -> None:
    """A key is redacted on every record, also after it was seen clean: by a redactor added
    later, and by a subclass overriding redact_string (the clean-key cache must not skip them)."""
    record = {"customer_acme": 1}
    policy = DefaultRedactionPolicy()
    assert policy.apply(record) == record  # seen clean once
    policy.add_redactor(lambda s: s.replace("acme", "[org]"))
    assert policy.apply(record) == {"customer_[org]": 1}

    class Upper(DefaultRedactionPolicy):
        def redact_string(self, text: str) -> str:
            return text.upper()

    assert Upper().apply(record) == {"CUSTOMER_ACME": 1}
    # An email in a key is still found with the default patterns alone.
    assert DefaultRedactionPolicy().apply({"a@example.com": 1}) == {"***REDACTED:email***": 1}


def test_never_record_in_a_policy_is_checked_like_the_session_argument() -> None:
    """A policy that carries a path matching a required field is refused by the session too."""
    with pytest.raises(ValueError, match=r"never_record: 'status' matches step.status"):
        DebugSession(run_id="r", client_name="a", out_dir="unused",
                     redaction_policy=DefaultRedactionPolicy(never_record=["status"]))
