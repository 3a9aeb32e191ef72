"""compare_runs on runs recorded with the SDK (screenshots drawn with Pillow): the first
divergence, the differences of aligned pairs, one-sided steps, the exit code."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from augur_sdk import CaptureMode
from augur_sdk.diff import DiffOptions, compare_runs
from augur_sdk.diff.alignment import SCREEN_SAME_BITS
from augur_sdk.diff.compare import CHANGED, ONLY_A, ONLY_B, SAME
from augur_sdk.diff.screens import dhash
from drawn_runs import Page, base_task, centre, dialog_task, draw_page, record, retry_task


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The passing run (twice), the dialog run and the retry run, recorded once."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "clean": record(root / "clean", base_task()),
        "clean2": record(root / "clean2", base_task()),
        "dialog": record(root / "dialog", dialog_task()),
        "retry": record(root / "retry", retry_task()),
    }


def _fields(row) -> list[str]:
    return [d.field for d in row.differences]


def test_two_runs_that_did_the_same_thing_are_the_same(runs: dict[str, Path]) -> None:
    """Two recordings of the same task pair step for step, with no difference and exit 0."""
    result = compare_runs(runs["clean"], runs["clean2"])
    assert [(r.a, r.b, r.kind) for r in result.rows] == [(i, i, SAME) for i in range(11)]
    assert result.first_divergence is None and result.same and result.exit_code == 0


def test_the_first_divergence_of_the_dialog_run_is_the_step_the_dialog_broke(
        runs: dict[str, Path]) -> None:
    """Against the passing run, the dialog run first diverges at its failed 'Place order'
    (step 10); the recovery step is extra; the retry pairs with the passing run's order."""
    result = compare_runs(runs["dialog"], runs["clean"])
    first = result.rows[result.first_divergence]
    assert first.a == 10 and result.step_a(10).status == "failed"
    assert result.alignment.matched() == {**{i: i for i in range(10)}, 12: 10}
    assert [(r.a, r.kind) for r in result.rows[10:]] == [(10, ONLY_A), (11, ONLY_A),
                                                         (12, SAME)]
    assert result.exit_code == 1 and not result.same and result.same_outcome


def test_a_retry_does_not_shift_the_later_steps(runs: dict[str, Path]) -> None:
    """The retry run's failed sign-in pairs with the passing sign-in (status, click 60 px
    apart, verdict), its retry is extra, and every later step pairs with its counterpart."""
    result = compare_runs(runs["retry"], runs["clean"])
    assert result.alignment.matched() == {**{i: i for i in range(5)},
                                          **{i: i - 1 for i in range(6, 12)}}
    first = result.rows[result.first_divergence]
    assert (first.a, first.b, first.kind) == (4, 4, CHANGED)
    assert _fields(first) == ["status", "click", "verdict", "duration"]
    click = first.differences[1]
    assert click.note == "60 px apart"
    assert [(r.a, r.b, r.kind) for r in result.rows if r.kind != SAME] == [
        (4, 4, CHANGED), (5, None, ONLY_A)]


def test_a_skipped_step_is_listed_on_one_side(tmp_path: Path, runs: dict[str, Path]) -> None:
    """A run that skipped a step shows it as 'only in A'; the rest stays paired."""
    steps = base_task()
    skipped = record(tmp_path / "skipped", [*steps[:7], *steps[8:]])
    result = compare_runs(runs["clean"], skipped)
    assert [(r.a, r.b, r.kind) for r in result.rows if r.kind != SAME] == [(7, None, ONLY_A)]
    reverse = compare_runs(skipped, runs["clean"])
    assert [(r.a, r.b, r.kind) for r in reverse.rows if r.kind != SAME] == [(None, 7, ONLY_B)]


def test_same_steps_with_a_different_outcome_differ(tmp_path: Path,
                                                    runs: dict[str, Path]) -> None:
    """The same steps but another session status: no divergent step, still exit 1."""
    halted = record(tmp_path / "halted", base_task(), status="halted")
    result = compare_runs(runs["clean"], halted)
    assert result.first_divergence is None
    assert (result.a.status, result.b.status) == ("succeeded", "halted")
    assert not result.same_outcome and result.exit_code == 1


