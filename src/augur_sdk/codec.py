"""The record <-> span codec (pure, no I/O).

A step record becomes the attributes of its ``execute_tool`` span, a decision event the
attributes of a span event, the session record the attributes of the ``invoke_agent`` run
span. The encoding is lossless so that a bundle rebuilt from spans alone equals the live one:

* ``augur.<kind>.<key>`` holds a top-level scalar (str, bool, int64, float) as is;
* ``augur.<kind>_json.<key>`` holds anything else (objects, lists, null, big ints) as
  compact, key-sorted JSON.

Next to the record, spans carry the OpenTelemetry GenAI attributes and a few flattened
scalars people filter on (``augur.action.type``, ``augur.grounding.confidence``, ...). The
decoder reads only the two record prefixes, so those extras never leak back into records.
The ``gen_ai.*`` names are hard-coded: the Python semconv constants are deprecated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

AttrValue = str | bool | int | float
Attributes = dict[str, AttrValue]

STEP = "step"
EVENT = "event"
SESSION = "session"

EVENT_NAME = "augur.decision_event"
VERDICT_EVENT_NAME = "gen_ai.evaluation.result"
SEQ_ATTR = "augur.seq"
RECORD_KIND_ATTR = "augur.record"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# One encoder for every call: ``json.dumps`` with options builds a new one each time.
_compact = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def compact_json(value: Any) -> str:
    return _compact(value)


def _is_scalar(value: Any) -> bool:
    if isinstance(value, bool | str | float):
        return True
    return isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX


def encode_record(kind: str, record: Mapping[str, Any]) -> Attributes:
    """Lossless attribute encoding of a JSON object (see module docstring)."""
    attrs: Attributes = {}
    for key, value in record.items():
        if _is_scalar(value):
            attrs[f"augur.{kind}.{key}"] = value
        else:
            attrs[f"augur.{kind}_json.{key}"] = compact_json(value)
    return attrs


def decode_record(kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`encode_record`; ignores every other attribute."""
    scalar_prefix = f"augur.{kind}."
    json_prefix = f"augur.{kind}_json."
    record: dict[str, Any] = {}
    for name, value in attributes.items():
        if name.startswith(scalar_prefix):
            record[name[len(scalar_prefix):]] = value
        elif name.startswith(json_prefix):
            record[name[len(json_prefix):]] = json.loads(value)
    return record


# ── steps ────────────────────────────────────────────────────────────────────


def step_span_name(step: Mapping[str, Any]) -> str:
    return f"execute_tool {step.get('step_type', 'step')}"


def step_attributes(
    step: Mapping[str, Any],
    *,
    run_id: str,
    seq: int,
    observations: Mapping[str, Mapping[str, AttrValue]] | None = None,
) -> Attributes:
    """All attributes of a step span: GenAI names, filter scalars, the record itself."""
    attrs: Attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": str(step.get("step_type", "")),
        "gen_ai.tool.call.id": str(step["step_id"]),
        "gen_ai.tool.type": "function",
        RECORD_KIND_ATTR: STEP,
        SEQ_ATTR: seq,
        "augur.run_id": run_id,
        "augur.step_index": int(step["step_index"]),
    }
    action = step.get("action")
    if isinstance(action, dict) and isinstance(action.get("type"), str):
        attrs["augur.action.type"] = action["type"]
    grounding = step.get("grounding")
    if isinstance(grounding, dict):
        if isinstance(grounding.get("confidence"), int | float):
            attrs["augur.grounding.confidence"] = float(grounding["confidence"])
        coords = grounding.get("coordinates")
        if isinstance(coords, dict):
            for axis in ("x", "y"):
                if isinstance(coords.get(axis), int | float):
                    attrs[f"augur.grounding.{axis}"] = float(coords[axis])
        if isinstance(grounding.get("target_label"), str):
            attrs["augur.grounding.target_label"] = grounding["target_label"]
    verdict = step.get("verdict")
    if isinstance(verdict, dict) and isinstance(verdict.get("status"), str):
        attrs["augur.verdict.status"] = verdict["status"]
    if step.get("status") == "failed":
        attrs["error.type"] = str(step.get("failure_class") or "step_failed")
    if "costs" in step:
        attrs.update(cost_attributes(step["costs"]))
    for kind, facts in (observations or {}).items():
        for fact, value in facts.items():
            attrs[f"augur.observation.{kind}.{fact}"] = value
    attrs.update(encode_record(STEP, step))
    return attrs


def step_error_description(step: Mapping[str, Any]) -> str | None:
    """Status description for a failed step, ``None`` when the step did not fail."""
    if step.get("status") != "failed":
        return None
    parts = [str(step["failure_class"])] if step.get("failure_class") else []
    verdict = step.get("verdict")
    if isinstance(verdict, dict) and isinstance(verdict.get("reason"), str):
        parts.append(verdict["reason"])
    return ": ".join(parts) or "step failed"


