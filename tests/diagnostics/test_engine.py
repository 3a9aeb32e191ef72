"""The engine: "not evaluable" below a rule's capture mode, broken rules, rule packs from
entry points, and findings.json written into the bundle with the manifest re-signed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from augur_schema import validator_for
from builders import DIALOG, click, record, step

from augur_sdk import _internal
from augur_sdk.capture import CaptureMode
from augur_sdk.diagnostics import (
    CUA_RULES,
    RulesEngine,
    diagnose_bundle,
    load_pack,
    rule,
    write_findings,
)
from augur_sdk.diagnostics.engine import rule_needs
from augur_sdk.diagnostics.store import FINDINGS, DiagnosticsError
from augur_sdk.validation import validate_bundle


def _failed_on_dialog(out: Path, mode: str) -> Path:
    s = step(0, status="failed", failure_class="no_state_change", action=click(470, 150),
             verdict={"status": "failed", "reason": "nothing changed"})
    return record(out, [s], mode=mode, pages={0: DIALOG})


@pytest.mark.parametrize("mode", ["metadata", "trace"])
def test_rules_above_the_capture_mode_answer_not_evaluable(mode: str, tmp_path: Path) -> None:
    """Each rule needing more than the run recorded is reported not evaluable (in the
    diagnosis and as an info record of findings.json), and produces no finding."""
    bundle = _failed_on_dialog(tmp_path / "run", mode)
    diagnosis = RulesEngine(CUA_RULES).diagnose(bundle)
    above = {r.rule_id for r in CUA_RULES if rule_needs(r) > CaptureMode(mode)}
    assert "cua.modal_covers_target" in above
    assert {n.rule_id for n in diagnosis.unevaluable if n.step_index is None} == above
    assert not {f["rule_id"] for f in diagnosis.findings} & above
    info = {r["rule_id"]: r for r in diagnosis.records() if r["severity"] == "info"}
    assert set(info) == above
    assert f"'{mode}'" in info["cua.modal_covers_target"]["summary"]
    assert info["cua.modal_covers_target"]["summary"].startswith("not evaluable")


def test_the_same_run_with_screenshots_names_the_dialog(tmp_path: Path) -> None:
    """Recorded with screenshots, the step that metadata could not explain gets its cause."""
    diagnosis = RulesEngine(CUA_RULES).diagnose(_failed_on_dialog(tmp_path / "r", "screenshots"))
    cause = diagnosis.cause(0)
    assert cause is not None and cause["rule_id"] == "cua.modal_covers_target"


@rule("acme.always_broken", severity="low")
def _broken(ctx: object, r: object) -> None:
    raise RuntimeError("bug in a plug-in rule")


def test_a_broken_rule_raises_under_tests_and_is_reported_otherwise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under AUGUR_RAISE_INTERNAL_ERRORS the bug surfaces; in a user's run the other rules
    still run and the broken one is listed with its error."""
    bundle = record(tmp_path / "run", [step(0, status="failed",
                                            verdict={"status": "failed", "reason": "x"})])
    engine = RulesEngine([_broken, *CUA_RULES])
    with pytest.raises(RuntimeError):
        engine.diagnose(bundle)
    monkeypatch.delenv(_internal.RAISE_ENV)
    diagnosis = engine.diagnose(bundle)
    assert diagnosis.errors == [("acme.always_broken", "RuntimeError: bug in a plug-in rule")]
    assert "cua.uncategorized_failure" in {f["rule_id"] for f in diagnosis.findings}


