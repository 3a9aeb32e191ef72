"""Checking user records before anything is written (pure functions, no I/O).

Every public recording call passes its input through here first. A bad value raises
``TypeError`` (wrong type) or ``ValueError`` (wrong value) whose message starts with the
field path, e.g. ``step.grounding.confidence: 1.7 is greater than the maximum of 1``. On
success the caller gets a private, JSON-clean deep copy: later mutation of the user's dict
cannot change what was recorded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from augur_schema import validator_for
from jsonschema.exceptions import relevance

from augur_sdk import _internal, limits
from augur_sdk.fastschema import compile_schema

MAX_DEPTH = 64

RUN_STATUSES = ("running", "succeeded", "failed", "cancelled", "halted")
OBSERVATION_KINDS = limits.OBSERVATION_KINDS

# Top-level step keys whose schema admits null; ``None`` elsewhere means "not given".
_NULLABLE_STEP_KEYS = frozenset(
    {"observation_pre", "observation_post", "ended_at", "duration_ms", "recovery_decision",
     "branch_context"}
)
# Objects with a closed schema: a ``None`` member is dropped instead of failing validation.
_CLOSED_STEP_OBJECTS = ("action", "grounding", "verdict", "recovery_decision", "latency", "costs")

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))$"
)


_RECENT_ISO: dict[str, int] = {}  # the last few timestamps parsed (each is parsed twice:
_RECENT_ISO_MAX = 16               # when the record is checked, and for its span)


def iso_to_ns(value: str, field: str) -> int:
    """Exact integer nanoseconds since the epoch for an ISO-8601 timestamp with a zone.

    Integer arithmetic only: the float path (``dt.timestamp() * 1e9``) is off by up to
    hundreds of ns, which would break exact joins between bundle records and span times.
    """
    known = _RECENT_ISO.get(value) if type(value) is str else None
    if known is not None:
        return known
    ns = _parse_iso_ns(value, field)
    if len(_RECENT_ISO) >= _RECENT_ISO_MAX:
        _RECENT_ISO.clear()
    _RECENT_ISO[value] = ns
    return ns


def _parse_iso_ns(value: str, field: str) -> int:
    m = _ISO_RE.match(value)
    if m is None:
        raise ValueError(
            f"{field}: {value!r} is not an ISO-8601 timestamp with a zone "
            "(expected e.g. '2026-05-19T00:00:00Z')"
        )
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ValueError(f"{field}: {value!r} is not a valid date/time ({exc})") from None
    frac_ns = int((m.group(7) or "").ljust(9, "0"))
    offset = 0
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        if m.group(9) == "-":
            offset = -offset
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000_000 + frac_ns


def ns_to_iso(ns: int) -> str:
    """ISO-8601 UTC with ``Z`` and microseconds (what :func:`utcnow_iso` produces)."""
    seconds, rem = divmod(ns, 1_000_000_000)
    dt = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rem // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _datetime_to_iso(value: datetime, field: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: naive datetime {value!r}; pass an aware (UTC) datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Unusual(Exception):
    """The fast copy met something it does not handle (a subclass, a tuple, a datetime, an
    error...): :func:`clean_json` then takes the thorough path, which also names the field."""


_FAST_DEPTH = MAX_DEPTH - 2  # deeper than this, the thorough path decides


def _fast_copy(value: Any, depth: int) -> Any:
    """A deep copy of a value made only of exact JSON types (no path bookkeeping: on
    anything else it raises :class:`_Unusual`)."""
    kind = type(value)
    if kind is str:
        if not value.isascii():
            value.encode("utf-8")  # a lone surrogate raises
        return value
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if value - value != 0.0:  # NaN or inf
            raise _Unusual
        return value
    if depth >= _FAST_DEPTH:
        raise _Unusual
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            if not key.isascii():
                key.encode("utf-8")
            out[key] = _fast_copy(item, depth + 1)
        return out
    if kind is list:
        return [_fast_copy(item, depth + 1) for item in value]
    raise _Unusual


def clean_json(value: Any, field: str, depth: int = 0) -> Any:
    """Deep-copy ``value`` into plain JSON types, raising on anything JSON cannot carry.

    Accepts dict (string keys), list, tuple, str, int, finite float, bool, None, and aware
    ``datetime`` (turned into an ISO string). Rejects bytes, NaN/inf, non-string keys,
    strings that are not valid Unicode (lone surrogates) and nesting deeper than 64.
    """
    if depth == 0:
        try:
            return _fast_copy(value, 0)
        except (_Unusual, UnicodeEncodeError, RecursionError):
            pass  # the thorough copy below accepts it or names the field at fault
    return _clean_json(value, field, depth)


def _clean_json(value: Any, field: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"{field}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{field}: string is not valid Unicode (lone surrogate)") from None
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field}: {value!r} is not a finite number (JSON has no NaN/inf)")
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{field}: key {key!r} is not a string (JSON keys are strings)")
            sub = f"{field}.{key}"
            _clean_json(key, f"{sub} (key)", depth + 1)
            out[key] = _clean_json(item, sub, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_clean_json(item, f"{field}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, datetime):
        return _datetime_to_iso(value, field)
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(
            f"{field}: bytes are not JSON; screenshots go through attach_observation(), "
            "other binary data must be encoded by you"
        )
    raise TypeError(f"{field}: {type(value).__name__} is not JSON-serializable")


@cache
def _validator(name: str) -> Any:
    return validator_for(name)


def _validator_of(schema: str | Mapping[str, Any]) -> Any:
    if isinstance(schema, str):
        return _validator(schema)
    from jsonschema.validators import validator_for as jsonschema_validator_for

    return jsonschema_validator_for(schema)(schema)


def schema_errors(schema: str | Mapping[str, Any], record: dict[str, Any], prefix: str) -> None:
    """Raise ``ValueError`` naming the field if ``record`` breaks ``schema`` (an augur-schema
    name, or a JSON Schema dict of a plug-in record kind)."""
    fast = compile_schema(schema) if isinstance(schema, str) else None
    if fast is not None and fast(record):
        return  # valid; jsonschema runs only to explain a failure
    # jsonschema's relevance order: the deepest problem first. A value that is there but
    # wrong (``grounding.confidence: 1.7``) names the field itself; a missing property only
    # names its parent, so it comes after.
    errors = sorted(_validator_of(schema).iter_errors(record), key=relevance)
    if not errors:
        return
    first = _describe(errors[0], prefix, limit=None)
    if len(errors) == 1:
        raise ValueError(first)
    listed = "; ".join(_describe(err, prefix, limit=_MESSAGE_CHARS)
                       for err in errors[1:1 + _MORE_LISTED])
    if len(errors) > 1 + _MORE_LISTED:
        listed += "; ..."
    raise ValueError(f"{first} (and {len(errors) - 1} more problem(s): {listed})")


_MORE_LISTED = 3
_MESSAGE_CHARS = 160


def _describe(error: Any, prefix: str, limit: int | None) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    where = f"{prefix}.{path}" if path else prefix
    message = str(error.message)
    if limit is not None and len(message) > limit:  # it quotes the whole bad value
        message = message[:limit - 3] + "..."
    return f"{where}: {message}"


MAX_STEP_INDEX = limits.MAX_STEP_INDEX

def required_fields() -> dict[str, list[str]]:
    """Top-level fields the Augur schemas require of a step, an event and the session."""
    return {kind: list(_validator(name).schema.get("required", []))
            for kind, name in (("step", "step_trace"), ("event", "decision_event"),
                               ("session", "debug_session"))}


def require_index(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}: expected a non-negative int, got {type(value).__name__}")
    if value < 0 or value > MAX_STEP_INDEX:
        raise ValueError(f"{field}: expected an int from 0 to {MAX_STEP_INDEX}, got {value}")
    return int(value)


def _check_observation_ref(value: Any, field: str) -> None:
    """A step's screenshot reference must stay inside the bundle."""
    if value is None:
        return
    if not isinstance(value, str):
        return  # the schema reports the type
    parts = value.split("/")
    if value.startswith(("/", "\\")) or "\\" in value or ".." in parts or ":" in parts[0] \
            or not value.strip():
        raise ValueError(f"{field}: {value!r} must be a bundle-relative path such as "
                         "'screenshots/0003_pre.png' (use what attach_observation returned)")


