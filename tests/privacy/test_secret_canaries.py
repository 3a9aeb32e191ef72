"""Every secret shape, planted in every field of every record kind, leaves the process nowhere:
not in the bundle, the spans (so not over OTLP), what a real ``augur serve`` stored from the
stream, its log, or the ``augur_sdk`` log; a control run without redaction finds each canary in
each place its kind goes, so "found nowhere" means "redacted", not "never sent".

The kinds are rows of ``ROWS``: how a value is planted through the public API, and the places
that kind reaches. A new record kind is a new row (when the record-kind registry lands, the rows
come from it: its schema names the fields, its spec the places).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from augur_schema import validator_for
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from secret_canaries import SECRET_KEYS, SHAPES, Shape, rand

from augur_sdk import DebugSession, _internal, configure
from augur_sdk.redaction import NoRedactionPolicy, RedactionPolicy

TESTS = Path(__file__).resolve().parent.parent
RUN = "run_secrets"
TS = "2026-05-19T00:00:00Z"
TS_END = "2026-05-19T00:00:01Z"
EVERYWHERE = frozenset({"bundle", "spans", "otlp", "server"})


def _serverkit() -> ModuleType:
    """tests/server/conftest.py's ``start_server`` (a real ``augur serve``, stopped by pid)."""
    sys.path.insert(0, str(TESTS / "server"))
    spec = importlib.util.spec_from_file_location("_serve_for_secrets",
                                                  TESTS / "server" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SERVE = _serverkit()


# ── the canaries ─────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class KeyName:
    """A secret-named key as a shape: its string value is the needle."""

    name: str

    def make(self, seed: str) -> tuple[str, str]:
        secret = "kv" + rand(seed, "abcdefghijkmnopqrstuvwxyz23456789", 22)
        return f"{self.name}={secret}", secret


Canary = Shape | KeyName
CANARIES: tuple[Canary, ...] = (*SHAPES, *(KeyName(n) for n in SECRET_KEYS))


def _canary_id(canary: Canary) -> str:
    return canary.name if isinstance(canary, Shape) else f"key:{canary.name}"


@dataclass
class Plants:
    """The needles planted so far: (row, canary) -> needle, and each row's places."""

    needles: dict[tuple[str, str], str] = field(default_factory=dict)
    places: dict[str, frozenset[str]] = field(default_factory=dict)
    next_index: int = 0

    def text(self, row: str, canary: Canary) -> str:
        """The planted string for ``canary`` in ``row`` (one needle per row and canary)."""
        planted, needle = canary.make(f"{row}/{_canary_id(canary)}")
        self.needles[(row, _canary_id(canary))] = needle
        return f"keep-{row} {planted} keep-{row}"

    def secret_value(self, row: str, canary: Canary) -> dict[str, str]:
        """Extra free-form members for ``canary``: a secret-named key with the needle."""
        if isinstance(canary, KeyName):
            return {canary.name: canary.make(f"{row}/{_canary_id(canary)}")[1]}
        return {}

    def index(self) -> int:
        self.next_index += 1
        return self.next_index - 1


# ── records built from the schemas: every string field planted ──────────────

_SCHEMA_DOCS: dict[str, dict[str, Any]] = {}


def _doc(name: str) -> dict[str, Any]:
    if name not in _SCHEMA_DOCS:
        _SCHEMA_DOCS[name] = validator_for(name.removesuffix(".schema.json")).schema
    return _SCHEMA_DOCS[name]


def _resolve(node: dict[str, Any], doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    while "$ref" in node:
        target, _, fragment = node["$ref"].partition("#")
        doc = _doc(target) if target else doc
        node = doc
        for part in filter(None, fragment.split("/")):
            node = node[part]
    return node, doc


def build(schema: str, text: Callable[[], str], free: Callable[[], dict[str, Any]],
          **fixed: Any) -> dict[str, Any]:
    """A record of ``schema`` with every free-text string field set to ``text()`` and every
    free-form object to ``free()``; enums, timestamps and numbers get valid values; ``fixed``
    top-level fields are set as given (``None`` leaves the field out)."""

    def value(node: dict[str, Any], doc: dict[str, Any]) -> Any:
        node, doc = _resolve(node, doc)
        if "enum" in node:
            return node["enum"][-1] if "succeeded" not in node["enum"] else "failed"
        for choice in ("anyOf", "oneOf"):
            if choice in node:
                options = [o for o in node[choice] if _resolve(o, doc)[0].get("type") != "null"]
                return value(options[0], doc)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next(k for k in kind if k != "null")
        if kind == "object":
            props = node.get("properties")
            if not props:  # free-form; string values only where the schema says so
                members = free()
                if isinstance(node.get("additionalProperties"), dict):
                    members = {k: v for k, v in members.items() if isinstance(v, str)}
                return members
            return {k: value(v, doc) for k, v in props.items()}
        if kind == "array":
            return [value(node["items"], doc)]
        if kind == "string":
            return TS if node.get("format") == "date-time" else text()
        return {"integer": 1, "number": 0.5, "boolean": True}[kind]

    record: dict[str, Any] = value(_doc(f"{schema}.schema.json"), _doc(f"{schema}.schema.json"))
    for key, fixed_value in fixed.items():
        if fixed_value is None:
            record.pop(key, None)
        else:
            record[key] = fixed_value
    return record


def _free(plants: Plants, row: str, canary: Canary) -> Callable[[], dict[str, Any]]:
    return lambda: {"note": plants.text(row, canary), "nested": {"items": [
        plants.text(row, canary)]}, **plants.secret_value(row, canary)}


# ── the rows: one per record kind ────────────────────────────────────────────

@dataclass(frozen=True)
class Row:
    """A record kind: how canaries are planted through the public API, and where it goes."""

    kind: str
    places: frozenset[str]
    session: Callable[[Plants], dict[str, Any]] = lambda plants: {}
    record: Callable[[DebugSession, Plants], None] = lambda session, plants: None


def _session_fields(plants: Plants) -> dict[str, Any]:
    """Every string field of the session record holds every canary, one per line (a
    ``Cookie:`` header is redacted to the end of its line)."""
    def text() -> str:
        return "\n".join(plants.text("session", c) for c in CANARIES)

    def free() -> dict[str, Any]:
        out: dict[str, Any] = {"note": text()}
        for canary in CANARIES:
            out.update(plants.secret_value("session", canary))
        return out

    task_spec = build("task_spec", text, free, max_steps=None, max_duration_s=None,
                      task_seed=None)
    branch = build("branch_context", text, free)
    return {"client_name": text(), "client_version": text(), "client_git_sha": text(),
            "task_spec": task_spec, "task_spec_id": text(), "branch_context": branch,
            "group_id": text()}


def _tags(plants: Plants) -> dict[str, Any]:
    tags = {f"t{i}": plants.text("tags", c) for i, c in enumerate(CANARIES)}
    for canary in CANARIES:
        tags.update(plants.secret_value("tags", canary))
    return {"tags": tags}


def _added_tags(session: DebugSession, plants: Plants) -> None:
    """A tag added later holding every canary, and each secret-named key as a tag (each call
    re-sends the whole session record: few calls keep the test fast)."""
    session.add_tag("later", "\n".join(plants.text("added_tags", c) for c in CANARIES))
    for canary in CANARIES:
        for name, secret in plants.secret_value("added_tags", canary).items():
            session.add_tag(name, secret)


def _log_line(session: DebugSession, plants: Plants) -> None:
    """The first off-convention step id is logged (a warning): it holds every canary."""
    index = plants.index()
    step_id = "\n".join(plants.text("log", c) for c in CANARIES)
    session.record_step({"step_id": step_id, "step_index": index, "step_type": "wait",
                         "status": "succeeded", "started_at": TS})


def _steps(session: DebugSession, plants: Plants) -> None:
    """One step per canary: every string field of the step schema and every free-form
    object (params, score components, api shapes, mutation) hold it."""
    for canary in CANARIES:
        index = plants.index()
        step = build("step_trace", lambda c=canary: plants.text("steps", c),
                     _free(plants, "steps", canary), step_index=index, started_at=TS,
                     ended_at=TS_END, capture_mode=None)
        for key in ("observation_pre", "observation_post"):
            step[key] = f"screenshots/{step[key]}"
        session.record_step(step)


def _events(session: DebugSession, plants: Plants) -> None:
    """One decision event per canary on a step (summary and detail)."""
    for canary in CANARIES:
        index = plants.index()
        session.record_step({"step_id": f"{RUN}/step/{index:04d}", "step_index": index,
                             "step_type": "click", "status": "succeeded", "started_at": TS})
        session.record_event(build("decision_event", lambda c=canary: plants.text("events", c),
                                   _free(plants, "events", canary), ts=TS, step_index=index))


def _run_events(session: DebugSession, plants: Plants) -> None:
    """One run-level event per canary (no step index: it goes on the run span)."""
    for canary in CANARIES:
        session.record_event(build("decision_event",
                                   lambda c=canary: plants.text("run_events", c),
                                   _free(plants, "run_events", canary), ts=TS, step_index=None))


def _exceptions(session: DebugSession, plants: Plants) -> None:
    """One exception per canary escaping ``step_scope``: its text goes on the step span."""
    for canary in CANARIES:
        index = plants.index()
        with pytest.raises(RuntimeError), session.step_scope(index, "click"):
            session.record_step({"step_id": f"{RUN}/step/{index:04d}", "step_index": index,
                                 "step_type": "click", "status": "failed", "started_at": TS})
            raise RuntimeError(plants.text("exceptions", canary))


ROWS: tuple[Row, ...] = (
    Row("log", frozenset({"log"}), record=_log_line),  # first: only one id warning per run
    Row("session", EVERYWHERE, session=_session_fields),
    Row("tags", EVERYWHERE, session=_tags),
    Row("added_tags", EVERYWHERE, record=_added_tags),
    Row("steps", EVERYWHERE, record=_steps),
    Row("events", EVERYWHERE, record=_events),
    Row("run_events", EVERYWHERE, record=_run_events),
    Row("exceptions", frozenset({"spans", "otlp"}), record=_exceptions),
)


# ── recording and looking ────────────────────────────────────────────────────

def _span_text(spans: tuple[ReadableSpan, ...]) -> str:
    """Everything a span exporter sees: names, attributes, events, status, resource."""
    parts: list[str] = []
    for span in spans:
        parts += [span.name, span.status.description or ""]
        parts += [str(v) for v in (span.attributes or {}).values()]
        parts += [str(v) for v in span.resource.attributes.values()]
        for event in span.events:
            parts += [event.name, *(str(v) for v in (event.attributes or {}).values())]
    return "\n".join(parts)


def _files(root: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@dataclass
class Recorded:
    plants: Plants
    places: dict[str, bytes]


def _record(tmp: Path, fault_server: Any, caplog: pytest.LogCaptureFixture,
            policy: RedactionPolicy | None, run: str) -> Recorded:
    otlp = fault_server("ok")
    server = SERVE.start_server(tmp / "serve")
    try:
        configure(otlp_endpoint=f"http://127.0.0.1:{otlp.port}/v1/traces", close_timeout_s=20)
        exporter = InMemorySpanExporter()
        plants = Plants()
        kwargs: dict[str, Any] = {}
        for row in ROWS:
            kwargs.update(row.session(plants))
            plants.places[row.kind] = row.places
        caplog.clear()
        with DebugSession(run_id=run, out_dir=tmp / "bundle", capture_mode="full",
                          dsn=f"{server.url}/api/v1?token={SERVE.ACME}&tenant=acme",
                          span_processors=[SimpleSpanProcessor(exporter)],
                          redaction_policy=policy, close_timeout_s=30, **kwargs) as session:
            for row in ROWS:
                row.record(session, plants)
        server.wait_status(run, "finished", timeout_s=60)
        places = {
            "bundle": _files(tmp / "bundle"),
            "spans": _span_text(exporter.get_finished_spans()).encode(),
            "otlp": b"".join(json.dumps(r["headers"]).encode() + r["path"].encode()
                             + r["body"].encode("latin-1") for r in otlp.requests()),
            "server": _files(server.run_dir(run)) + server.log_text().encode(),
            "log": caplog.text.encode(),
        }
    finally:
        server.stop()
    assert server.proc.poll() is not None
    return Recorded(plants, places)


@pytest.fixture
def recorded(tmp_path: Path, fault_server: Any,
             caplog: pytest.LogCaptureFixture) -> Iterator[Callable[..., Recorded]]:
    caplog.set_level(logging.DEBUG, logger="augur_sdk")

    def run(policy: RedactionPolicy | None, name: str) -> Recorded:
        return _record(tmp_path / name, fault_server, caplog, policy, f"{RUN}_{name}")

    yield run


def test_every_canary_is_found_nowhere(recorded: Callable[..., Recorded]) -> None:
    """With the default policy no needle of any canary, planted in any field of any kind,
    is in the bundle, the spans, the OTLP requests, the server's copy and log, or our log;
    each row's non-secret words survive in each of its places."""
    result = recorded(None, "redacted")
    assert len(CANARIES) >= 40 and len(result.plants.needles) >= 40 * len(ROWS)
    leaks = [(row, canary, place)
             for (row, canary), needle in result.plants.needles.items()
             for place, data in result.places.items() if needle.encode() in data]
    assert leaks == [], f"{len(leaks)} leaks, e.g. {leaks[:10]}"
    for row in ROWS:
        for place in row.places:
            assert f"keep-{row.kind}".encode() in result.places[place], (row.kind, place)
    assert b"does not follow the convention" in result.places["log"]


def test_every_canary_is_planted_where_its_kind_goes(recorded: Callable[..., Recorded],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: without redaction (no policy, and no filter on our logger) each needle does
    reach every place of its row, so the test above shows redaction at work, not data that
    never left."""
    monkeypatch.setattr(_internal.logger, "filters", [])
    result = recorded(NoRedactionPolicy(), "control")
    missing = [(row, canary, place)
               for (row, canary), needle in result.plants.needles.items()
               for place in result.plants.places[row]
               if needle.encode() not in result.places[place]]
    assert missing == [], f"{len(missing)} missing, e.g. {missing[:10]}"
