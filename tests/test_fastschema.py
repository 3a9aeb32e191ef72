"""The compiled schema check agrees with jsonschema on valid and broken records."""

from __future__ import annotations

import copy
from typing import Any

from augur_schema import list_schemas, validator_for
from hypothesis import given, settings
from hypothesis import strategies as st

from augur_sdk.fastschema import compile_schema

from support import event_record, step_record

JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                        st.floats(-2, 2, allow_nan=False), st.text(max_size=5),
                        st.sampled_from(["failed", "screenshot", "click", "viewport_css_px",
                                         "2026-05-19T00:00:00Z", "dbg_x", "retry", ""]))
JSON = st.recursive(JSON_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["x", "y", "type", "status", "provider", "provenance", "reason", "extra"]), inner,
        max_size=3)), max_leaves=6)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _mutate(record: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    record = copy.deepcopy(record)
    path = data.draw(st.sampled_from(_paths(record)[1:]))
    parent: Any = record
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["unknown", "x", "type", "reason"]))] = data.draw(JSON)
    else:
        parent[path[-1]] = data.draw(JSON)
    return record


def test_every_schema_compiles() -> None:
    """Every schema augur-schema ships is handled by the compiler (no silent fallback)."""
    assert [name for name in list_schemas() if compile_schema(name) is None] == []


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_step_verdicts_agree(data: st.DataObject) -> None:
    """For random mutations of a step record, fast check == jsonschema's is_valid."""
    record = _mutate(step_record("r", 3, pre="screenshots/0003_pre.png", status="failed",
                                 recovery_decision={"type": "retry", "attempt": 1}), data)
    fast = compile_schema("step_trace")
    assert fast is not None
    assert fast(record) == validator_for("step_trace").is_valid(record)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_event_and_session_verdicts_agree(data: st.DataObject) -> None:
    """Same agreement for decision events and session records."""
    session = {"schema_version": "0.1", "debug_session_id": "dbg_abc", "run_id": "r",
               "client": {"name": "a", "version": "1"}, "capture_mode": "trace",
               "started_at": "2026-05-19T00:00:00Z", "status": "running", "tags": {"k": "v"}}
    for name, record in (("decision_event", event_record(1)), ("debug_session", session)):
        mutated = _mutate(record, data)
        fast = compile_schema(name)
        assert fast is not None
        assert fast(mutated) == validator_for(name).is_valid(mutated), (name, mutated)
