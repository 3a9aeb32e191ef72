"""Redaction before any byte leaves the process: bundle files, OTLP, and the stream."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from augur_sdk import DebugSession, DefaultRedactionPolicy, RedactionPolicy, configure
from augur_sdk.testing import make_png

RUN = "run_canary"

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
}
SURVIVORS = ["press the blue Sign in button", "survivor-param-value", "survivor-summary",
             "survivor-tag"]


def _record(session: DebugSession) -> None:
    c = CANARIES
    session.record_step({
        "step_id": f"{RUN}/step/0000", "step_index": 0, "step_type": "type",
        "intent": f"press the blue Sign in button as {c['intent']}",
        "status": "failed", "failure_class": "no_state_change",
        "started_at": "2026-05-19T00:00:00Z", "ended_at": "2026-05-19T00:00:01Z",
        "action": {"type": "type", "params": {
            "text": c["typed_text"], "password": c["params_password"],
            "secret": c["params_secret"], "note": "survivor-param-value",
            "fields": [{"name": "ssn", "ssn": c["nested_list_ssn"]}],
            c["dict_key_email"]: "value under an email key"}},
        "grounding": {"provider": "vlm", "provenance": "screenshot",
                      "evidence": f"header Authorization: Bearer {c['evidence_bearer']}"},
        "verdict": {"status": "failed", "reason": f"token was {c['verdict_jwt']}"},
        "recovery_decision": {"type": "retry", "reason": f"password={c['recovery_password_kv']}"},
    })
    session.record_event({
        "ts": "2026-05-19T00:00:00.5Z", "step_index": 0, "layer": "planner", "kind": "decision",
        "summary": f"survivor-summary used api_key={c['summary_api_key']}",
        "detail": {"headers": {"cookie": f"s={c['detail_cookie']}"},
                   "calls": [{"token": c["detail_list_token"]}],
                   "payment": {"card_number": c["detail_card"]}},
    })
    session.record_event({"ts": "2026-05-19T00:00:02Z", "layer": "runner", "kind": "info",
                          "summary": f"Cookie: sid={c['run_event_cookie_header']}"})


def _session(out: Path, dsn: str) -> DebugSession:
    c = CANARIES
    return DebugSession(
        run_id=RUN, client_name="agent", client_version=f"1.0 {c['client_version_email']}",
        client_git_sha=c["client_git_sha"], capture_mode="full", out_dir=out, dsn=dsn,
        tags={"owner": c["tag_email"], "token": c["tag_token"], "team": "survivor-tag"},
        never_record=["action.params.text"])


def test_canaries_are_found_nowhere(tmp_path: Path, fault_server) -> None:  # type: ignore[no-untyped-def]
    """18 planted secrets appear zero times in the bundle, the OTLP export and the stream,
    while non-secret values survive everywhere."""
    otlp = fault_server("ok")
    augur = fault_server("ok")
    configure(otlp_endpoint=f"http://127.0.0.1:{otlp.port}/v1/traces", close_timeout_s=10)
    out = tmp_path / "bundle"
    with _session(out, augur.dsn()) as session:
        _record(session)

    bundle_bytes = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
    otlp_bytes = "".join(r["body"] for r in otlp.requests()).encode("latin-1")
    stream_bytes = "".join(r["body"] + r["path"] for r in augur.requests()).encode("latin-1")
    assert otlp.requests(), "nothing reached the OTLP receiver"
    assert any(r["path"].endswith("/trace") for r in augur.requests())
    for where, data in (("bundle", bundle_bytes), ("otlp", otlp_bytes),
                        ("stream", stream_bytes)):
        leaked = [name for name, secret in CANARIES.items() if secret.encode() in data]
        assert leaked == [], f"{where} leaked {leaked}"
        for survivor in SURVIVORS:
            assert survivor.encode() in data, f"{where} lost {survivor!r}"
        assert b"***REDACTED:never_record***" in data
        assert b"***REDACTED:email***" in data and b"***REDACTED:mask***" in data
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["redaction"] == {"policy_id": "default-pii-v1", "applied": True}


def test_subclass_with_class_attributes_is_honoured() -> None:
    """A subclass overriding id/drop_keys/mask_keys as class attributes takes effect."""

    class TeamPolicy(RedactionPolicy):
        id = "team-v2"
        drop_keys = RedactionPolicy.drop_keys | {"session_blob"}
        mask_keys = frozenset({"employee_id"})

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
    the observation record and producer.json say which regions were masked."""
    from PIL import Image

    original = make_png(64, 48, seed=3, noise=True)

    class FieldPolicy(DefaultRedactionPolicy):
        def screenshot_regions(self, step_index: int, kind: str, width: int, height: int):  # type: ignore[no-untyped-def]
            return [(40, 30, 50, 40)] if kind == "post" else []

    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", capture_mode="screenshots", out_dir=out,
                      redaction_policy=FieldPolicy()) as s:
        s.attach_observation(step_index=0, kind="pre", png_bytes=original,
                             mask_regions=[{"x1": 5, "y1": 5, "x2": 20, "y2": 12,
                                            "label": "password field"}])
        s.attach_observation(step_index=0, kind="post", png_bytes=original)
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