def verdict_event_attributes(step: Mapping[str, Any]) -> Attributes | None:
    """``gen_ai.evaluation.result`` attributes for a step's verdict, if it has one."""
    verdict = step.get("verdict")
    if not isinstance(verdict, dict) or "status" not in verdict:
        return None
    attrs: Attributes = {
        "gen_ai.evaluation.name": "augur.verdict",
        "gen_ai.evaluation.score.label": str(verdict["status"]),
    }
    if isinstance(verdict.get("score"), int | float):
        attrs["gen_ai.evaluation.score.value"] = float(verdict["score"])
    if isinstance(verdict.get("reason"), str):
        attrs["gen_ai.evaluation.explanation"] = verdict["reason"]
    return attrs


def evaluation_events(fields: Mapping[str, Any]) -> list[Attributes]:
    """``gen_ai.evaluation.result`` attributes for a changed verdict and the newest judge
    decision among ``fields`` (a patch)."""
    out = []
    verdict = verdict_event_attributes(fields)
    if verdict is not None:
        out.append(verdict)
    judges = fields.get("judge_decisions")
    if isinstance(judges, list) and judges and isinstance(judges[-1], dict):
        judge = judges[-1]
        verdict_of: dict[str, Any] = judge["verdict"] if isinstance(judge.get("verdict"),
                                                                    dict) else {}
        attrs: Attributes = {"gen_ai.evaluation.name": f"augur.judge.{judge.get('judge_id')}",
                             "augur.judge.type": str(judge.get("judge_type"))}
        if isinstance(verdict_of.get("status"), str):
            attrs["gen_ai.evaluation.score.label"] = verdict_of["status"]
        score = verdict_of.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            attrs["gen_ai.evaluation.score.value"] = float(score)
        if isinstance(verdict_of.get("reason"), str):
            attrs["gen_ai.evaluation.explanation"] = verdict_of["reason"]
        if isinstance(judge.get("confidence"), int | float):
            attrs["augur.judge.confidence"] = float(judge["confidence"])
        out.append(attrs)
    return out


def cost_attributes(costs: Any) -> Attributes:
    """GenAI usage names for tokens, ``augur.cost.*_usd`` for money."""
    if not isinstance(costs, dict):
        return {}
    names = {"tokens_in": "gen_ai.usage.input_tokens",
             "tokens_out": "gen_ai.usage.output_tokens",
             "cache_hit_tokens": "gen_ai.usage.cache_read.input_tokens"}
    attrs: Attributes = {}
    for key, value in costs.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if key in names:
            attrs[names[key]] = int(value)
        elif key.endswith("_usd"):
            attrs[f"augur.cost.{key}"] = float(value)
    return attrs


# ── decision events ──────────────────────────────────────────────────────────


def event_attributes(event: Mapping[str, Any], *, seq: int, kind: str = EVENT) -> Attributes:
    """Attributes of the span event of a record (a decision event, or a record of a kind
    placed as span events); records of other kinds than ``event`` also name their kind."""
    attrs: Attributes = {SEQ_ATTR: seq}
    if kind != EVENT:
        attrs[RECORD_KIND_ATTR] = kind
    attrs.update(encode_record(kind, event))
    return attrs


def record_attributes(kind: str, record: Mapping[str, Any], *, seq: int) -> Attributes:
    """Attributes of the span of a record of a kind placed as a child span."""
    attrs: Attributes = {RECORD_KIND_ATTR: kind, SEQ_ATTR: seq}
    attrs.update(encode_record(kind, record))
    return attrs


def decode_event(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return decode_record(EVENT, attributes)


# ── the run (session record) ─────────────────────────────────────────────────


def run_span_name(client_name: str) -> str:
    return f"invoke_agent {client_name}"


def run_attributes(session: Mapping[str, Any]) -> Attributes:
    client = session.get("client") or {}
    attrs: Attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": str(client.get("name", "")),
        "gen_ai.agent.id": str(session["run_id"]),
        "gen_ai.conversation.id": str(session["debug_session_id"]),
        RECORD_KIND_ATTR: SESSION,
        "augur.run_id": str(session["run_id"]),
        "augur.debug_session_id": str(session["debug_session_id"]),
        "augur.capture_mode": str(session["capture_mode"]),
    }
    if client.get("version"):
        attrs["gen_ai.agent.version"] = str(client["version"])
    for key, value in (session.get("tags") or {}).items():
        attrs[f"augur.tag.{key}"] = str(value)
    if "costs" in session:
        attrs.update(cost_attributes(session["costs"]))
    attrs.update(encode_record(SESSION, session))
    return attrs


def decode_session(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return decode_record(SESSION, attributes)


def decode_step(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return decode_record(STEP, attributes)


def record_kind(attributes: Mapping[str, Any] | None) -> str | None:
    if not attributes:
        return None
    value = attributes.get(RECORD_KIND_ATTR)
    return value if isinstance(value, str) else None
