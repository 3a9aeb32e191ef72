"""The ASGI application of ``augur serve`` (Starlette).

Ingest (the Augur streaming protocol; served at ``/`` and under ``/api/v1``, so a DSN may
use either as its base), the OTLP/HTTP receiver at ``/v1/traces``, and a read-only JSON API
under ``/api/`` for the viewer. Disk work runs on worker threads, one run at a time per run.
Every writing request is admitted before its body is read (``admission.py``) and its body
decoded by one decoder (``decode.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from augur_sdk._version import __version__
from augur_sdk.kinds import registry
from augur_sdk.kinds.spec import RecordKind
from augur_sdk.records import utcnow_iso
from augur_sdk.server import command_routes, decode, otlp
from augur_sdk.server.admission import Admission, MemoryBudget, charge
from augur_sdk.server.checks import RunError
from augur_sdk.server.commands import CommandBox
from augur_sdk.server.config import ServerConfig
from augur_sdk.server.guards import (
    Caller,
    RateLimiter,
    authenticate,
    body_digest,
    decode_json,
    decode_object,
    in_thread,
    keep_digest,
    path_segments,
    read_body,
    read_object,
)
from augur_sdk.server.idempotency import Binding, KeyReused, check_key
from augur_sdk.server.offload import Offloader
from augur_sdk.server.paths import BadName, check_kind, check_run_id, check_tenant, parse_index
from augur_sdk.server.runs import Idempotency, Run
from augur_sdk.server.store import ClientRegistry, RunStore
from augur_sdk.validation import validate_bundle

logger = logging.getLogger("augur_sdk.server")

Op = Callable[[Run], dict[str, Any]]


class ServerState:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = RunStore(config)
        self.clients = ClientRegistry()
        self.limiter = (RateLimiter(config.rate_limit, config.burst)
                        if config.rate_limit else None)
        self.body_memory = MemoryBudget(config.max_body_memory_bytes)
        self.inflight = 0  # writing requests admitted (admission.py)
        self.stopping = False  # set on shutdown: held command polls return at once
        self.commands = CommandBox(config.data_dir, config.command_ttl_s, config.fsync)
        self.command_waiters = command_routes.Waiters()
        self.offload: Offloader | None = None  # --store
        if config.store_url is not None:
            self.offload = Offloader(self.store, config.store_url, delay_s=config.store_delay_s,
                                     endpoint_url=config.store_endpoint_url, evict=config.evict)
            self.store.on_finish = self.offload.run_finished


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.augur
    return state


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _body_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, decode.BodyError)
    return _error(exc.status, exc.message)


def _idempotency(request: Request, state: ServerState) -> Idempotency | None:
    """The request's Idempotency-Key, bound to its method, path and content (400 if the key
    is malformed)."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    try:
        key = check_key(raw)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    path = request.url.path
    if path.startswith("/api/v1/"):
        path = path[len("/api/v1"):]
    return Idempotency(state.store.keys, key, Binding(request.method, path,
                                                      body_digest(request)))


async def _run_op(request: Request, tenant: str, run_id: str, op: Op) -> JSONResponse:
    """Run ``op`` on a worker thread under the run's lock (the request was admitted before
    its body was read: ``admission.py``)."""
    state = _state(request)
    idempotency = _idempotency(request, state)

    def work() -> dict[str, Any]:
        with state.store.use(tenant, run_id) as run:
            return run.call(idempotency, lambda: op(run))

    try:
        body = await in_thread(work)
    except RunError as exc:
        if exc.status >= 500:
            logger.error("augur serve: %s/%s: %s", tenant, run_id, exc.message)
        return _error(exc.status, exc.message)
    except BadName as exc:
        return _error(400, str(exc))
    except KeyReused as exc:
        return _error(422, str(exc))
    except Exception:  # a bug of ours: say so in JSON, keep serving, log the traceback
        logger.exception("augur serve: internal error on %s/%s", tenant, run_id)
        return _error(500, "internal server error")
    return JSONResponse(body)


# ── ingest: the Augur streaming protocol ────────────────────────────────────


async def heartbeat(request: Request) -> Response:
    state = _state(request)
    caller = authenticate(request, state.config)
    beat = await read_object(request, state.config.max_body_bytes)
    contact = {key: str(beat.get(key) or "")[:200]
               for key in ("client_name", "client_version", "capture_mode")}
    state.clients.seen(caller.tenant, {
        key: str(beat[key])[:200] for key in ("client_id", "client_name", "client_version",
                                              "capture_mode", "run_id", "last_event")
        if beat.get(key) is not None})
    run_id = beat.get("run_id")
    if run_id is None:
        return JSONResponse({"ok": True, "server_time": utcnow_iso()})
    run_id = _checked(check_run_id, run_id)
    return await _run_op(request, caller.tenant, run_id, lambda run: run.heartbeat(contact))


