"""The writer's compact per-step indexes behave exactly like the dicts they replace."""

from __future__ import annotations

import hashlib
import random
import sys

from augur_sdk.bundle.index import Signatures, StepIndex, step_slot


def digest(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_signatures_hold_what_a_dict_would_for_any_mix_of_paths() -> None:
    """Conventional per-step paths go to the compact rows, everything else (odd paths, odd
    digests) is kept as given; lookups, overwrites and the final dict match a plain dict."""
    rng = random.Random(3)
    odd_paths = ["steps/12.json", "steps/00012.json", "steps/\u0663.json", "steps/0001.JSON",
                 "screenshots/0003_pre.PNG", "screenshots/0003_side.png", "steps/0001/ab.json",
                 "manifest.json", "events/0001.jsonl", "schema/step_trace.schema.json",
                 "screenshots/0003_pre.json", "steps/-001.json"]
    odd_digests = ["", "ABCDEF" * 10 + "ABCD", "xyz", digest(1)[:-1]]
    plain: dict[str, str] = {}
    compact = Signatures()
    for n in range(5000):
        roll = rng.random()
        index = rng.randint(0, 12000)
        if roll < 0.3:
            rel = f"steps/{index:04d}.json"
        elif roll < 0.6:
            rel = f"screenshots/{index:04d}_{rng.choice(['pre', 'post'])}.png"
        else:
            rel = rng.choice(odd_paths)
        value = rng.choice(odd_digests) if rng.random() < 0.05 else digest(n)
        plain[rel] = value
        compact[rel] = value
        probe = rng.choice(list(plain))
        assert compact[probe] == plain[probe] and probe in compact
    assert compact.to_dict() == plain and len(compact) == len(plain)
    assert "steps/99999999.json" not in compact and compact.get("nope") is None


def test_a_step_costs_far_less_than_its_dict_entries() -> None:
    """Three digests of a step: one small entry, not three path strings and three hex ones."""
    compact = Signatures()
    plain: dict[str, str] = {}
    for i in range(2000):
        for rel in (f"steps/{i:04d}.json", f"screenshots/{i:04d}_pre.png",
                    f"screenshots/{i:04d}_post.png"):
            compact[rel] = plain[rel] = digest(i)

    def deep_size(table: dict[object, object]) -> int:
        return sys.getsizeof(table) + sum(sys.getsizeof(k) + sys.getsizeof(v)
                                          for k, v in table.items())

    ours = deep_size(compact._steps) + deep_size(compact._other)  # type: ignore[arg-type]
    assert ours * 2.5 < deep_size(plain)  # type: ignore[arg-type]


def test_step_slot_accepts_only_the_paths_the_writer_builds() -> None:
    assert step_slot("steps/0007.json") == (7, 0)
    assert step_slot("screenshots/12345_post.png") == (12345, 2)
    assert step_slot("steps/7.json") is None  # the writer pads to 4 digits
    assert step_slot("screenshots/0007_pre.png.tmp") is None


def test_the_step_index_returns_every_reference_as_recorded() -> None:
    index = StepIndex()
    index.add(1, "screenshots/0001_pre.png", "screenshots/0001_post.png")
    index.add(2, None, "screenshots/0002_post.png")
    index.add(3, "screenshots/elsewhere.png", None)  # not the conventional path: kept as is
    index.add(4, None, None)
    index.add(2, "screenshots/0002_pre.png", None)  # a re-recorded step replaces its entry
    assert sorted(index) == [1, 2, 3, 4] and 3 in index and 5 not in index
    assert sorted(index.refs()) == ["screenshots/0001_post.png", "screenshots/0001_pre.png",
                                    "screenshots/0002_pre.png", "screenshots/elsewhere.png"]


def test_signatures_set_from_two_threads_lose_nothing() -> None:
    """The agent signs a step file while a hasher signs the same step's screenshot: with the
    interpreter switching threads as often as it can, every digest is still there."""
    import threading

    compact = Signatures()
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def sign(kind: str) -> None:
            for i in range(20000):
                rel = f"steps/{i:04d}.json" if kind == "step" else f"screenshots/{i:04d}_pre.png"
                compact[rel] = digest(i)

        threads = [threading.Thread(target=sign, args=(k,)) for k in ("step", "pre")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old_interval)
    assert len(compact) == 40000
    assert all(compact[f"screenshots/{i:04d}_pre.png"] == digest(i) for i in range(20000))