def fill_empty_time(record: dict[str, Any], key: str, field: str) -> None:
    """``""`` for a timestamp means "not given" (augur-sdk 0.6.1 clients send it): the call
    time is recorded instead, and a warning says so once per field."""
    if record.get(key) == "":
        record[key] = utcnow_iso()
        _internal.log_once(
            f"empty-time:{field}", 30,
            "augur_sdk: %s is an empty string; it is taken as not given and the time of the "
            "call is recorded instead (pass an ISO-8601 UTC time, or leave the field out)",
            field)


def _drop_nones(obj: dict[str, Any], keep: frozenset[str] = frozenset()) -> None:
    for key in [k for k, v in obj.items() if v is None and k not in keep]:
        del obj[key]


def check_step(step: Any) -> dict[str, Any]:
    """Validate a step record and return a clean copy (raises naming the field)."""
    if not isinstance(step, Mapping):
        raise TypeError(f"step: expected a dict, got {type(step).__name__}")
    if "step_id" not in step or step["step_id"] in (None, ""):
        raise ValueError("step.step_id: required (convention: '<run_id>/step/<NNNN>')")
    if not isinstance(step["step_id"], str):
        raise TypeError(f"step.step_id: expected a string, got {type(step['step_id']).__name__}")
    if "step_index" not in step:
        raise ValueError("step.step_index: required")
    require_index(step["step_index"], "step.step_index")
    record: dict[str, Any] = clean_json(step, "step")
    _drop_nones(record, _NULLABLE_STEP_KEYS)
    for key in _CLOSED_STEP_OBJECTS:
        sub = record.get(key)
        if isinstance(sub, dict):
            _drop_nones(sub)
    grounding = record.get("grounding")
    if isinstance(grounding, dict) and isinstance(grounding.get("coordinates"), dict):
        _drop_nones(grounding["coordinates"])
    for key in ("started_at", "ended_at"):
        if isinstance(record.get(key), str):
            fill_empty_time(record, key, f"step.{key}")
            iso_to_ns(record[key], f"step.{key}")
    for key in ("observation_pre", "observation_post"):
        _check_observation_ref(record.get(key), f"step.{key}")
    schema_errors("step_trace", record, "step")
    return record


