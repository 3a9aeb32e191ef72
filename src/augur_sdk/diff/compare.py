"""Compare two runs: align their steps, then say where and how they differ.

:func:`compare_runs` reads both bundles (:mod:`augur_sdk.diff.load`), fingerprints their pre
screenshots (:mod:`augur_sdk.diff.screens`), aligns the steps (:mod:`augur_sdk.diff.alignment`)
and returns a :class:`RunDiff`: one :class:`Row` per aligned position, each pair's
:class:`Difference` list, and the **first divergence**, the first row where the runs stop
doing the same thing: a step only one run has, or a pair that differs in status, action,
target, click position or verdict. Cost and duration differences are reported too, but a run
that only took longer still did the same thing.

``RunDiff.exit_code`` is what ``augur diff`` exits with: 0 when both runs did the same thing
with the same outcome (session status), 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from augur_sdk.diff.alignment import DEFAULT_BAND, Alignment, StepKey, align, fold
from augur_sdk.diff.load import LoadedRun, StepRecord, load_run
from augur_sdk.diff.screens import ScreenHasher
from augur_sdk.viewer.summary import click_point, target_point

SAME, CHANGED, ONLY_A, ONLY_B = "same", "changed", "only_a", "only_b"
DIVERGING_FIELDS = ("status", "action", "target", "click", "verdict")
"""Differences in these fields mean the runs did different things; cost and duration do not."""
MAX_TEXT = 300
_COORDINATE_PARAMS = frozenset({"x", "y", "coordinate", "coordinates", "position", "point",
                                "viewport", "device_scale_factor", "dpr"})


@dataclass(frozen=True)
class DiffOptions:
    """Thresholds of what counts as a difference."""

    click_px: float = 10.0
    """Clicks further apart than this (in the recorded coordinate space) differ."""
    duration_ratio: float = 1.5
    duration_min_ms: float = 1000.0
    """Durations differ when one is ``duration_ratio`` times the other *and* they are more
    than ``duration_min_ms`` apart."""
    cost_ratio: float = 1.25
    """Costs (``costs.total_usd``, else tokens) differ when one is this times the other."""
    perceptual: bool = True
    """Compare screenshots by perceptual hash (needs Pillow); False: exact digests only."""
    band: int = DEFAULT_BAND


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _epoch_ms(iso: Any) -> float | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        value = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000
    except (ValueError, OverflowError, OSError):
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class StepSummary:
    """What a comparison shows of one step (texts truncated, numbers finite or None)."""

    index: int
    status: str | None
    failure_class: str | None
    action: str | None
    params: dict[str, Any] | None
    coordinate_space: str | None
    target: str | None
    intent: str | None
    verdict: str | None
    verdict_reason: str | None
    params_key: str | None  # digest of the full parameters: what is compared
    click: tuple[float, float] | None
    target_point: tuple[float, float] | None
    duration_ms: float | None
    cost_usd: float | None
    tokens: int | None
    error: str | None

    def describe(self) -> str:
        """``click 'Place order'``: the action and its target (else the intent)."""
        what = self.action or "step"
        if self.target:
            return f"{what} {self.target!r}"
        if self.intent:
            return f"{what}: {self.intent}"
        return what

    def outcome(self) -> str:
        """``failed (no_state_change)``, ``succeeded``..."""
        status = self.status or "no status"
        return f"{status} ({self.failure_class})" if self.failure_class else status

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None and k != "params_key"}
        for key in ("click", "target_point"):
            if key in out:
                out[key] = list(out[key])
        return out


def summarize(step: StepRecord) -> StepSummary:
    rec = step.record
    action, grounding, verdict, costs = (_dict(rec.get(k)) for k in ("action", "grounding",
                                                                      "verdict", "costs"))
    duration = _number(rec.get("duration_ms"))
    if duration is None:
        start, end = _epoch_ms(rec.get("started_at")), _epoch_ms(rec.get("ended_at"))
        if start is not None and end is not None and end >= start:
            duration = round(end - start, 3)
    params = _dict(action.get("params"))
    params = {k: v for k, v in params.items() if k not in _COORDINATE_PARAMS}
    canonical = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
    params_key = hashlib.sha256(canonical.encode("utf-8", "replace")).hexdigest() \
        if params else None
    if len(canonical) > MAX_TEXT:  # shown, not compared: keep it small
        params = {"(parameters)": _text(canonical)}
    tokens_in, tokens_out = _number(costs.get("tokens_in")), _number(costs.get("tokens_out"))
    tokens = None if tokens_in is None and tokens_out is None else \
        int((tokens_in or 0) + (tokens_out or 0))
    return StepSummary(
        index=step.index,
        status=_text(rec.get("status"), 50),
        failure_class=_text(rec.get("failure_class"), 100),
        action=_text(action.get("type") or rec.get("step_type"), 100),
        params=params or None,
        coordinate_space=_text(action.get("coordinate_space"), 50),
        target=_text(grounding.get("target_label")),
        intent=_text(rec.get("intent")),
        verdict=_text(verdict.get("status"), 50),
        verdict_reason=_text(verdict.get("reason")),
        params_key=params_key,
        click=click_point(action),
        target_point=target_point(grounding),
        duration_ms=duration,
        cost_usd=_number(costs.get("total_usd")),
        tokens=tokens,
        error=_text(step.error),
    )


@dataclass(frozen=True)
class Difference:
    """One field in which an aligned pair differs; ``note`` says by how much."""

    field: str
    a: Any
    b: Any
    note: str | None = None

    @property
    def diverges(self) -> bool:
        return self.field in DIVERGING_FIELDS

    def to_json(self) -> dict[str, Any]:
        out = {"field": self.field, "a": self.a, "b": self.b}
        if self.note:
            out["note"] = self.note
        return out


def _apart(a: float, b: float, ratio: float, minimum: float) -> bool:
    low, high = sorted((abs(a), abs(b)))
    return high - low > minimum and (low == 0 or high / low >= ratio)


def _short_json(value: Any) -> str:
    return _text(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str), 120) or ""


def differences(a: StepSummary, b: StepSummary, options: DiffOptions) -> list[Difference]:
    """How the aligned steps ``a`` and ``b`` differ, in a fixed field order."""
    out: list[Difference] = []
    if (a.status, a.failure_class) != (b.status, b.failure_class):
        out.append(Difference("status", a.outcome(), b.outcome()))
    if fold(a.action) != fold(b.action):
        out.append(Difference("action", a.action, b.action))
    elif a.params_key != b.params_key:
        out.append(Difference("action", f"{a.action} {_short_json(a.params)}",
                              f"{b.action} {_short_json(b.params)}", "different parameters"))
    elif a.coordinate_space != b.coordinate_space and a.click and b.click:
        out.append(Difference("action", a.coordinate_space, b.coordinate_space,
                              "different coordinate spaces"))
    if fold(a.target) != fold(b.target):
        out.append(Difference("target", a.target, b.target))
    if a.click is not None and b.click is not None:
        dist = math.hypot(a.click[0] - b.click[0], a.click[1] - b.click[1])
        if dist > options.click_px:
            out.append(Difference("click", list(a.click), list(b.click), f"{dist:.0f} px apart"))
    elif (a.click is None) != (b.click is None):
        out.append(Difference("click", list(a.click) if a.click else None,
                              list(b.click) if b.click else None, "only one side clicked"))
    if a.verdict != b.verdict:
        out.append(Difference("verdict", a.verdict, b.verdict))
    if a.cost_usd is not None and b.cost_usd is not None:
        if _apart(a.cost_usd, b.cost_usd, options.cost_ratio, 1e-9):
            out.append(Difference("cost", a.cost_usd, b.cost_usd,
                                  f"${a.cost_usd:.4f} vs ${b.cost_usd:.4f}"))
    elif a.tokens is not None and b.tokens is not None and \
            _apart(a.tokens, b.tokens, options.cost_ratio, 0):
        out.append(Difference("cost", a.tokens, b.tokens, f"{a.tokens} vs {b.tokens} tokens"))
    if a.duration_ms is not None and b.duration_ms is not None and \
            _apart(a.duration_ms, b.duration_ms, options.duration_ratio,
                   options.duration_min_ms):
        out.append(Difference("duration", a.duration_ms, b.duration_ms,
                              f"{a.duration_ms:,.0f} ms vs {b.duration_ms:,.0f} ms"))
    return out


@dataclass(frozen=True)
class Row:
    """One aligned position: step indexes (``None`` on the side without one), its kind
    (``same``, ``changed``, ``only_a``, ``only_b``) and the pair's differences."""

    a: int | None
    b: int | None
    kind: str
    differences: tuple[Difference, ...] = ()

    @property
    def diverges(self) -> bool:
        return self.kind in (ONLY_A, ONLY_B) or any(d.diverges for d in self.differences)

    def to_json(self, position: int) -> dict[str, Any]:
        return {"row": position, "a": self.a, "b": self.b, "kind": self.kind,
                "differences": [d.to_json() for d in self.differences]}


