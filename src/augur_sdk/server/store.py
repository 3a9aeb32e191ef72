"""The data directory: ``<data>/<tenant>/<run_id>/`` bundles, the server's small per-run
index files (``<data>/<tenant>/.augur-server/<run_id>.json``), the runs kept in memory, and
the run list of the JSON API.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout, rundesc
from augur_sdk.limits import run_id_from_dir
from augur_sdk.records import ns_to_iso
from augur_sdk.server.config import ServerConfig
from augur_sdk.server.idempotency import KeyTable
from augur_sdk.server.paths import BadName, check_run_id, check_tenant, contained, run_dir
from augur_sdk.server.run_core import RunCore
from augur_sdk.server.runs import Run

INDEX_DIR = rundesc.SERVER_INDEX_DIR

RUNNING, FINISHED, FAILED = layout.RUN_RUNNING, layout.RUN_FINISHED, layout.RUN_FAILED
run_status = layout.run_status


class RunStore:
    """Hands out :class:`Run` objects (one per ``tenant/run_id``), keeps at most
    ``max_cached_runs`` idle ones in memory, knows when each unfinished run was last
    reached by a request, and describes runs for the JSON API."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir
        self.keys = KeyTable(config.max_idempotency_bytes)
        self._lock = threading.Lock()
        self._runs: OrderedDict[tuple[str, str], Run] = OrderedDict()
        # Unfinished runs -> epoch seconds of their last request (what --finish-idle-after
        # looks at); filled from disk by scan_open_runs after a restart.
        self._open: dict[tuple[str, str], float] = {}
        self.on_finish: Callable[[RunCore], None] | None = None  # --store: set by the app

    def paths(self, tenant: str, run_id: str) -> tuple[Path, Path]:
        check_tenant(tenant)
        name = run_dir(run_id)
        root = contained(self.data_dir, tenant, name)
        index = contained(self.data_dir, tenant, INDEX_DIR, f"{name}.json")
        return root, index

    @contextmanager
    def use(self, tenant: str, run_id: str, *, request: bool = True) -> Iterator[Run]:
        """The run's state, kept from eviction while the block runs. ``request``: a request
        for the run (its time is what idleness is measured from)."""
        check_tenant(tenant)
        check_run_id(run_id)
        key = (tenant, run_id)
        if request:
            with self._lock:
                self._open[key] = time.time()
        with self._lock:
            run = self._runs.get(key)
            if run is not None:
                self._runs.move_to_end(key)
                run.users += 1
        if run is None:
            root, index = self.paths(tenant, run_id)  # resolves on disk: once per load
            with self._lock:
                run = self._runs.get(key)
                if run is None:
                    run = Run(tenant, run_id, root, index, self.config, self.keys)
                    run.on_finish = self.on_finish
                    self._runs[key] = run
                self._runs.move_to_end(key)
                run.users += 1
        try:
            yield run
        finally:
            with self._lock:
                run.users -= 1
                if run.finished or not run.exists:
                    self._open.pop(key, None)
                self._evict()

    def _evict(self) -> None:
        excess = len(self._runs) - self.config.max_cached_runs
        if excess <= 0:
            return
        for key in [k for k, r in self._runs.items() if r.users == 0][:excess]:
            del self._runs[key]

    def cached(self) -> int:
        with self._lock:
            return len(self._runs)

    # ── runs whose client went away ─────────────────────────────────────────

    def scan_open_runs(self) -> int:
        """Note every unfinished run on disk (after a restart), as last reached at its
        last change on disk; returns how many."""
        found: dict[tuple[str, str], float] = {}
        for tenant in self.tenants():
            index_dir = self.data_dir / tenant / INDEX_DIR
            try:
                names = [p.name for p in index_dir.iterdir()
                         if p.name.endswith(".json")
                         and not p.name.endswith((".keys.json", ".cmds.json"))]
            except OSError:
                continue
            for name in names:
                run_id = run_id_from_dir(name[:-len(".json")])
                if run_id is None:
                    continue
                try:
                    root, index_path = self.paths(tenant, run_id)
                except BadName:
                    continue
                facts = rundesc.describe(root, index_path)
                if facts is not None and not facts.finished:
                    found[(tenant, run_id)] = facts.last_activity or time.time()
        with self._lock:
            for key, last in found.items():
                self._open.setdefault(key, last)
        return len(found)

    def touch(self, tenant: str, run_id: str) -> None:
        """A request reached the run without using its state (a command poll): an
        unfinished run it reaches is not idle."""
        with self._lock:
            if (tenant, run_id) in self._open:
                self._open[(tenant, run_id)] = time.time()

    def idle_runs(self, idle_s: float, now: float | None = None) -> list[tuple[str, str, float]]:
        """Unfinished runs no request reached for ``idle_s`` seconds: (tenant, run id, last
        request in epoch seconds)."""
        now = time.time() if now is None else now
        with self._lock:
            return [(tenant, run_id, last) for (tenant, run_id), last in self._open.items()
                    if now - last >= idle_s]

    def halt_idle(self, tenant: str, run_id: str, idle_s: float) -> bool:
        """Finish one idle run as ``halted`` (unless a request reached it meanwhile)."""
        key = (tenant, run_id)
        with self.use(tenant, run_id, request=False) as run, run.lock:
            with self._lock:
                last = self._open.get(key)
            if last is None or time.time() - last < idle_s:
                return False
            halted = run.halt_idle(idle_s, last)
        with self._lock:
            if self._open.get(key) == last:
                del self._open[key]
        return halted

    # ── the run list ────────────────────────────────────────────────────────

    def tenants(self) -> list[str]:
        try:
            names = sorted(p.name for p in self.data_dir.iterdir() if p.is_dir())
        except OSError:
            return []
        out = []
        for name in names:
            try:
                out.append(check_tenant(name))
            except BadName:
                continue
        return out

    def describe(self, tenant: str, run_id: str) -> dict[str, Any] | None:
        """The run's entry in ``GET /api/runs`` (the shared description of a run on disk,
        plus what only the server knows)."""
        root, index_path = self.paths(tenant, run_id)
        facts = rundesc.describe(root, index_path)
        if facts is None:
            return None
        index = facts.index
        info: dict[str, Any] = {"tenant": tenant, **facts.summary(), "run_id": run_id}
        info.update({
            "stale": facts.status == RUNNING and time.time() - facts.last_activity
            > self.config.stale_after_s,
            "source": index.get("source"),
            "client_step_count": index.get("client_step_count"),
            "placeholder_session": bool(index.get("placeholder")) if index else False,
            "late_ignored": index.get("late_ignored") or 0,
            "halted_by_server": isinstance(index.get("halted"), dict),
        })
        if isinstance(facts.session.get("costs"), dict):
            info["costs"] = facts.session["costs"]
        return info

    def list_runs(self, tenants: list[str], *, status: str | None = None,
                  limit: int = 500) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        for tenant in tenants:
            base = self.data_dir / tenant
            try:
                names = [p.name for p in base.iterdir() if p.is_dir()]
            except OSError:
                continue
            for name in names:
                run_id = run_id_from_dir(name)
                if run_id is None:
                    continue
                try:
                    info = self.describe(tenant, run_id)
                except BadName:
                    continue
                if info is not None and (status is None or info["status"] == status):
                    runs.append(info)
        runs.sort(key=lambda r: r.get("last_activity_at") or "", reverse=True)
        return runs[:limit]


class ClientRegistry:
    """Recent heartbeats per client id (bounded), for ``GET /api/clients``."""

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._limit = limit

    def seen(self, tenant: str, beat: dict[str, Any]) -> None:
        key = (tenant, str(beat.get("client_id") or "?"))
        entry = {k: beat.get(k) for k in ("client_id", "client_name", "client_version",
                                          "capture_mode", "run_id", "last_event")}
        entry["tenant"] = tenant
        entry["last_seen_at"] = ns_to_iso(time.time_ns())
        with self._lock:
            self._clients[key] = entry
            self._clients.move_to_end(key)
            while len(self._clients) > self._limit:
                self._clients.popitem(last=False)

    def list(self, tenants: list[str] | None) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._clients.values())
        return [e for e in reversed(entries) if tenants is None or e["tenant"] in tenants]
