"""Failure groups for the run list of ``augur view DIR``: read from ``DIR/failure-groups.json``
(written by ``augur diagnose DIR``), re-read only when that file changes. The file is
untrusted like the bundles: size-capped, fields type-checked, texts cut."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GROUPS_FILE = "failure-groups.json"
"""Where ``augur diagnose DIR`` saves the groups (in DIR)."""
MAX_BYTES = 32 * 1024 * 1024
MAX_GROUPS = 500
MAX_TEXT = 500


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) else None


class GroupsFile:
    """``load()`` -> (groups for the page, {run key: [group ids]})."""

    def __init__(self, root: Path) -> None:
        self.path = root / GROUPS_FILE
        self._token: tuple[int, int, int] | None = None
        self._value: tuple[list[dict[str, Any]], dict[str, list[str]]] = ([], {})

    def load(self) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        try:
            st = os.stat(self.path)
        except OSError:
            self._token, self._value = None, ([], {})
            return self._value
        token = (st.st_ino, st.st_mtime_ns, st.st_size)
        if token != self._token:
            self._token, self._value = token, self._read(st.st_size)
        return self._value

    def _read(self, size: int) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        if size > MAX_BYTES:
            return [], {}
        try:
            doc = json.loads(self.path.read_bytes(), parse_constant=lambda _name: None)
        except (OSError, ValueError, RecursionError):
            return [], {}
        raw = doc.get("groups") if isinstance(doc, dict) else None
        groups: list[dict[str, Any]] = []
        by_run: dict[str, list[str]] = {}
        for g in raw[:MAX_GROUPS] if isinstance(raw, list) else []:
            gid = _text(g.get("group_id")) if isinstance(g, dict) else None
            runs = g.get("runs") if isinstance(g, dict) else None
            if not gid or not isinstance(runs, list):
                continue
            keys = [r for r in runs if isinstance(r, str)]
            steps = g.get("step_count")
            groups.append({"group_id": gid, "failure_class": _text(g.get("failure_class")),
                           "action": _text(g.get("action")), "rule_id": _text(g.get("rule_id")),
                           "summary": _text(g.get("summary")), "run_count": len(keys),
                           "step_count": steps if isinstance(steps, int) else None})
            for key in keys:
                by_run.setdefault(key, []).append(gid)
        return groups, by_run
