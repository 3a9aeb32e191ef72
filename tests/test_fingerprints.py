"""The manifest's trajectory_fingerprint: cua_v1 over the steps as the bundle holds them
(redacted, gated), plug-in algorithms from the ``augur_sdk.fingerprints`` entry-point group,
and the checks on the algorithm's name."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession, _internal, fingerprints
from augur_sdk.validation import validate_bundle

from support import step_record

# Known answers: these step sequences give these keys in augur-sdk 0.6.1 too (checked against
# the installed reference SDK in test_compat_augur_sdk_061.py).
LOGIN = [{"action": {"type": "click"}, "verdict": {"status": "passed"},
          "grounding": {"target_label": "Login button"}},
         {"action": {"type": "type"}, "failure_class": "wrong_target",
          "grounding": {"target_label": "e-mail"}}]
KNOWN_LOGIN = "cua_v1:924fe5254454e9d1d0177bedf235302595362aaf186edbe7ea19ff1f1dde2d88"


def _manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text())


def _trace_steps(out: Path) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads((out / "trace.json").read_text())["steps"]
    return steps


def test_cua_v1_tokens_order_and_target_normalisation() -> None:
    """cua_v1 reads action type, outcome (failure class first) and the target lowered to
    letters and digits; order matters; a one-step and an empty run still have a key."""
    assert [fingerprints.step_token(s) for s in LOGIN] == ["click:passed:loginbutton",
                                                           "type:wrong_target:email"]
    same = [{**LOGIN[0], "grounding": {"target_label": "  LOGIN-Button "}}, LOGIN[1]]
    assert fingerprints.cua_v1(same) == fingerprints.cua_v1(LOGIN)
    assert fingerprints.cua_v1(LOGIN[::-1]) != fingerprints.cua_v1(LOGIN)
    key = fingerprints.cua_v1(LOGIN)
    assert key.startswith("cua_v1:") and len(key) == len("cua_v1:") + 64
    assert int(key[7:], 16) >= 0
    assert fingerprints.cua_v1(LOGIN[:1]) != fingerprints.cua_v1(LOGIN)
    assert fingerprints.cua_v1(LOGIN) == KNOWN_LOGIN


def test_manifest_fingerprint_is_over_the_redacted_gated_steps(tmp_path: Path) -> None:
    """The manifest's key is cua_v1 of trace.json's steps: an e-mail in a target label is
    redacted before it is hashed, and at metadata the label (free text) is not part of it."""
    label = "Send to jane.doe@example.com"
    keys = {}
    for mode in ("trace", "metadata"):
        out = tmp_path / mode
        with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode=mode,
                          dsn="") as s:
            for i in range(3):
                step = step_record("r", i)
                step["grounding"]["target_label"] = label
                s.record_step(step)
        steps = _trace_steps(out)
        keys[mode] = _manifest(out)["trajectory_fingerprint"]
        assert keys[mode] == fingerprints.cua_v1(steps)
        assert validate_bundle(out) == []
    raw = [step_record("r", i, grounding={"target_label": label}) for i in range(3)]
    assert keys["trace"] != fingerprints.cua_v1(raw)
    assert "***REDACTED:email***" in _trace_steps(tmp_path / "trace")[0]["grounding"][
        "target_label"]
    assert keys["metadata"] == fingerprints.cua_v1([{"action": {"type": "click"},
                                                      "verdict": {"status": "passed"}}] * 3)


def test_validate_recomputes_the_fingerprint_from_the_steps(tmp_path: Path) -> None:
    """augur validate recomputes a cua_v1 key from trace.json's steps: a manifest whose key
    does not describe its steps (edited, or written by a producer with another notion of the
    steps) is invalid, and the error gives both keys; a plug-in key is not checked."""
    with DebugSession(run_id="r", client_name="a", out_dir=tmp_path, capture_mode="trace",
                      dsn="") as s:
        for i in range(2):
            s.record_step(step_record("r", i))
    assert validate_bundle(tmp_path) == []
    manifest = _manifest(tmp_path)
    honest = manifest["trajectory_fingerprint"]
    manifest["trajectory_fingerprint"] = fingerprints.cua_v1(LOGIN)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (issue,) = validate_bundle(tmp_path)
    assert (issue.where, issue.path) == ("manifest.json", "trajectory_fingerprint")
    assert KNOWN_LOGIN in issue.message and honest in issue.message
    manifest["trajectory_fingerprint"] = "my_plugin:abc"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert validate_bundle(tmp_path) == []


def test_a_run_without_steps_has_no_fingerprint(tmp_path: Path) -> None:
    """No step, no key (an orchestrator's bundle has none)."""
    with DebugSession.open_orchestrator(run_id="o", client_name="a", out_dir=tmp_path / "o",
                                        capture_mode="trace", dsn=""):
        pass
    assert "trajectory_fingerprint" not in _manifest(tmp_path / "o")


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution (a dist-info on sys.path) with two entry points in the
    ``augur_sdk.fingerprints`` group: one that works and one that raises."""
    site = tmp_path / "site"
    (site / "fp_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "fp_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fp-plugin\nVersion: 1.0\n")
    (site / "fp_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[augur_sdk.fingerprints]\nactions_v1 = fp_plugin:actions\nbroken = fp_plugin:broken\n")
    (site / "fp_plugin.py").write_text(textwrap.dedent("""
        SEEN = []
        def actions(steps):
            SEEN.append((type(steps).__name__, len(steps), [dict(s) for s in steps]))
            return "actions_v1:" + ",".join(s["action"]["type"] for s in steps)
        def broken(steps):
            raise RuntimeError("no model loaded")
    """))
    monkeypatch.syspath_prepend(str(site))
    return site


def test_plugin_algorithm_from_the_entry_point_group(tmp_path: Path, plugin: Path) -> None:
    """fingerprint_algorithm= names an entry point of augur_sdk.fingerprints: it gets the
    steps as the bundle holds them (a sequence read from disk), its string is the key."""
    import fp_plugin  # type: ignore[import-not-found]

    assert "actions_v1" in fingerprints.available_algorithms()
    out = tmp_path / "b"
    with DebugSession(run_id="r", client_name="a", out_dir=out, capture_mode="trace", dsn="",
                      fingerprint_algorithm="actions_v1") as s:
        s.record_step(step_record("r", 0, intent="mail jane.doe@example.com"))
        s.record_step(step_record("r", 1, action={"type": "type"}))
    assert _manifest(out)["trajectory_fingerprint"] == "actions_v1:click,type"
    ((kind, count, seen),) = fp_plugin.SEEN
    assert (kind, count) == ("StepFiles", 2)
    assert seen == _trace_steps(out)
    assert seen[0]["intent"] == "mail ***REDACTED:email***"


def test_a_failing_plugin_costs_only_the_fingerprint(tmp_path: Path, plugin: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """In a user's run (internal errors not re-raised) a plug-in that raises is logged once;
    the bundle is finished and valid, without a key."""
    monkeypatch.delenv(_internal.RAISE_ENV, raising=False)
    out = tmp_path / "b"
    with caplog.at_level(logging.WARNING, logger="augur_sdk"), DebugSession(
            run_id="r", client_name="a", out_dir=out, capture_mode="trace", dsn="",
            fingerprint_algorithm="broken") as s:
        s.record_step(step_record("r", 0))
    assert "trajectory_fingerprint" not in _manifest(out)
    assert validate_bundle(out) == []
    assert "no model loaded" in caplog.text


def test_algorithm_names_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """An unknown fingerprint_algorithm= raises at the constructor, naming the argument; an
    unknown $AUGUR_FINGERPRINT_ALGORITHM is logged and cua_v1 used."""
    with pytest.raises(ValueError, match="fingerprint_algorithm: unknown trajectory_fingerprint "
                                         "algorithm: 'cua_v9'"):
        DebugSession(run_id="r", client_name="a", out_dir=tmp_path / "x", dsn="",
                     fingerprint_algorithm="cua_v9")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="unknown trajectory_fingerprint algorithm"):
        fingerprints.resolve_algorithm("not-real")
    assert fingerprints.resolve_algorithm() is fingerprints.cua_v1
    monkeypatch.setenv(fingerprints.ALGORITHM_ENV, "cua_v9")
    _internal.reset_log_once()
    out = tmp_path / "b"
    with caplog.at_level(logging.WARNING, logger="augur_sdk"), DebugSession(
            run_id="r", client_name="a", out_dir=out, capture_mode="metadata", dsn="") as s:
        s.record_step(step_record("r", 0))
    assert "AUGUR_FINGERPRINT_ALGORITHM" in caplog.text
    assert _manifest(out)["trajectory_fingerprint"].startswith("cua_v1:")