def check_event(event: Any) -> dict[str, Any]:
    """Validate a decision event and return a clean copy (raises naming the field)."""
    if not isinstance(event, Mapping):
        raise TypeError(f"event: expected a dict, got {type(event).__name__}")
    if "step_index" in event and event["step_index"] is not None:
        require_index(event["step_index"], "event.step_index")
    record: dict[str, Any] = clean_json(event, "event")
    _drop_nones(record)
    if isinstance(record.get("ts"), str):
        fill_empty_time(record, "ts", "event.ts")
        iso_to_ns(record["ts"], "event.ts")
    schema_errors("decision_event", record, "event")
    return record


def check_record(name: str, schema: str | Mapping[str, Any] | None, value: Any,
                 timestamp_field: str | None = None) -> dict[str, Any]:
    """The default input check of a record kind: a dict, JSON-clean (a private copy),
    ``None`` members dropped, a valid ``step_index`` and timestamp, and its schema."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name}: expected a dict, got {type(value).__name__}")
    if value.get("step_index") is not None:
        require_index(value["step_index"], f"{name}.step_index")
    record: dict[str, Any] = clean_json(value, name)
    _drop_nones(record)
    if timestamp_field is not None and isinstance(record.get(timestamp_field), str):
        fill_empty_time(record, timestamp_field, f"{name}.{timestamp_field}")
        iso_to_ns(record[timestamp_field], f"{name}.{timestamp_field}")
    if schema is not None:
        schema_errors(schema, record, name)
    return record


def check_status(status: Any, allowed: tuple[str, ...] = RUN_STATUSES) -> str:
    if not isinstance(status, str):
        raise TypeError(f"status: expected a string, got {type(status).__name__}")
    if status not in allowed:
        raise ValueError(f"status: {status!r} is not one of {', '.join(allowed)}")
    return status


def check_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise TypeError(f"tags: expected a dict of str to str, got {type(tags).__name__}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str):
            raise TypeError(f"tags: key {key!r} is not a string")
        if not isinstance(value, str | int | float | bool):
            raise TypeError(
                f"tags.{key}: expected a string (or number/bool), got {type(value).__name__}"
            )
        text = value if isinstance(value, str) else str(value).lower() if isinstance(
            value, bool) else str(value)
        clean_json(key, f"tags.{key} (key)")
        clean_json(text, f"tags.{key}")
        out[key] = text
    return out


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (raises ``ValueError`` if not a PNG)."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("png_bytes: not a PNG image (bad signature or missing IHDR chunk)")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def check_observation(step_index: Any, kind: Any, png_bytes: Any) -> tuple[int, str, bytes]:
    index = require_index(step_index, "step_index")
    if kind not in OBSERVATION_KINDS:
        raise ValueError(f"kind: must be 'pre' or 'post', got {kind!r}")
    if not isinstance(png_bytes, bytes | bytearray | memoryview):
        raise TypeError(f"png_bytes: expected bytes, got {type(png_bytes).__name__}")
    data = png_bytes if type(png_bytes) is bytes else bytes(png_bytes)
    png_dimensions(data)
    return index, str(kind), data


def check_run_id(run_id: Any) -> str:
    """A run id by the rule ``augur serve`` applies too (:mod:`augur_sdk.limits`)."""
    if not isinstance(run_id, str):
        raise TypeError(f"run_id: expected a string, got {type(run_id).__name__}")
    problem = limits.run_id_problem(run_id)
    if problem is not None:
        raise ValueError(f"run_id: {problem}")
    return run_id
