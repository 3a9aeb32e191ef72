"""Drop-in compatibility with augur-sdk 0.6.1: its own validator accepts our bundles."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from support import run_seed_session

ROOT = Path(__file__).resolve().parent.parent
REF_PYTHON = ROOT / ".ci-venvs" / "augur-sdk-0.6.1" / "bin" / "python"


@pytest.fixture(scope="module")
def ref_python() -> Path:
    if not REF_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("augur-sdk 0.6.1 venv missing: .ci/install-augur-sdk-0.6.1.sh did not run")
        pytest.skip("run .ci/install-augur-sdk-0.6.1.sh to install the reference SDK")
    return REF_PYTHON


def _ref_validate(python: Path, bundle: Path) -> list[str]:
    code = ("import json, sys; from augur_sdk import __version__; "
            "from augur_sdk.validation import validate_bundle; assert __version__ == '0.6.1'; "
            "print(json.dumps([i.render() for i in validate_bundle(sys.argv[1])]))")
    proc = subprocess.run([str(python), "-c", code, str(bundle)], capture_output=True, text=True,
                          timeout=120, check=True)
    issues: list[str] = json.loads(proc.stdout)
    return issues


@pytest.mark.parametrize("mode", ["metadata", "trace", "screenshots", "full"])
def test_reference_validator_accepts_our_bundle(tmp_path: Path, ref_python: Path,
                                                mode: str) -> None:
    """augur-sdk 0.6.1's validate_bundle reports no issue on our bundle in each mode."""
    run_seed_session(tmp_path / "b", steps=3, mode=mode)  # type: ignore[arg-type]
    assert _ref_validate(ref_python, tmp_path / "b") == []


def test_reference_validator_still_catches_a_broken_bundle(tmp_path: Path,
                                                           ref_python: Path) -> None:
    """The check is live: a step file broken on purpose is reported by the reference validator."""
    run_seed_session(tmp_path / "b", steps=2)
    (tmp_path / "b/steps/0001.json").write_text('{"step_id": 1}')
    assert _ref_validate(ref_python, tmp_path / "b") != []


FIXTURE_061 = ROOT / "tests" / "fixtures" / "bundle-061"


def test_a_bundle_written_by_061_validates_the_same_with_both_validators(
        ref_python: Path) -> None:
    """A bundle 0.6.1 wrote with its iterations, verdicts, side effects, model I/O, outcomes
    and eval candidates has no error for its validator or ours, but for the one 0.6.1 makes
    about its own reasoning file (a deliberate difference: ours checks it against
    reasoning_trace, the schema it follows)."""
    from augur_sdk.validation import validate_bundle

    theirs = _ref_validate(ref_python, FIXTURE_061)
    assert theirs == ["events/reasoning.jsonl: line 1: 'layer' is a required property "
                      "(at <root>)"]
    assert validate_bundle(FIXTURE_061) == []


def test_our_validator_checks_every_file_kind_of_a_061_bundle(tmp_path: Path) -> None:
    """Each file kind 0.6.1 writes is checked by ours: breaking one is an error naming it
    (0.6.1's own validator never looks at modelio/, side_effects/, outcomes or candidates)."""
    import shutil

    from augur_sdk.validation import validate_bundle

    breakages = {
        "modelio/0001-planner-0.json": ("layer", "nowhere"),
        "eval_candidates.json": None,
        "outcomes.json": None,
    }
    side_effect = next((FIXTURE_061 / "side_effects").glob("*.json")).relative_to(FIXTURE_061)
    breakages[side_effect.as_posix()] = ("status", "maybe")
    for rel, change in breakages.items():
        bundle = tmp_path / rel.replace("/", "_")
        shutil.copytree(FIXTURE_061, bundle)
        data = json.loads((bundle / rel).read_text())
        if change is None:  # a list file: break its first record's required member
            key = next(iter(data))
            data[key][0].pop(next(k for k in ("reason", "scope") if k in data[key][0]))
        else:
            data[change[0]] = change[1]
        (bundle / rel).write_text(json.dumps(data))
        found = [i.render() for i in validate_bundle(bundle)
                 if i.where == rel and "sha256" not in i.message]  # not the signature check
        assert found, (rel, [i.render() for i in validate_bundle(bundle)])


