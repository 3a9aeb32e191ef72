"""The OTLP/HTTP receiver at /v1/traces: our SDK's spans become the same bundle."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from serverkit import ACME, GLOBEX, event_files, read_json, step_files

import augur_sdk
from augur_sdk import CaptureMode, DebugSession
from augur_sdk.testing import capture_spans
from augur_sdk.validation import validate_bundle

from support import event_record, run_seed_session, step_record


def otlp_json(spans: Any) -> dict[str, Any]:
    """Spans as an OTLP/JSON request body (ids as hex, as the OTLP spec says)."""
    body: dict[str, Any] = MessageToDict(encode_spans(spans))

    def hexify(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hexify(value)
        elif isinstance(node, list):
            for item in node:
                hexify(item)

    hexify(body)
    return body


def post_otlp(server: Any, body: dict[str, Any], *, token: str | None = ACME,
              gzipped: bool = False) -> Any:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = "gzip"
    return server.request("POST", "/v1/traces", raw=raw, token=token, headers=headers)


def assert_same_records(server_root: Path, local_root: Path) -> None:
    assert step_files(server_root) == step_files(local_root)
    assert event_files(server_root) == event_files(local_root)
    assert read_json(server_root / "trace.json") == read_json(local_root / "trace.json")
    assert validate_bundle(server_root) == []


@pytest.mark.parametrize("header", ["x-augur-token=tok-acme-1",
                                    "Authorization=Bearer%20tok-acme-1"])
def test_sdk_otlp_protobuf_export_rebuilds_the_bundle(server: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      header: str) -> None:
    """SDK OTLP/protobuf export to the server yields steps, events and trace equal to the local bundle's."""
    run = f"otlp_pb_{header[0]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", header)
    augur_sdk.configure(otlp_endpoint=f"{server.url}/v1/traces")
    run_seed_session(tmp_path / "local", steps=4, run_id=run)
    info = server.wait_status(run, "finished")
    root = server.run_dir(run)
    assert_same_records(root, tmp_path / "local")
    manifest = read_json(root / "manifest.json")
    assert manifest["redaction"]["policy_id"] == "default-pii-v1"
    assert len(manifest["missing"]) == 8  # screenshots never travel on spans
    assert info["source"] == "otlp" and info["step_count"] == 4
    spans = [json.loads(line) for line in (root / "otel/spans.jsonl").read_text().splitlines()]
    local = [json.loads(line) for line in
             (tmp_path / "local/otel/spans.jsonl").read_text().splitlines()]
    # The span ids are the same; the server does not say which events were on the run span
    # (spans can arrive in any order, so a file line is not known for sure).
    local = [line for line in local if line["kind"] != "run_event"]
    assert sorted(map(json.dumps, spans)) == sorted(map(json.dumps, local))


def test_otlp_json_export_rebuilds_the_bundle(server: Any, tmp_path: Path) -> None:
    """The same run as gzip OTLP/JSON (hex ids) yields the same records and a JSON OTLP response."""
    run = "otlp_json"
    with capture_spans() as exporter:
        run_seed_session(tmp_path / "local", steps=3, run_id=run)
    resp = post_otlp(server, otlp_json(exporter.get_finished_spans()), gzipped=True)
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {}
    server.wait_status(run, "finished")
    assert_same_records(server.run_dir(run), tmp_path / "local")


def test_out_of_order_spans_still_give_events_in_recording_order(server: Any,
                                                                 tmp_path: Path) -> None:
    """Spans delivered run-span-first, one per request, still give events in augur.seq order."""
    run = "otlp_order"
    with capture_spans() as exporter, DebugSession(
            run_id=run, client_name="t", capture_mode=CaptureMode.TRACE,
            out_dir=tmp_path / "local") as session:
        session.record_event(event_record(0, 0))  # before its step: goes on the run span
        session.record_step(step_record(run, 0))
        session.record_event(event_record(0, 1))  # on step 0's span
        session.record_step(step_record(run, 1))
        session.record_event(event_record(0, 2))  # late for step 0: on the run span
        session.record_event(event_record(1, 0))
        session.record_event(event_record(None, 9, layer="runner"))
    spans = list(exporter.get_finished_spans())
    for span in reversed(spans):  # the run span ends last, so it goes first here
        assert post_otlp(server, otlp_json([span])).status == 200
    post_otlp(server, otlp_json(spans))  # a whole re-delivery changes nothing
    server.wait_status(run, "finished")
    root = server.run_dir(run)
    assert [e["detail"]["n"] for e in event_files(root)["0000.jsonl"]] == [0, 1, 2]
    assert_same_records(root, tmp_path / "local")


def test_otlp_requires_a_token_and_honours_the_tenant(server: Any, tmp_path: Path) -> None:
    """/v1/traces needs a valid token (401, nothing written) and writes into the token's tenant."""
    run = "otlp_auth"
    with capture_spans() as exporter:
        run_seed_session(tmp_path / "local", steps=1, run_id=run)
    body = otlp_json(exporter.get_finished_spans())
    assert post_otlp(server, body, token=None).status == 401
    assert post_otlp(server, body, token="wrong").status == 401
    assert not server.run_dir(run).exists()
    assert post_otlp(server, body, token=GLOBEX).status == 200
    assert server.run_dir(run, "globex").is_dir() and not server.run_dir(run).exists()


def test_foreign_spans_are_ignored_and_bad_ones_rejected(server: Any) -> None:
    """Foreign spans are ignored; our span with an unsafe run id is rejected and written nowhere."""
    foreign = {"traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "GET /",
               "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}]}
    ours = {"traceId": "0" * 31 + "2", "spanId": "0" * 15 + "2", "name": "execute_tool click",
            "attributes": [{"key": "augur.record", "value": {"stringValue": "step"}},
                           {"key": "augur.run_id", "value": {"stringValue": "../escape"}}]}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [foreign, ours]}]}]}
    resp = post_otlp(server, body)
    assert resp.status == 200
    assert resp.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert not (server.data.parent / "escape").exists()


@pytest.mark.parametrize(("content_type", "raw", "status"), [
    ("application/x-protobuf", b"\xff\xff\xff", 400),
    ("application/json", b"{", 400),
    ("application/json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
     400),
    ("text/plain", b"hello", 415),
])
def test_undecodable_otlp_is_refused(server: Any, content_type: str, raw: bytes,
                                     status: int) -> None:
    """A body that is not an OTLP trace request is 400; an unknown content type is 415."""
    resp = server.request("POST", "/v1/traces", raw=raw, headers={"Content-Type": content_type})
    assert resp.status == status, resp.data