def test_each_kind_of_difference(tmp_path: Path, runs: dict[str, Path]) -> None:
    """Target, typed text, cost and duration differences are found on the pair; cost and
    duration alone do not make the runs differ."""
    steps = base_task()
    steps[2] = replace(steps[2], target="Username", click=centre("Username"))  # wrong field
    steps[6] = replace(steps[6], params={"text": "red mug"})
    steps[8] = replace(steps[8], duration_ms=5000)
    other = record(tmp_path / "other", steps)
    result = compare_runs(runs["clean"], other)
    changed = {r.a: r for r in result.rows if r.kind == CHANGED}
    assert set(changed) == {2, 6, 8}
    assert _fields(changed[2]) == ["target", "click"]
    assert changed[2].differences[0].a == "Password" and changed[2].differences[0].b == "Username"
    assert _fields(changed[6]) == ["action"] and "red mug" in changed[6].differences[0].b
    assert _fields(changed[8]) == ["duration"] and not changed[8].diverges
    assert result.rows[result.first_divergence].a == 2

    costly = record(tmp_path / "costly", [replace(s, cost_usd=0.01) for s in base_task()])
    cheap = record(tmp_path / "cheap", [replace(s, cost_usd=0.002) for s in base_task()])
    priced = compare_runs(costly, cheap)
    assert all(_fields(r) == ["cost"] for r in priced.rows)
    assert priced.same and priced.exit_code == 0  # cost alone: the same thing was done


def test_without_perceptual_hashes_the_alignment_still_holds(runs: dict[str, Path]) -> None:
    """With exact screenshot digests only (no Pillow), the dialog run still first diverges at
    step 10 and the retry run keeps its later steps paired."""
    options = DiffOptions(perceptual=False)
    dialog = compare_runs(runs["dialog"], runs["clean"], options)
    assert dialog.screens == "exact"
    assert dialog.rows[dialog.first_divergence].a == 10
    retry = compare_runs(runs["retry"], runs["clean"], options)
    assert {a: b for a, b in retry.alignment.matched().items() if a > 5} == {
        i: i - 1 for i in range(6, 12)}


def test_metadata_only_runs_align_by_action(tmp_path: Path) -> None:
    """Runs recorded in capture mode metadata (no intents, targets or screenshots) still
    align, by action type."""
    a = record(tmp_path / "a", base_task(), capture_mode=CaptureMode.METADATA)
    b = record(tmp_path / "b", base_task(), capture_mode=CaptureMode.METADATA)
    result = compare_runs(a, b)
    assert result.same and len(result.rows) == 11


def test_the_json_report_is_strict_json(runs: dict[str, Path]) -> None:
    """to_json() holds the sides, the first divergence, every non-same row and the whole
    alignment, and is valid strict JSON."""
    report = json.loads(json.dumps(compare_runs(runs["retry"], runs["clean"]).to_json(),
                                   allow_nan=False))
    assert report["exit_code"] == 1 and report["same"] is False
    assert report["first_divergence"]["a"] == 4 and report["first_divergence"]["b"] == 4
    assert [d["field"] for d in report["first_divergence"]["differences"]][:2] == ["status",
                                                                                  "click"]
    assert [row["kind"] for row in report["differences"]] == ["changed", "only_a"]
    assert report["alignment"][5] == [5, None] and len(report["alignment"]) == 12
    assert report["counts"] == {"same": 10, "changed": 1, "only_a": 1, "only_b": 0,
                                "diverging": 2}
    assert report["screens"] == "perceptual" and report["method"]["name"] in ("band", "full")
    assert report["steps_a"][4]["click"] == [230.0, 309.0]


def test_a_page_drawn_twice_hashes_the_same(tmp_path: Path) -> None:
    """Identical screens give identical hashes; another page a distant one (the drawn pages
    behave like the real ones)."""
    login, checkout = draw_page(Page("login")), draw_page(Page("checkout"))
    assert dhash(login) == dhash(draw_page(Page("login")))
    assert (dhash(login) ^ dhash(checkout)).bit_count() > SCREEN_SAME_BITS
    assert dhash(b"not an image") is None
