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