@dataclass(frozen=True)
class RunSide:
    """One compared run, as the report names it."""

    path: str
    run_id: str | None
    status: str | None
    steps: int
    client: str | None
    problems: tuple[str, ...]

    @classmethod
    def of(cls, run: LoadedRun) -> RunSide:
        client = " ".join(str(run.client[k]) for k in ("name", "version")
                          if isinstance(run.client.get(k), str | int | float))
        return cls(str(run.root), _text(run.run_id), _text(run.status, 50), len(run.steps),
                   _text(client) or None, tuple(run.problems))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "run_id": self.run_id, "status": self.status,
                "steps": self.steps, "client": self.client, "problems": list(self.problems)}


@dataclass
class RunDiff:
    """The comparison of run A with run B."""

    a: RunSide
    b: RunSide
    steps_a: list[StepSummary]
    steps_b: list[StepSummary]
    rows: list[Row]
    alignment: Alignment
    screens: str  # "perceptual" or "exact"
    timings: dict[str, float] = field(default_factory=dict)
    _pos_a: dict[int, int] = field(init=False, repr=False, default_factory=dict)
    _pos_b: dict[int, int] = field(init=False, repr=False, default_factory=dict)

    @property
    def first_divergence(self) -> int | None:
        """The position in :attr:`rows` of the first row where the runs stop doing the same
        thing, or ``None``."""
        return next((k for k, row in enumerate(self.rows) if row.diverges), None)

    @property
    def same_outcome(self) -> bool:
        return self.a.status == self.b.status

    @property
    def same(self) -> bool:
        """Both runs did the same thing with the same outcome."""
        return self.first_divergence is None and self.same_outcome

    @property
    def exit_code(self) -> int:
        return 0 if self.same else 1

    def counts(self) -> dict[str, int]:
        counts = {SAME: 0, CHANGED: 0, ONLY_A: 0, ONLY_B: 0}
        for row in self.rows:
            counts[row.kind] += 1
        counts["diverging"] = sum(1 for row in self.rows if row.diverges)
        return counts

    def step_a(self, index: int) -> StepSummary:
        return self.steps_a[self._pos_a[index]]

    def step_b(self, index: int) -> StepSummary:
        return self.steps_b[self._pos_b[index]]

    def __post_init__(self) -> None:
        self._pos_a = {s.index: k for k, s in enumerate(self.steps_a)}
        self._pos_b = {s.index: k for k, s in enumerate(self.steps_b)}

    def to_json(self) -> dict[str, Any]:
        """The whole report (``augur diff --json``)."""
        first = self.first_divergence
        return {
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "same": self.same,
            "same_outcome": self.same_outcome,
            "exit_code": self.exit_code,
            "first_divergence": self.rows[first].to_json(first) if first is not None else None,
            "counts": self.counts(),
            "differences": [row.to_json(k) for k, row in enumerate(self.rows)
                            if row.kind != SAME],
            "alignment": [[row.a, row.b] for row in self.rows],
            "steps_a": [s.to_json() for s in self.steps_a],
            "steps_b": [s.to_json() for s in self.steps_b],
            "screens": self.screens,
            "method": {"name": self.alignment.method, "band": self.alignment.band,
                       "cells": self.alignment.cells},
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


def step_key(summary: StepSummary, phash: int | None, digest: str | None) -> StepKey:
    return StepKey(summary.action, summary.target, summary.intent, phash, digest, summary.click)


def build_rows(alignment: Alignment, steps_a: list[StepSummary], steps_b: list[StepSummary],
               options: DiffOptions) -> list[Row]:
    rows = []
    for pa, pb in alignment.pairs:
        if pa is None:
            assert pb is not None
            rows.append(Row(None, steps_b[pb].index, ONLY_B))
        elif pb is None:
            rows.append(Row(steps_a[pa].index, None, ONLY_A))
        else:
            found = tuple(differences(steps_a[pa], steps_b[pb], options))
            rows.append(Row(steps_a[pa].index, steps_b[pb].index, CHANGED if found else SAME,
                            found))
    return rows


def compare_loaded(run_a: LoadedRun, run_b: LoadedRun, options: DiffOptions | None = None, *,
                   hasher: ScreenHasher | None = None) -> RunDiff:
    """Compare two runs already read."""
    options = options or DiffOptions()
    hasher = hasher or ScreenHasher(perceptual=options.perceptual)
    t0 = time.perf_counter()
    prints = hasher.hash_all([s.pre for s in run_a.steps] + [s.pre for s in run_b.steps])
    t1 = time.perf_counter()
    steps_a = [summarize(s) for s in run_a.steps]
    steps_b = [summarize(s) for s in run_b.steps]
    keys = [step_key(summary, p.phash if p else None, p.digest if p else None)
            for summary, p in zip(steps_a + steps_b, prints, strict=True)]
    t2 = time.perf_counter()
    alignment = align(keys[:len(steps_a)], keys[len(steps_a):], band=options.band)
    t3 = time.perf_counter()
    rows = build_rows(alignment, steps_a, steps_b, options)
    return RunDiff(RunSide.of(run_a), RunSide.of(run_b), steps_a, steps_b, rows, alignment,
                   hasher.kind, {"hash_s": t1 - t0, "summarize_s": t2 - t1, "align_s": t3 - t2,
                                 "rows_s": time.perf_counter() - t3})


def compare_runs(a: str | os.PathLike[str], b: str | os.PathLike[str],
                 options: DiffOptions | None = None, *,
                 hasher: ScreenHasher | None = None) -> RunDiff:
    """Read and compare the bundles ``a`` and ``b``
    (:class:`~augur_sdk.diff.load.BundleError` if one is not a readable bundle)."""
    t0 = time.perf_counter()
    run_a, run_b = load_run(a), load_run(b)
    loaded = time.perf_counter() - t0
    result = compare_loaded(run_a, run_b, options, hasher=hasher)
    result.timings = {"load_s": loaded, **result.timings}
    return result
