"""Properties of the step alignment (augur_sdk.diff.alignment): a pure function, tested with
hypothesis against a plain dynamic program and a brute force."""

from __future__ import annotations

import functools
import random
from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from augur_sdk.diff import alignment as A
from augur_sdk.diff.alignment import (
    MIN_MATCH,
    StepKey,
    align,
    align_full,
    can_pair,
    self_weight,
    similarity,
)

# Small alphabets make ties, repeats and near-duplicates common: the hard cases.
_BITS = A.SCREEN_HASH_BITS
_HASHES = [0, 0b1, 0b111_111, 0xFFF_FFFF, (1 << 20) - 1, 0x0F0F_0F0F_0F0F_0F0F, (1 << _BITS) - 1]
keys = st.builds(
    StepKey,
    action=st.sampled_from(["click", "type", "key", None]),
    target=st.sampled_from(["Sign in", "Search", "sign  IN", None]),
    intent=st.sampled_from(["open the cart", "Open the cart", "pay", None]),
    screen_hash=st.sampled_from([*_HASHES, None]),
    screen_digest=st.sampled_from(["d1", "d2", None]),
    click=st.sampled_from([(10.0, 10.0), (25.0, 10.0), (400.0, 300.0), None]),
)
runs = st.lists(keys, max_size=14)


def _unique_run(seed: int, n: int, prefix: str = "t") -> list[StepKey]:
    """Steps that look nothing alike: distinct targets, intents and screens far apart."""
    rng = random.Random(seed)
    return [StepKey(rng.choice(["click", "type", "key"]), f"{prefix}{k}", f"{prefix} step {k}",
                    rng.getrandbits(_BITS), None, (rng.uniform(0, 900), rng.uniform(0, 600)))
            for k in range(n)]


def _brute_force(a: list[StepKey], b: list[StepKey]) -> int:
    """The best total score over every order-preserving matching (exponential; tiny runs)."""
    @functools.cache
    def best(i: int, j: int) -> int:
        if i == len(a) or j == len(b):
            return 0
        w = similarity(a[i], b[j])
        pair = w + best(i + 1, j + 1) if can_pair(a[i], b[j]) else 0
        return max(pair, best(i + 1, j), best(i, j + 1))
    return best(0, 0)


def _check_shape(result: A.Alignment, n: int, m: int) -> None:
    a_side = [a for a, _ in result.pairs if a is not None]
    b_side = [b for _, b in result.pairs if b is not None]
    assert a_side == list(range(n)) and b_side == list(range(m))
    assert all(a is not None or b is not None for a, b in result.pairs)


@settings(deadline=None)  # timing varies with the machine's load
@given(runs)
def test_identical_runs_align_step_for_step(a: list[StepKey]) -> None:
    """A run aligned with itself pairs every step with itself."""
    result = align(a, list(a))
    assert result.pairs == tuple((i, i) for i in range(len(a)))


@settings(deadline=None)  # timing varies with the machine's load
@given(runs, runs)
def test_alignment_is_deterministic_and_complete(a: list[StepKey], b: list[StepKey]) -> None:
    """The same input gives the same rows; every step of both runs appears once, in order."""
    first, second = align(a, b), align(list(a), list(b))
    assert first == second
    _check_shape(first, len(a), len(b))


@settings(max_examples=300, deadline=None)
@given(runs, runs, st.integers(min_value=1, max_value=4))
def test_band_fast_path_equals_the_plain_dynamic_program(a: list[StepKey], b: list[StepKey],
                                                         band: int) -> None:
    """Whatever band it starts from, align() returns exactly align_full()'s pairs and score."""
    fast, full = align(a, b, band=band), align_full(a, b)
    assert (fast.pairs, fast.weight) == (full.pairs, full.weight)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(runs, st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["insert", "delete",
                                                                       "retry"]), keys),
                      max_size=4), st.integers(min_value=1, max_value=3))
