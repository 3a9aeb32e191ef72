"""OTLP/HTTP trace requests -> our records (pure; no I/O).

Accepts ``application/x-protobuf`` (an ``ExportTraceServiceRequest``) and
``application/json`` (OTLP/JSON: lowerCamelCase or snake_case field names, trace and span
ids as hex strings, 64-bit integers as strings or numbers), optionally gzip- or
deflate-compressed. Only spans written by augur_sdk are kept (``augur.record`` = ``session``
for the run span, ``step`` for step spans); their records are decoded with
:mod:`augur_sdk.codec`, and decision events (span events named ``augur.decision_event``)
keep their ``augur.seq`` so the receiver can write them in recording order. Every other
span is counted and ignored: a collector can fan a whole trace out to the server. A span of
ours carrying a value no bundle file can hold (a number that is not finite, a lone
surrogate: ``decode.check_values``) makes the whole request a 400.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from augur_sdk import codec
from augur_sdk.server import decode

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpError(ValueError):
    """The request cannot be decoded (HTTP 400/415), or is too large once inflated (413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RawSpan:
    """The parts of a span the receiver needs, from either encoding."""

    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    trace_id: str
    span_id: str
    parent_span_id: str


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


def inflated_size(body: bytes, encoding: str, limit: int) -> int:
    """How large ``body`` is once inflated, at most: gzip states it in its last four bytes
    (:func:`inflate` holds it to that), deflate does not (``limit``)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return len(body)
    if encoding == "gzip":
        if len(body) < 18:
            raise OtlpError("body is not valid gzip data (too short)")
        return min(int.from_bytes(body[-4:], "little"), limit + 1)
    if encoding == "deflate":
        return limit
    raise OtlpError(f"unsupported Content-Encoding {encoding[:40]!r} (use gzip or none)", 415)


def decoded_cost(data: bytes, media: str) -> int:
    """An upper estimate of the memory decoding an (inflated) request takes: the parsed
    message and the spans made of it."""
    if media == JSON:
        return 2 * decode.decoded_cost(data)
    return 8 * len(data)


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
        raise OtlpError(f"unsupported Content-Encoding {encoding[:40]!r} (use gzip or none)",
                        415)
    cap = min(limit, inflated_size(body, encoding, limit))
    try:
        data = inflater.decompress(body, cap + 1)
    except zlib.error as exc:
        raise OtlpError(f"body is not valid {encoding} data ({exc})") from None
    if len(data) > limit or (len(data) > cap and cap == limit):
        raise OtlpError(f"body is larger than {limit} bytes once decompressed", 413)
    if len(data) > cap or inflater.unconsumed_tail:
        raise OtlpError(f"body is not valid {encoding} data (longer than its size trailer)")
    return data


# ── protobuf ────────────────────────────────────────────────────────────────


def _pb_value(value: AnyValue) -> Any:
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
        return [_pb_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    return None


def _pb_spans(body: bytes) -> Iterator[RawSpan]:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError; its module is untyped
        raise OtlpError(f"not a valid ExportTraceServiceRequest ({exc})") from None
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield RawSpan(
                    attributes={kv.key: _pb_value(kv.value) for kv in span.attributes},
                    events=[(ev.name, {kv.key: _pb_value(kv.value) for kv in ev.attributes})
                            for ev in span.events],
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex())


# ── OTLP/JSON ───────────────────────────────────────────────────────────────


def _get(obj: Any, camel: str, snake: str | None = None) -> Any:
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(snake) if snake else None


def _list(obj: Any, camel: str, snake: str | None = None) -> list[Any]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpError(f"{camel}: expected a list")
    return value


def _json_int(value: Any) -> int:
    if isinstance(value, bool):
        raise OtlpError("intValue: expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise OtlpError(f"intValue: {str(value)[:40]!r} is not an integer")


def _json_value(value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    for camel, snake in (("stringValue", "string_value"), ("boolValue", "bool_value"),
                         ("intValue", "int_value"), ("doubleValue", "double_value"),
                         ("bytesValue", "bytes_value"), ("arrayValue", "array_value"),
                         ("kvlistValue", "kvlist_value")):
        inner = _get(value, camel, snake)
        if inner is None:
            continue
        if camel == "intValue":
            return _json_int(inner)
        if camel == "doubleValue":  # a number, or "NaN"/"Infinity" as protobuf writes them
            if isinstance(inner, bool) or not isinstance(inner, int | float | str):
                raise OtlpError("doubleValue: expected a number")
            try:
                return float(inner)
            except ValueError:
                raise OtlpError(f"doubleValue: {str(inner)[:40]!r} is not a number") from None
        if camel == "bytesValue":
            try:
                return base64.b64decode(str(inner), validate=True).hex()
            except ValueError:
                raise OtlpError("bytesValue: not base64") from None
        if camel == "arrayValue":
            return [_json_value(v) for v in _list(inner, "values")]
        if camel == "kvlistValue":
            return _json_attributes(_list(inner, "values"))
        if camel == "stringValue" and not isinstance(inner, str):
            raise OtlpError("stringValue: expected a string")
        if camel == "boolValue" and not isinstance(inner, bool):
            raise OtlpError("boolValue: expected true or false")
        return inner
    return None


def _json_attributes(items: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key = _get(item, "key")
        if not isinstance(key, str):
            raise OtlpError("attribute without a string key")
        out[key] = _json_value(_get(item, "value"))
    return out


def _hex_id(value: Any, name: str, size: int) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise OtlpError(f"{name}: expected a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise OtlpError(f"{name}: {value[:40]!r} is not hex (OTLP/JSON ids are hex)") from None
    if len(raw) != size:
        raise OtlpError(f"{name}: expected {size} bytes, got {len(raw)}")
    return raw.hex()


def _json_spans(body: bytes) -> Iterator[RawSpan]:
    try:
        data = decode.strict_json(body)
    except decode.BodyError as exc:
        raise OtlpError(exc.message) from None
    if not isinstance(data, dict):
        raise OtlpError("OTLP/JSON body must be an object")
    for resource_spans in _list(data, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                events = []
                for event in _list(span, "events"):
                    name = _get(event, "name")
                    events.append((name if isinstance(name, str) else "",
                                   _json_attributes(_list(event, "attributes"))))
                yield RawSpan(
                    attributes=_json_attributes(_list(span, "attributes")),
                    events=events,
                    trace_id=_hex_id(_get(span, "traceId", "trace_id"), "traceId", 16),
                    span_id=_hex_id(_get(span, "spanId", "span_id"), "spanId", 8),
                    parent_span_id=_hex_id(_get(span, "parentSpanId", "parent_span_id"),
                                           "parentSpanId", 8))


def raw_spans(body: bytes, media: str) -> list[RawSpan]:
    """Every span of the request (``media`` is the Content-Type without parameters)."""
    if media == PROTOBUF:
        return list(_pb_spans(body))
    if media == JSON:
        return list(_json_spans(body))
    raise OtlpError(f"unsupported Content-Type {media[:60]!r} (use {PROTOBUF} or {JSON})", 415)


def encode_response(media: str, rejected: int = 0, message: str = "") -> tuple[bytes, str]:
    """An ``ExportTraceServiceResponse`` in the request's encoding."""
    if media == JSON:
        body: dict[str, Any] = {}
        if rejected:
            body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
        return json.dumps(body).encode("utf-8"), JSON
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response.SerializeToString(), PROTOBUF


# ── our spans ───────────────────────────────────────────────────────────────


def _seq(attrs: dict[str, Any]) -> int:
    value = attrs.get(codec.SEQ_ATTR, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def augur_spans(spans: Iterable[RawSpan]) -> tuple[list[AugurSpan], int, list[str]]:
    """(our spans: steps in recording order, run spans last; how many other spans were
    ignored; problems with spans of ours, each of which is rejected)."""
    found: list[AugurSpan] = []
    ignored = 0
    problems: list[str] = []
    for span in spans:
        kind = codec.record_kind(span.attributes)
        if kind not in (codec.SESSION, codec.STEP):
            ignored += 1
            continue
        run_id = span.attributes.get("augur.run_id")
        if not isinstance(run_id, str):
            problems.append(f"{kind} span without augur.run_id")
            continue
        try:
            if kind == codec.SESSION:
                record = codec.decode_session(span.attributes)
            else:
                record = codec.decode_step(span.attributes)
            events = [(_seq(attrs), codec.decode_event(attrs))
                      for name, attrs in span.events if name == codec.EVENT_NAME]
        except (ValueError, TypeError) as exc:  # a *_json attribute that is not JSON
            problems.append(f"{kind} span of run {run_id[:80]!r}: {exc}")
            continue
        try:
            decode.check_values([run_id, record, events], f"{kind} span")
        except decode.BodyError as exc:
            raise OtlpError(exc.message) from None
        ids = {"trace_id": span.trace_id, "span_id": span.span_id}
        if span.parent_span_id:
            ids["parent_span_id"] = span.parent_span_id
        policy = span.attributes.get("augur.redaction.policy_id")
        found.append(AugurSpan(kind=kind, run_id=run_id, record=record,
                               seq=_seq(span.attributes), ids=ids, events=events,
                               policy_id=policy if isinstance(policy, str) else None))
    found.sort(key=lambda s: (s.kind == codec.SESSION, s.seq))
    return found, ignored, problems
