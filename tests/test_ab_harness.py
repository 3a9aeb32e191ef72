"""The revision A/B harness (benchmarks/ab_revisions.py): the lockstep round and the verdict."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from ab_lockstep import lockstep_round  # noqa: E402
from ab_revisions import table  # noqa: E402

CALLS = ("record_step", "attach_observation", "record_event")


def test_lockstep_round_times_every_call(tmp_path: Path) -> None:
    """Two workers on one src/ take turns and each reports a p50 (wall and CPU) per call."""
    src = ROOT / "src"
    pair = lockstep_round({"base": src, "head": src}, steps=4, mode="screenshots", png_kb=16,
                          work=tmp_path, first=1, timeout_s=120)
    for side in ("base", "head"):
        assert sorted(pair[side]) == sorted(CALLS)
        for call in CALLS:
            assert pair[side][call]["p50_us"] > 0
            assert 0 < pair[side][call]["cpu_p50_us"] < 10 * pair[side][call]["p50_us"]
    assert list(tmp_path.iterdir()) == []  # the bundles are removed


def _runs(factor: float) -> dict[str, list[dict[str, dict[str, float]]]]:
    base = [{c: {"p50_us": 100.0 + n, "cpu_p50_us": 50.0 + n} for c in CALLS} for n in range(8)]
    head = [{c: {k: v * factor for k, v in r[c].items()} for c in CALLS} for r in base]
    return {"base": base, "head": head}


def test_verdict_passes_equal_and_fails_slower() -> None:
    """Equal revisions pass the 1.10 bound; a head 25% slower in every round fails it."""
    lines, ok = table(_runs(1.0), "wall", 1.10)
    assert ok and len(lines) == 2 + len(CALLS) and all("PASS" in line for line in lines[2:])
    lines, ok = table(_runs(1.25), "cpu", 1.10)
    assert not ok and all("| 1.250 |" in line and "FAIL" in line for line in lines[2:])