def test_load_pack_reads_the_entry_point_group(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution registering ``augur.rule_packs`` = {acme: module:RULES} is found by
    name; an entry point that is not a list of rules is refused by name."""
    (tmp_path / "acme_rules.py").write_text(
        "from augur_sdk.diagnostics import rule\n"
        "@rule('acme.hello', severity='info')\n"
        "def hello(ctx, r):\n    pass\n"
        "RULES = [hello]\nBROKEN = 3\n")
    info = tmp_path / "acme_rules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[augur.rule_packs]\nacme = acme_rules:RULES\nbroken = acme_rules:BROKEN\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_rules", raising=False)
    assert [r.rule_id for r in load_pack("acme")] == ["acme.hello"]
    with pytest.raises(TypeError, match="broken"):
        load_pack("broken")
    with pytest.raises(LookupError):
        load_pack("nope")


def test_duplicate_rule_ids_are_refused() -> None:
    with pytest.raises(ValueError, match=r"cua\.no_state_change"):
        RulesEngine([*CUA_RULES, CUA_RULES[4]])


def test_findings_file_validates_and_is_signed(tmp_path: Path) -> None:
    """findings.json is a bare array of diagnostic_finding records, its sha256 is in the
    manifest, and the bundle still validates; a second run with the same result rewrites
    nothing."""
    bundle = _failed_on_dialog(tmp_path / "run", "screenshots")
    diagnosis = diagnose_bundle(bundle)
    assert diagnosis.written == bundle / FINDINGS
    data = (bundle / FINDINGS).read_bytes()
    findings = json.loads(data)
    assert isinstance(findings, list) and findings
    validator = validator_for("diagnostic_finding")
    for f in findings:
        validator.validate(f)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["signatures"][FINDINGS] == hashlib.sha256(data).hexdigest()
    assert validate_bundle(bundle) == []
    before = (bundle / "manifest.json").stat().st_mtime_ns, (bundle / FINDINGS).stat().st_mtime_ns
    diagnose_bundle(bundle)
    after = (bundle / "manifest.json").stat().st_mtime_ns, (bundle / FINDINGS).stat().st_mtime_ns
    assert before == after


def test_new_findings_replace_old_ones_and_stay_valid(tmp_path: Path) -> None:
    """Writing other findings over signed ones leaves a valid bundle with the new signature."""
    bundle = _failed_on_dialog(tmp_path / "run", "screenshots")
    diagnose_bundle(bundle)
    write_findings(bundle, [{"rule_id": "acme.one", "severity": "low", "summary": "s",
                             "evidence": [{"type": "trace", "ref": "manifest.json"}]}])
    assert json.loads((bundle / FINDINGS).read_text())[0]["rule_id"] == "acme.one"
    assert validate_bundle(bundle) == []


def test_unfinished_bundle_is_diagnosed_but_not_written(tmp_path: Path) -> None:
    """A bundle whose producer died (live.json left) gets its diagnosis, no file, and the
    reason with the command that repairs it."""
    bundle = _failed_on_dialog(tmp_path / "run", "screenshots")
    (bundle / "live.json").write_text(json.dumps({"pid": 999999999, "host": "elsewhere"}))
    diagnosis = diagnose_bundle(bundle)
    assert diagnosis.findings and diagnosis.written is None
    assert diagnosis.note is not None and "augur recover" in diagnosis.note
    assert not (bundle / FINDINGS).exists()
    with pytest.raises(DiagnosticsError, match="unfinished"):
        write_findings(bundle, [])


def test_not_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticsError, match=r"manifest\.json"):
        diagnose_bundle(tmp_path)


BLOCK_PIL = """
import importlib.abc, sys
class _NoPil(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("Pillow hidden for this test")
sys.meta_path.insert(0, _NoPil())
"""


def test_without_pillow_the_pixel_rule_says_not_evaluable(tmp_path: Path) -> None:
    """In a process where Pillow cannot be imported, the dialog rule answers not evaluable
    (naming what to install) and the other rules still run."""
    bundle = _failed_on_dialog(tmp_path / "run", "screenshots")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCK_PIL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env["PYTHONPATH"] = str(tmp_path / "site")
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "diagnose", str(bundle),
                           "--json", "--no-write"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    reasons = {n["rule_id"]: n["reason"] for n in doc["not_evaluable"]}
    assert "Pillow is not installed" in reasons["cua.modal_covers_target"]
    assert "pillow" in reasons["cua.modal_covers_target"]
    rules = {f["rule_id"] for f in doc["findings"]}
    assert "cua.no_state_change" in rules and "cua.modal_covers_target" not in rules


def test_public_names_are_listed() -> None:
    """augur_sdk.diagnostics and its CUA pack list every public name in __all__, and the
    pack lists every rule of CUA_RULES by its function name."""
    import inspect

    import augur_sdk.diagnostics as diagnostics
    from augur_sdk.diagnostics.packs import cua

    public = {n for n, v in vars(diagnostics).items()
              if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"}
    assert public == set(diagnostics.__all__)
    assert {r.__name__ for r in CUA_RULES} | {"CUA_RULES"} == set(cua.__all__)  # type: ignore[attr-defined]
