"""The run list as a tree: an orchestrator with its workers (pure).

A worker names its parent run with the tag ``augur.parent_run_id`` (``worker_env()`` puts
it in the worker's environment). Runs recorded by augur-sdk 0.6.1 name it instead in their
``branch_context.parent_run_id``; that counts only when the run it names is an orchestrator
(otherwise the run is a replay branch, not a worker). The parent is looked up by run id in
the same tenant; when several runs have that id (a run id reused), the one that started last
before the worker did is taken, else the newest. Everything comes from the bundles: a cycle
or a chain deeper than :data:`MAX_DEPTH` is cut, and the run where it is cut becomes a root.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

PARENT_TAG = "augur.parent_run_id"  # as augur_sdk._session.run_api.PARENT_RUN_TAG
ORCHESTRATOR_TAG = ("augur.session_type", "orchestrator")
MAX_DEPTH = 8


def is_orchestrator(tags: Any) -> bool:
    return isinstance(tags, dict) and tags.get(ORCHESTRATOR_TAG[0]) == ORCHESTRATOR_TAG[1]


def parent_names(session: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the parent run id of the tag, the one of a 0.6.1 ``branch_context``), strings only."""
    tags = session.get("tags")
    tag = tags.get(PARENT_TAG) if isinstance(tags, dict) else None
    branch = session.get("branch_context")
    legacy = branch.get("parent_run_id") if isinstance(branch, dict) else None
    return (tag if isinstance(tag, str) and tag else None,
            legacy if isinstance(legacy, str) and legacy else None)


def _pick(candidates: list[dict[str, Any]], child: dict[str, Any]) -> dict[str, Any]:
    started = child.get("_sort") or 0.0
    before = [c for c in candidates if (c.get("_sort") or 0.0) <= started]
    pool = before or candidates
    return max(pool, key=lambda c: (c.get("_sort") or 0.0, str(c.get("key"))))


def _parent_of(run: dict[str, Any], by_id: dict[tuple[Any, str], list[dict[str, Any]]],
               ) -> dict[str, Any] | None:
    tag, legacy = run.get("_parent_tag"), run.get("_parent_branch")
    for name, need_orchestrator in ((tag, False), (legacy, True)):
        if name is None:
            continue
        candidates = [c for c in by_id.get((run.get("tenant"), name), [])
                      if c is not run and (not need_orchestrator or c.get("orchestrator"))]
        if candidates:
            return _pick(candidates, run)
    return None


def arrange(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``runs`` (newest first) in tree order: each root, then its workers in the order they
    started, depth first. Sets ``parent_key``, ``depth`` and ``children`` on every run and
    drops the private ``_parent_*`` members."""
    by_id: dict[tuple[Any, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if isinstance(run.get("run_id"), str):
            by_id[(run.get("tenant"), run["run_id"])].append(run)
    parent: dict[str, dict[str, Any] | None] = {
        run["key"]: _parent_of(run, by_id) for run in runs}
    for run in runs:  # cut cycles and over-deep chains
        seen = {run["key"]}
        up = parent[run["key"]]
        depth = 1
        while up is not None:
            if up["key"] in seen or depth > MAX_DEPTH:
                parent[run["key"]] = None
                break
            seen.add(up["key"])
            up = parent[up["key"]]
            depth += 1
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        up = parent[run["key"]]
        if up is not None:
            children[up["key"]].append(run)
    ordered: list[dict[str, Any]] = []

    def place(run: dict[str, Any], depth: int) -> None:
        run["depth"] = depth
        up = parent[run["key"]]
        run["parent_key"] = None if up is None else up["key"]
        kids = sorted(children.get(run["key"], []),
                      key=lambda c: (c.get("_sort") or 0.0, str(c["key"])))
        run["children"] = len(kids)
        ordered.append(run)
        for kid in kids:
            place(kid, depth + 1)

    for run in runs:
        if parent[run["key"]] is None:
            place(run, 0)
    for run in ordered:
        run.pop("_parent_tag", None)
        run.pop("_parent_branch", None)
    return ordered