def test_061_step_id_scheme_is_a_warning_not_an_error() -> None:
    """0.6.1 clients' step ids such as `step-0003-000` are warnings (the seed page's
    convention), listed only when asked for."""
    from augur_sdk.validation import validate_bundle

    warnings = validate_bundle(FIXTURE_061, include_warnings=True)
    assert warnings and {i.severity for i in warnings} == {"warning"}
    assert any("step-0001-001" in i.message for i in warnings)


@pytest.mark.parametrize("mode", ["metadata", "full"])
def test_every_annotation_method_round_trips_into_a_bundle_both_validators_accept(
        tmp_path: Path, ref_python: Path, mode: str) -> None:
    """Verdicts, scores, judges, costs, iterations, versions, fingerprints, loops, subgoals
    and the task spec, recorded by us, validate with 0.6.1's validator and ours."""
    from augur_sdk import DebugSession
    from augur_sdk.validation import validate_bundle

    from support import step_record

    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode=mode, dsn="",
                      task_spec={"instruction": "buy",
                                 "subgoals": [{"subgoal_id": "pay", "description": "pay"}]},
                      task_spec_id="t-1", group_id="g") as s:
        for i in range(3):
            s.record_step(step_record("r", i))
        s.attach_verifier(0, status="failed", reason="r", evidence_refs=["steps/0000.json"])
        s.set_score(0, 0.4, comparator="model-judge", components={"progress": 0.2},
                    should_stop=False, uncertainty=0.1)
        s.record_judge_decision(1, judge_id="j", judge_type="hybrid",
                                verdict={"status": "passed", "score": 0.8}, confidence=0.7)
        s.set_costs(total_usd=1.5, tokens_in=100, tokens_out=20, cache_hit_tokens=5)
        s.set_step_costs(1, model_usd=0.2, tokens_in=50)
        s.record_step_iteration(2, {**step_record("r", 2), "step_id": "r/step/0002/again"})
        s.set_step_versions(2, model="m", prompt="p", prompt_hash="h", code_git_sha="abc")
        s.attach_env_fingerprint(2, url_host="h", url_path_template="/x", viewport_hash="v",
                                 api_shapes={"GET /a": "h1"}, extensions=["e"])
        s.set_loop_detected(2)
        s.record_subgoal_completion(2, "pay", 1.0)
    assert validate_bundle(out) == []
    assert _ref_validate(ref_python, out) == []


@pytest.mark.parametrize("mode", ["metadata", "full"])
def test_trajectory_fingerprint_equals_061s_for_the_same_steps(tmp_path: Path, ref_python: Path,
                                                               mode: str) -> None:
    """0.6.1's compute_trajectory_fingerprint over our bundle's steps gives our manifest's
    key: clustering can mix runs recorded by either SDK."""
    run_seed_session(tmp_path / "b", steps=5, mode=mode)  # type: ignore[arg-type]
    code = ("import json, sys; from augur_sdk.fingerprint import compute_trajectory_fingerprint;"
            " steps = json.load(open(sys.argv[1]))['steps'];"
            " print(compute_trajectory_fingerprint(steps))")
    proc = subprocess.run([str(ref_python), "-c", code, str(tmp_path / "b/trace.json")],
                          capture_output=True, text=True, timeout=120, check=True)
    manifest = json.loads((tmp_path / "b/manifest.json").read_text())
    assert manifest["trajectory_fingerprint"] == proc.stdout.strip()
    assert manifest["trajectory_fingerprint"].startswith("cua_v1:")
