"""OTLP/HTTP trace requests -> our records (pure; no I/O).

Accepts ``application/x-protobuf`` (an ``ExportTraceServiceRequest``) and
``application/json`` (OTLP/JSON: lowerCamelCase or snake_case field names, trace and span
ids as hex strings, 64-bit integers as strings or numbers), optionally gzip- or
deflate-compressed. Only spans written by augur_sdk are kept (``augur.record`` = ``session``
for the run span, ``step`` for step spans); their records are decoded with
:mod:`augur_sdk.codec`, and decision events (span events named ``augur.decision_event``)
keep their ``augur.seq`` so the receiver can write them in recording order. Every other
span is counted and ignored: a collector can fan a whole trace out to the server.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from augur_sdk import codec

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpError(ValueError):
    """The request cannot be decoded (HTTP 400), or is too large once inflated (413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AugurSpan:
    """One span of ours, decoded: the run (``kind == "session"``) or a step."""

    kind: str
    run_id: str
    record: dict[str, Any]
    seq: int
    ids: dict[str, str]
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    policy_id: str | None = None


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, identity) without exceeding ``limit``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise OtlpError(f"unsupported Content-Encoding {encoding!r} (use gzip or none)", 415)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpError(f"body is not valid {encoding} data ({exc})") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise OtlpError(f"body is larger than {limit} bytes once decompressed", 413)
    return data


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON carries ids as hex; protobuf's JSON mapping expects base64 for bytes."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError:
                    raise OtlpError(f"{key}: {value[:40]!r} is not a hex id") from None
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def parse_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    media = content_type.split(";", 1)[0].strip().lower()
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpError(f"not a valid ExportTraceServiceRequest ({exc})") from None
        return request
    if media == JSON:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise OtlpError(f"malformed JSON ({exc})") from None
        if not isinstance(data, dict):
            raise OtlpError("OTLP/JSON body must be an object")
        _hex_ids_to_base64(data)
        try:
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        except (json_format.ParseError, binascii.Error) as exc:
            raise OtlpError(f"not a valid OTLP/JSON trace request ({exc})") from None
        return request
    raise OtlpError(f"unsupported Content-Type {media!r} (use {PROTOBUF} or {JSON})", 415)


def encode_response(media: str, rejected: int = 0, message: str = "") -> tuple[bytes, str]:
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if media == JSON:
        return json.dumps(json_format.MessageToDict(response)).encode(), JSON
    return response.SerializeToString(), PROTOBUF


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return value.bytes_value.hex()
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    item: KeyValue
    for item in kvs:
        out[item.key] = any_value(item.value)
    return out


def _seq(attrs: dict[str, Any]) -> int:
    value = attrs.get(codec.SEQ_ATTR, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def augur_spans(request: ExportTraceServiceRequest) -> tuple[list[AugurSpan], int, list[str]]:
    """(our spans, number of other spans ignored, problems with spans of ours)."""
    found: list[AugurSpan] = []
    ignored = 0
    problems: list[str] = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = attributes(span.attributes)
                kind = codec.record_kind(attrs)
                if kind not in (codec.SESSION, codec.STEP):
                    ignored += 1
                    continue
                run_id = attrs.get("augur.run_id")
                if not isinstance(run_id, str):
                    problems.append(f"{kind} span without augur.run_id")
                    continue
                try:
                    if kind == codec.SESSION:
                        record = codec.decode_session(attrs)
                    else:
                        record = codec.decode_step(attrs)
                    events = [
                        (_seq(ev_attrs), codec.decode_event(ev_attrs))
                        for ev_attrs in (attributes(ev.attributes) for ev in span.events
                                         if ev.name == codec.EVENT_NAME)
                    ]
                except ValueError as exc:  # a *_json attribute that is not JSON
                    problems.append(f"{kind} span of run {run_id[:80]!r}: {exc}")
                    continue
                ids = {"trace_id": span.trace_id.hex(), "span_id": span.span_id.hex()}
                if span.parent_span_id:
                    ids["parent_span_id"] = span.parent_span_id.hex()
                policy = attrs.get("augur.redaction.policy_id")
                found.append(AugurSpan(
                    kind=kind, run_id=run_id, record=record, seq=_seq(attrs), ids=ids,
                    events=events, policy_id=policy if isinstance(policy, str) else None))
    found.sort(key=lambda s: (s.kind == codec.SESSION, s.seq))
    return found, ignored, problems