def test_band_fast_path_answers_near_identical_runs(a: list[StepKey], edits: list[tuple[int,
                                                    str, StepKey]], band: int) -> None:
    """On a run and a lightly edited copy the band usually answers, and then it equals the
    full program (the differential test above covers the fallback too)."""
    b = list(a)
    for at, kind, key in edits:
        at = min(at, len(b))
        if kind == "insert":
            b.insert(at, key)
        elif b and at < len(b):
            if kind == "delete":
                del b[at]
            else:
                b.insert(at + 1, b[at])
    fast, full = align(a, b, band=band), align_full(a, b)
    assert (fast.pairs, fast.weight) == (full.pairs, full.weight)


def test_the_band_answers_and_falls_back() -> None:
    """Near-identical long runs are answered by the band; unrelated ones by the full table."""
    a = _unique_run(1, 300)
    b = a[:100] + _unique_run(2, 3, "x") + a[100:250] + a[260:]
    near = align(a, b)
    assert near.method == "band" and near.cells < (len(a) + 1) * (len(b) + 1) // 4
    assert near.pairs == align_full(a, b).pairs
    far = align(_unique_run(3, 120), _unique_run(4, 90, "y"))
    assert far.method == "full"
    # Screens known only by digests that never repeat (no perceptual hashes): the bound
    # ignores what the other run can never share, so the band still answers.
    unique = [replace(k, screen_hash=None, screen_digest=f"a{i}") for i, k in enumerate(a)]
    other = [replace(k, screen_hash=None, screen_digest=f"b{i}") for i, k in enumerate(b)]
    exact = align(unique, other)
    assert exact.method == "band" and exact.pairs == align_full(unique, other).pairs


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, max_size=6), st.lists(keys, max_size=6))
def test_the_dynamic_program_finds_the_best_total_score(a: list[StepKey],
                                                        b: list[StepKey]) -> None:
    """align_full's score is the maximum over all order-preserving matchings (brute force),
    and its pairs add up to that score."""
    result = align_full(a, b)
    assert result.weight == _brute_force(a, b)
    assert result.weight == sum(similarity(a[i], b[j]) for i, j in result.pairs
                                if i is not None and j is not None)
    assert all(can_pair(a[i], b[j]) for i, j in result.pairs
               if i is not None and j is not None)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 60),
       st.lists(st.tuples(st.integers(0, 60), st.booleans()), max_size=8))
def test_extra_steps_and_retries_do_not_shift_later_matches(seed: int, n: int,
                                                            inserts: list[tuple[int, bool]]) -> None:
    """Inserting unrelated steps or retries (a repeat of the step before) anywhere pairs
    every original step with itself, the first attempt of a retried one included."""
    base = _unique_run(seed, n)
    modified = list(base)
    origin: list[int | None] = list(range(n))  # position in base of each modified step
    for k, (at, retry) in enumerate(inserts):
        at = min(at, len(modified))
        if retry and at > 0:
            modified.insert(at, modified[at - 1])
        else:
            modified.insert(at, _unique_run(seed + 1000 + k, 1, f"extra{k}-")[0])
        origin.insert(at, None)
    # A retry copies the step before it: the original is the first of the run of copies.
    for pos in range(len(modified)):
        if origin[pos] is None and pos > 0 and modified[pos] == modified[pos - 1]:
            origin[pos] = origin[pos - 1]
    expected = {}
    for pos, o in enumerate(origin):
        if o is not None and o not in expected:
            expected[o] = pos
    forward = align(base, modified).matched()
    assert forward == expected
    backward = {b: a for a, b in align(modified, base).matched().items()}
    assert backward == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 60), st.sets(st.integers(0, 59), max_size=10))
def test_skipped_steps_leave_the_others_paired(seed: int, n: int, skipped: set[int]) -> None:
    """A run that skipped some steps pairs every step it kept with the original."""
    base = _unique_run(seed, n)
    kept = [i for i in range(n) if i not in skipped]
    result = align(base, [base[i] for i in kept])
    assert result.matched() == {i: pos for pos, i in enumerate(kept)}


@settings(deadline=None)  # timing varies with the machine's load
@given(keys, keys)
def test_similarity_is_symmetric_and_bounded_by_self_weights(a: StepKey, b: StepKey) -> None:
    """A pair never scores more than either step with itself (what the band's bound needs),
    and scoring is symmetric."""
    assert similarity(a, b) == similarity(b, a)
    assert similarity(a, b) <= min(self_weight(a), self_weight(b))
    assert similarity(a, a) == self_weight(a)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(runs, runs, st.data())
