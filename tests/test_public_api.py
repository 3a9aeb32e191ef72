"""The public surface: __all__ is complete and the 0.6.1 names users import exist."""

from __future__ import annotations

import inspect
import itertools

import augur_sdk


def test_all_lists_every_public_name() -> None:
    """Every public (non-underscore, non-module) attribute of augur_sdk is in __all__, and vice versa."""
    public = {name for name, value in vars(augur_sdk).items()
              if not name.startswith("_") and not inspect.ismodule(value)}
    assert public == set(augur_sdk.__all__) - {"__version__"}


def test_debug_session_accepts_the_0_6_1_keywords() -> None:
    """DebugSession takes augur-sdk 0.6.1's constructor keywords."""
    params = inspect.signature(augur_sdk.DebugSession).parameters
    for name in ("run_id", "client_name", "client_version", "client_git_sha", "capture_mode",
                 "out_dir", "tags", "debug_session_id", "started_at", "redaction_policy", "dsn",
                 "task_spec", "task_spec_id", "branch_context", "group_id", "capture_logprobs"):
        assert name in params, name
    for method in ("record_step", "record_event", "attach_observation", "set_status", "close",
                   "set_capture_mode", "add_tag", "__enter__", "__exit__", "__aenter__",
                   "__aexit__"):
        assert callable(getattr(augur_sdk.DebugSession, method)), method


def test_capture_modes_are_ordered() -> None:
    """The nine modes compare in their documented order."""
    modes = list(augur_sdk.CaptureMode)
    assert [m.value for m in modes] == ["off", "metadata", "trace", "screenshots", "video",
                                        "model_io", "dispatch", "replay", "full"]
    assert all(a < b for a, b in itertools.pairwise(modes))
    assert augur_sdk.resolve_capture_mode(None, env={"AUGUR_CAPTURE_MODE": "Trace"}) == "trace"
    assert augur_sdk.resolve_capture_mode("full", env={"AUGUR_CAPTURE_MODE": "off"}) == "full"
    assert augur_sdk.resolve_capture_mode(None, env={}) == "off"