async def post_manifest(request: Request) -> Response:
    state = _state(request)
    caller = authenticate(request, state.config)
    manifest = await read_object(request, state.config.max_body_bytes)
    run_id = _checked(check_run_id, manifest.get("run_id"), "manifest.run_id")
    return await _run_op(request, caller.tenant, run_id, lambda run: run.post_manifest(manifest))


def _checked(check: Callable[..., Any], *args: Any) -> Any:
    try:
        return check(*args)
    except BadName as exc:
        raise HTTPException(400, str(exc)) from None


async def _screenshot_bytes(request: Request, body: bytes) -> bytes:
    """The PNG of a screenshot upload, once its header declares sane dimensions (400)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        limit = _state(request).config.max_body_bytes
        async with request.form(max_files=4, max_fields=16, max_part_size=limit) as form:
            image = form.get("image")
            if not isinstance(image, UploadFile):
                raise HTTPException(400, "multipart field 'image' (a PNG file) is missing")
            data = await image.read()
    elif media in ("image/png", "application/octet-stream"):
        data = body
    else:
        raise HTTPException(415, "send the PNG as multipart/form-data field 'image' "
                                 "(or as an image/png body)")
    decode.png_size(data)
    if "idempotency-key" in request.headers:
        keep_digest(request, data)  # the PNG, not its multipart encoding
    return data


_RUN_PATHS = {
    ("session",): "PUT", ("steps", "*"): "PUT", ("steps", "*", "judge-decisions"): "POST",
    ("events",): "POST", ("screenshots", "*", "*"): "POST", ("trace",): "PUT",
    ("costs",): "PUT", ("modelio", "*"): "POST", ("modelio-images", "*"): "PUT",
    ("side-effects",): "POST",
    ("reasoning",): "POST", ("outcomes",): "POST", ("eval-candidates",): "POST",
    ("logs",): "POST", ("commands",): "GET",
}
_SIMPLE_POSTS: dict[str, Callable[[Run, Any], dict[str, Any]]] = {
    "side-effects": Run.add_side_effect, "reasoning": Run.add_reasoning,
    "outcomes": Run.add_outcome, "eval-candidates": Run.add_eval_candidate,
    "logs": Run.add_log,
}


def _plugin_route(rest: list[str]) -> tuple[RecordKind, dict[str, int]] | None:
    """The plug-in record kind whose wire route matches ``rest`` (its spec declares it), and
    the integers its placeholders hold."""
    for kind in registry.plugin_kinds():
        wire = kind.wire
        if wire is None:
            continue
        shape = wire.shape()
        if len(shape) != len(rest) or any(s != "*" and s != seg for s, seg in zip(
                shape, rest, strict=True)):
            continue
        names = iter(wire.placeholders())
        values = {next(names): _checked(parse_index, seg)
                  for s, seg in zip(shape, rest, strict=True) if s == "*"}
        return kind, values
    return None


def _route_shape(rest: list[str]) -> tuple[str, ...]:
    """``["steps", "3", "judge-decisions"]`` -> ``("steps", "*", "judge-decisions")``."""
    if not rest or rest[0] not in ("steps", "screenshots", "modelio", "modelio-images"):
        return tuple(rest)
    return (rest[0], *["*" if i == 1 or rest[0] == "screenshots" else seg
                       for i, seg in enumerate(rest[1:], start=1)])


async def run_request(request: Request) -> Response:
    """Every ``/runs/{run}/...`` route; segments are checked before anything is read."""
    state = _state(request)
    caller = authenticate(request, state.config)
    segments = path_segments(request, ("runs",))
    if not segments:
        raise HTTPException(404, "not found")
    run_id = _checked(check_run_id, segments[0])
    rest = segments[1:]
    plugin = _plugin_route(rest) if rest else None
    if plugin is not None:
        return await _plugin_request(request, caller.tenant, run_id, *plugin)
    if rest == ["commands"]:  # GET: the client's poll; POST: a control token issues one
        return await command_routes.handle(request, state, caller, run_id)
    expected = _RUN_PATHS.get(_route_shape(rest))
    if expected is None:
        raise HTTPException(404, "not found")
    if request.method != expected:
        raise HTTPException(405, f"use {expected}", headers={"Allow": expected})
    tenant = caller.tenant
    index = 0
    if rest[0] in ("steps", "screenshots"):
        index = _checked(parse_index, rest[1])
    body = await read_body(request, state.config.max_body_bytes)
    op: Op
    match rest:
        case ["screenshots", _, kind]:
            kind = _checked(check_kind, kind)
            data = await _screenshot_bytes(request, body)
            op = lambda run: run.put_screenshot(index, kind, data)  # noqa: E731
        case ["steps", _]:
            step = await decode_json(request, body)
            op = lambda run: run.put_step(index, step)  # noqa: E731
        case ["steps", _, "judge-decisions"]:
            decision = await decode_json(request, body)
            op = lambda run: run.add_judge_decision(index, decision)  # noqa: E731
        case ["session"]:
            session = await decode_json(request, body)
            op = lambda run: run.put_session(session)  # noqa: E731
        case ["events"]:
            payload = await decode_object(request, body)
            op = lambda run: run.add_events(payload.get("events"),  # noqa: E731
                                            payload.get("step_index"))
        case ["trace"]:
            trace = await decode_json(request, body)
            op = lambda run: run.put_trace(trace)  # noqa: E731
        case ["costs"]:
            costs = await decode_json(request, body)
            op = lambda run: run.put_costs(costs)  # noqa: E731
        case ["modelio", name]:
            record = await decode_json(request, body)
            op = lambda run: run.add_modelio(name, record)  # noqa: E731
        case ["modelio-images", name]:
            op = lambda run: run.add_modelio_image(name, body)  # noqa: E731
        case [kind_name]:
            record = await decode_json(request, body)
            handler = _SIMPLE_POSTS[kind_name]
            op = lambda run: handler(run, record)  # noqa: E731
        case _:  # pragma: no cover - _RUN_PATHS and the cases agree
            raise HTTPException(404, "not found")
    return await _run_op(request, tenant, run_id, op)


async def _plugin_request(request: Request, tenant: str, run_id: str, kind: RecordKind,
                          from_path: dict[str, int]) -> Response:
    assert kind.wire is not None
    if request.method != kind.wire.method:
        raise HTTPException(405, f"use {kind.wire.method}", headers={"Allow": kind.wire.method})
    body = await read_body(request, _state(request).config.max_body_bytes)
    record = await decode_json(request, body)
    return await _run_op(request, tenant, run_id,
                         lambda run: run.add_record(kind, record, from_path))


# ── OTLP/HTTP ───────────────────────────────────────────────────────────────


async def otlp_traces(request: Request) -> Response:
    state = _state(request)
    caller = authenticate(request, state.config)
    limit = state.config.max_body_bytes
    raw = await read_body(request, limit)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    encoding = request.headers.get("content-encoding", "")
    retry = state.config.retry_after_s
    try:
        # The memory each stage takes is held before it runs; the work runs on a thread.
        charge(request, len(raw) + 2 * otlp.inflated_size(raw, encoding, limit), retry)
        data = raw if encoding.strip().lower() in ("", "identity") else \
            await in_thread(otlp.inflate, raw, encoding, limit)
        charge(request, len(raw) + otlp.decoded_cost(data, media), retry)
        spans, _ignored, problems = await in_thread(_our_spans, data, media)
    except otlp.OtlpError as exc:
        return _error(exc.status, str(exc))
    by_run: dict[str, list[otlp.AugurSpan]] = {}
    for span in spans:
        try:
            by_run.setdefault(check_run_id(span.run_id, "augur.run_id"), []).append(span)
        except BadName as exc:
            problems.append(str(exc))
    rejected = len(problems)
    for run_id, run_spans in by_run.items():
        response = await _run_op(request, caller.tenant, run_id, _span_op(run_spans))
        if response.status_code >= 500 or response.status_code == 429:
            return response  # the exporter retries the whole request
        if response.status_code >= 400:
            rejected += len(run_spans)
            problems.append(bytes(response.body).decode("utf-8", "replace"))
    body, content_type = otlp.encode_response(
        otlp.JSON if media == otlp.JSON else otlp.PROTOBUF, rejected, "; ".join(problems[:5]))
    return Response(body, media_type=content_type)


def _our_spans(data: bytes, media: str) -> tuple[list[otlp.AugurSpan], int, list[str]]:
    return otlp.augur_spans(otlp.raw_spans(data, media))


def _span_op(spans: list[otlp.AugurSpan]) -> Op:
    # A step sent many times in one request is written once, from its newest span.
    newest: dict[Any, int] = {}
    for span in spans:
        if span.kind != "session":
            index = span.record.get("step_index")
            newest[index] = max(newest.get(index, span.seq), span.seq)

    def apply(run: Run) -> dict[str, Any]:
        written = 0
        for span in spans:  # steps in recording order, the run span last
            if span.kind == "session":
                ok = run.otlp_run(span.record, span.policy_id, span.events, span.ids)
            else:
                write = span.seq >= newest.get(span.record.get("step_index"), span.seq)
                ok = run.otlp_step(span.record, span.seq, span.events, span.ids,
                                   write_step=write)
            written += ok
        return {"ok": True, "written": written}

    return apply


# ── the JSON API (read-only) ────────────────────────────────────────────────


def _tenants_for(caller: Caller, store: RunStore) -> list[str]:
    return store.tenants() if caller.all_tenants else [caller.tenant]


async def api_runs(request: Request) -> Response:
    state = _state(request)
    caller = authenticate(request, state.config)
    status = request.query_params.get("status")
    try:
        limit = max(1, min(int(request.query_params.get("limit", "500")), 10_000))
    except ValueError:
        raise HTTPException(400, "limit: expected an integer") from None
    runs = await run_in_threadpool(state.store.list_runs, _tenants_for(caller, state.store),
                                   status=status, limit=limit)
    return JSONResponse({"runs": runs})


async def api_run(request: Request) -> Response:
    state = _state(request)
    caller = authenticate(request, state.config)
    segments = path_segments(request, ("api", "runs"))
    if len(segments) != 2:
        raise HTTPException(404, "use /api/runs/{tenant}/{run_id}")
    tenant = _checked(check_tenant, segments[0])
    run_id = _checked(check_run_id, segments[1])
    if not caller.all_tenants and tenant != caller.tenant:
        raise HTTPException(403, "this token does not belong to that tenant")
    info = await run_in_threadpool(state.store.describe, tenant, run_id)
    if info is None:
        raise HTTPException(404, "no such run")
    if request.query_params.get("validate") in ("1", "true", "yes"):
        root, _ = state.store.paths(tenant, run_id)
        issues = await run_in_threadpool(validate_bundle, root)
        info["validation"] = {
            "valid": not issues,
            "issues": [{"where": i.where, "message": i.message, "path": i.path,
                        "code": i.code} for i in issues[:200]],
        }
    return JSONResponse(info)


async def api_clients(request: Request) -> Response:
    state = _state(request)
    caller = authenticate(request, state.config)
    tenants = None if caller.all_tenants else [caller.tenant]
    return JSONResponse({"clients": state.clients.list(tenants)})


async def healthz(request: Request) -> Response:
    body: dict[str, Any] = {"ok": True, "version": __version__}
    offload = _state(request).offload
    if offload is not None:
        body["store"] = offload.stats()
    return JSONResponse(body)


def create_app(config: ServerConfig) -> Starlette:
    """The ``augur serve`` application for ``config`` (see ``docs/server.md``)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    ingest = [
        Route("/heartbeat", heartbeat, methods=["POST"]),
        Route("/runs", post_manifest, methods=["POST"]),
        Route("/runs/{rest:path}", run_request, methods=["GET", "PUT", "POST"]),
    ]
    routes = [
        *ingest,
        *[Route("/api/v1" + r.path, r.endpoint, methods=sorted(r.methods or ()))
          for r in ingest],
        Route("/v1/traces", otlp_traces, methods=["POST"]),
        Route("/api/runs", api_runs, methods=["GET"]),
        Route("/api/runs/{rest:path}", api_run, methods=["GET"]),
        Route("/api/clients", api_clients, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    state = ServerState(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = (asyncio.create_task(_finish_idle_runs(state))
                if config.finish_idle_after_s > 0 else None)
        if state.offload is not None:
            await run_in_threadpool(state.offload.scan)
            state.offload.start()
        try:
            yield
        finally:
            state.stopping = True
            if state.offload is not None:
                await run_in_threadpool(state.offload.stop)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def tenant_of(request: Request) -> str | None:
        try:
            return authenticate(request, config).tenant
        except HTTPException:
            return None

    app = Starlette(
        routes=routes,
        middleware=[Middleware(Admission, state=state, tenant_of=tenant_of)],
        exception_handlers={HTTPException: _http_error, decode.BodyError: _body_error},
        lifespan=lifespan,
    )
    app.state.augur = state
    return app


async def _finish_idle_runs(state: ServerState) -> None:
    """``--finish-idle-after``: finish runs whose client went away (they stay ``running``
    otherwise), also those an earlier server process left unfinished."""
    idle_s = state.config.finish_idle_after_s
    period = max(0.2, min(30.0, idle_s / 4))
    try:
        found = await run_in_threadpool(state.store.scan_open_runs)
    except Exception:  # a bug of ours: the server keeps serving
        logger.exception("augur serve: could not scan the data directory for open runs")
        found = 0
    if found:
        logger.info("augur serve: %d unfinished run(s) on disk", found)
    while not state.stopping:
        await asyncio.sleep(period)
        for tenant, run_id, _last in state.store.idle_runs(idle_s):
            try:
                halted = await run_in_threadpool(state.store.halt_idle, tenant, run_id, idle_s)
            except Exception:
                logger.exception("augur serve: could not finish idle run %s/%s", tenant,
                                 run_id)
                continue
            if halted:
                logger.warning("augur serve: run %s/%s had no request for %g s; finished "
                               "it as halted", tenant, run_id[:128], idle_s)