def test_row_scores_match_the_pair_score(a: list[StepKey], b: list[StepKey],
                                         data: st.DataObject) -> None:
    """The vectorized row computation gives exactly the allowed pairs and scores of
    similarity(), over any window of B."""
    assume(a and b)
    ra, rb = A._encode(a, b)
    jlo = data.draw(st.integers(0, len(b) - 1))
    jhi = data.draw(st.integers(jlo, len(b) - 1))
    for i in range(len(a)):
        expected = [(j, w) for j in range(jlo, jhi + 1)
                    if A._allowed(ra, i, rb, j, w := A._weight(ra, i, rb, j))]
        assert A._row_matches(ra, i, rb, jlo, jhi) == expected


@settings(deadline=None)  # timing varies with the machine's load
@given(st.integers(0, (1 << _BITS) - 1), st.lists(st.integers(0, (1 << _BITS) - 1),
                                                  max_size=40))
def test_row_hash_distances_are_popcounts(ph: int, others: list[int]) -> None:
    """The whole-row Hamming distance equals bin(x ^ y).count('1') for every pair."""
    packed = b"".join(o.to_bytes(_BITS // 8, "little") for o in others)
    assert list(A._distances(ph, packed)) == [(ph ^ o).bit_count() for o in others]


def test_a_retried_step_pairs_its_first_attempt() -> None:
    """Between equally good pairings the earliest is kept: the failed first attempt of a
    retried step is paired with the other run's step, the retry is listed as extra."""
    base = _unique_run(7, 6)
    retried = [*base[:3], base[3], base[3], *base[4:]]
    assert align(base, retried).pairs == ((0, 0), (1, 1), (2, 2), (3, 3), (None, 4), (4, 5),
                                          (5, 6))


def test_what_makes_a_pair() -> None:
    """The same action and target pair up even on different screens; the same screen pairs
    a different target of the same action; different action, target and screen do not."""
    login, search = 0, (1 << _BITS) - 1
    click_signin = StepKey("click", "Sign in", None, login)
    assert similarity(click_signin, StepKey("click", "Sign in", None, search)) >= MIN_MATCH
    assert similarity(click_signin, StepKey("click", "Cancel", None, login)) >= MIN_MATCH
    assert similarity(click_signin, StepKey("type", "Search", None, search)) < MIN_MATCH
    assert similarity(StepKey("click"), StepKey("click")) >= MIN_MATCH  # metadata-only runs
    assert similarity(StepKey("click"), StepKey("type")) < MIN_MATCH
    assert similarity(StepKey("click", screen_digest="x"),
                      StepKey("click", screen_digest="x")) > similarity(StepKey("click"),
                                                                        StepKey("click"))
    # A hash wider than SCREEN_HASH_BITS (or negative) is no hash at all.
    for bad in (1 << (2 * _BITS), -5):
        wide = StepKey("click", screen_hash=bad)
        assert similarity(wide, wide) == similarity(StepKey("click"), StepKey("click"))
        assert align([wide], [wide]).pairs == ((0, 0),)


def test_steps_that_record_too_little_pair_only_with_their_twins() -> None:
    """A step with no action, target or screen cannot reach MIN_MATCH; it pairs with a step
    that recorded exactly the same (intent, click within 20 px, or nothing) and with no other."""
    bare, intent, clicked = StepKey(), StepKey(intent="Pay"), StepKey(click=(10.0, 10.0))
    for weak in (bare, intent, clicked):
        assert self_weight(weak) < MIN_MATCH and can_pair(weak, weak)
        assert align([weak] * 3, [weak] * 3).pairs == ((0, 0), (1, 1), (2, 2))
    assert can_pair(intent, StepKey(intent="  PAY "))
    assert can_pair(clicked, StepKey(click=(25.0, 10.0)))          # 15 px apart
    assert not can_pair(clicked, StepKey(click=(400.0, 300.0)))    # far apart
    assert not can_pair(bare, intent) and not can_pair(intent, clicked)
    # A better-recorded step never pairs with a bare one, even with the same intent.
    assert not can_pair(intent, StepKey("click", intent="pay"))
    assert align([bare, intent], [intent]).pairs == ((0, None), (1, 0))
