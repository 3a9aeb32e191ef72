"""``/runs/{run}/commands``: ``POST`` issues an intervention command (control tokens of the
run's tenant only); ``GET`` is the client's long poll, answered at once when commands wait,
else held until one is issued or ``--commands-hold`` passes. A poll is a request for the run:
a paused agent that keeps polling is not idle (``--finish-idle-after``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from augur_sdk.server import commands as cmds
from augur_sdk.server.config import CONTROL
from augur_sdk.server.guards import Caller, in_thread, read_object

logger = logging.getLogger("augur_sdk.server")
TICK_S = 0.25  # a held poll looks at its connection and the clock this often


class Waiters:
    """Held polls per run: an issued command wakes the polls of its run at once."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], tuple[asyncio.Event, int]] = {}

    @contextlib.contextmanager
    def waiting(self, key: tuple[str, str]) -> Iterator[asyncio.Event]:
        event, users = self._events.get(key, (asyncio.Event(), 0))
        self._events[key] = (event, users + 1)
        try:
            yield event
        finally:
            current = self._events.get(key)
            if current is not None and current[0] is event:
                if current[1] <= 1:
                    del self._events[key]
                else:
                    self._events[key] = (event, current[1] - 1)

    def wake(self, key: tuple[str, str]) -> None:
        entry = self._events.pop(key, None)
        if entry is not None:
            entry[0].set()


def _path(state: Any, tenant: str, run_id: str) -> Any:
    _root, index = state.store.paths(tenant, run_id)
    return index.with_name(index.name[:-len(".json")] + cmds.SUFFIX)


async def handle(request: Request, state: Any, caller: Caller, run_id: str) -> Response:
    if request.method == "POST":
        return await _issue(request, state, caller, run_id)
    if request.method != "GET":
        raise HTTPException(405, "use GET (poll) or POST (issue)", headers={"Allow": "GET, POST"})
    return await _poll(request, state, caller.tenant, run_id)


async def _issue(request: Request, state: Any, caller: Caller, run_id: str) -> Response:
    if state.config.tokens.open:
        raise HTTPException(403, "this server has no tokens, so nobody may issue commands: "
                                 "declare a token with \"role\": \"control\" in the tokens file")
    if caller.role != CONTROL:
        raise HTTPException(403, "this token may send data but not issue commands: that needs "
                                 "a token with \"role\": \"control\" in the tokens file")
    body = await read_object(request, state.config.max_body_bytes)
    operator = caller.name or "control-token"
    try:
        kind, payload, ttl = cmds.check_command(body)
        info = await in_thread(state.store.describe, caller.tenant, run_id)
        if info is None:
            raise cmds.CommandError(404, "no such run for this token's tenant")
        if info.get("status") != "running":
            raise cmds.CommandError(409, f"the run is {info.get('status')}: it takes no "
                                         f"more commands")
        command = await in_thread(lambda: state.commands.issue(
            _path(state, caller.tenant, run_id), kind, payload, operator_id=operator,
            ttl_s=ttl))
    except cmds.CommandError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    state.command_waiters.wake((caller.tenant, run_id))
    logger.info("augur serve: %s/%s: command %s %s issued by %s", caller.tenant,
                run_id[:128], command["command_id"], kind, operator)
    return JSONResponse({"command": command}, status_code=201)


async def _poll(request: Request, state: Any, tenant: str, run_id: str) -> Response:
    cursor = cmds.parse_cursor(request.query_params.get("cursor"))
    path = _path(state, tenant, run_id)
    key = (tenant, run_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.config.commands_hold_s
    found: list[dict[str, Any]] = []
    last = cursor
    look = True  # at the start, and after a wake: read the run's commands
    while True:
        # Between two rounds nothing awaits, so a command issued on this event loop always
        # finds this poll registered (or is found by its next look).
        with state.command_waiters.waiting(key) as event:
            state.store.touch(tenant, run_id)
            if look:
                found, last = await in_thread(state.commands.take, path, cursor)
                look = False
                if found:
                    break
            remaining = deadline - loop.time()
            if remaining <= 0 or state.stopping or await request.is_disconnected():
                break
            try:
                await asyncio.wait_for(event.wait(), min(remaining, TICK_S))
            except TimeoutError:
                pass
            # Set is what counts, not how the wait ended: a wake that lands as the tick
            # times out can end wait_for with TimeoutError although the event is set, and
            # the next round registers a new event, so that wake would be lost until the
            # hold ends (seen once in CI: a poll answered after its whole hold).
            look = event.is_set()
    state.store.touch(tenant, run_id)
    # With nothing new, the client's own cursor comes back as it sent it.
    cursor_out = str(last) if found else request.query_params.get("cursor")
    return JSONResponse({"commands": found, "cursor": cursor_out})

